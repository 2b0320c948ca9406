"""A real localstripe process for any test that asks for `stripe_standin`: one per test session,
emptied before each test that uses the `app` with it (see tests/conftest.py).

The launcher (crowdfund.payments.stripe_standin) runs as a subprocess on a free loopback port.
Without localstripe/stripe installed, or when it does not come up, the tests skip, or fail with
CROWDFUND_REQUIRE_SERVICES=1 (CI), like service_missing() in tests/conftest.py."""
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
SECRET_KEY = "sk_test_12345"  # localstripe accepts any key that starts with sk_
PUBLISHABLE_KEY = "pk_test_12345"  # what the stand-in Stripe.js sends as `key`


def _service_missing(reason: str):
    if os.environ.get("CROWDFUND_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (CROWDFUND_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http(method: str, url: str, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode()


class Standin:
    """A running launcher process: its base URL, its port and its stderr log."""

    publishable_key = PUBLISHABLE_KEY

    def __init__(self, port: int, log_path: Path):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.process = None

    def start(self, timeout: float = 30) -> None:
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crowdfund.payments.stripe_standin", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=PROJECT_DIR,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.request("GET", "/_standin/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        _service_missing(f"the Stripe stand-in did not start; its log:\n{self.log()[-2000:]}")

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text()

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        """A raw request, as the stand-in Stripe.js or a test makes it: (status, JSON body or text or None)."""
        return _http(method, self.url + path, body, headers)

    def reset(self) -> None:
        """Empty localstripe's store (DELETE /_config/data). Webhook registrations survive it."""
        status, _ = self.request("DELETE", "/_config/data")
        assert status == 200


@pytest.fixture(scope="session")
def start_standin(tmp_path_factory):
    """Start launcher processes on demand; every one is stopped at the end of the session."""
    for module in ("localstripe", "stripe"):
        if importlib.util.find_spec(module) is None:
            _service_missing(f"{module} is not installed (pip install -e '.[test]')")
    started = []

    def start() -> Standin:
        standin = Standin(_free_port(), tmp_path_factory.mktemp("standin") / "standin.log")
        started.append(standin)
        standin.start()
        return standin

    yield start
    for standin in started:
        standin.stop()


@pytest.fixture(scope="session")
def stripe_standin(start_standin) -> Standin:
    """The session's localstripe process."""
    return start_standin()


@pytest.fixture
def stripe_client(stripe_standin):
    """A StripeClient on the stand-in, its data emptied first (objects from earlier tests are gone)."""
    import stripe

    stripe_standin.reset()
    # No network retries: a retried POST would be a second object in localstripe, which ignores
    # Idempotency-Key (the SDK sends one with every POST).
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": stripe_standin.url}, max_network_retries=0)


@pytest.fixture
def card(stripe_client):
    """card("4242424242424242") → a new, unattached card PaymentMethod with that test number."""

    def make(number: str):
        return stripe_client.v1.payment_methods.create(
            params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
        )

    return make


@pytest.fixture
def customer(stripe_client):
    return stripe_client.v1.customers.create(params={"email": "backer@example.com", "name": "Backer"})


@pytest.fixture
def saved_card(stripe_client, card, customer):
    """saved_card(number) → a card PaymentMethod attached to `customer`, as a confirmed SetupIntent leaves it."""

    def save(number: str):
        payment_method = card(number)
        return stripe_client.v1.payment_methods.attach(payment_method.id, params={"customer": customer.id})

    return save
