"""The outbox's promises, as a person waiting for an email sees them: a process that dies after its
commit, or in the middle of a delivery, loses no email and sends none twice; a rolled-back change
sends nothing; a mail server that is down delays the email, which goes out once it is back; a
broker that is down does not fail the request."""
import json
import logging
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from crowdfund import create_app
from crowdfund.accounts.models import User
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.notifications.models import EmailDelivery
from crowdfund.notifications.services import outbox as mail_outbox
from crowdfund.outbox import LEASE, OutboxEvent, dispatch_due, dispatcher_thread, emit, undelivered_count
from crowdfund.tasks import init_celery
from crowdfund.ticker import run_periodic_jobs
from mail_fixtures import unused_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
KILLED = 17  # the exit status of a child process that "died" where the test made it


def events() -> list[OutboxEvent]:
    db.session.rollback()  # see what other processes committed since
    return db.session.execute(db.select(OutboxEvent).order_by(OutboxEvent.id)).scalars().all()


def run_child(app, code: str, **config):
    """Run code in a fresh Python process with the test's app (same database) built and its app
    context pushed, as `app`, with `client`; code ends the process with os._exit(KILLED) where the
    test wants it to die. Asserts that it died there."""
    settings = {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                "INSTANCE_DIR": str(app.config["INSTANCE_DIR"]), "UPLOAD_DIR": str(app.config["UPLOAD_DIR"]),
                "WTF_CSRF_ENABLED": False, "PUBLIC_URL": app.config["PUBLIC_URL"], **config}
    script = textwrap.dedent("""
        import json, os
        from config import TestingConfig
        from crowdfund import create_app
        config = {k: getattr(TestingConfig, k) for k in dir(TestingConfig) if k.isupper()}
        config.update(json.loads(os.environ["CHILD_CONFIG"]))
        app = create_app(config)
        with app.app_context():
            client = app.test_client()
        """) + textwrap.indent(textwrap.dedent(code), "    ") + "\nraise SystemExit('the child was not killed')\n"
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True,
                            env={**os.environ, "CHILD_CONFIG": json.dumps(settings)}, timeout=120)
    assert result.returncode == KILLED, result.stderr


def test_a_sign_up_whose_process_dies_right_after_its_commit_gets_its_email_from_the_periodic_job(app, outbox):
    run_child(app, """
        import crowdfund.outbox
        crowdfund.outbox._kick = lambda app: os._exit(17)  # the process dies between commit and dispatch
        client.post("/signup", data={"email": "ann@example.com", "display_name": "Ann",
                                     "password": "correct horse battery"})
        """)
    (event,) = events()
    assert (event.kind, event.delivered_at) == ("account.verification_requested", None)
    assert db.session.execute(db.select(User).where(User.email == "ann@example.com")).scalar_one()
    assert outbox == []

    run_periodic_jobs()
    run_periodic_jobs()

    assert [m["To"] for m in outbox] == ["ann@example.com"]
    assert outbox[0]["Subject"] == "Confirm your email address"
    assert events()[0].delivered_at is not None


def test_a_delivery_killed_after_sending_is_delivered_again_after_the_lease_without_a_second_email(
        app, make_user, smtp_inbox):
    make_user(email="ann@example.com")
    run_child(app, """
        import crowdfund.outbox
        kind = "account.password_reset_requested"
        handler = crowdfund.outbox.HANDLERS[kind]
        def send_then_die(payload):
            handler(payload)
            os._exit(17)  # the email is sent; the event is not marked delivered
        crowdfund.outbox.HANDLERS[kind] = send_then_die
        client.post("/reset", data={"email": "ann@example.com"})
        """, MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=app.config["MAIL_PORT"], MAIL_USE_TLS=False)
    assert smtp_inbox.recipients() == ["ann@example.com"]
    assert events()[0].delivered_at is None

    assert dispatch_due() == 0  # another dispatcher may still be working on it
    assert dispatch_due(utcnow() + LEASE + timedelta(seconds=1)) == 1

    assert events()[0].delivered_at is not None
    assert smtp_inbox.recipients() == ["ann@example.com"]


def test_a_delivery_killed_after_its_claim_before_sending_sends_the_email_after_the_lease(
        app, make_user, smtp_inbox):
    make_user(email="ann@example.com")
    run_child(app, """
        import crowdfund.outbox
        crowdfund.outbox.HANDLERS["account.password_reset_requested"] = lambda payload: os._exit(17)
        client.post("/reset", data={"email": "ann@example.com"})
        """)
    (event,) = events()
    assert (event.attempts, event.delivered_at) == (1, None)

    assert dispatch_due() == 0
    assert smtp_inbox.messages == []
    assert dispatch_due(utcnow() + LEASE + timedelta(seconds=1)) == 1
    assert dispatch_due(utcnow() + 2 * LEASE) == 0

    assert smtp_inbox.recipients() == ["ann@example.com"]
    assert smtp_inbox.messages[0][1]["Subject"] == "Reset your password"


def test_a_redelivered_event_sends_no_second_email(client, make_user, outbox):
    make_user(email="ann@example.com")
    client.post("/reset", data={"email": "ann@example.com"})
    assert [m["To"] for m in outbox] == ["ann@example.com"]

    db.session.execute(update(OutboxEvent).values(delivered_at=None, available_at=utcnow()))  # due again
    db.session.commit()
    assert dispatch_due() == 1

    assert [m["To"] for m in outbox] == ["ann@example.com"]
    assert db.session.execute(db.select(EmailDelivery.event)).scalars().all() == [f"outbox:{events()[0].id}"]


