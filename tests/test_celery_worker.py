"""With a broker, background work runs in a real Celery worker: a campaign past its deadline is
closed, and its pledge charged through the Stripe stand-in, by a worker process using the same
database, after the periodic task is queued on Redis.

Needs CROWDFUND_TEST_REDIS_URL (CI: redis://127.0.0.1:6379/15); skips without it, fails with
CROWDFUND_REQUIRE_SERVICES=1."""
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from crowdfund import create_app
from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payments import gateway, ledger
from crowdfund.pledges.models import Pledge
from crowdfund.tasks import init_celery, run_periodic_jobs_task

PROJECT_DIR = Path(__file__).resolve().parents[1]
WAIT_SECONDS = 60


def _service_missing(reason):
    if os.environ.get("CROWDFUND_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (CROWDFUND_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture
def redis_url():
    url = os.environ.get("CROWDFUND_TEST_REDIS_URL")
    if not url:
        _service_missing("the Celery worker test needs CROWDFUND_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        _service_missing(f"Redis at {url} does not answer: {error}")
    return url


class Worker:
    """A `celery -A crowdfund.celery_app worker` process consuming one queue of its own."""

    def __init__(self, env: dict, queue: str, log_path: Path):
        self.queue = queue
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "crowdfund.celery_app", "worker", "--pool", "solo",
             "--loglevel", "INFO", "--queues", queue, "--hostname", f"{queue}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=PROJECT_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, condition, what: str):
        """Poll condition() until it holds; fail with the worker's log when it never does."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                pytest.fail(f"the Celery worker exited ({self.process.returncode}); its log:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        pytest.fail(f"{what} within {WAIT_SECONDS} s; the worker's log:\n{self.log()[-3000:]}")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown: finishes the task at hand
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def celery_worker(request, app, redis_url, tmp_path):
    """Celery in this process pointed at Redis (a queue of this test's own), and a worker on it
    that uses the test's database (and the Stripe stand-in when the test has one)."""
    import redis

    queue = f"crowdfund-test-{uuid.uuid4().hex[:12]}"
    config = {**app.config, "CELERY_BROKER_URL": redis_url, "CELERY": {"task_default_queue": queue}}
    create_app(config)  # rebinds crowdfund.extensions.celery to the broker
    env = {**os.environ, "CROWDFUND_ENV": "development", "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "CELERY_BROKER_URL": redis_url, "CROWDFUND_INSTANCE_DIR": str(tmp_path / "worker"),
           "MAIL_BACKEND": "log", "STRIPE_STANDIN_URL": app.config["STRIPE_STANDIN_URL"]}
    for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "IN_PROCESS_TICKER"):
        env.pop(name, None)
    worker = Worker(env, queue, tmp_path / "worker.log")
    try:
        yield worker
    finally:
        worker.stop()
        init_celery(app)  # back to in-process tasks for the tests that follow
        connection = redis.Redis.from_url(redis_url)
        connection.delete(queue, f"_kombu.binding.{queue}")


def _campaign_state(campaign_id):
    db.session.expire_all()
    return db.session.get(Campaign, campaign_id).state


def _save_card(pledge, number="4242424242424242"):
    """A Stripe customer and a saved card for the pledge, as the card page leaves them."""
    customer_id = gateway.create_customer(f"backer{pledge.backer_id}@example.com", "Backer", pledge.backer_id)
    setup_id, _ = gateway.create_setup_intent(customer_id, pledge.id)
    card = gateway.client().v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    gateway.client().v1.setup_intents.confirm(setup_id, params={"payment_method": card.id})
    pledge.stripe_customer_id, pledge.stripe_setup_intent_id = customer_id, setup_id
    pledge.stripe_payment_method_id = gateway.confirmed_card(setup_id, customer_id).payment_method_id
    db.session.commit()


def test_worker_closes_a_campaign_past_its_deadline_and_collects_its_pledge(
        stripe_standin, celery_worker, make_campaign, make_pledge):
    campaign = make_campaign(state="live", goal=10_000, launched_at=utcnow() - timedelta(days=31))
    pledge = make_pledge(campaign, amount=12_000)
    _save_card(pledge)
    campaign_id, pledge_id, customer_id = campaign.id, pledge.id, pledge.stripe_customer_id

    result = run_periodic_jobs_task.delay()

    assert type(result).__name__ == "AsyncResult", "the task ran in-process instead of going through Redis"
    celery_worker.wait_for(lambda: f"[{result.id}] succeeded" in celery_worker.log(),
                           "the worker did not run the task")
    assert _campaign_state(campaign_id) == "successful"
    collected = db.session.get(Pledge, pledge_id)
    assert (collected.state, collected.charge_attempts) == ("collected", 1)
    assert ledger.money_totals([campaign_id])[campaign_id].collected == 12_000
    charges = gateway.client().v1.charges.list(params={"customer": customer_id}).data
    assert [(c.amount, c.status) for c in charges] == [(12_000, "succeeded")]


def test_without_a_broker_tasks_run_in_process_at_once(app, make_campaign, make_pledge):
    campaign = make_campaign(state="live", goal=10_000, launched_at=utcnow() - timedelta(days=31))
    make_pledge(campaign, amount=5_000)
    campaign_id = campaign.id

    result = run_periodic_jobs_task.delay()

    # .result, not .get(): Celery's "no join inside a task" guard is a process-wide flag that eager
    # tasks run concurrently in other threads (a threaded server) can leave set.
    assert result.successful() and result.result == {"successful": 0, "failed": 1}
    assert _campaign_state(campaign_id) == "failed"
