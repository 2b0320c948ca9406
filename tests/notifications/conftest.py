"""A real SMTP server (aiosmtpd) in the test process, and helpers for notification tests."""
import threading
from email import message_from_bytes, policy

import pytest

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd is not installed")


class Inbox:
    """Messages the SMTP server accepted, as email.message.EmailMessage objects."""

    def __init__(self):
        self.messages = []
        self.raw = []  # the bytes as received
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = message_from_bytes(raw, policy=policy.default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), message))
            self.raw.append(raw)
        return "250 Message accepted"

    def clear(self):
        with self._lock:
            self.messages.clear()
            self.raw.clear()


class EphemeralPortController(aiosmtpd_controller.Controller):
    """aiosmtpd's Controller on port 0: the port the system picked is read back before the
    controller connects to its own server."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture(scope="session")
def smtp_server():
    inbox = Inbox()
    controller = EphemeralPortController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def smtp_inbox(app, smtp_server):
    """The app sends through the real SMTP server; returns its (emptied) inbox."""
    controller, inbox = smtp_server
    inbox.clear()
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port,
                      MAIL_USE_TLS=False, MAIL_USERNAME=None)
    return inbox


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()
