"""The periodic job as a Celery task, run in-process (no broker: the default run). Emails go through
the outbox (tests/notifications/test_outbox.py)."""
import os
import subprocess
import sys
from pathlib import Path

from crowdfund.tasks import celery_settings

PROJECT_DIR = Path(__file__).resolve().parents[1]


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
