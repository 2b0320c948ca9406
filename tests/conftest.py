"""Fixtures shared by every test: the app on SQLite and on PostgreSQL, a client, factories.

Every test that uses `app` runs once per database: SQLite always, PostgreSQL when
CROWDFUND_TEST_DATABASE_URL is set. With CROWDFUND_REQUIRE_SERVICES=1 (CI) a missing
service fails the run instead of skipping. The schema is built by the migrations once per
database per session; each test starts from empty tables (categories are seeded data)."""
import itertools
import os
import secrets
import sqlite3
from contextlib import contextmanager
from datetime import date, timedelta
from functools import lru_cache

import pytest
from flask_migrate import upgrade
from flask import Flask, g, request_started
from jinja2 import BytecodeCache
from werkzeug.routing.rules import Rule
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from config import TestingConfig
from crowdfund import create_app
from crowdfund.clock import utcnow
from crowdfund.extensions import db

pytest_plugins = ["standin_fixtures", "browser_fixtures"]

PASSWORD = "correct horse battery"
REQUIRE_SERVICES = os.environ.get("CROWDFUND_REQUIRE_SERVICES") == "1"


# Test speed: every test builds its own app (nothing leaks from one test to the next), and half of a
# short test's time went to work that gives the same result in every app — compiling the ~100 URL
# rules' builder functions (~220 ms an app) and parsing and compiling the templates again (~260 ms a
# test). Both are kept for the whole test process; each app still has its own Jinja environment and
# its own URL map. A template whose source changes is compiled again (Jinja checks its checksum).
class _TemplateCodeForEveryApp(BytecodeCache):
    def __init__(self):
        self._code = {}

    def load_bytecode(self, bucket):
        if bucket.key in self._code:
            bucket.bytecode_from_string(self._code[bucket.key])

    def dump_bytecode(self, bucket):
        self._code[bucket.key] = bucket.bytecode_to_string()


Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": _TemplateCodeForEveryApp()}

_compile_builder = Rule._compile_builder
_builders: dict = {}


def _same_builder_for_the_same_rule(self, append_unknown=True):
    """A rule's builder is a function of the rule's text, its parsed parts, its defaults and its
    converters' types (it takes the rule as its first argument), so one compiled per process serves
    every app's copy of the rule."""
    key = (self.rule, self.subdomain, self.host, tuple(self._trace), append_unknown,
           tuple(sorted((k, repr(v)) for k, v in (self.defaults or {}).items())),
           tuple(sorted((k, type(c).__name__, repr({a: v for a, v in vars(c).items() if a != "map"}))
                        for k, c in self._converters.items())))
    if key not in _builders:
        _builders[key] = _compile_builder(self, append_unknown)
    return _builders[key]


Rule._compile_builder = _same_builder_for_the_same_rule

# The same for SQLAlchemy: its compiled-statement cache belongs to an engine, so a new engine per
# test compiled every statement again (a third of a short test). Apps with the same database URL and
# engine options share one engine (its pool is emptied when each test ends, as before).
_make_engine = db._make_engine
_engines: dict = {}


def _one_engine_per_database(bind_key, options, app):
    key = repr(sorted((name, str(value)) for name, value in options.items()))
    if key not in _engines:
        _engines[key] = _make_engine(bind_key, {**options, "query_cache_size": 5000}, app)
    return _engines[key]


db._make_engine = _one_engine_per_database
_migrated: set[str] = set()


def service_missing(reason: str):
    """Skip the test with reason, or fail it when services are required (CI)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (CROWDFUND_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    url = os.environ.get("CROWDFUND_TEST_DATABASE_URL")
    if not url:
        service_missing("PostgreSQL tests need CROWDFUND_TEST_DATABASE_URL")
    # Each test process gets a schema of its own in the one test database, dropped at the end.
    schema = f"crowdfund_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    separator = "&" if "?" in url else "?"
    # synchronous_commit off: a test's commits need not wait for the disk (nothing here must survive
    # a crash of the machine), which is much of a test's time on a slow disk.
    yield f"{url}{separator}options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@event.listens_for(Engine, "connect")
def _sqlite_tests_skip_fsync(dbapi_connection, _record):
    """Tests only: SQLite commits without waiting for the disk (the test database is thrown away)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


