"""The production-like run under test: `python -m crowdfund.serve`, started as `make serve` starts it
(two gunicorn workers, a Celery worker and beat, the Stripe stand-in) against a PostgreSQL database
of its own (crowdfund_smoke, made afresh) and Redis database 14 (flushed), with an SMTP server in
this process receiving its email. The tests drive it over HTTP only, with urllib and Chromium.

Needs CROWDFUND_TEST_DATABASE_URL and CROWDFUND_TEST_REDIS_URL (the server is reached through them);
skips without them, fails with CROWDFUND_REQUIRE_SERVICES=1. One run at a time on a machine: a file
lock makes a second run (another checkout, another xdist worker) wait for the first to finish."""
import fcntl
import importlib.util
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from email import message_from_bytes, policy
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
DATABASE_NAME = "crowdfund_smoke"
REDIS_DB = 14
READY_SECONDS = 150  # a loaded CI machine; unloaded it takes about 20 s
STOP_SECONDS = 60
LOCK_SECONDS = 240
# gunicorn's access line with the worker's pid and the request id, so a test can tell which worker
# served a request (GUNICORN_CMD_ARGS is read by gunicorn itself; gunicorn.conf.py is unchanged).
ACCESS_LOG_FORMAT = "%(p)s %({x-request-id}o)s %(s)s %(r)s"


from browser_fixtures import service_missing as _service_missing  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """What the SMTP server received, as (recipients, email.message.EmailMessage)."""

    def __init__(self):
        self.messages = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def wait_for(self, to: str, subject: str, timeout: float = 30):
        """The first message to `to` whose subject contains `subject`, as its plain text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for recipients, message in self.messages:
                    if to in recipients and subject in message["Subject"]:
                        return message.get_body(preferencelist=("plain",)).get_content()
            time.sleep(0.2)
        subjects = [(recipients, message["Subject"]) for recipients, message in self.messages]
        pytest.fail(f"no email to {to} about {subject!r} within {timeout:.0f} s; received: {subjects}")


class Response:
    def __init__(self, status: int, headers, body: str):
        self.status, self.headers, self.body = status, headers, body


class Client:
    """HTTP over urllib, which opens a new connection for every request (and says Connection: close).
    Its cookie jar sends Secure cookies over http too, as browsers do for 127.0.0.1 and localhost."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.cookies = CookieJar(DefaultCookiePolicy(secure_protocols=("https", "wss", "http")))
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, method: str, path: str, data: dict | None = None, headers: dict | None = None) -> Response:
        body = urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                return Response(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read().decode())

    def csrf_token(self, path: str) -> str:
        """GET path (which starts a session) and return the form's CSRF token."""
        page = self.request("GET", path)
        assert page.status == 200, page.body[:2000]
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.body).group(1)


