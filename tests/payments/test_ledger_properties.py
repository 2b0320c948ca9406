"""Random sequences of pledge / complete / cancel / charge / fail / drop / refund at the service level
(no Stripe): whatever happens, the totals the site shows are sums of ledger rows, no pledge ever has
more given back than was collected, and no reward tier holds more pledges than its limit."""
import itertools

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test

from crowdfund.campaigns.models import RewardTier
from crowdfund.clock import utcnow
from crowdfund.errors import ValidationFailed
from crowdfund.extensions import db
from crowdfund.payments import ledger
from crowdfund.settlement.refunds import check_refund_amount
from crowdfund.pledges.models import OPEN_STATES
from sqlalchemy.exc import IntegrityError
from crowdfund.pledges.models import COUNTING_STATES, HOLDING_STATES, Pledge
from crowdfund.pledges.services import claim_reward_unit, pledged_totals, release_reward_unit

FEE_BP = 500
TIER_LIMIT = 3
_stripe_ids = itertools.count(1)


class PledgeModel:
    """What the test expects of one pledge."""

    def __init__(self, pledge_id, backer_id, amount, tier_id):
        self.id, self.backer_id, self.amount, self.tier_id = pledge_id, backer_id, amount, tier_id
        self.state = "pending"
        self.charges: list[str] = []  # stripe ids of charges booked
        self.refunded = 0

    @property
    def collected(self):
        return self.amount * len(self.charges)


