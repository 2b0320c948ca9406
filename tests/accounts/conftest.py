"""Fixtures only the accounts tests need: reading pages and emails, a rate-limited app, a real SMTP server."""
import html
import re
import time
from contextlib import contextmanager

import pytest
from itsdangerous import TimestampSigner

from crowdfund import create_app
from crowdfund.accounts.models import User
from crowdfund.extensions import db
from mail_fixtures import smtp_down, smtp_inbox, smtp_server  # noqa: F401  (a real SMTP server)


@pytest.fixture
def page_text():
    """The page of a response as text, with HTML entities decoded."""

    def read(response) -> str:
        return html.unescape(response.get_data(as_text=True))

    return read


@pytest.fixture
def field_errors(page_text):
    """The error messages shown next to the field with this id (what the forms macro renders)."""

    def errors(response, field_id: str) -> list[str]:
        return re.findall(rf'<p class="error" id="{re.escape(field_id)}-error">(.*?)</p>', page_text(response))

    return errors


@pytest.fixture
def input_value(page_text):
    """The value an <input> with this id is shown with, or None when it has none."""

    def value(response, field_id: str) -> str | None:
        tag = re.search(rf'<input[^>]*\bid="{re.escape(field_id)}"[^>]*>', page_text(response))
        assert tag, f"no input with id {field_id!r} on the page"
        found = re.search(r'\bvalue="([^"]*)"', tag.group(0))
        return found.group(1) if found else None

    return value


@pytest.fixture
def emailed_link():
    """The path of the link in an email's plain-text body (the part after PUBLIC_URL)."""

    def link(message, public_url="http://127.0.0.1:5000") -> str:
        body = message.get_body(preferencelist=("plain",)).get_content()
        found = re.search(re.escape(public_url) + r"(/\S+)", body)
        assert found, f"no link in the email:\n{body}"
        return found.group(1)

    return link


@pytest.fixture
def user_by_email(app):
    """The user row as the database has it now (not a stale object from the session)."""

    def find(email: str) -> User | None:
        db.session.expire_all()
        return db.session.execute(db.select(User).where(User.email == email)).scalar_one_or_none()

    return find


@pytest.fixture
def count_users(app):
    def count() -> int:
        return db.session.execute(db.select(db.func.count(User.id))).scalar_one()

    return count


@pytest.fixture
def tokens_signed_ago(monkeypatch):
    """Context manager: tokens signed inside it carry a timestamp `seconds` in the past."""

    @contextmanager
    def signed_ago(seconds: int):
        with monkeypatch.context() as patch:
            patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - seconds)
            yield

    return signed_ago


@pytest.fixture
def ratelimited_app(app):
    """The test app's configuration with login rate limiting on: 3 attempts a minute."""
    config = {**app.config, "RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute"}
    limited = create_app(config)
    with limited.app_context():
        yield limited
        db.session.remove()
        db.engine.dispose()