class SmokeRun:
    """`python -m crowdfund.serve` in a process of its own, and what a test needs around it: its
    url, its email (inbox), its logs, and seed_live_campaign() / end_campaign_soon() (Seeding)."""

    def __init__(self, env: dict, work_dir: Path, inbox: Inbox, seeding: "Seeding"):
        self.env = env
        self.url = env["PUBLIC_URL"]
        self.log_dir = Path(env["CROWDFUND_INSTANCE_DIR"]) / "serve"
        self.output_path = work_dir / "serve.out"
        self.inbox = inbox
        self.seed_live_campaign, self.end_campaign_soon = seeding.live_campaign, seeding.end_soon
        self.process = None

    def start(self) -> None:
        # The command `make serve` runs: the configuration is all in the environment.
        with open(self.output_path, "w") as output:
            self.process = subprocess.Popen([sys.executable, "-m", "crowdfund.serve"], cwd=PROJECT_DIR, env=self.env,
                                            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"`make serve` exited ({self.process.returncode}) before it was ready:\n{self.logs()}")
            if self._healthy():
                return
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"/healthz did not answer 200 within {READY_SECONDS} s:\n{self.logs()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def log(self, name: str) -> str:
        path = self.log_dir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        """serve's own output and the end of each process's log, for a failure message."""
        parts = [f"--- serve output\n{self.output_path.read_text(errors='replace')}"]
        for path in sorted(self.log_dir.glob("*.log")) if self.log_dir.exists() else []:
            parts.append(f"--- {path.name} (end)\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def stop(self) -> int:
        """SIGTERM, as systemd or Ctrl-C would stop it; its return code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return -1
        return self.process.returncode

    def leftover_processes(self) -> list[str]:
        """Command lines of processes still carrying this run's marker in their environment."""
        marker = f"CROWDFUND_SMOKE_RUN={self.env['CROWDFUND_SMOKE_RUN']}".encode()
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and marker in (proc / "environ").read_bytes().split(b"\0"):
                    found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
        return found


@pytest.fixture(scope="module")
def services():
    """The test PostgreSQL and Redis, as URLs for the smoke run's own database and Redis database."""
    database_url = os.environ.get("CROWDFUND_TEST_DATABASE_URL")
    redis_url = os.environ.get("CROWDFUND_TEST_REDIS_URL")
    if not database_url or not redis_url:
        _service_missing("the smoke test needs CROWDFUND_TEST_DATABASE_URL and CROWDFUND_TEST_REDIS_URL "
                         "(e.g. postgresql://postgres@127.0.0.1:5432/test and redis://127.0.0.1:6379/15)")
    for module in ("gunicorn", "localstripe", "aiosmtpd"):
        if importlib.util.find_spec(module) is None:
            _service_missing(f"{module} is not installed (pip install -e '.[test]')")
    import psycopg
    import redis

    parts = urlsplit(redis_url)
    smoke_redis = f"{parts.scheme}://{parts.netloc}/{REDIS_DB}"
    parts = urlsplit(database_url)
    smoke_database = parts._replace(path=f"/{DATABASE_NAME}").geturl()
    try:
        redis.Redis.from_url(smoke_redis, socket_connect_timeout=3).ping()
        psycopg.connect(database_url, connect_timeout=5).close()
    except (redis.RedisError, psycopg.Error) as error:
        _service_missing(f"PostgreSQL or Redis does not answer: {error}")
    return database_url, smoke_database, smoke_redis


@pytest.fixture(scope="module")
def smoke_lock():
    """Only one smoke run at a time on this machine: they share Redis database 14 and the database name."""
    with open(Path(tempfile.gettempdir()) / "crowdfund-smoke.lock", "w") as lock:
        deadline = time.monotonic() + LOCK_SECONDS
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another smoke run held {lock.name} for {LOCK_SECONDS} s")
                time.sleep(1)
        yield
        fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def smoke(services, smoke_lock, tmp_path_factory):
    """The running platform (a SmokeRun), for the tests of one module: they share its one server.
    Stopped at the end with SIGTERM, which must stop every process it started, with status 0."""
    import psycopg
    import redis
    from aiosmtpd.controller import Controller

    admin_url, database_url, redis_url = services
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    redis.Redis.from_url(redis_url).flushdb()

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    work_dir = tmp_path_factory.mktemp("smoke")
    port = _free_port()
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
            if name in os.environ}
    env = {
        **base,
        "CROWDFUND_ENV": "production", "SECRET_KEY": secrets.token_hex(32), "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": redis_url, "RATELIMIT_STORAGE_URI": redis_url,
        "PUBLIC_URL": f"http://127.0.0.1:{port}", "TRUSTED_HOSTS": "127.0.0.1", "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2",
        "GUNICORN_CMD_ARGS": f'--access-logformat "{ACCESS_LOG_FORMAT}"',
        "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp.port),
        "STRIPE_STANDIN": "1", "STRIPE_STANDIN_URL": f"http://127.0.0.1:{_free_port()}",
        "STRIPE_WEBHOOK_SECRET": f"whsec_smoke_{secrets.token_hex(8)}",
        "TICK_INTERVAL_SECONDS": "2", "REQUIRE_PAYOUT_ACCOUNT": "0",
        "CROWDFUND_INSTANCE_DIR": str(work_dir / "instance"),
        # Empty, so that a developer's .env (read by config.py) cannot fill them in: real Stripe keys, say.
        "STRIPE_SECRET_KEY": "", "STRIPE_PUBLISHABLE_KEY": "", "STRIPE_JS_URL": "", "MAIL_BACKEND": "",
        "MAIL_USERNAME": "", "MAIL_USE_TLS": "", "IN_PROCESS_TICKER": "", "PROXY_COUNT": "", "MEDIA_STORAGE": "",
        "CROWDFUND_SMOKE_RUN": secrets.token_hex(8),  # finds anything left running afterwards
    }
    seeding = run = None
    try:
        seeding = Seeding(database_url, work_dir / "seed")
        run = SmokeRun(env, work_dir, inbox, seeding)
        run.start()
        yield run
        returncode = run.stop()
        leftovers = run.leftover_processes()
        assert (returncode, leftovers) == (0, []), f"`make serve` did not stop cleanly:\n{run.logs()}"
    finally:
        if run is not None:
            run.stop()
        smtp.stop()
        if seeding is not None:
            seeding.close()
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')
        redis.Redis.from_url(redis_url).flushdb()


