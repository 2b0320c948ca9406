"""The discover "trending" order comes from campaign.trending_score, refreshed by the periodic job:
on the same data it orders campaigns exactly as the old per-request query (the sum of the last seven
days' counting pledges) did; a campaign launched since the last run is listed at once."""
import random
from datetime import timedelta

from sqlalchemy import func

from crowdfund.accounts.models import User
from crowdfund.campaigns import lifecycle
from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.discovery.services import sorted_live_query
from crowdfund.extensions import db
from crowdfund.pledges.models import COUNTING_STATES, OPEN_STATES, STATES, Pledge
from crowdfund.ticker import run_periodic_jobs


def _old_trending_order(now, category_id=None):
    """The query discover ran on every request before issue 17, kept here as the reference."""
    recent = (db.select(Pledge.campaign_id, func.sum(Pledge.amount).label("recent"))
              .where(Pledge.created_at >= now - timedelta(days=7), Pledge.state.in_(COUNTING_STATES))
              .group_by(Pledge.campaign_id).subquery())
    query = (db.select(Campaign.id).where(Campaign.state == "live", Campaign.deadline > now)
             .outerjoin(recent, recent.c.campaign_id == Campaign.id)
             .order_by(func.coalesce(recent.c.recent, 0).desc(), Campaign.launched_at.desc(), Campaign.id.desc()))
    if category_id is not None:
        query = query.where(Campaign.category_id == category_id)
    return list(db.session.execute(query).scalars())


def _new_trending_order(now, category_id=None):
    return [c.id for c in db.session.execute(sorted_live_query(now, "trending", category_id)).scalars()]


def test_the_job_orders_campaigns_as_the_old_query_did(app, make_campaign, make_user):
    rng = random.Random(17)
    now = utcnow()
    backers = [make_user().id for _ in range(4)]
    campaigns = [make_campaign(state="live", launched_at=now - timedelta(days=rng.randint(1, 25)),
                               category_slug=rng.choice(["food-drink", "games"])) for _ in range(12)]
    campaigns.append(make_campaign(state="successful"))  # ended: never listed, whatever its pledges
    has_open = set()  # one open pledge per backer and campaign (the database insists)
    for campaign in campaigns:
        for _ in range(rng.randint(0, 6)):
            backer_id = rng.choice(backers)
            state = rng.choice(STATES)
            if state in OPEN_STATES:
                if (campaign.id, backer_id) in has_open:
                    state = "collected"
                has_open.add((campaign.id, backer_id))
            db.session.add(Pledge(campaign_id=campaign.id, backer_id=backer_id, state=state,
                                  amount=rng.choice([1000, 2500, 5000]),  # ties are common: the tie order counts
                                  created_at=now - timedelta(days=rng.uniform(0, 12))))
    db.session.commit()
    category_ids = {c.category_id for c in campaigns}

    run_periodic_jobs(now)

    assert _new_trending_order(now) == _old_trending_order(now)
    assert len(_old_trending_order(now)) == 12
    for category_id in category_ids:
        assert _new_trending_order(now, category_id) == _old_trending_order(now, category_id)


def test_scores_follow_the_window_on_the_next_run(app, make_campaign, make_pledge):
    now = utcnow()
    fading = make_campaign(state="live", launched_at=now - timedelta(days=10))
    make_pledge(fading, amount=9000, created_at=now - timedelta(days=6), state="collected")
    steady = make_campaign(state="live", launched_at=now - timedelta(days=10))
    make_pledge(steady, amount=3000, created_at=now - timedelta(days=1), state="collected")
    fading_id, steady_id = fading.id, steady.id
    run_periodic_jobs(now)
    assert _new_trending_order(now) == [fading_id, steady_id] == _old_trending_order(now)

    later = now + timedelta(days=2)  # the big pledge is now older than a week
    run_periodic_jobs(later)
    assert _new_trending_order(later) == [steady_id, fading_id] == _old_trending_order(later)


def test_a_campaign_launched_since_the_last_run_is_listed_at_once(app, client, make_campaign, card_titles):
    now = utcnow()
    older = make_campaign(state="live", title="Launched last week", launched_at=now - timedelta(days=7))
    run_periodic_jobs(now)
    approved = make_campaign(state="approved", title="Launched just now")

    lifecycle.launch(approved, db.session.get(User, approved.founder_id), utcnow())
    db.session.commit()

    for url in ("/discover", "/discover?sort=trending", "/"):
        titles = card_titles(client.get(url).get_data(as_text=True))
        assert titles[:2] == ["Launched just now", "Launched last week"], url
    score = db.session.execute(db.select(Campaign.trending_score).where(Campaign.id == approved.id)).scalar_one()
    assert score == 0
