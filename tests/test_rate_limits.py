"""Rate limits with the limiter on (issue 7, part 4): log-in, sign-up, password reset, pledging and
commenting each answer a clear "Too many attempts" page (429, Retry-After) at their configured limit,
and the refused request changes nothing. Limits count across workers only with shared (Redis) storage.

The per-feature tests (tests/accounts/test_login.py, tests/pledges/test_rate_limit.py,
tests/comments/test_rate_limit_and_csrf.py) check each limit's own details with small limits; these use
the configured defaults, the same way for every limited form."""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from crowdfund import create_app
from crowdfund.accounts.models import User
from crowdfund.comments.models import Comment
from crowdfund.extensions import db
from crowdfund.pledges.models import Pledge

PROJECT_DIR = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"
TOO_MANY = "Too many attempts. Please wait a minute and try again."


@pytest.fixture
def limited(app):
    """limited(**settings) -> a client of an app on the test's database with the rate limiter on
    (its own in-memory counts), and the app itself as client.application."""
    made = []

    def make(**settings):
        built = create_app({**app.config, "RATELIMIT_ENABLED": True, **settings})
        made.append(built)
        return built.test_client()

    yield make
    for built in made:
        with built.app_context():
            db.session.remove()
            db.engine.dispose()


def _count(model, *conditions) -> int:
    db.session.rollback()  # see what the other app's requests committed
    return db.session.execute(db.select(db.func.count(model.id)).where(*conditions)).scalar_one()


def _assert_limited(response):
    assert response.status_code == 429
    assert TOO_MANY in response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert 0 <= int(response.headers["Retry-After"]) <= 60 * 60  # seconds left in the window


def test_the_configured_limits(app):
    assert app.config["LOGIN_RATE_LIMIT"] == "10 per minute"  # also password reset
    assert app.config["SIGNUP_RATE_LIMIT"] == "10 per hour"
    assert app.config["PLEDGE_RATE_LIMIT"] == "20 per minute"
    assert app.config["COMMENT_RATE_LIMIT"] == "5 per minute"
    assert app.config["RATELIMIT_HEADERS_ENABLED"] is True


def test_the_eleventh_failed_log_in_within_a_minute_is_refused_even_with_the_right_password(limited, make_user):
    user = make_user()
    client = limited()
    failed = [client.post("/login", data={"email": user.email, "password": "wrong guess"}).status_code
              for _ in range(10)]

    response = client.post("/login", data={"email": user.email, "password": PASSWORD})

    assert failed == [422] * 10
    _assert_limited(response)
    assert client.get("/me/settings").status_code == 302  # not logged in
    assert client.get("/login").status_code == 200  # reading the form is not limited


def test_the_eleventh_sign_up_within_an_hour_from_one_address_is_refused(limited):
    application = limited().application
    signups = []
    for n in range(10):
        browser = application.test_client()  # a new browser each time, from the same address
        signups.append(browser.post("/signup", data={"email": f"new{n}@example.com", "display_name": f"New {n}",
                                                     "password": PASSWORD}).status_code)

    response = application.test_client().post("/signup", data={
        "email": "eleventh@example.com", "display_name": "Eleventh", "password": PASSWORD})

    assert signups == [302] * 10
    _assert_limited(response)
    assert _count(User, User.email == "eleventh@example.com") == 0
    assert _count(User) == 10


def test_the_eleventh_password_reset_request_within_a_minute_is_refused(limited, make_user):
    user = make_user()
    client = limited()
    answers = [client.post("/reset", data={"email": user.email}).status_code for _ in range(10)]

    response = client.post("/reset", data={"email": user.email})

    assert answers == [302] * 10
    _assert_limited(response)
    sent = client.application.extensions.get("crowdfund_outbox", [])
    assert [m["To"] for m in sent] == [user.email] * 10  # no eleventh email


def test_the_twenty_first_pledge_attempt_within_a_minute_is_refused(limited, make_user, make_campaign):
    campaign = make_campaign(state="live")
    backer = make_user()
    client = limited()
    client.post("/login", data={"email": backer.email, "password": PASSWORD})
    not_an_amount = {"reward": "none", "amount": "twelve"}  # refused before Stripe is asked
    attempts = [client.post(f"/c/{campaign.slug}/pledge", data=not_an_amount).status_code for _ in range(20)]

    response = client.post(f"/c/{campaign.slug}/pledge", data={"reward": "none", "amount": "25"})

    assert attempts == [422] * 20
    _assert_limited(response)
    assert _count(Pledge) == 0
    assert client.get(f"/c/{campaign.slug}/pledge").status_code == 200


