"""campaign.pledged_amount and backer_count, kept by triggers on `pledge`, always equal what
pledged_totals() counts: after every commit of any pledge change (ORM inserts and edits, transitions
one by one and in bulk, deletes, multi-row statements), untouched by a rollback, and reconcile
reports a difference made by hand."""
import random

import pytest
from sqlalchemy import delete, insert, update

from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.pledges.models import OPEN_STATES, TRANSITIONS, Pledge, pledged_totals
from crowdfund.pledges.services import transition, transition_where


def _stored(campaign_ids):
    rows = db.session.execute(db.select(Campaign.id, Campaign.pledged_amount, Campaign.backer_count)
                              .where(Campaign.id.in_(campaign_ids)).execution_options(populate_existing=True))
    return {campaign_id: (amount, backers) for campaign_id, amount, backers in rows}


def _counted(campaign_ids):
    totals = pledged_totals(campaign_ids)
    return {campaign_id: totals.get(campaign_id, (0, 0)) for campaign_id in campaign_ids}


class _Run:
    """Random pledge changes on a few campaigns with few backers (so one backer often has several
    counting pledges on a campaign: the distinct count is what can go wrong)."""

    def __init__(self, seed, campaign_ids, backer_ids):
        self.rng = random.Random(seed)
        self.campaign_ids = campaign_ids
        self.backer_ids = backer_ids

    def _pledges(self):
        return list(db.session.execute(db.select(Pledge).order_by(Pledge.id)).scalars())

    def _has_open(self, campaign_id, backer_id):
        return db.session.execute(db.select(Pledge.id).where(
            Pledge.campaign_id == campaign_id, Pledge.backer_id == backer_id,
            Pledge.state.in_(OPEN_STATES))).first() is not None

    def create(self):
        campaign_id, backer_id = self.rng.choice(self.campaign_ids), self.rng.choice(self.backer_ids)
        state = self.rng.choice(["collected", "dropped"] if self._has_open(campaign_id, backer_id)
                                else ["pending", "active", "errored", "collected"])
        db.session.add(Pledge(campaign_id=campaign_id, backer_id=backer_id, amount=self.rng.randint(1, 9000),
                              state=state, created_at=utcnow()))
        db.session.flush()

    def create_many(self):
        """One INSERT statement of several rows (never open ones: they would need the uniqueness check)."""
        rows = [{"campaign_id": self.rng.choice(self.campaign_ids), "backer_id": self.rng.choice(self.backer_ids),
                 "amount": self.rng.randint(1, 9000), "state": self.rng.choice(["collected", "void"]),
                 "shipping_amount": 0, "created_at": utcnow(), "updated_at": utcnow(), "charge_attempts": 0,
                 "disputed": False} for _ in range(self.rng.randint(2, 5))]
        db.session.execute(insert(Pledge), rows)

    def move_one(self):
        movable = [p for p in self._pledges() if TRANSITIONS[p.state]]
        if movable:
            pledge = self.rng.choice(movable)
            transition(pledge, self.rng.choice(TRANSITIONS[pledge.state]))

    def move_many(self):
        to_state, from_states = self.rng.choice([("void", ("pending", "active")), ("collected", ("active", "errored")),
                                                 ("void", ("collected", "errored")), ("errored", ("active",))])
        transition_where(to_state, Pledge.campaign_id == self.rng.choice(self.campaign_ids), from_states=from_states)

    def edit_amount(self):
        pledges = self._pledges()
        if pledges:
            self.rng.choice(pledges).amount = self.rng.randint(1, 9000)
            db.session.flush()

    def edit_amounts_in_bulk(self):
        db.session.execute(update(Pledge).where(Pledge.campaign_id == self.rng.choice(self.campaign_ids))
                           .values(amount=Pledge.amount + 1).execution_options(synchronize_session=False))

    def delete_one(self):
        pledges = self._pledges()
        if pledges:
            db.session.delete(self.rng.choice(pledges))
            db.session.flush()

    def delete_many(self):
        db.session.execute(delete(Pledge).where(Pledge.campaign_id == self.rng.choice(self.campaign_ids),
                                                Pledge.backer_id == self.rng.choice(self.backer_ids))
                           .execution_options(synchronize_session=False))

    def step(self):
        action = self.rng.choices(
            [self.create, self.create_many, self.move_one, self.move_many, self.edit_amount,
             self.edit_amounts_in_bulk, self.delete_one, self.delete_many],
            weights=[6, 2, 6, 2, 2, 1, 1, 1])[0]
        action()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_pledge_changes_keep_the_stored_totals_equal_to_the_pledges(app, make_campaign, make_user, seed):
    campaign_ids = [make_campaign(state="live").id for _ in range(2)]
    backer_ids = [make_user().id for _ in range(3)]
    run = _Run(seed, campaign_ids, backer_ids)
    commits = 0
    for _ in range(60):
        for _ in range(run.rng.randint(1, 3)):  # a commit may hold several changes
            run.step()
        db.session.commit()
        commits += 1
        assert _stored(campaign_ids) == _counted(campaign_ids), f"after commit {commits}"
    assert any(amount for amount, _backers in _stored(campaign_ids).values())


def test_a_rolled_back_change_leaves_the_stored_totals_untouched(app, make_campaign, make_pledge, make_user):
    campaign = make_campaign(state="live")
    backer = make_user()
    kept = make_pledge(campaign, backer=backer, amount=4000, state="collected")
    before = _stored([campaign.id])
    assert before == {campaign.id: (4000, 1)}

    db.session.add(Pledge(campaign_id=campaign.id, backer_id=make_user().id, amount=2500, state="active",
                          created_at=utcnow()))
    transition_where("void", Pledge.id == kept.id, from_states=("collected",))
    db.session.flush()
    assert _stored([campaign.id]) == {campaign.id: (2500, 1)}  # in the transaction: changed with the pledges
    db.session.rollback()

    assert _stored([campaign.id]) == before == _counted([campaign.id])


def test_a_pledge_change_shows_on_the_campaign_row_in_the_same_transaction(app, make_campaign, make_pledge, make_user):
    campaign = make_campaign(state="live")
    backer = make_user()
    first = make_pledge(campaign, backer=backer, amount=3000, state="collected")
    make_pledge(campaign, backer=backer, amount=2000, state="active")  # the same backer again
    assert _stored([campaign.id]) == {campaign.id: (5000, 1)}
    transition_where("void", Pledge.id == first.id, from_states=("collected",))
    assert _stored([campaign.id]) == {campaign.id: (2000, 1)}  # still a backer through the other pledge
    db.session.commit()
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert (campaign.pledged_amount, campaign.backer_count, campaign.percent_funded) == (2000, 1, 2)


def test_reconcile_reports_stored_totals_that_differ_from_the_pledges(app, runner, make_campaign, make_pledge):
    campaign = make_campaign(state="live")
    make_pledge(campaign, amount=4000, state="active")
    result = runner.invoke(args=["crowdfund", "reconcile", campaign.slug])
    assert result.exit_code == 0, result.output
    assert "the stored totals match the pledges" in result.output

    db.session.execute(update(Campaign).where(Campaign.id == campaign.id).values(pledged_amount=9999))
    db.session.commit()
    result = runner.invoke(args=["crowdfund", "reconcile", campaign.slug])

    assert result.exit_code == 1
    assert (f"campaign {campaign.slug}: the stored totals say $99.99 from 1 backer(s), "
            "the pledges $40.00 from 1 backer(s)") in result.output

    result = runner.invoke(args=["crowdfund", "derived", "refresh"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["crowdfund", "reconcile", campaign.slug]).exit_code == 0
