"""Pledging is rate-limited per client, like logging in."""
import pytest

from crowdfund import create_app
from crowdfund.extensions import db
from crowdfund.pledges.models import Pledge


@pytest.fixture
def limited_client(app):
    """A client of the test app's configuration with pledge rate limiting on: 2 POSTs a minute."""
    limited = create_app({**app.config, "RATELIMIT_ENABLED": True, "PLEDGE_RATE_LIMIT": "2 per minute"})
    with limited.app_context():
        yield limited.test_client()
        db.session.remove()
        db.engine.dispose()


def test_third_pledge_attempt_in_a_minute_is_refused_with_429(limited_client, make_user, live_campaign):
    campaign = live_campaign()
    backer = make_user()
    limited_client.post("/login", data={"email": backer.email, "password": "correct horse battery"})
    form = {"reward": "none", "amount": "twelve"}  # not an amount: refused before Stripe is called

    statuses = [limited_client.post(f"/c/{campaign.slug}/pledge", data=form).status_code for _ in range(3)]

    assert statuses[:2] == [422, 422]
    assert statuses[2] == 429
    assert db.session.execute(db.select(db.func.count(Pledge.id))).scalar_one() == 0


def test_viewing_the_pledge_page_is_not_limited(limited_client, make_user, live_campaign):
    campaign = live_campaign()
    backer = make_user()
    limited_client.post("/login", data={"email": backer.email, "password": "correct horse battery"})

    statuses = {limited_client.get(f"/c/{campaign.slug}/pledge").status_code for _ in range(4)}

    assert statuses == {200}
