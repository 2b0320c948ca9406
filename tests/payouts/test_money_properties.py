"""Property test (hypothesis): random sequences of collect (charge + platform fee), release, refund and
dispute booked through ledger.book on one campaign. Operations the services would refuse (driving
what is held, or what a pledge still has paid in, below zero) are skipped. After every step the
ledger's totals account for every unit: held + released + refunded + disputed + fees == collected,
and nothing is negative."""
import itertools

from hypothesis import HealthCheck, given, settings, strategies as st

from crowdfund.extensions import db
from crowdfund.payments import ledger
from crowdfund.payments.models import LedgerEntry

FEE_BP = 500
PLEDGES = 3
_ids = itertools.count(1)

operations = st.lists(st.one_of(
    st.tuples(st.just("collect"), st.integers(0, PLEDGES - 1), st.integers(1, 10_000)),
    st.tuples(st.just("release"), st.just(0), st.integers(1, 5_000)),
    st.tuples(st.just("refund"), st.integers(0, PLEDGES - 1), st.integers(1, 5_000)),
    st.tuples(st.just("dispute"), st.integers(0, PLEDGES - 1), st.integers(1, 5_000)),
), min_size=1, max_size=25)


def _check(campaign_id, pledge_ids, expected):
    totals = ledger.money_totals([campaign_id]).get(campaign_id, ledger.MoneyTotals())
    assert totals.held + totals.released + totals.refunded + totals.disputed + totals.platform_fees \
        == totals.collected
    assert min(totals.collected, totals.refunded, totals.platform_fees, totals.disputed, totals.released,
               totals.held) >= 0
    assert (totals.collected, totals.released, totals.refunded, totals.disputed, totals.platform_fees) == expected
    for collected, refunded in ledger.pledge_balances(pledge_ids).values():
        assert 0 <= refunded <= collected
    return totals


def test_every_unit_is_accounted_for_after_every_step(app, make_campaign, make_pledge):
    campaign = make_campaign(state="successful")
    campaign_id, currency = campaign.id, campaign.currency
    pledge_ids = [make_pledge(campaign, amount=1000, state="collected").id for _ in range(PLEDGES)]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(operations)
    def run(steps):
        db.session.rollback()
        db.session.execute(db.delete(LedgerEntry).where(LedgerEntry.campaign_id == campaign_id))
        db.session.commit()
        collected = released = refunded = disputed = fees = 0
        balance = dict.fromkeys(pledge_ids, 0)  # what each pledge still has paid in
        for kind, index, amount in steps:
            pledge_id = pledge_ids[index]
            held = collected - released - refunded - disputed - fees
            stripe_id = f"{kind}_{next(_ids)}"
            if kind == "collect":
                fee = amount * FEE_BP // 10_000
                ledger.book(campaign_id, "charge", amount, currency, pledge_id, stripe_id)
                if fee:
                    ledger.book(campaign_id, "platform_fee", fee, currency, pledge_id, stripe_id)
                collected, fees, balance[pledge_id] = collected + amount, fees + fee, balance[pledge_id] + amount
            elif kind == "release":
                if amount > held:
                    continue
                ledger.book(campaign_id, "release", amount, currency, stripe_id=stripe_id)
                released += amount
            else:
                if amount > held or amount > balance[pledge_id]:
                    continue
                ledger.book(campaign_id, kind, amount, currency, pledge_id, stripe_id)
                balance[pledge_id] -= amount
                if kind == "refund":
                    refunded += amount
                else:
                    disputed += amount
            db.session.commit()
            _check(campaign_id, pledge_ids, (collected, released, refunded, disputed, fees))

    run()
