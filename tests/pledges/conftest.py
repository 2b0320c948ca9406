"""A live campaign with reward tiers for the pledge tests."""
import pytest

from crowdfund.extensions import db

from .helpers import fresh_campaign


@pytest.fixture
def live_campaign(make_campaign):
    """live_campaign(quantity=None, ships=False, **kw) → a live campaign (tiers loaded) whose first
    tier ($10.00 minimum) has that quantity and, when ships, $5.00 shipping; the second ($20.00)
    is unlimited."""

    def make(quantity=None, ships=False, **kwargs):
        campaign = fresh_campaign(make_campaign(state="live", tiers=2, **kwargs).id)
        first = campaign.reward_tiers[0]
        first.quantity, first.ships, first.shipping_amount = quantity, ships, 500 if ships else 0
        db.session.commit()
        return fresh_campaign(campaign.id)

    return make


@pytest.fixture
def backer(make_user, auth):
    """A logged-in backer."""
    user = make_user()
    auth.login(user)
    return user
