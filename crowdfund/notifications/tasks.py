"""Notification emails as Celery tasks: one task works out who is told of an event and queues the
batches (NOTIFY_BATCH_SIZE recipients each); each batch task claims its recipients' EmailDelivery
rows (committed) before sending, so no task, run once or twice, emails anyone twice for one event.

Each task runs in an app context (and so a database session) of its own, also in-process: it may be
started from an after_commit hook of the caller's session, which cannot run SQL any more, and the
caller's unfinished work is never committed by a task. A request context on PUBLIC_URL lets links and
image URLs be built outside a request (a worker, the periodic job).
"""
import smtplib
from contextlib import contextmanager

from flask import current_app

from crowdfund.extensions import celery

NOTIFY_TASK = "crowdfund.notifications.notify"
BATCH_TASK = "crowdfund.notifications.send_batch"


@contextmanager
def own_context():
    app = current_app._get_current_object()
    with app.app_context(), app.test_request_context("/", base_url=app.config["PUBLIC_URL"]):
        yield app


@celery.task(name=NOTIFY_TASK, bind=True, max_retries=5)
def notify_task(self, kind: str, target_id: int) -> int:
    """Queue the batches for one event; returns how many. Recipients already emailed are left out,
    so running it again queues nothing once every batch went out."""
    from crowdfund.notifications import services

    with own_context() as app:
        user_ids = services.audience_ids(kind, target_id)
        size = max(1, int(app.config.get("NOTIFY_BATCH_SIZE") or 100))
    batches = [user_ids[start:start + size] for start in range(0, len(user_ids), size)]
    for batch in batches:
        send_notification_batch.delay(kind, target_id, batch)
    return len(batches)


@celery.task(name=BATCH_TASK, bind=True, max_retries=5)
def send_notification_batch(self, kind: str, target_id: int, user_ids: list[int]) -> int:
    """Send one batch (notifications.services.send_batch); returns how many emails went out. In a
    worker an unreachable mail server is retried with backoff (only the unsent part goes out);
    in-process the error goes to the caller, which logs it."""
    from crowdfund.notifications import services

    try:
        with own_context():
            return services.send_batch(kind, target_id, user_ids)
    except (smtplib.SMTPException, OSError) as error:
        if self.app.conf.task_always_eager:
            raise
        raise self.retry(exc=error, countdown=60 * 2 ** self.request.retries)