def _machine(make_campaign, make_user):
    class LedgerMachine(RuleBasedStateMachine):
        pledges = Bundle("pledges")

        def __init__(self):
            super().__init__()
            self.campaign = make_campaign(state="live", funding_model="flexible", tiers=1, tier_quantity=TIER_LIMIT)
            self.campaign_id, self.currency = self.campaign.id, self.campaign.currency
            self.tier_id = db.session.execute(db.select(RewardTier.id).where(
                RewardTier.campaign_id == self.campaign_id)).scalar_one()
            self.backer_ids = [make_user().id for _ in range(3)]
            self.model: dict[int, PledgeModel] = {}

        def _set_state(self, p: PledgeModel, state: str):
            db.session.get(Pledge, p.id).state = state
            p.state = state

        @rule(target=pledges, backer=st.integers(0, 2), amount=st.integers(1, 200_000), with_tier=st.booleans())
        def pledge(self, backer, amount, with_tier):
            tier_id = self.tier_id if with_tier else None
            if tier_id is not None and not claim_reward_unit(tier_id):
                db.session.rollback()
                holding = [p for p in self.model.values() if p.tier_id == tier_id and p.state in HOLDING_STATES]
                assert len(holding) == TIER_LIMIT, "refused a unit that was free"
                return multiple()
            pledge = Pledge(campaign_id=self.campaign_id, backer_id=self.backer_ids[backer], amount=amount,
                            reward_tier_id=tier_id, state="pending", created_at=utcnow())
            db.session.add(pledge)
            already_open = any(p.backer_id == self.backer_ids[backer] and p.state in OPEN_STATES
                               for p in self.model.values())
            try:
                db.session.commit()
            except IntegrityError:  # one open pledge per backer: the database refuses a second (and its unit)
                db.session.rollback()
                assert already_open, "refused a pledge of a backer with no open pledge"
                return multiple()
            assert not already_open, "a second open pledge of one backer was stored"
            self.model[pledge.id] = PledgeModel(pledge.id, pledge.backer_id, amount, tier_id)
            return pledge.id

        @rule(pledge_id=pledges)
        def complete(self, pledge_id):
            p = self.model[pledge_id]
            if p.state == "pending":
                self._set_state(p, "active")
                db.session.commit()

        @rule(pledge_id=pledges)
        def cancel(self, pledge_id):
            p = self.model[pledge_id]
            if p.state in ("pending", "active"):
                self._set_state(p, "cancelled")
                if p.tier_id:
                    release_reward_unit(p.tier_id)
                db.session.commit()

        @rule(pledge_id=pledges)
        def charge(self, pledge_id):
            p = self.model[pledge_id]
            if p.state not in ("active", "errored"):
                return
            stripe_id = f"ch_prop_{next(_stripe_ids)}"
            assert ledger.book(self.campaign_id, "charge", p.amount, self.currency, p.id, stripe_id) is not None
            fee = p.amount * FEE_BP // 10_000
            if fee:
                ledger.book(self.campaign_id, "platform_fee", fee, self.currency, p.id, stripe_id)
            self._set_state(p, "collected")
            db.session.commit()
            p.charges.append(stripe_id)

        @rule(pledge_id=pledges)
        def charge_reported_again(self, pledge_id):
            # A webhook and the job both report the same charge: booked once.
            p = self.model[pledge_id]
            if p.charges:
                assert ledger.book(self.campaign_id, "charge", p.amount, self.currency, p.id, p.charges[-1]) is None
                db.session.commit()

        @rule(pledge_id=pledges)
        def fail(self, pledge_id):
            p = self.model[pledge_id]
            if p.state == "active":
                self._set_state(p, "errored")
                db.session.commit()

        @rule(pledge_id=pledges)
        def drop(self, pledge_id):
            p = self.model[pledge_id]
            if p.state == "errored":
                self._set_state(p, "dropped")
                if p.tier_id:
                    release_reward_unit(p.tier_id)
                db.session.commit()

        @rule(pledge_id=pledges, amount=st.integers(-5, 250_000), near_remaining=st.booleans(),
              offset=st.integers(-2, 2))
        def refund(self, pledge_id, amount, near_remaining, offset):
            p = self.model[pledge_id]
            remaining = p.collected - p.refunded
            if near_remaining:  # the edges: all of it, a little less, a little more
                amount = remaining + offset
            try:
                check_refund_amount(p.id, amount, self.currency)
            except ValidationFailed:
                assert not 1 <= amount <= remaining, f"a refund of {amount} of {remaining} left was refused"
                return
            assert 1 <= amount <= remaining, f"a refund of {amount} with {remaining} left was allowed"
            ledger.book(self.campaign_id, "refund", amount, self.currency, p.id, f"re_prop_{next(_stripe_ids)}")
            db.session.commit()
            p.refunded += amount

        @invariant()
        def ledger_sums_are_the_displayed_totals(self):
            db.session.expire_all()
            totals = ledger.money_totals([self.campaign_id]).get(self.campaign_id, ledger.MoneyTotals())
            pledges = self.model.values()
            assert totals.collected == sum(p.collected for p in pledges)
            assert totals.refunded == sum(p.refunded for p in pledges)
            assert totals.platform_fees == sum(p.amount * FEE_BP // 10_000 * len(p.charges) for p in pledges)
            assert totals.net == totals.collected - totals.refunded >= 0
            counting = [p for p in pledges if p.state in COUNTING_STATES]
            expected = (sum(p.amount for p in counting), len({p.backer_id for p in counting}))
            assert pledged_totals([self.campaign_id]).get(self.campaign_id, (0, 0)) == expected

        @invariant()
        def no_pledge_has_a_negative_balance(self):
            balances = ledger.pledge_balances(list(self.model))
            for p in self.model.values():
                collected, refunded = balances.get(p.id, (0, 0))
                assert (collected, refunded) == (p.collected, p.refunded)
                assert collected - refunded >= 0

        @invariant()
        def no_tier_over_its_limit(self):
            tier = db.session.get(RewardTier, self.tier_id)
            holding = sum(1 for p in self.model.values() if p.tier_id == self.tier_id and p.state in HOLDING_STATES)
            assert tier.claimed == holding <= TIER_LIMIT

    return LedgerMachine


def test_random_pledge_histories_keep_the_ledger_and_totals_in_step(app, make_campaign, make_user):
    run_state_machine_as_test(
        _machine(make_campaign, make_user),
        settings=settings(max_examples=60, stateful_step_count=20, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]))
