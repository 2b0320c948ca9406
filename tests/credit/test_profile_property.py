"""Property test (hypothesis): random sequences of real operations on a founder's campaigns, each
through its service and committed (the outbox is dispatched inline in tests, so the observers run
after each commit). After EVERY step the stored profile equals the one computed from scratch (what
`credit rebuild` would write): an event kind without its observer leaves a stale profile, and the
last tests show that it is caught.

Refunds and disputes need Stripe: they are booked as their settlement code books them (the ledger
row / the pledge's flag) with the same event, in one transaction. Everything else is the service."""
import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from crowdfund.campaigns import lifecycle
from crowdfund.campaigns.models import BudgetLine, Campaign, Milestone, RewardTier
from crowdfund.clock import utcnow
from crowdfund.credit import business, receipts, reactions, reports
from crowdfund.credit.models import CreditProfile
from crowdfund.credit.services import compute, founder_ids, stored_factors
from crowdfund.errors import DomainError
from crowdfund.extensions import db
from crowdfund.outbox import OBSERVERS, emit
from crowdfund.payments import ledger
from crowdfund.pledges.models import Pledge
from crowdfund.settlement import charging, stops
from crowdfund.updates import services as updates

CAMPAIGNS, BACKERS = 2, 3
OPS = ("launch", "pledge", "close", "collect", "refund", "dispute", "update", "milestone", "request",
       "receipt", "cancel", "suspend", "report", "business")
_serial = itertools.count(1)


class World:
    """One founder (with CAMPAIGNS approved campaigns), BACKERS backers and a moderator."""

    def __init__(self, make_user, make_campaign):
        self.founder = make_user()
        self.moderator = make_user(role="moderator")
        self.backers = [make_user() for _ in range(BACKERS)]
        self.campaign_ids = [make_campaign(founder=self.founder, state="approved", goal=10_000).id
                             for _ in range(CAMPAIGNS)]

    def campaign(self, i) -> Campaign:
        return db.session.get(Campaign, self.campaign_ids[i % CAMPAIGNS])

    def pledge(self, campaign, b, states=("active", "collected")) -> Pledge | None:
        return db.session.execute(db.select(Pledge).where(
            Pledge.campaign_id == campaign.id, Pledge.backer_id == self.backers[b % BACKERS].id,
            Pledge.state.in_(states)).order_by(Pledge.id.desc())).scalars().first()


def _first(model, campaign, *where):
    return db.session.execute(db.select(model).where(model.campaign_id == campaign.id, *where)
                              .order_by(model.id)).scalars().first()


def do(world: World, op: str, i: int, b: int) -> None:
    """One operation through its service, committed; one the service refuses changes nothing."""
    now = utcnow()
    campaign = world.campaign(i)
    backer = world.backers[b % BACKERS]
    try:
        _OPERATIONS[op](world, campaign, backer, b, now)
        db.session.commit()
    except DomainError:
        db.session.rollback()


def _launch(world, campaign, backer, b, now):
    lifecycle.launch(campaign, world.founder, now)


def _pledge(world, campaign, backer, b, now):
    if campaign.state == "live" and world.pledge(campaign, b, ("pending", "active", "errored")) is None:
        tier = _first(RewardTier, campaign)
        db.session.add(Pledge(campaign_id=campaign.id, backer_id=backer.id, amount=6000, state="active",
                              reward_tier_id=tier.id))


def _close(world, campaign, backer, b, now):
    if campaign.state == "live":
        campaign.deadline = now - timedelta(seconds=1)
        campaign.goal = 10**9 if b == 0 else 1  # funded when it has a pledge, unless b is 0
        lifecycle.close_due_campaigns(now)


def _collect(world, campaign, backer, b, now):
    pledge = world.pledge(campaign, b, ("active",))
    if campaign.state == "successful" and pledge is not None:
        n = next(_serial)
        charging.record_successful_charge(pledge, f"pi_p{n}", f"ch_p{n}", pledge.amount, now)


def _refund(world, campaign, backer, b, now):
    pledge = world.pledge(campaign, b, ("collected",))
    if pledge is not None and not ledger.pledge_balance(pledge.id)[1]:
        ledger.book(campaign.id, "refund", 1000, campaign.currency, pledge.id, f"re_p{next(_serial)}")
        emit("pledge.refunded", now=now, pledge_id=pledge.id, amount=1000, reason="asked")


def _dispute(world, campaign, backer, b, now):
    pledge = world.pledge(campaign, b, ("collected",))
    if pledge is not None and not pledge.disputed:
        pledge.disputed = True
        emit("pledge.disputed", now=now, pledge_id=pledge.id, dispute_id=f"dp_{next(_serial)}", amount=1,
             reason="fraudulent")


def _update(world, campaign, backer, b, now):
    line = db.session.execute(db.select(BudgetLine).where(BudgetLine.campaign_id == campaign.id)
                              .order_by(BudgetLine.id)).scalars().all()[b % 2]
    spend = [updates.SpendLine(line.id, 2_000 * (b + 1) ** 3)] if campaign.state in updates.REPORTING_STATES else []
    updates.post_update(campaign, world.founder, "News", "Progress.", "public", spend=spend)