# Run once, on SQLite (their PostgreSQL variants deselected), to keep CI under its time limit: tests
# whose subject does not depend on the database — image processing, form and input validation (the
# draft forms' fields), response headers and cookies, comment pages, what a browser sees and does — and
# tests marked sqlite_only (pages and forms over plain ORM queries whose services are covered on
# PostgreSQL elsewhere). Everything touching money, locking, search, migrations, concurrency, the page
# cache's invalidation and faults keeps both databases.
SQLITE_ONLY_PATHS = ("tests/media/", "tests/comments/", "tests/test_input_layer.py",
                     "tests/test_headers_and_cookies.py", "tests/campaigns/test_draft_items.py",
                     "tests/campaigns/test_drafting.py", "tests/browser/",
                     # pages and forms over plain ORM reads and writes (their services' SQL runs on
                     # PostgreSQL in the money, search, derived-column, page-version and fault tests)
                     "tests/accounts/test_signup.py", "tests/accounts/test_password_reset.py",
                     "tests/accounts/test_profile.py", "tests/accounts/test_email_verification.py",
                     "tests/accounts/test_emails_after_the_request.py", "tests/accounts/test_cli.py",
                     "tests/moderation/", "tests/updates/test_reports.py", "tests/updates/test_updates.py",
                     "tests/campaigns/test_campaign_page.py", "tests/campaigns/test_permissions.py",
                     # the demo's content is the same on both (loading it on PostgreSQL: tests/test_app.py)
                     "tests/test_demo_credit.py")


