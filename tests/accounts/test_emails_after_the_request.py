"""Account emails leave after the request, from the outbox: a mail server that is down cannot fail a
sign-up, and a password-reset request does the same work whether or not the address has an account
(no SMTP inside either request)."""
import smtplib

import pytest

from crowdfund.accounts.models import User
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.outbox import LEASE, DispatcherThread, OutboxEvent, dispatch_due

SIGN_UP = {"email": "ann@example.com", "display_name": "Ann", "password": "correct horse battery"}


def test_a_sign_up_succeeds_while_the_mail_server_is_down_and_its_email_follows_once_it_is_back(
        client, smtp_down, user_by_email, page_text):
    response = client.post("/signup", data=SIGN_UP)

    assert response.status_code == 302
    assert user_by_email("ann@example.com") is not None
    assert "Welcome! We sent a link to ann@example.com" in page_text(client.get(response.headers["Location"]))

    inbox = smtp_down.come_back()
    assert inbox.messages == []
    later = utcnow() + LEASE
    assert dispatch_due(later) == 1
    assert dispatch_due(later) == 0

    assert inbox.recipients() == ["ann@example.com"]
    assert inbox.messages[0][1]["Subject"] == "Confirm your email address"


@pytest.fixture
def smtp_connections(monkeypatch):
    """Every SMTP connection the app opens, as the (host, port) it opened it to (sends still go out)."""
    opened = []

    class RecordingSMTP(smtplib.SMTP):
        def __init__(self, host="", port=0, *args, **kwargs):
            opened.append((host, port))
            super().__init__(host, port, *args, **kwargs)

    monkeypatch.setattr(smtplib, "SMTP", RecordingSMTP)
    return opened


@pytest.fixture
def dispatcher_wakes(app, monkeypatch):
    """The default run (a dispatcher thread) with the thread held back: counts the wake-ups that each
    commit with events gives it, so the test sees what a request does before anything is sent."""
    app.config["OUTBOX_DISPATCH"] = "thread"
    wakes = []
    monkeypatch.setattr(DispatcherThread, "wake", lambda self: wakes.append(self.app))
    return wakes


def test_a_reset_request_does_the_same_work_for_an_existing_and_an_unknown_address(
        app, client, make_user, smtp_inbox, smtp_connections, dispatcher_wakes, count_queries, page_text):
    make_user(email="ann@example.com")
    client.get("/reset")  # the session's CSRF and locale work, out of the way

    answers, statements = [], []
    for email in ("ann@example.com", "nobody@example.com"):
        with count_queries() as queries:
            response = client.post("/reset", data={"email": email})
        answers.append((response.status_code, response.headers["Location"],
                        page_text(client.get(response.headers["Location"])).count("we sent it a link")))
        statements.append(queries)

    assert answers[0] == answers[1] == (302, "/login", 1)
    assert statements[0] == statements[1]
    assert [statement.split()[:3] for statement in statements[0]] == [["INSERT", "INTO", "outbox_event"]]  # no lookup
    assert smtp_connections == []  # nothing was sent inside either request
    assert len(dispatcher_wakes) == 2
    kinds = db.session.execute(db.select(OutboxEvent.kind)).scalars().all()
    assert kinds == ["account.password_reset_requested"] * 2

    assert dispatch_due() == 2

    assert smtp_inbox.recipients() == ["ann@example.com"]
    assert smtp_inbox.messages[0][1]["Subject"] == "Reset your password"
    assert len(smtp_connections) == 1  # the unknown address: no connection at all


def test_asking_again_for_the_confirmation_link_sends_a_new_one_after_the_request(
        client, auth, make_user, smtp_inbox, dispatcher_wakes):
    make_user(email="ann@example.com", verified=False)
    auth.login("ann@example.com")

    response = client.post("/me/verify/resend")

    assert response.status_code == 302
    assert smtp_inbox.messages == [] and len(dispatcher_wakes) == 1
    assert dispatch_due() == 1
    assert smtp_inbox.recipients() == ["ann@example.com"]


def test_a_confirmed_address_is_not_sent_a_link_that_was_asked_for_before(client, smtp_inbox, dispatcher_wakes):
    client.post("/signup", data=SIGN_UP)
    user = db.session.execute(db.select(User).where(User.email == "ann@example.com")).scalar_one()
    user.email_verified_at = utcnow()  # confirmed (by an earlier link) before this one was delivered
    db.session.commit()

    assert dispatch_due() == 1
    assert smtp_inbox.messages == []