class Seeding:
    """Data a test needs before it starts, written through the app's own models into the smoke
    database from this process (the server has no way to create a live campaign on its own)."""

    def __init__(self, database_url: str, instance_dir: Path):
        from config import TestingConfig
        from crowdfund import create_app

        config = {name: getattr(TestingConfig, name) for name in dir(TestingConfig) if name.isupper()}
        config.update(SQLALCHEMY_DATABASE_URI=database_url, INSTANCE_DIR=instance_dir,
                      UPLOAD_DIR=instance_dir / "uploads")
        self.app = create_app(config)

    def live_campaign(self, title: str, goal: int) -> str:
        """A founder's live all-or-nothing campaign in USD, ending in an hour; its slug."""
        from crowdfund.accounts.services import mark_email_verified, register_user
        from crowdfund.campaigns.models import BudgetLine, Campaign, Category
        from crowdfund.campaigns.services import unique_slug
        from crowdfund.clock import utcnow
        from crowdfund.extensions import db

        with self.app.app_context():
            founder = register_user(f"founder-{secrets.token_hex(4)}@example.com", "Fay Baker",
                                    "a founder's password 2026")
            mark_email_verified(founder)
            category = db.session.execute(db.select(Category).order_by(Category.position)).scalars().first()
            now = utcnow()
            campaign = Campaign(
                founder_id=founder.id, title=title, slug=unique_slug(title), category_id=category.id,
                blurb="A second oven so we can bake for three more cafés.",
                story="We are a two-person bakery building a second oven for three local cafés. " * 4,
                risks="Oven delivery can slip by a month.", goal=goal, currency="USD",
                funding_model="all_or_nothing", duration_days=1, state="live",
                budget_lines=[BudgetLine(purpose="Oven", amount=goal)],
                submitted_at=now - timedelta(days=1), review_reason="Clear budget", launched_at=now,
                deadline=now + timedelta(hours=1))
            db.session.add(campaign)
            db.session.commit()
            return campaign.slug

    def end_soon(self, slug: str, seconds: float = 2) -> None:
        """Bring the campaign's deadline to `seconds` from now: a real deadline, passed on the
        server's own clock (a separate server's clock cannot be moved as in the other tests)."""
        from crowdfund.campaigns.models import Campaign
        from crowdfund.clock import utcnow
        from crowdfund.extensions import db

        with self.app.app_context():
            db.session.execute(db.update(Campaign).where(Campaign.slug == slug)
                               .values(deadline=utcnow() + timedelta(seconds=seconds)))
            db.session.commit()

    def close(self) -> None:
        from crowdfund.extensions import db

        with self.app.app_context():
            db.engine.dispose()


@pytest.fixture
def client(smoke):
    """A new HTTP client (no cookies) for the smoke run."""
    return Client(smoke.url)


@pytest.fixture
def page(browser, smoke):
    """A Chromium page on the smoke run (relative URLs work); console errors in page.console_errors."""
    context = browser.new_context(base_url=smoke.url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.on("pageerror", lambda error: page.console_errors.append(f"uncaught: {error}"))
    try:
        yield page
    finally:
        context.close()