def test_the_sixth_comment_within_a_minute_is_refused(limited, make_user, make_campaign, make_pledge):
    campaign = make_campaign(state="live")
    backer = make_user()
    make_pledge(campaign, backer=backer)
    client = limited()
    client.post("/login", data={"email": backer.email, "password": PASSWORD})
    posted = [client.post(f"/c/{campaign.slug}/comments", data={"body": f"Comment {n}"}).status_code
              for n in range(5)]

    response = client.post(f"/c/{campaign.slug}/comments", data={"body": "One too many"})

    assert posted == [303] * 5
    _assert_limited(response)
    assert _count(Comment) == 5
    assert _count(Comment, Comment.body == "One too many") == 0


# --- Across workers -----------------------------------------------------------------------------------

# One gunicorn worker: a process with the app of its own (and so a limiter of its own) serving HTTP.
WORKER = """
import json, os
from werkzeug.serving import make_server
from crowdfund import create_app
server = make_server("127.0.0.1", 0, create_app(json.loads(os.environ["WORKER_CONFIG"])))
print(server.server_port, flush=True)
server.serve_forever()
"""


class Worker:
    def __init__(self, config: dict, log_path: Path):
        self._log = open(log_path, "w")
        self.log_path = log_path
        self.process = subprocess.Popen([sys.executable, "-c", WORKER], cwd=PROJECT_DIR, stdout=subprocess.PIPE,
                                        stderr=self._log, text=True,
                                        env={**os.environ, "WORKER_CONFIG": json.dumps(config)})

    def wait_until_serving(self):
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            pytest.fail(f"the worker did not start; its log:\n{self.log_path.read_text()[-3000:]}")
        self.url = f"http://127.0.0.1:{int(line)}"

    def failed_login(self, email: str) -> int:
        data = urllib.parse.urlencode({"email": email, "password": "wrong guess"}).encode()
        try:
            with urllib.request.urlopen(f"{self.url}/login", data=data, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process.stdout.close()
        self._log.close()


def _redis_storage_url() -> str:
    """Database 13 of CROWDFUND_TEST_REDIS_URL's server, for limiter counts."""
    url = os.environ.get("CROWDFUND_TEST_REDIS_URL")
    if not url:
        _service_missing("the cross-worker rate limit test needs CROWDFUND_TEST_REDIS_URL "
                         "(e.g. redis://127.0.0.1:6379/15)")
    import redis

    parts = urllib.parse.urlsplit(url)
    storage = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/13", "", ""))
    try:
        redis.Redis.from_url(storage, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        _service_missing(f"Redis at {storage} does not answer: {error}")
    return storage


def _service_missing(reason):
    if os.environ.get("CROWDFUND_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (CROWDFUND_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture
def two_workers(app, tmp_path):
    """two_workers(storage_uri) -> two worker processes on the test's database sharing that limiter storage."""
    started = []

    def start(storage_uri: str):
        prefix = f"crowdfund-test-{uuid.uuid4().hex[:12]}"
        for n in (1, 2):
            config = {"TESTING": True, "SECRET_KEY": app.config["SECRET_KEY"],
                      "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                      "INSTANCE_DIR": str(tmp_path / f"worker{n}"), "UPLOAD_DIR": str(tmp_path / "uploads"),
                      "PASSWORD_HASH_METHOD": app.config["PASSWORD_HASH_METHOD"], "WTF_CSRF_ENABLED": False,
                      "IN_PROCESS_TICKER": False, "CELERY_BROKER_URL": None, "MAIL_BACKEND": "memory",
                      "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": storage_uri,
                      "RATELIMIT_KEY_PREFIX": prefix}  # this test's counts only, whatever else uses the database
            started.append(Worker(config, tmp_path / f"worker{n}.log"))
        for worker in started:
            worker.wait_until_serving()
        return started, prefix

    yield start
    for worker in started:
        worker.stop()


def test_failed_log_ins_are_counted_across_workers_sharing_redis(two_workers, make_user):
    import redis

    storage = _redis_storage_url()
    user = make_user()
    (first, second), prefix = two_workers(storage)
    connection = redis.Redis.from_url(storage)
    try:
        on_first = [first.failed_login(user.email) for _ in range(6)]
        on_second = [second.failed_login(user.email) for _ in range(6)]
    finally:
        for key in connection.scan_iter(f"*{prefix}*"):
            connection.delete(key)

    assert on_first == [422] * 6
    assert on_second == [422] * 4 + [429] * 2  # the 11th attempt overall is refused


def test_with_in_memory_storage_each_worker_counts_alone(two_workers, make_user):
    """Why production needs Redis: with memory:// two workers allow twice the limit."""
    user = make_user()
    (first, second), _prefix = two_workers("memory://")

    on_first = [first.failed_login(user.email) for _ in range(6)]
    on_second = [second.failed_login(user.email) for _ in range(6)]

    assert on_first == on_second == [422] * 6
