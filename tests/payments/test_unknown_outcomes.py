"""Charges whose outcome is unknown are resolved against Stripe, never guessed: a flexible pledge whose
charge Stripe did make is collected (not cancelled two hours later), a charge that never reached Stripe
lets the backer pay again, and an attempt whose process died after Stripe charged is closed when the
webhook books it."""
import json
import time
from datetime import timedelta

import stripe

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.payments.models import ChargeAttempt
from crowdfund.pledges.services import cancellation_refusal
from crowdfund.settlement import charging, checkout
from crowdfund.ticker import run_periodic_jobs

from charging_support import VISA, fresh_pledge, ledger_rows, payment_intents_by_pledge, save_card

SECRET = "whsec_test_secret"  # TestingConfig.STRIPE_WEBHOOK_SECRET


def _attempts(pledge_id) -> list[tuple[int, str]]:
    db.session.expire_all()
    return [tuple(row) for row in db.session.execute(
        db.select(ChargeAttempt.attempt, ChargeAttempt.status).where(ChargeAttempt.pledge_id == pledge_id)
        .order_by(ChargeAttempt.attempt)).all()]


def _flexible_pledge_with_card(make_campaign, make_user, make_pledge, state="pending"):
    """A live flexible campaign and a pledge of it whose card the backer just confirmed (what the card
    page leaves behind before the backer presses "Pledge"). Returns (pledge id, backer)."""
    campaign = make_campaign(state="live", funding_model="flexible")
    backer = make_user()
    pledge = make_pledge(campaign, backer=backer, amount=3000, state=state)
    save_card(pledge, backer, VISA)
    return pledge.id, backer


def _complete(pledge_id):
    return checkout.complete_pledge(fresh_pledge(pledge_id), utcnow())


def test_a_flexible_charge_stripe_made_but_whose_answer_was_lost_is_collected_not_cancelled(
        app, stripe_standin, make_campaign, make_user, make_pledge, monkeypatch):
    pledge_id, _backer = _flexible_pledge_with_card(make_campaign, make_user, make_pledge)
    real_charge = gateway.charge

    def charge_then_lose_the_answer(*args, **kwargs):
        real_charge(*args, **kwargs)
        raise gateway.GatewayError("read timed out")

    monkeypatch.setattr(gateway, "charge", charge_then_lose_the_answer)
    result = _complete(pledge_id)
    monkeypatch.setattr(gateway, "charge", real_charge)

    assert result.status == "unknown"
    assert fresh_pledge(pledge_id).state == "active"  # still in play, not back to "waiting for a card"
    assert _attempts(pledge_id) == [(1, "unknown")]

    # Hours later — past the two hours after which unstarted pledges are cancelled — the periodic
    # job looks the attempt up at Stripe and finds the money.
    run_periodic_jobs(utcnow() + timedelta(hours=3))

    after = fresh_pledge(pledge_id)
    assert after.state == "collected"
    assert [kind for kind, _, _ in ledger_rows(pledge_id)] == ["charge", "platform_fee"]
    assert payment_intents_by_pledge() == {str(pledge_id): 1}  # looked up, never charged again
    assert _attempts(pledge_id) == [(1, "succeeded")]


def test_an_open_attempt_keeps_the_pledge_from_being_cancelled(app, stripe_standin, make_campaign, make_user,
                                                               make_pledge, monkeypatch):
    """Even a pledge left pending (as the code before the resolver left them) is not cancelled while
    one of its charge attempts has no known outcome."""
    pledge_id, _backer = _flexible_pledge_with_card(make_campaign, make_user, make_pledge)
    monkeypatch.setattr(gateway, "find_payment_intent", lambda *a, **k: (_ for _ in ()).throw(
        gateway.GatewayError("Stripe is down")))
    monkeypatch.setattr(gateway, "payment_intent_result", lambda *a, **k: (_ for _ in ()).throw(
        gateway.GatewayError("Stripe is down")))
    pledge = fresh_pledge(pledge_id)
    pledge.created_at = utcnow() - timedelta(hours=5)
    db.session.add(ChargeAttempt(pledge_id=pledge_id, attempt=1, status="unknown", created_at=utcnow()))
    pledge.charge_attempts = 1
    db.session.commit()

    run_periodic_jobs(utcnow() + timedelta(hours=3))  # Stripe cannot be asked: nothing is decided

    assert fresh_pledge(pledge_id).state == "pending"
    assert _attempts(pledge_id) == [(1, "unknown")]
    # and the backer is told why it cannot be cancelled now
    assert "being processed" in cancellation_refusal(checkout._load(pledge_id), utcnow())


def test_a_flexible_charge_that_never_reached_stripe_asks_the_backer_to_pay_again(
        app, stripe_standin, make_campaign, make_user, make_pledge, monkeypatch):
    pledge_id, _backer = _flexible_pledge_with_card(make_campaign, make_user, make_pledge)

    def unreachable(*args, **kwargs):
        raise gateway.GatewayError("connection refused")

    monkeypatch.setattr(gateway, "charge", unreachable)
    assert _complete(pledge_id).status == "unknown"
    monkeypatch.undo()

    run_periodic_jobs(utcnow() + timedelta(minutes=15))  # looked up: Stripe never made it

    assert fresh_pledge(pledge_id).state == "pending"  # the card page asks for the payment again
    assert _attempts(pledge_id) == [(1, "failed")]
    assert payment_intents_by_pledge().get(str(pledge_id), 0) == 0
    # … and the backer pays: a new attempt, charged once.
    assert _complete(pledge_id).status == "succeeded"
    assert fresh_pledge(pledge_id).state == "collected"
    assert _attempts(pledge_id) == [(1, "failed"), (2, "succeeded")]


def test_an_attempt_whose_process_died_after_stripe_charged_is_closed_by_the_webhook(
        app, client, stripe_standin, make_campaign, make_user, make_pledge):
    pledge_id, _backer = _flexible_pledge_with_card(make_campaign, make_user, make_pledge, state="active")
    now = utcnow()
    # What a process does before it dies: the claim is committed, Stripe charges, nothing more.
    attempt_id = charging._claim(pledge_id, 0, now)
    pledge = fresh_pledge(pledge_id)
    key = charging.idempotency_key(pledge_id, 1)
    made = gateway.charge(pledge.stripe_customer_id, pledge.stripe_payment_method_id, pledge.amount, "USD", key,
                          {"pledge_id": str(pledge_id), "campaign_id": str(pledge.campaign_id), "attempt_key": key},
                          off_session=False)
    assert made.status == "succeeded" and attempt_id is not None
    assert _attempts(pledge_id) == [(1, "claimed")]

    payload = json.dumps({"id": "evt_dead_process", "object": "event", "type": "payment_intent.succeeded",
                          "created": int(time.time()),
                          "data": {"object": {"id": made.payment_intent_id, "object": "payment_intent",
                                              "metadata": {"pledge_id": str(pledge_id), "attempt_key": key}}}})
    response = client.post("/stripe/webhook", data=payload, headers={
        "Content-Type": "application/json",
        "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(payload, SECRET)})

    assert response.status_code == 200
    assert fresh_pledge(pledge_id).state == "collected"
    assert _attempts(pledge_id) == [(1, "succeeded")]  # not "claimed" for ever
    run_periodic_jobs(utcnow() + timedelta(hours=1))
    assert _attempts(pledge_id) == [(1, "succeeded")]
    assert payment_intents_by_pledge() == {str(pledge_id): 1}
