"""Faults survived (issue 14): what a visitor sees while Redis or PostgreSQL is away, and that both
come back by themselves (docs/operations.md, "When Redis or PostgreSQL is away").

Redis: a private redis-server on a free port, stopped and started again by the test, and a "hung"
Redis (a listener that accepts and never answers). Log-in, sign-up and pledging keep working with
the rate limits counted in the worker's memory, and the limits are counted in Redis again once it is
back. PostgreSQL: the app reaches the test PostgreSQL server through a TCP forwarder the test can cut
(closing every live connection) and restore; while it is cut every page is a styled 503 rendered
without the database, signed in or not, and Stripe's webhook gets 503 so it retries.

These run in CI (CROWDFUND_REQUIRE_SERVICES=1): without redis-server or PostgreSQL they skip locally
and fail there."""
import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import stripe
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from config import ProductionConfig, TestingConfig
from crowdfund import create_app
from crowdfund.extensions import db, limiter

from browser_fixtures import service_missing  # a module name of its own: "conftest" is ambiguous under xdist

PASSWORD = "correct horse battery"  # the make_user factory's (tests/conftest.py)

pytestmark = pytest.mark.xdist_group("faults")  # one worker: one schema, one migration

UNAVAILABLE_HEADING = "We’ll be right back"
BARE_SERVER_ERROR = "<title>500 Internal Server Error</title>"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Redis: a private server the test stops and starts, and a hung one -------------------------------

class RedisServer:
    """redis-server on a port of its own, nothing saved to disk; stop() kills it, start() runs it
    again on the same port."""

    def __init__(self, port: int):
        self.port, self.process = port, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self, timeout: float = 10) -> None:
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"redis-server did not answer on port {self.port} within {timeout} s")

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def limit_keys(self) -> list:
        """The counters Flask-Limiter keeps in this Redis."""
        return self.client().keys("LIMITS*")


class HungListener:
    """A TCP port that accepts connections (the kernel completes the handshake) and never answers:
    a Redis or PostgreSQL that hangs rather than refuses."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _address = self.sock.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self):
        for sock in [self.sock, *self.held]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


@pytest.fixture
def redis_binary():
    if not shutil.which("redis-server"):
        service_missing("the fault tests need the redis-server binary")


@pytest.fixture
def private_redis(redis_binary):
    server = RedisServer(_free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hung():
    listener = HungListener()
    yield listener
    listener.close()


@pytest.fixture
def redis_app(app, database_url):
    """redis_app(url) -> an app on the test's database with the rate limits and the page cache in the
    Redis at url, the limiter on, and errors answered as in production (no exception propagates)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the Redis faults do not depend on the database: run once, on SQLite")
    made = []

    def make(url, **settings):
        built = create_app({**app.config, "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": url,
                            "CACHE_REDIS_URL": url, "PAGE_CACHE_SECONDS": 30, "PROPAGATE_EXCEPTIONS": False,
                            "RATELIMIT_STORAGE_RECHECK_SECONDS": 0.5, "PAGE_CACHE_RETRY_SECONDS": 0.5,
                            "LOGIN_RATE_LIMIT": "3 per minute",
                            **settings})
        made.append(built)
        return built

    yield make
    for built in made:
        with built.app_context():
            db.session.remove()
            db.engine.dispose()


def _sign_up(client):
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    response = client.post("/signup", data={"email": email, "display_name": "New Backer", "password": PASSWORD})
    return response, email


def _log_in(client, user, password=PASSWORD):
    return client.post("/login", data={"email": user.email, "password": password})


def _pledge(client, campaign):
    return client.post(f"/c/{campaign.slug}/pledge", data={"reward": "none", "amount": "25", "shipping_country": ""})


def _what_a_user_does_still_works(built, make_user, campaign):
    """Log in, sign up, pledge and read the home page on `built`, each as a user would."""
    user = make_user()
    client = built.test_client()
    response = _log_in(client, user)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert client.get("/me/pledges").status_code == 200  # signed in
    pledged = _pledge(client, campaign)
    assert pledged.status_code == 302 and pledged.headers["Location"].endswith("/card"), pledged.status_code

    newcomer = built.test_client()
    response, email = _sign_up(newcomer)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert email in newcomer.get("/me/settings").get_data(as_text=True)

    home = built.test_client().get("/")
    assert home.status_code == 200 and "crowdfund" in home.get_data(as_text=True)


