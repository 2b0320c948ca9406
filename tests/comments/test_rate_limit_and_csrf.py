"""Posting comments is rate-limited (one limit for the campaign and its updates), and every comment
form is CSRF-protected."""
import re

import pytest
from flask import g, request_started

from crowdfund import create_app
from crowdfund.extensions import db

from .helpers import comments_in_db


@pytest.fixture
def limited_client(app):
    """A client of the test app's configuration with comment rate limiting on: 2 POSTs a minute."""
    limited = create_app({**app.config, "RATELIMIT_ENABLED": True, "COMMENT_RATE_LIMIT": "2 per minute"})
    with limited.app_context():
        yield limited.test_client()
        db.session.remove()
        db.engine.dispose()


def test_the_third_comment_in_a_minute_is_refused_with_429(limited_client, live, backer, make_update):
    update = make_update(live)
    limited_client.post("/login", data={"email": backer.email, "password": "correct horse battery"})

    statuses = [limited_client.post(f"/c/{live.slug}/comments", data={"body": "One"}).status_code,
                limited_client.post(f"/c/{live.slug}/updates/{update.id}/comments", data={"body": "Two"}).status_code,
                limited_client.post(f"/c/{live.slug}/comments", data={"body": "Three"}).status_code]

    assert statuses == [303, 303, 429]
    assert [c.body for c in comments_in_db()] == ["One", "Two"]
    assert limited_client.get(f"/c/{live.slug}").status_code == 200  # reading is not limited


def test_the_limit_is_per_person(limited_client, live, backer, make_user, make_pledge):
    other = make_user()
    make_pledge(live, backer=other, state="active")
    for user in (backer, other):
        limited_client.post("/login", data={"email": user.email, "password": "correct horse battery"})
        for n in range(2):
            assert limited_client.post(f"/c/{live.slug}/comments", data={"body": f"{n}"}).status_code == 303
        limited_client.post("/logout")

    assert len(comments_in_db()) == 4


def test_the_default_limit_is_five_a_minute(app):
    assert app.config["COMMENT_RATE_LIMIT"] == "5 per minute"


def _token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


@pytest.fixture
def fresh_tokens(csrf_app):
    """The tests share one app context, so Flask-WTF's token cached on `g` would outlive the session
    that logging in clears; forget it at each request, as a real server does."""

    def forget(sender, **extra):
        g.pop("csrf_token", None)

    request_started.connect(forget, csrf_app)
    yield
    request_started.disconnect(forget, csrf_app)


def test_posting_reporting_and_hiding_need_the_csrf_token(csrf_app, fresh_tokens, make_campaign, make_user,
                                                          make_pledge):
    founder, backer = make_user(), make_user()
    moderator = make_user(role="moderator")
    campaign = make_campaign(founder=founder, state="live")
    make_pledge(campaign, backer=backer, state="active")

    def logged_in(user):
        client = csrf_app.test_client()
        token = _token(client.get("/login").get_data(as_text=True))
        client.post("/login", data={"email": user.email, "password": "correct horse battery", "csrf_token": token})
        return client

    backer_client = logged_in(backer)
    assert backer_client.post(f"/c/{campaign.slug}/comments", data={"body": "No token"}).status_code == 400
    assert comments_in_db() == []
    token = _token(backer_client.get(f"/c/{campaign.slug}").get_data(as_text=True))
    assert backer_client.post(f"/c/{campaign.slug}/comments",
                              data={"body": "With token", "csrf_token": token}).status_code == 303
    [comment] = comments_in_db()

    founder_client = logged_in(founder)
    assert founder_client.post(f"/comments/{comment.id}/report").status_code == 400
    moderator_client = logged_in(moderator)
    assert moderator_client.post(f"/moderation/comments/{comment.id}/hide",
                                 data={"reason": "Spam"}).status_code == 400
    assert comments_in_db()[0].hidden_at is None

    page = founder_client.get(f"/c/{campaign.slug}").get_data(as_text=True)
    assert founder_client.post(f"/comments/{comment.id}/report",
                               data={"csrf_token": _token(page)}).status_code == 303
