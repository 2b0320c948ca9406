"""Pro-rata refunds for awkward amounts: on schedule.pro_rata directly, and end to end through the
Stripe stand-in when a campaign is abandoned. The parts add up to the unit, remainders go
deterministically, and no backer gets back more than they paid in."""
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.payments import gateway, ledger
from crowdfund.settlement.abandon import declare_abandoned
from crowdfund.payouts.schedule import pro_rata

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "payments"))
from collected_pledges import collected_pledge  # noqa: E402  (tests/payments)


def _check(total, weights, parts):
    assert sum(parts.values()) == total
    assert all(0 <= parts[k] <= weights[k] for k in weights)
    assert set(parts) == set(weights)


@pytest.mark.parametrize("total, weights, expected", [
    # 100.00 over three equal backers: the cent left over goes to the smallest key
    (10_000, {1: 5000, 2: 5000, 3: 5000}, {1: 3334, 2: 3333, 3: 3333}),
    # JPY (no minor unit): 1000 yen over three
    (1000, {7: 400, 8: 400, 9: 400}, {7: 334, 8: 333, 9: 333}),
    # one-cent pledges: 3 cents over five one-cent pledges
    (3, {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, {1: 1, 2: 1, 3: 1, 4: 0, 5: 0}),
    # held smaller than the number of backers: the largest remainders first, then the smaller key
    (2, {1: 1000, 2: 3000, 3: 1000, 4: 2000}, {1: 0, 2: 1, 3: 0, 4: 1}),
    # weights far apart: the leftover unit goes to the largest remainder (the big weight here)
    (999_999, {1: 1, 2: 10**9, 3: 7}, {1: 0, 2: 999_999, 3: 0}),
    (7, {1: 1, 2: 10**9, 3: 10**9 - 1}, {1: 0, 2: 4, 3: 3}),
    # everything held goes back in full
    (12_345, {1: 10_000, 2: 2_345}, {1: 10_000, 2: 2_345}),
    (0, {1: 100, 2: 200}, {1: 0, 2: 0}),
])
def test_awkward_amounts(total, weights, expected):
    parts = pro_rata(total, weights)
    assert parts == expected
    _check(total, weights, parts)


def test_remainders_are_deterministic_whatever_the_key_order():
    weights = {5: 1, 3: 1, 9: 1, 1: 1}
    assert pro_rata(2, weights) == pro_rata(2, dict(reversed(list(weights.items())))) == {1: 1, 3: 1, 5: 0, 9: 0}


def test_refuses_what_cannot_be_split():
    with pytest.raises(ValueError):
        pro_rata(-1, {1: 1})
    with pytest.raises(ValueError):
        pro_rata(1, {1: -1})
    with pytest.raises(ValueError):
        pro_rata(1, {1: 0})


@given(st.dictionaries(st.integers(1, 10**6), st.integers(0, 10**9), min_size=1, max_size=30), st.data())
def test_any_split_adds_up_and_never_exceeds_a_weight(weights, data):
    whole = sum(weights.values())
    total = data.draw(st.integers(0, whole)) if whole else 0
    _check(total, weights, pro_rata(total, weights))


# --- End to end: abandoned campaigns refund the held money through the stand-in --------------------

@pytest.fixture
def moderator(make_user):
    return make_user(role="moderator")


def _refunded_at_stripe(pledge) -> int:
    return gateway.payment_details(pledge.stripe_payment_intent_id).amount_refunded


def _book_release(campaign, amount, n=1):
    ledger.book(campaign.id, "release", amount, campaign.currency, stripe_id=f"tr_test_{campaign.id}_{n}")
    db.session.commit()


def _abandon_and_check(campaign, pledges, moderator, expected):
    before = {p.id: _refunded_at_stripe(p) for p in pledges}
    held = ledger.money_totals([campaign.id])[campaign.id].held
    outcome = declare_abandoned(db.session.get(Campaign, campaign.id), moderator, "Founder unreachable")
    assert outcome.declared and outcome.held == held and not outcome.failed
    got = {p.id: _refunded_at_stripe(p) - before[p.id] for p in pledges}
    assert list(got.values()) == expected
    assert sum(got.values()) == held
    balances = ledger.pledge_balances([p.id for p in pledges])
    assert all(refunded <= collected for collected, refunded in balances.values())
    assert ledger.money_totals([campaign.id])[campaign.id].held == 0


@pytest.mark.usefixtures("stripe_standin")
def test_hundred_over_three_backers_end_to_end(app, make_campaign, make_pledge, moderator):
    campaign = make_campaign(state="successful")
    pledges = [collected_pledge(make_pledge, campaign, amount=5000) for _ in range(3)]
    _book_release(campaign, 15_000 - 750 - 10_000)  # held: exactly 100.00
    _abandon_and_check(campaign, pledges, moderator, [3334, 3333, 3333])


@pytest.mark.usefixtures("stripe_standin")
def test_jpy_uneven_pledges_end_to_end(app, make_campaign, make_pledge, moderator):
    campaign = make_campaign(state="successful", currency="JPY", goal=5000)
    pledges = [collected_pledge(make_pledge, campaign, amount=amount) for amount in (1000, 2000, 4000)]
    _book_release(campaign, 1)  # held: 7000 − 350 fees − 1 = 6649 yen
    _abandon_and_check(campaign, pledges, moderator, [950, 1900, 3799])


@pytest.mark.usefixtures("stripe_standin")
def test_held_smaller_than_the_number_of_backers_end_to_end(app, make_campaign, make_pledge, moderator):
    campaign = make_campaign(state="successful")
    pledges = [collected_pledge(make_pledge, campaign, amount=amount) for amount in (100, 100, 300, 100)]
    _book_release(campaign, 600 - 30 - 2)  # held: 2 cents over four pledges
    # 300 is owed exactly 1 cent; the other cent goes to the first of the equal remainders
    _abandon_and_check(campaign, pledges, moderator, [1, 0, 1, 0])
