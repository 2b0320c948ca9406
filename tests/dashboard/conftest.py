"""A founder's live campaign with pledges on several days, tiers and states, for the dashboard tests."""
from datetime import timedelta

import pytest

from crowdfund.campaigns.models import RewardTier
from crowdfund.clock import utcnow
from crowdfund.extensions import db


def tiers_of(campaign_id):
    return list(db.session.execute(
        db.select(RewardTier).where(RewardTier.campaign_id == campaign_id)
        .order_by(RewardTier.minimum_amount, RewardTier.id)).scalars())


@pytest.fixture
def funded(make_campaign, make_pledge, make_user, founder):
    """A live campaign of `founder` launched 4 days ago (goal $1,000.00, three tiers, the first
    limited to 5 units), with pledges on launch day, the day after and two days before today, in
    every state. Returns a dict of what the tests check against."""
    now = utcnow()
    launched = now - timedelta(days=4)
    campaign = make_campaign(founder=founder, state="live", goal=100_000, tiers=3, launched_at=launched)
    slug, campaign_id = campaign.slug, campaign.id
    first, second, third = tiers_of(campaign_id)
    first.quantity, first.claimed = 5, 3
    db.session.commit()
    backer = make_user(display_name="Bea Backer")
    day = lambda n: launched + timedelta(days=n)  # noqa: E731  (the same time of day: no midnight surprises)
    make_pledge(campaign, backer=backer, amount=4000, state="active", reward_tier=first, created_at=day(0))
    make_pledge(campaign, amount=2500, state="active", reward_tier=first, created_at=day(0))
    make_pledge(campaign, amount=6000, state="collected", reward_tier=second, created_at=day(1))
    make_pledge(campaign, amount=1234, state="errored", reward_tier=None, created_at=day(2))
    make_pledge(campaign, amount=7000, state="active", reward_tier=third, created_at=day(2))
    # Not counted anywhere:
    make_pledge(campaign, amount=9900, state="cancelled", reward_tier=second, created_at=day(1))
    make_pledge(campaign, amount=8800, state="void", reward_tier=None, created_at=day(1))
    make_pledge(campaign, amount=7700, state="dropped", reward_tier=first, created_at=day(2))
    make_pledge(campaign, amount=6600, state="pending", reward_tier=first, created_at=day(3))
    return {"slug": slug, "id": campaign_id, "backer": backer, "launched": launched,
            "total": 4000 + 2500 + 6000 + 1234 + 7000, "counted": 5,
            "per_day": [6500, 6000, 8234, 0, 0]}
