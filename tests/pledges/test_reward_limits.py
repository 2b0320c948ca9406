"""Limited rewards never oversell: a unit is claimed by one conditional UPDATE, so 50 backers
racing for 10 units get exactly 10 pledges; the other 40 are told the reward is sold out."""
import threading

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import Campaign, RewardTier
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.pledges import services
from crowdfund.pledges.models import HOLDING_STATES, Pledge
from crowdfund.settlement import checkout

from .helpers import tier_claimed

BACKERS, UNITS = 50, 10


def test_the_last_unit_can_be_claimed_once(app, live_campaign):
    tier = live_campaign(quantity=1).reward_tiers[0]

    assert services.claim_reward_unit(tier.id) is True
    assert services.claim_reward_unit(tier.id) is False
    services.release_reward_unit(tier.id)
    assert services.claim_reward_unit(tier.id) is True
    db.session.commit()
    assert tier_claimed(tier.id) == 1


def test_an_unlimited_reward_always_has_a_unit(app, live_campaign):
    tier = live_campaign().reward_tiers[1]

    assert all(services.claim_reward_unit(tier.id) for _ in range(3))


def test_fifty_concurrent_pledges_for_ten_units_make_exactly_ten(app, live_campaign, make_user, stripe_standin):
    campaign = live_campaign(quantity=UNITS)
    campaign_id, tier_id = campaign.id, campaign.reward_tiers[0].id
    backer_ids = [make_user().id for _ in range(BACKERS)]
    start = threading.Barrier(BACKERS)
    outcomes: list[str] = []

    def pledge(backer_id):
        # Each thread is its own request: its own app context, session and connection.
        # Wait before touching the database: threads holding pooled connections at the barrier
        # would starve the rest of the pool.
        start.wait(timeout=60)
        with app.app_context():
            try:
                campaign = db.session.get(Campaign, campaign_id)
                tier, backer = db.session.get(RewardTier, tier_id), db.session.get(User, backer_id)
                checkout.start_pledge(campaign, backer, tier, 1500, None, utcnow())  # commits
                outcomes.append("pledged")
            except services.SoldOut as error:
                db.session.rollback()
                outcomes.append(error.message)
            except Exception as error:  # noqa: BLE001  (any other outcome fails the test below)
                db.session.rollback()
                outcomes.append(f"{type(error).__name__}: {error}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=pledge, args=(backer_id,)) for backer_id in backer_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(set(outcomes)) == ["This reward is sold out. Choose another reward or pledge without one.",
                                     "pledged"]
    assert outcomes.count("pledged") == UNITS and len(outcomes) == BACKERS
    db.session.expire_all()
    assert tier_claimed(tier_id) == UNITS
    holding = db.session.execute(db.select(db.func.count(Pledge.id)).where(
        Pledge.reward_tier_id == tier_id, Pledge.state.in_(HOLDING_STATES))).scalar_one()
    assert holding == UNITS
