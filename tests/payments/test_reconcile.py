"""`flask crowdfund reconcile SLUG`: the ledger compared with Stripe, every difference printed."""
import pytest
from collected_pledges import charge_at_stripe, collected_pledge, save_card

from crowdfund.extensions import db
from crowdfund.payments import gateway, ledger
from crowdfund.settlement import refunds
from crowdfund.payments.models import ChargeAttempt, LedgerEntry
from crowdfund.clock import utcnow


@pytest.fixture
def campaign(make_campaign):
    return make_campaign(state="live", funding_model="flexible")


def _reconcile(runner, slug):
    return runner.invoke(args=["crowdfund", "reconcile", slug])


def test_ledger_and_stripe_agree_after_charges_and_refunds(runner, stripe_standin, campaign, make_pledge, make_user):
    first = collected_pledge(make_pledge, campaign, amount=5000)
    collected_pledge(make_pledge, campaign, amount=3000)
    make_pledge(campaign, state="cancelled")  # never charged
    refunds.refund_pledge(first, 1500, "Partial", make_user(role="moderator"), utcnow())

    result = _reconcile(runner, campaign.slug)

    assert result.exit_code == 0, result.output
    assert "ledger and Stripe agree" in result.output


def test_every_planted_difference_is_printed_and_the_exit_status_is_1(runner, stripe_standin, campaign, make_pledge):
    # 1. Stripe refunded part of a charge the ledger does not know about.
    refunded_outside = collected_pledge(make_pledge, campaign, amount=5000)
    refund_id = gateway.refund(refunded_outside.stripe_payment_intent_id, 700, "dashboard", {})
    # 2. Stripe charged a pledge whose charge never reached the ledger (a crash after the call).
    unbooked = make_pledge(campaign, amount=2500, state="active")
    save_card(unbooked)
    lost = charge_at_stripe(unbooked)
    db.session.add(ChargeAttempt(pledge_id=unbooked.id, attempt=1, status="claimed",
                                 payment_intent_id=lost.payment_intent_id))
    # 3. The ledger has a charge Stripe never made.
    phantom = make_pledge(campaign, amount=1800, state="collected")
    ledger.book(campaign.id, "charge", 1800, "USD", phantom.id, "ch_phantom")
    # 4. The ledger booked a different amount than Stripe charged.
    wrong = collected_pledge(make_pledge, campaign, amount=4000)
    db.session.execute(db.update(LedgerEntry).where(LedgerEntry.pledge_id == wrong.id, LedgerEntry.kind == "charge")
                       .values(amount=4100))
    db.session.commit()

    result = _reconcile(runner, campaign.slug)

    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("pledge ")]
    assert len(lines) == 4, result.output
    assert any(f"pledge {refunded_outside.id}:" in l and refund_id in l and "$7.00" in l
               and "missing in the ledger" in l for l in lines)
    assert any(f"pledge {unbooked.id}:" in l and lost.payment_intent_id in l and "$25.00" in l
               and "missing in the ledger" in l for l in lines)
    assert any(f"pledge {phantom.id}:" in l and "ch_phantom" in l and "missing in Stripe" in l for l in lines)
    assert any(f"pledge {wrong.id}:" in l and "ledger $41.00, Stripe $40.00" in l for l in lines)
    assert "4 difference(s)" in result.output


def test_a_refund_only_in_the_ledger_is_missing_in_stripe(runner, stripe_standin, campaign, make_pledge):
    pledge = collected_pledge(make_pledge, campaign, amount=5000)
    ledger.book(campaign.id, "refund", 500, "USD", pledge.id, "re_never_made")
    db.session.commit()

    result = _reconcile(runner, campaign.slug)

    assert result.exit_code == 1
    assert f"pledge {pledge.id}: ledger refund re_never_made of $5.00 is missing in Stripe" in result.output


def test_unknown_campaign_is_a_usage_error(runner, app):
    result = _reconcile(runner, "no-such-campaign")

    assert result.exit_code == 2
    assert "no campaign has the slug" in result.output
