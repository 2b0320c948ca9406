"""A live server and a real browser: the app served by werkzeug in a thread on a free port
(SQLite only, CSRF on, the Stripe stand-in for payments) and Playwright driving the system's
Chromium. Without Chromium or Playwright the tests skip, or fail with CROWDFUND_REQUIRE_SERVICES=1.

For journeys: `new_page()` opens another person's browser, `log_in(user, password, on=that_page)`
logs them in, `outbox` holds the mail the live server sent, and `step(name)` screenshots each step
(kept under test-results/journey/ when the test fails)."""
import re
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "test-results" / "journey"


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
def new_page(browser, live_server):
    """new_page() -> another person's browser: a page in a context of its own (no cookies shared),
    recording console errors in page.console_errors like `page`; closed at the end of the test."""
    recorders = []

    def open_page():
        recorder = Page(browser, live_server.url)
        recorder.page.console_errors = recorder.errors
        recorders.append(recorder)
        return recorder.page

    try:
        yield open_page
    finally:
        for recorder in recorders:
            recorder.context.close()


@pytest.fixture
def log_in(page):
    """log_in(user, password, on=page): fill the login form like a person and land on the page it
    leads to (in the `page` fixture's browser unless another page is given)."""

    def do(user, password, on=None):
        target = on or page
        target.goto("/login")
        form = target.locator("main form")
        form.get_by_label("Email").fill(user.email)
        form.get_by_label("Password", exact=True).fill(password)
        form.get_by_role("button", name="Log in").click()
        target.wait_for_url(lambda url: "/login" not in url)

    return do


@pytest.fixture
def outbox(csrf_app):
    """The mail the live server sent (the served app's memory backend), oldest first."""
    from crowdfund.notifications.services import outbox as mail_outbox

    with csrf_app.app_context():
        messages = mail_outbox()
    messages.clear()
    return messages


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell at teardown whether it failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


class Steps:
    """step(name, *pages): a context manager around one step of a journey. When the step ends, a
    full-page screenshot of each page (the `page` fixture's by default) is saved as
    NN-name[-i].png in the test's folder; a step that raises is captured as NN-name-FAILED.png and
    the folder's path is added to the error."""

    def __init__(self, folder: Path, default_page):
        self.folder = folder
        self.default_page = default_page
        self.count = 0

    @contextmanager
    def __call__(self, name: str, *pages):
        self.count += 1
        label = f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}"
        pages = pages or (self.default_page,)
        try:
            yield
        except Exception as error:
            self.shoot(f"{label}-FAILED", pages)
            error.add_note(f"Screenshots of the steps so far: {self.folder}")
            raise
        self.shoot(label, pages)

    def shoot(self, label: str, pages) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for index, page in enumerate(pages, start=1):
            suffix = f"-{index}" if len(pages) > 1 else ""
            try:
                page.screenshot(path=self.folder / f"{label}{suffix}.png", full_page=True, timeout=10_000)
            except Exception as error:  # a closed or stuck page must not hide the step's own error
                (self.folder / f"{label}{suffix}.txt").write_text(f"no screenshot: {error}\n")


@pytest.fixture
def step(request, page):
    """Screenshots of every step of a browser test (see Steps), in test-results/journey/<test name>/:
    removed when the test passes, kept (and the path printed) when it fails."""
    folder = SCREENSHOT_DIR / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)  # nothing left from an earlier run
    yield Steps(folder, page)
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and folder.exists():
        print(f"\nScreenshots of every step of {request.node.nodeid}: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
