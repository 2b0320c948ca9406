"""A real SMTP server (aiosmtpd) in the test process, and a port where no mail server listens; used
by the notifications and accounts tests (each conftest imports the fixtures it needs)."""
import socket
import threading
from email import message_from_bytes, policy

import pytest

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd is not installed")


class Inbox:
    """Messages the SMTP server accepted, as email.message.EmailMessage objects."""

    def __init__(self):
        self.messages = []
        self.raw = []  # the bytes as received
        self._arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = message_from_bytes(raw, policy=policy.default)
        with self._arrived:
            self.messages.append((list(envelope.rcpt_tos), message))
            self.raw.append(raw)
            self._arrived.notify_all()
        return "250 Message accepted"

    def clear(self):
        with self._arrived:
            self.messages.clear()
            self.raw.clear()

    def wait_for(self, count: int, timeout: float = 20.0) -> bool:
        """Wait until count messages arrived (sent by another thread or process); whether they did."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.messages) >= count, timeout)

    def recipients(self) -> list[str]:
        return [to for rcpt, _message in self.messages for to in rcpt]


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


def unused_port() -> int:
    """A loopback port nothing listens on (the system just handed it out and it was closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DownMailServer:
    """The app's mail server, down: nothing listens at the port the app sends to."""

    def __init__(self, app, controller, inbox):
        self.app, self.controller, self.inbox = app, controller, inbox

    def come_back(self) -> Inbox:
        """The real server answers at the app's mail port from now on; returns its inbox."""
        self.app.config["MAIL_PORT"] = self.controller.port
        return self.inbox


@pytest.fixture
def smtp_down(app, smtp_server):
    """The app sends through SMTP at a port where nothing listens, so every send fails until
    smtp_down.come_back()."""
    controller, inbox = smtp_server
    inbox.clear()
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=unused_port(),
                      MAIL_USE_TLS=False, MAIL_USERNAME=None)
    return DownMailServer(app, controller, inbox)


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()
