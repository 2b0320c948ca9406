"""Deadlines close on time in the default run, without anyone running a command."""
import time
from datetime import timedelta

from crowdfund import create_app
from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.extensions import db


def _wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_ticker_started_by_the_first_request_closes_a_campaign_past_its_deadline(app, make_campaign, make_pledge):
    campaign = make_campaign(state="live", goal=10_000, launched_at=utcnow() - timedelta(days=31))
    make_pledge(campaign, amount=12_000)
    ticking_app = create_app({**app.config, "IN_PROCESS_TICKER": True, "TICK_INTERVAL_SECONDS": 0.05})
    ticker = ticking_app.extensions["crowdfund_ticker"]
    try:
        assert ticker.thread is None  # nothing runs until the app serves a request

        ticking_app.test_client().get("/healthz")

        def closed():
            db.session.expire_all()
            return db.session.get(Campaign, campaign.id).state == "successful"

        assert _wait_for(closed), "the ticker did not close the campaign"
    finally:
        ticker.stop()


def test_ticker_is_off_in_tests_and_cli_by_default(app):
    assert "crowdfund_ticker" not in app.extensions