def pytest_collection_modifyitems(config, items):
    """Deselect the PostgreSQL variants of the tests above (see SQLITE_ONLY_PATHS)."""
    keep, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database_url") == "postgresql"
        sqlite_only = item.get_closest_marker("sqlite_only") or item.nodeid.startswith(SQLITE_ONLY_PATHS)
        (dropped if on_postgres and sqlite_only else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _config(database_url, tmp_path):
    return {
        **{k: getattr(TestingConfig, k) for k in dir(TestingConfig) if k.isupper()},
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_DIR": tmp_path / "instance",
        "UPLOAD_DIR": tmp_path / "uploads",
        "WTF_CSRF_ENABLED": False,
    }


def _reset_schema(url):
    """Build the schema from the migrations, once per database per test session."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:
            schema = connection.execute(text("SHOW search_path")).scalar_one()
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    upgrade()
    _migrated.add(url)


def _empty_tables():
    db.session.remove()
    tables = [t.name for t in reversed(db.metadata.sorted_tables) if t.name != "category"]
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Only the tables the test wrote, by DELETE, their id sequences restarted: a TRUNCATE of every
            # table made new files for each (~0.45 s a test, a third of a short PostgreSQL test).
            written = connection.execute(text(" UNION ALL ".join(
                f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables))).scalars().all()
            for table in (t for t in tables if t in set(written)):
                connection.execute(text(f'DELETE FROM "{table}"'))
                if "id" in db.metadata.tables[table].c and db.metadata.tables[table].c.id.autoincrement is not False:
                    connection.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), 1, false) "
                                            f"WHERE pg_get_serial_sequence('\"{table}\"', 'id') IS NOT NULL"))
        else:
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))


def _forget_cached_user(sender, **extra):
    # The test's app context is reused by every request, so Flask-Login's user cached on `g`
    # would leak from one client (or login) to the next and hide permission bugs.
    g.pop("_login_user", None)
    g.pop("csrf_token", None)  # Flask-WTF's token of the previous session (login starts a new one)


@contextmanager
def _running_app(config):
    app = create_app(config)
    request_started.connect(_forget_cached_user, app)
    with app.app_context():
        if config["SQLALCHEMY_DATABASE_URI"] not in _migrated:
            _reset_schema(config["SQLALCHEMY_DATABASE_URI"])
        yield app
        _empty_tables()
        db.session.remove()
        db.engine.dispose()
    request_started.disconnect(_forget_cached_user, app)


def _page_cache_config(request) -> dict:
    """The page cache is off in tests (TestingConfig): a test shares one session with the requests it
    makes, so a page may show what the test flushed but never committed, and the query-count tests
    count the queries of a render. It is on for tests marked `page_cache` and for the browser tests
    (real requests, end to end, as in production)."""
    if request.node.get_closest_marker("page_cache") or "browser" in request.node.path.parts:
        return {"PAGE_CACHE_SECONDS": 30}
    return {}


def _payments_config(request) -> dict:
    """When the test uses the Stripe stand-in, point the app at it (emptied first)."""
    if "stripe_standin" not in request.fixturenames:
        return {}
    standin = request.getfixturevalue("stripe_standin")
    standin.reset()
    return {"STRIPE_STANDIN_URL": standin.url}


@pytest.fixture
def app(request, database_url, tmp_path):
    with _running_app({**_config(database_url, tmp_path), **_payments_config(request),
                       **_page_cache_config(request)}) as app:
        yield app


@pytest.fixture
def csrf_app(request, database_url, tmp_path):
    """The app with CSRF protection on, as in production."""
    config = {**_config(database_url, tmp_path), **_payments_config(request), **_page_cache_config(request),
              "WTF_CSRF_ENABLED": True}
    with _running_app(config) as app:
        yield app


def _use_app(request):
    """Factories run inside the test's app (the CSRF-protected one when the test asks for it),
    whatever order the test names its fixtures in."""
    return request.getfixturevalue("csrf_app" if "csrf_app" in request.fixturenames else "app")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, user_or_email, password=PASSWORD):
        email = getattr(user_or_email, "email", user_or_email)
        return self._client.post("/login", data={"email": email, "password": password})

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


_counter = itertools.count(1)


@pytest.fixture
def make_user(request, database_url):
    _use_app(request)
    from crowdfund.accounts.services import mark_email_verified, register_user

    def make(email=None, role="backer", display_name=None, password=PASSWORD, verified=True):
        n = next(_counter)
        user = register_user(email or f"user{n}@example.com", display_name or f"User {n}", password, role=role)
        if verified:
            mark_email_verified(user)
        db.session.commit()
        return user

    return make


STORY = ("We are a two-person bakery in Leeds building a second oven so we can supply three local cafés. " * 4).strip()


@lru_cache(maxsize=1)
def _factory_cover_files():
    """One small cover processed once per test process: {(width, ext): bytes}, width, height."""
    from io import BytesIO

    from PIL import Image as PILImage

    from crowdfund.media.processing import process_image

    buffer = BytesIO()
    PILImage.new("RGB", (1600, 900), (214, 140, 60)).save(buffer, "PNG")
    processed = process_image(buffer.getvalue(), "cover", max_pixels=2 * 10**6, max_bytes=10**6)
    return processed


def _factory_cover():
    """A cover Image row whose files exist in the app's storage (copied, not processed again)."""
    from crowdfund.media.models import Image
    from crowdfund.media.processing import CONTENT_TYPES
    from crowdfund.media.storage import get_storage

    processed = _factory_cover_files()
    image = Image(key=f"cover-{secrets.token_hex(16)}", kind="cover", width=processed.width, height=processed.height,
                  widths=",".join(str(w) for w in processed.widths), formats="webp,jpg")
    storage = get_storage()
    for (width, ext), content in processed.files.items():
        storage.save(image.file_name(width, ext), content, CONTENT_TYPES[ext])
    return image


@pytest.fixture
def stored_image(app):
    """stored_image() -> a new Image row whose variant files exist in the app's storage."""
    return _factory_cover


@pytest.fixture
def make_campaign(make_user):
    """A campaign in any state. complete=True fills everything the review checklist needs."""
    from crowdfund.campaigns.models import BudgetLine, Campaign, Category, Milestone, RewardTier
    from crowdfund.campaigns.services import unique_slug

    def make(founder=None, state="draft", title=None, goal=100_000, currency="USD", complete=True,
             funding_model="all_or_nothing", category_slug="food-drink", tiers=1, tier_quantity=None,
             duration_days=30, launched_at=None, blurb=None, story=None, featured=False):
        founder = founder or make_user()
        title = title or f"Second oven for the bakery {next(_counter)}"
        category = db.session.execute(db.select(Category).where(Category.slug == category_slug)).scalar_one()
        campaign = Campaign(founder_id=founder.id, title=title, slug=unique_slug(title), currency=currency,
                            funding_model=funding_model, duration_days=duration_days, state=state,
                            category_id=category.id, featured=featured)
        if complete:
            campaign.blurb = blurb if blurb is not None else "A second oven so we can bake for three more cafés."
            campaign.story = story if story is not None else STORY
            campaign.risks = "Oven delivery can slip by a month; we have a backup supplier."
            campaign.goal = goal
            campaign.budget_lines = [BudgetLine(purpose="Oven", amount=goal * 3 // 4),
                                     BudgetLine(purpose="Installation", amount=goal - goal * 3 // 4)]
            campaign.reward_tiers = [
                RewardTier(title=f"Tier {i + 1}", description="A loaf every week for a month",
                           minimum_amount=1000 * (i + 1), quantity=tier_quantity,
                           estimated_delivery=date.today().replace(day=1) + timedelta(days=62))
                for i in range(tiers)]
            campaign.cover = _factory_cover()
            campaign.cover_alt = "The new oven in the bakery"
            campaign.milestones = [
                Milestone(title="Oven installed", description="Installed and inspected",
                          due_date=date.today() + timedelta(days=90), release_bp=6000),
                Milestone(title="First deliveries", description="Bread to three cafés",
                          due_date=date.today() + timedelta(days=150), release_bp=4000)]
        now = utcnow()
        if state not in ("draft",):
            campaign.submitted_at = now - timedelta(days=3)
        if state in ("live", "successful", "failed", "cancelled", "suspended"):
            campaign.launched_at = launched_at or now - timedelta(days=1)
            campaign.deadline = campaign.launched_at + timedelta(days=duration_days)
        db.session.add(campaign)
        db.session.commit()
        return campaign

    return make


@pytest.fixture
def make_pledge(request, make_user):
    from crowdfund.pledges.models import Pledge

    def make(campaign, backer=None, amount=5000, state="active", reward_tier=None, created_at=None):
        pledge = Pledge(campaign_id=campaign.id, backer_id=(backer or make_user()).id, amount=amount, state=state,
                        reward_tier_id=reward_tier.id if reward_tier else None, created_at=created_at or utcnow())
        db.session.add(pledge)
        db.session.commit()
        return pledge

    return make


@pytest.fixture
def count_queries(app):
    """Context manager yielding a list that collects every SQL statement run inside it."""

    @contextmanager
    def counting():
        statements = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(db.engine, "before_cursor_execute", record)

    return counting


@pytest.fixture
def outbox(app):
    from crowdfund.notifications.services import outbox as mail_outbox

    messages = mail_outbox()
    messages.clear()
    return messages


@pytest.fixture
def login(app):
    """login(user) -> a new test client logged in as user."""

    def log_in(user):
        client = app.test_client()
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302
        return client

    return log_in


@pytest.fixture
def founder(make_user):
    return make_user(display_name="Fay Baker")


@pytest.fixture
def founder_client(login, founder):
    """A test client logged in as `founder`."""
    return login(founder)


@pytest.fixture
def fresh_app(database_url, tmp_path):
    """The app on a database of its own with nothing in it: a new SQLite file, or a new
    PostgreSQL schema (dropped afterwards)."""
    schema = None
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    else:
        schema = f"crowdfund_fresh_{os.getpid()}"
        base = os.environ["CROWDFUND_TEST_DATABASE_URL"]
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    config = {k: getattr(TestingConfig, k) for k in dir(TestingConfig) if k.isupper()}
    config.update(SQLALCHEMY_DATABASE_URI=url, INSTANCE_DIR=tmp_path / "instance", UPLOAD_DIR=tmp_path / "uploads")
    app = create_app(config)
    with app.app_context():
        if schema:
            with db.engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield app
        finally:
            db.session.remove()
            if schema:
                with db.engine.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            db.engine.dispose()
