"""Background work as Celery tasks, and Celery's configuration from the app's.

Without CELERY_BROKER_URL every task runs in-process, at once, in the caller's app context
(task_always_eager: the default run and the tests); the in-process ticker then runs the periodic
job. With a broker (Redis) a worker runs them and beat schedules the periodic job:

    celery -A crowdfund.celery_app worker --loglevel INFO
    celery -A crowdfund.celery_app beat --loglevel INFO

Task arguments cross the broker as JSON: plain strings, numbers, lists and dicts only. App code
never waits on a task's result (.get()): with a worker that would block a request, and in-process
Celery's "no join inside a task" guard is a process-wide flag that concurrent threads can leave set.
"""
from datetime import datetime, timezone

from flask import Flask

from crowdfund.extensions import celery

PERIODIC_TASK = "crowdfund.tasks.run_periodic_jobs_task"


def celery_settings(config) -> dict:
    """Celery's settings for an app config. CELERY (a dict of Celery setting names) overrides them."""
    broker = config.get("CELERY_BROKER_URL")
    interval = float(config.get("TICK_INTERVAL_SECONDS") or 30)
    settings = {
        "broker_url": broker or "memory://",
        "result_backend": config.get("CELERY_RESULT_BACKEND") or None,
        "task_always_eager": not broker,
        "task_eager_propagates": True,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "broker_connection_retry_on_startup": True,
        # A broker that is down or hung must not hold a request that publishes (the outbox kick): one
        # connection attempt, a second to connect, two to answer (above kombu's 1 s BRPOP timeout, so
        # a worker's idle wait is unaffected). A worker's own reconnecting (broker_connection_retry) is
        # unchanged; a publish that failed in a request is left to the periodic sweep.
        "broker_connection_timeout": 1,
        "broker_transport_options": {"max_retries": 0, "socket_connect_timeout": 1, "socket_timeout": 2},
        "worker_hijack_root_logger": False,
        "beat_schedule_filename": str(config["INSTANCE_DIR"] / "celerybeat-schedule"),
        "beat_schedule": {
            # A tick nobody ran within its own interval is stale: the next one does the same work.
            "run-periodic-jobs": {"task": PERIODIC_TASK, "schedule": interval, "options": {"expires": interval}},
        },
    }
    settings.update(config.get("CELERY") or {})
    return settings


def init_celery(app: Flask):
    """Bind crowdfund.extensions.celery to this app: its settings, and the app its tasks run in
    when no app context is pushed (in a worker). The last app built wins, as with one app per process."""
    # Forget connections to a broker an earlier app in this process used (tests); kombu keeps
    # its pools per connection URL and hands them out again.
    celery._pool = None
    celery.amqp._producer_pool = None
    celery.conf.update(celery_settings(app.config))
    celery.flask_app = app
    app.extensions["celery"] = celery
    return celery


@celery.task(name=PERIODIC_TASK, acks_late=True)
def run_periodic_jobs_task(now: str | None = None) -> dict:
    """Run crowdfund.ticker.run_periodic_jobs once (as if at `now`, ISO 8601, when given).
    Idempotent, so a redelivered or doubled tick is harmless (hence acks_late)."""
    from crowdfund.ticker import run_periodic_jobs

    when = None
    if now:
        when = datetime.fromisoformat(now)
        if when.tzinfo is not None:
            when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return run_periodic_jobs(when)


@celery.task(name="crowdfund.tasks.dispatch_outbox_task", acks_late=True)
def dispatch_outbox_task() -> int:
    """Deliver the outbox's due events (crowdfund/outbox.py); idempotent, so a redelivered task is harmless."""
    from crowdfund.outbox import dispatch_due

    return dispatch_due()