def _milestone(world, campaign, backer, b, now):
    milestone = _first(Milestone, campaign, Milestone.completed_on.is_(None))
    if milestone is None:
        return
    milestone.due_date = (now - timedelta(days=10 * b)).date()  # on time (b = 0) or late by 10 × b days
    report = updates.MilestoneReport(milestone.id, "completed", note="Photos of the oven.")
    updates.post_update(campaign, world.founder, "Done", "Done.", "public", milestone_report=report)


def _request(world, campaign, backer, b, now):
    updates.request_update(campaign, backer, now + timedelta(days=40 * (b + 1)))


def _receipt(world, campaign, backer, b, now):
    pledge = world.pledge(campaign, b, ("collected",))
    if pledge is None:
        return
    tier = db.session.get(RewardTier, pledge.reward_tier_id)
    if tier.shipped_at is None:
        receipts.mark_tier_shipped(campaign, tier, now)
    receipts.mark_receipt(pledge, tier, backer, "received" if b % 2 else "not_received", "", now)


def _cancel(world, campaign, backer, b, now):
    stops.cancel_campaign(campaign, world.founder, "Changed plans", now)


def _suspend(world, campaign, backer, b, now):
    stops.suspend_campaign(campaign, world.moderator, "Misleading", now)


def _report(world, campaign, backer, b, now):
    report = reports.create_report(campaign, backer, "Not delivering", now)
    reports.resolve(report, world.moderator, "upheld" if b % 2 else "dismissed", "Checked", now)


def _business(world, campaign, backer, b, now):
    if b % 2:
        business.check(world.moderator, world.founder.id, "Registry extract", now)
    else:
        business.declare(world.founder, f"Bakery {b}", "", "1 High Street", now)


_OPERATIONS = {name: globals()[f"_{name}"] for name in OPS}


def assert_profile_is_fresh(world: World) -> None:
    """The stored profile is what a recompute from scratch gives (what `credit rebuild` writes)."""
    db.session.expire_all()
    founder_id = world.founder.id
    stored = db.session.get(CreditProfile, founder_id)
    if stored is None:  # no event about the founder yet: nothing launched, nothing declared
        assert founder_id not in founder_ids()
        return
    facts, card = compute(founder_id, utcnow())
    assert stored.facts == facts.as_dict()
    assert (stored.score, stored.band, stored.factors) == (card.score, card.band, stored_factors(card))


# Weighted towards what a funded campaign goes through; every step names a campaign and a backer.
WEIGHTED = OPS + ("close", "collect", "collect", "collect", "refund", "update", "milestone", "receipt", "receipt")
steps = st.lists(st.tuples(st.sampled_from(WEIGHTED), st.integers(0, CAMPAIGNS - 1), st.integers(0, BACKERS - 1)),
                 min_size=8, max_size=24)
# Every example starts with campaign 0 funded and two of its pledges collected, campaign 1 live with
# pledges (the random steps may fund, fail, cancel or suspend it).
PREFIX = [("launch", 0, 0), ("launch", 1, 0), ("pledge", 0, 0), ("pledge", 0, 1), ("pledge", 0, 2),
          ("pledge", 1, 1), ("pledge", 1, 2), ("close", 0, 1), ("collect", 0, 0), ("collect", 0, 1)]


def test_stored_profile_always_equals_a_recompute(app, make_user, make_campaign):
    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(steps)
    def run(sequence):
        world = World(make_user, make_campaign)
        for op, i, b in PREFIX + sequence:
            do(world, op, i, b)
            assert_profile_is_fresh(world)

    run()


# A sequence where each kind's event is the last thing that changes the founder's facts.
WITHOUT = {
    "update.posted": [("launch", 0, 0), ("pledge", 0, 1), ("close", 0, 1), ("update", 0, 0)],
    "pledge.collected": [("launch", 0, 0), ("pledge", 0, 1), ("close", 0, 1), ("collect", 0, 1)],
    "pledge.disputed": [("launch", 0, 0), ("pledge", 0, 1), ("close", 0, 1), ("collect", 0, 1),
                        ("dispute", 0, 1)],
    "receipt.marked": [("launch", 0, 0), ("pledge", 0, 1), ("close", 0, 1), ("collect", 0, 1),
                       ("receipt", 0, 1)],
    "campaign.cancelled": [("launch", 0, 0), ("cancel", 0, 0)],
    "update.requested": [("launch", 0, 0), ("pledge", 0, 1), ("request", 0, 1)],
    "report.resolved": [("launch", 0, 0), ("report", 0, 1)],
}


@pytest.mark.parametrize("kind", sorted(WITHOUT))
def test_a_missing_observer_is_caught(app, make_user, make_campaign, monkeypatch, kind):
    monkeypatch.setitem(OBSERVERS, kind, [o for o in OBSERVERS[kind] if o is not reactions.recompute_founder])
    world = World(make_user, make_campaign)
    with pytest.raises(AssertionError):
        for op, i, b in WITHOUT[kind]:
            do(world, op, i, b)
            assert_profile_is_fresh(world)
    assert db.session.get(CreditProfile, world.founder.id) is not None  # stale, not missing


@pytest.mark.parametrize("kind", sorted(WITHOUT))
def test_the_same_sequences_with_every_observer_pass(app, make_user, make_campaign, kind):
    world = World(make_user, make_campaign)
    for op, i, b in WITHOUT[kind]:
        do(world, op, i, b)
        assert_profile_is_fresh(world)
