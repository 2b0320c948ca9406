"""Emails and the periodic job as Celery tasks, run in-process (no broker: the default run)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crowdfund.notifications.services import queue_email
from crowdfund.tasks import celery_settings

PROJECT_DIR = Path(__file__).resolve().parents[1]


def test_queued_email_is_delivered_at_once_without_a_broker(app, outbox):
    queue_email("ada@example.com", "Confirm your email address", "verify_email",
                user={"display_name": "Ada"}, link="http://127.0.0.1:5000/verify/abc")

    assert [m["To"] for m in outbox] == ["ada@example.com"]
    text = outbox[0].get_body(preferencelist=("plain",)).get_content()
    assert "Hello Ada," in text and "http://127.0.0.1:5000/verify/abc" in text


def test_queued_email_refuses_a_context_a_worker_could_not_receive(app, outbox, make_user):
    user = make_user()

    with pytest.raises(TypeError):
        queue_email(user.email, "Confirm your email address", "verify_email", user=user, link="http://x")
    assert outbox == []


def test_a_broker_turns_off_in_process_tasks_and_schedules_the_periodic_job(app):
    settings = celery_settings({**app.config, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"})

    assert settings["task_always_eager"] is False
    assert settings["broker_url"] == "redis://127.0.0.1:6379/0"
    schedule = settings["beat_schedule"]["run-periodic-jobs"]
    assert schedule["task"] == "crowdfund.tasks.run_periodic_jobs_task"
    assert schedule["schedule"] == app.config["TICK_INTERVAL_SECONDS"]


def test_without_a_broker_tasks_run_eagerly(app):
    assert app.extensions["celery"].conf.task_always_eager is True



def _ticker_default(**env) -> str:
    """Config.IN_PROCESS_TICKER as a fresh process computes it from these environment variables."""
    environment = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "IN_PROCESS_TICKER")}
    return subprocess.run([sys.executable, "-c", "import config; print(config.Config.IN_PROCESS_TICKER)"],
                          cwd=PROJECT_DIR, env={**environment, **env}, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_with_a_broker_the_web_process_leaves_ticking_to_celery_beat():
    assert _ticker_default() == "True"
    assert _ticker_default(CELERY_BROKER_URL="redis://127.0.0.1:6379/0") == "False"
    assert _ticker_default(CELERY_BROKER_URL="redis://127.0.0.1:6379/0", IN_PROCESS_TICKER="1") == "True"