def test_a_rolled_back_change_leaves_no_event_and_sends_nothing(app, make_user, outbox):
    user = make_user(verified=False)

    emit("account.verification_requested", user_id=user.id)
    db.session.rollback()
    db.session.commit()  # a later commit of the same session does not dispatch what was rolled back

    assert events() == []
    assert dispatch_due() == 0
    assert outbox == []


def test_while_the_mail_server_is_down_the_event_waits_with_backoff_and_goes_out_once_it_is_back(
        app, make_user, smtp_down):
    user = make_user(verified=False)
    started = utcnow()
    emit("account.verification_requested", user_id=user.id)
    db.session.commit()  # dispatched at once (inline): the send fails, the event stays

    (event,) = events()
    assert event.delivered_at is None and event.attempts == 1
    assert event.last_error.startswith("ConnectionRefusedError")
    assert timedelta(minutes=1) <= event.available_at - started < timedelta(minutes=2)
    assert db.session.execute(db.select(EmailDelivery)).scalars().all() == []  # the claim was given back

    assert dispatch_due(started + timedelta(seconds=30)) == 0  # not due yet: nothing tried
    assert events()[0].attempts == 1
    later = started + timedelta(minutes=1, seconds=30)
    assert dispatch_due(later) == 0  # due, tried, still down: the next try waits twice as long
    (event,) = events()
    assert event.attempts == 2
    assert timedelta(minutes=2) <= event.available_at - later < timedelta(minutes=3)

    inbox = smtp_down.come_back()
    assert dispatch_due(later + timedelta(minutes=3)) == 1
    assert dispatch_due(later + timedelta(hours=1)) == 0

    assert inbox.recipients() == [user.email]
    assert events()[0].last_error is None


@pytest.fixture
def broker_down_app(app):
    """The app as it runs with Celery, but with its broker unreachable (nothing listens on the port)."""
    config = {**app.config, "OUTBOX_DISPATCH": "celery", "CELERY_BROKER_URL": f"redis://127.0.0.1:{unused_port()}/0"}
    broker_app = create_app(config)
    with broker_app.app_context():
        yield broker_app
        db.session.remove()
        db.engine.dispose()
    init_celery(app)  # Celery is bound to the last app built: give it back to the test's


def test_a_broker_that_is_down_does_not_fail_the_request_and_the_periodic_job_delivers_the_event(
        broker_down_app, make_user, caplog):
    assert broker_down_app.extensions["celery"].conf.task_always_eager is False
    make_user(email="ann@example.com")

    with caplog.at_level(logging.WARNING, logger=broker_down_app.logger.name):
        response = broker_down_app.test_client().post("/reset", data={"email": "ann@example.com"})

    assert response.status_code == 302
    assert "Could not queue the outbox dispatch" in caplog.text
    assert undelivered_count() == 1
    assert mail_outbox() == []

    assert dispatch_due() == 1
    assert dispatch_due() == 0
    assert [m["To"] for m in mail_outbox()] == ["ann@example.com"]


def test_in_the_default_run_a_dispatcher_thread_sends_the_email_after_the_request(app, client, smtp_inbox):
    app.config["OUTBOX_DISPATCH"] = "thread"
    try:
        response = client.post("/signup", data={"email": "ann@example.com", "display_name": "Ann",
                                                 "password": "correct horse battery"})
        assert response.status_code == 302
        assert smtp_inbox.wait_for(1)
    finally:
        dispatcher_thread(app).stop()

    assert smtp_inbox.recipients() == ["ann@example.com"]
    assert undelivered_count() == 0


def test_the_periodic_job_forgets_delivered_events_after_the_keep_days_and_nothing_else(app):
    now = utcnow()
    db.session.add_all([
        OutboxEvent(kind="test.old", payload="{}", created_at=now - timedelta(days=9),
                    available_at=now - timedelta(days=9), delivered_at=now - timedelta(days=8)),
        OutboxEvent(kind="test.recent", payload="{}", created_at=now - timedelta(days=2),
                    available_at=now - timedelta(days=2), delivered_at=now - timedelta(days=2)),
        OutboxEvent(kind="test.waiting", payload="{}", created_at=now - timedelta(days=9),
                    available_at=now + timedelta(hours=1))])
    db.session.commit()

    run_periodic_jobs(now)

    kinds = sorted(db.session.execute(db.select(OutboxEvent.kind)).scalars())
    assert kinds == ["test.recent", "test.waiting"]


def test_a_reset_asked_for_after_every_older_event_was_forgotten_still_arrives(client, make_user, outbox):
    # SQLite hands out max(id) + 1: were the newest event deleted, a new event could take its id and
    # find its EmailDelivery claims ("outbox:<id>"), and its email would never be sent.
    make_user(email="ann@example.com")
    client.post("/reset", data={"email": "ann@example.com"})
    assert len(outbox) == 1

    run_periodic_jobs(utcnow() + timedelta(days=30))  # every delivered event is past the keep days
    client.post("/reset", data={"email": "ann@example.com"})

    assert [m["To"] for m in outbox] == ["ann@example.com"] * 2
