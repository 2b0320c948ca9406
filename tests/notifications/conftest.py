"""The notification tests' fixtures: a real SMTP server (aiosmtpd) and readers of its messages,
from tests/mail_fixtures.py."""
from mail_fixtures import html_of, smtp_down, smtp_inbox, smtp_server, text_of  # noqa: F401