def test_with_redis_stopped_log_in_sign_up_and_pledging_work_and_limits_return_with_redis(
        redis_app, private_redis, make_user, make_campaign, stripe_standin, caplog):
    campaign = make_campaign(state="live")
    built = redis_app(private_redis.url)
    client = built.test_client()
    somebody = make_user()

    # Redis is up: the log-in limit (3 a minute) is counted there.
    statuses = [_log_in(client, somebody, "wrong guess").status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    assert private_redis.limit_keys()

    private_redis.stop()
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    _what_a_user_does_still_works(built, make_user, campaign)
    assert time.monotonic() - started < 30  # refused connections: no waiting on a dead Redis
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "Rate limit storage" in r.getMessage()]
    assert warnings, [r.getMessage() for r in caplog.records]
    # Limits still apply, counted in this process's memory.
    counted_here = built.test_client()
    assert [_log_in(counted_here, somebody, "wrong guess").status_code for _ in range(5)][-1] == 429

    # Redis is back (empty): the next log-in attempts are counted in it again, without a restart.
    private_redis.start()
    deadline = time.monotonic() + 30
    while not private_redis.limit_keys() and time.monotonic() < deadline:
        _log_in(built.test_client(), make_user(), "wrong guess")
        time.sleep(0.2)
    assert private_redis.limit_keys(), "the limits never went back to Redis"
    assert any("recovered" in r.getMessage() for r in caplog.records)
    private_redis.client().flushall()
    again = built.test_client()
    statuses = [_log_in(again, somebody, "wrong guess").status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    assert private_redis.limit_keys()


def test_with_redis_hung_log_in_sign_up_and_pledging_work_in_bounded_time(
        redis_app, hung, make_user, make_campaign, stripe_standin, caplog):
    campaign = make_campaign(state="live")
    url = f"redis://127.0.0.1:{hung.port}/0"
    # The production intervals: after a timed-out call, Redis is left alone for 5 s.
    built = redis_app(url, RATELIMIT_STORAGE_RECHECK_SECONDS=5, PAGE_CACHE_RETRY_SECONDS=5)
    caplog.set_level(logging.INFO)

    started = time.monotonic()
    _what_a_user_does_still_works(built, make_user, campaign)
    for _ in range(5):
        assert built.test_client().get("/").status_code == 200
    elapsed = time.monotonic() - started

    # Every Redis call gives up after its socket timeout, and the limiter and the page cache stop
    # asking for a while after one failed: far below a request timeout, nowhere near "for ever".
    assert elapsed < 30, elapsed
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Rate limit storage" in m for m in messages), messages
    assert any("Page cache unreachable" in m for m in messages), messages


def test_a_celery_publish_to_a_dead_or_hung_broker_fails_fast(tmp_path, hung):
    """The outbox kick (celery.send_task(..., retry=False) in a request) must not wait on a broker
    that is gone: one attempt, short connect and socket timeouts (crowdfund/tasks.py)."""
    from celery import Celery
    from kombu.exceptions import OperationalError as KombuOperationalError

    from crowdfund.tasks import celery_settings

    dead = f"redis://127.0.0.1:{_free_port()}/0"
    for url in (dead, f"redis://127.0.0.1:{hung.port}/0"):
        app = Celery("faults")
        app.conf.update(celery_settings({"CELERY_BROKER_URL": url, "INSTANCE_DIR": tmp_path}))
        started = time.monotonic()
        with pytest.raises(KombuOperationalError):
            app.send_task("crowdfund.tasks.dispatch_outbox_task", retry=False)
        assert time.monotonic() - started < 10, url


def test_the_page_cache_serves_uncached_while_redis_is_away(redis_app, private_redis, make_campaign):
    campaign = make_campaign(state="live")
    built = redis_app(private_redis.url)
    visitor = built.test_client()
    assert visitor.get(f"/c/{campaign.slug}").headers.get("X-Page-Cache") == "miss"
    assert visitor.get(f"/c/{campaign.slug}").headers.get("X-Page-Cache") == "hit"

    private_redis.stop()
    response = visitor.get(f"/c/{campaign.slug}")
    assert response.status_code == 200 and campaign.title in response.get_data(as_text=True)
    assert "X-Page-Cache" not in response.headers

    private_redis.start()  # empty: the generation is gone, so pages are stored again after a write
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if visitor.get(f"/c/{campaign.slug}").headers.get("X-Page-Cache") in ("miss", "hit"):
            break
        time.sleep(0.3)
    assert visitor.get(f"/c/{campaign.slug}").headers.get("X-Page-Cache") == "hit"


def test_the_limiter_still_has_the_private_hook_it_overrides():
    """The app's Limiter overrides Flask-Limiter's private storage recheck backoff; an upgrade that
    renames it would silently bring back waits of up to 32 s after Redis returns."""
    from flask_limiter import Limiter

    assert hasattr(Limiter, "_Limiter__should_check_backend")
    assert type(limiter).__dict__.get("_Limiter__should_check_backend") is not None


# --- PostgreSQL: reached through a forwarder the test cuts -------------------------------------------

class Forwarder:
    """A TCP forwarder between the app and a real server. stop() closes its listening socket and every
    live connection (as if the server went away: connections refused, pooled ones dead); start()
    listens again on the same port."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.port = target, _free_port()
        self.listener, self.live, self.lock = None, set(), threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.live |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                _close(sock)

    def stop(self) -> None:
        if self.listener is not None:
            _close(self.listener)
            self.listener = None
        with self.lock:
            live, self.live = self.live, set()
        for sock in live:
            _close(sock)


def _close(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept() or recv()
    except OSError:
        pass
    sock.close()


def _postgres_url() -> str:
    url = os.environ.get("CROWDFUND_TEST_DATABASE_URL")
    if not url:
        service_missing("PostgreSQL fault tests need CROWDFUND_TEST_DATABASE_URL")
    return url


def _through(url: str, port: int, schema: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    netloc = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
    query = (parts.query + "&" if parts.query else "") + f"options=-csearch_path%3D{schema}"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class Site:
    """The app on PostgreSQL through a forwarder, with a signed-in client and a live campaign."""

    def __init__(self, app, forwarder, member, anonymous, campaign_slug, member_name):
        self.app, self.forwarder, self.member, self.anonymous = app, forwarder, member, anonymous
        self.campaign_slug, self.member_name = campaign_slug, member_name


def _boom():
    raise RuntimeError("a bug in a page")


def _database_gone():
    raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))


def _raise(kind):
    import sqlite3

    import psycopg
    from sqlalchemy.exc import InterfaceError, ProgrammingError, TimeoutError as PoolTimeout

    raise {
        "pool-timeout": PoolTimeout("QueuePool limit of size 5 overflow 5 reached, connection timed out"),
        "psycopg": psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
        "invalidated": InterfaceError("SELECT 1", {}, Exception("connection already closed"), connection_invalidated=True),
        "bad-query": ProgrammingError("SELECT nope", {}, Exception('syntax error at or near "nope"')),
        "sqlite-locked": OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")),
        "sqlite-bug": OperationalError("SELECT nope", {}, sqlite3.OperationalError("no such column: nope")),
    }[kind]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    url = _postgres_url()
    parts = urlsplit(url)
    target = (parts.hostname or "127.0.0.1", parts.port or 5432)
    try:
        socket.create_connection(target, timeout=2).close()
    except OSError:
        service_missing(f"PostgreSQL does not answer at {target[0]}:{target[1]}")
    schema = f"crowdfund_faults_{os.getpid()}"
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    forwarder = Forwarder(target)
    forwarder.start()
    tmp = tmp_path_factory.mktemp("faults")
    config = {k: getattr(TestingConfig, k) for k in dir(TestingConfig) if k.isupper()}
    config.update(SQLALCHEMY_DATABASE_URI=_through(url, forwarder.port, schema), INSTANCE_DIR=tmp / "instance",
                  UPLOAD_DIR=tmp / "uploads", WTF_CSRF_ENABLED=False, PROPAGATE_EXCEPTIONS=False,
                  SQLALCHEMY_ENGINE_OPTIONS={**ProductionConfig.SQLALCHEMY_ENGINE_OPTIONS,
                                             "connect_args": {"connect_timeout": 2}})
    app = create_app(config)
    app.add_url_rule("/_test/boom", "test_boom", _boom)
    app.add_url_rule("/_test/database-gone", "test_database_gone", _database_gone)
    app.add_url_rule("/_test/raise/<kind>", "test_raise", _raise)
    try:
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            from crowdfund.accounts.services import mark_email_verified, register_user
            from crowdfund.campaigns.models import Campaign, Category
            from crowdfund.clock import utcnow

            member = register_user("member@example.com", "Mina Member", PASSWORD)
            mark_email_verified(member)
            category = db.session.execute(db.select(Category)).scalars().first()
            now = utcnow()
            from datetime import timedelta

            db.session.flush()
            campaign = Campaign(founder_id=member.id, title="A kiln for the pottery", slug="a-kiln-for-the-pottery",
                                currency="USD", funding_model="all_or_nothing", duration_days=30, state="live",
                                category_id=category.id, goal=100_000, blurb="A kiln", story="A kiln. " * 40,
                                submitted_at=now - timedelta(days=2), launched_at=now - timedelta(days=1),
                                deadline=now + timedelta(days=29))
            db.session.add(campaign)
            db.session.commit()
            db.session.remove()
        signed_in = app.test_client()
        assert signed_in.post("/login", data={"email": "member@example.com", "password": PASSWORD}).status_code == 302
        yield Site(app, forwarder, signed_in, app.test_client(), "a-kiln-for-the-pottery", "Mina Member")
    finally:
        forwarder.stop()
        forwarder.start()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        forwarder.stop()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def database_down(site):
    """The database is unreachable for the test; reachable again afterwards."""
    site.forwarder.stop()
    yield site
    site.forwarder.stop()
    site.forwarder.start()


def _assert_unavailable_page(response):
    page = response.get_data(as_text=True)
    assert response.status_code == 503, (response.status_code, page[:800])
    assert UNAVAILABLE_HEADING in page
    assert int(response.headers["Retry-After"]) > 0
    assert "Traceback" not in page and BARE_SERVER_ERROR not in page and "Internal Server Error" not in page
    assert 'href="/static/css/site.css' in page  # styled like the rest of the site
    assert "no-store" in response.headers["Cache-Control"]  # "private, no-store" for a signed-in user
    return page


def test_pages_work_before_the_database_goes_away(site):
    assert site.anonymous.get("/").status_code == 200
    mine = site.member.get("/me/pledges")
    assert mine.status_code == 200 and site.member_name in mine.get_data(as_text=True)


def test_with_the_database_down_every_page_is_a_styled_503_signed_in_or_not(database_down):
    site = database_down
    for client, path in ((site.anonymous, "/"), (site.anonymous, f"/c/{site.campaign_slug}"),
                         (site.member, "/"), (site.member, "/me/pledges"), (site.member, f"/c/{site.campaign_slug}"),
                         (site.member, "/this-page-does-not-exist")):
        page = _assert_unavailable_page(client.get(path))
        assert site.member_name not in page  # rendered without loading the user
        assert 'href="/"' in page  # the site's name links home

    # A page that needs nothing from the database still works (the log-in form); sending it does not.
    assert site.anonymous.get("/login").status_code == 200
    posted = site.anonymous.post("/login", data={"email": "member@example.com", "password": PASSWORD})
    _assert_unavailable_page(posted)
    assert site.member.post(f"/c/{site.campaign_slug}/pledge", data={"reward": "none", "amount": "25"}).status_code == 503


def test_with_the_database_down_stripe_webhooks_get_503_so_stripe_retries(database_down):
    payload = json.dumps({"id": f"evt_faults_{time.time_ns()}", "object": "event", "type": "customer.created",
                          "created": int(time.time()), "data": {"object": {}}})
    header = stripe.WebhookSignature.generate_signature_header(payload, "whsec_test_secret")
    response = database_down.anonymous.post("/stripe/webhook", data=payload, headers={
        "Stripe-Signature": header, "Content-Type": "application/json", "Accept": "*/*; q=0.5, application/json"})
    assert response.status_code == 503
    assert "Retry-After" in response.headers
    assert response.is_json and "Traceback" not in response.get_data(as_text=True)


def test_with_the_database_down_a_bug_while_signed_in_still_gets_a_styled_page(database_down):
    response = database_down.member.get("/_test/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in page and 'href="/static/css/site.css' in page
    assert "Traceback" not in page and BARE_SERVER_ERROR not in page


def test_a_bug_with_the_database_up_gets_the_full_error_page(site):
    response = site.member.get("/_test/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in page and site.member_name in page  # the usual header, signed in


def test_the_503_page_is_rendered_without_a_single_query(site):
    """A database error while signed in: the page names the site and its sections, but nothing is
    read to render it (no user loaded: the error was the database's)."""
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with site.app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = site.member.get("/_test/database-gone")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    page = _assert_unavailable_page(response)
    assert statements == []
    assert "crowdfund" in page and 'href="/discover"' in page
    assert site.member_name not in page


@pytest.mark.parametrize("kind", ["pool-timeout", "psycopg", "invalidated", "sqlite-locked"])
def test_a_pool_timeout_or_a_lost_connection_is_a_503(site, kind):
    _assert_unavailable_page(site.member.get(f"/_test/raise/{kind}"))


@pytest.mark.parametrize("kind", ["bad-query", "sqlite-bug"])
def test_a_bad_query_is_a_500_not_a_503(site, kind):
    response = site.member.get(f"/_test/raise/{kind}")
    assert response.status_code == 500 and "Something went wrong" in response.get_data(as_text=True)
    assert "Retry-After" not in response.headers


def test_when_the_error_page_itself_fails_a_static_page_is_sent(site, monkeypatch):
    import crowdfund.http_errors as http_errors

    def broken(*args, **kwargs):
        raise RuntimeError("the template is broken too")

    monkeypatch.setattr(http_errors, "render_template", broken)
    response = site.member.get("/_test/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in page and BARE_SERVER_ERROR not in page and "Traceback" not in page
    response = site.member.get("/_test/database-gone")
    assert response.status_code == 503 and UNAVAILABLE_HEADING in response.get_data(as_text=True)


def test_pages_come_back_with_the_database_without_a_restart(site):
    site.forwarder.stop()
    assert site.member.get("/me/pledges").status_code == 503
    assert site.anonymous.get("/").status_code == 503
    site.forwarder.start()
    assert site.anonymous.get("/").status_code == 200
    mine = site.member.get("/me/pledges")  # the same sign-in as before the outage
    assert mine.status_code == 200 and site.member_name in mine.get_data(as_text=True)
    assert site.anonymous.get(f"/c/{site.campaign_slug}").status_code == 200


def test_a_database_restart_between_requests_costs_no_error(site):
    """Pooled connections die with a restart; the first request afterwards must not see one
    (pool_pre_ping replaces them)."""
    for _ in range(3):
        assert site.member.get("/me/pledges").status_code == 200  # connections in the pool
    site.forwarder.stop()  # every pooled connection is cut ...
    site.forwarder.start()  # ... and the database is back before the next request
    assert site.member.get("/me/pledges").status_code == 200
    assert site.anonymous.get("/").status_code == 200


def test_a_database_that_hangs_at_connect_gets_503_after_the_connect_timeout(site, hung):
    """A server that accepts and never answers: the connect timeout (DB_CONNECT_TIMEOUT) bounds it."""
    config = dict(site.app.config)
    url = urlsplit(config["SQLALCHEMY_DATABASE_URI"])
    config["SQLALCHEMY_DATABASE_URI"] = urlunsplit(url._replace(netloc=url.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{hung.port}"))
    stalled = create_app(config)
    started = time.monotonic()
    response = stalled.test_client().get("/")
    _assert_unavailable_page(response)
    assert time.monotonic() - started < 15
    with stalled.app_context():
        db.engine.dispose()


def test_production_connections_to_postgresql_give_up_after_the_connect_timeout():
    """ProductionConfig is read at import: ask a fresh interpreter with production's environment."""
    import sys
    from pathlib import Path

    code = "from config import ProductionConfig as C; import json; print(json.dumps(C.SQLALCHEMY_ENGINE_OPTIONS))"
    for url, expected in (("postgresql://u@db/crowdfund", {"connect_timeout": 7}), ("sqlite:////tmp/x.db", None)):
        env = {**os.environ, "DATABASE_URL": url, "DB_CONNECT_TIMEOUT": "7"}
        out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], env=env,
                             capture_output=True, text=True, check=True).stdout
        options = json.loads(out)
        assert options.get("connect_args") == expected, url
        assert options["pool_pre_ping"] is True
