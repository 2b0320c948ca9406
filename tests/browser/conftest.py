"""A live server and a real browser: the app served by werkzeug in a thread on a free port
(SQLite only, CSRF on, the Stripe stand-in for payments) and Playwright driving the system's
Chromium. Without Chromium or Playwright the tests skip, or fail with CROWDFUND_REQUIRE_SERVICES=1."""
import importlib.util
import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = Path(os.environ.get("CROWDFUND_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _service_missing(reason: str):
    if os.environ.get("CROWDFUND_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (CROWDFUND_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """Browser tests run on SQLite only: they test the pages, not the database."""
    return f"sqlite:///{tmp_path_factory.mktemp('browser-db') / 'test.sqlite3'}"


class LiveServer:
    """The app served over real HTTP from a daemon thread until stop()."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(csrf_app, stripe_standin):
    """The test's app (CSRF on, like production) on a free port, talking to the stand-in."""
    server = LiveServer(csrf_app)
    csrf_app.config["PUBLIC_URL"] = server.url
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    if importlib.util.find_spec("playwright") is None:
        _service_missing("Playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        _service_missing(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Page:
    """A fresh browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser, base_url):
        self.context = browser.new_context(base_url=base_url)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.errors: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(
            f"console: {message.text} ({message.location.get('url')})"))
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))


@pytest.fixture
def page(browser, live_server):
    """A Playwright page on the live server (relative URLs work); its console errors in page.console_errors."""
    recorder = Page(browser, live_server.url)
    recorder.page.console_errors = recorder.errors
    try:
        yield recorder.page
    finally:
        recorder.context.close()


@pytest.fixture
def log_in(page):
    """log_in(user, password): fill the login form like a person and land on the page it leads to."""

    def do(user, password):
        page.goto("/login")
        form = page.locator("main form")
        form.get_by_label("Email").fill(user.email)
        form.get_by_label("Password", exact=True).fill(password)
        form.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login" not in url)

    return do
