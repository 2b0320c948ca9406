"""POST /stripe/webhook: signed events, applied once each, in any order; the event body is never
trusted where the object can be read back from Stripe (the stand-in here)."""
import json
import time

import pytest
import stripe
from collected_pledges import charge_at_stripe, collected_pledge, save_card

from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry
from crowdfund.payments import gateway, ledger
from crowdfund.settlement.charging import record_successful_charge
from crowdfund.payments.models import LedgerEntry, StripeEvent
from crowdfund.pledges.models import Pledge

SECRET = "whsec_test_secret"  # TestingConfig.STRIPE_WEBHOOK_SECRET
_ids = iter(range(1, 10**6))


def _event(event_type, obj, event_id=None):
    return {"id": event_id or f"evt_test_{next(_ids)}", "object": "event", "type": event_type,
            "created": int(time.time()), "data": {"object": obj}}


def _post(client, event, secret=SECRET, timestamp=None, header=True):
    payload = json.dumps(event)
    headers = {"Content-Type": "application/json"}
    if header:
        headers["Stripe-Signature"] = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return client.post("/stripe/webhook", data=payload, headers=headers)


def _pledge(pledge_id):
    db.session.expire_all()
    return db.session.get(Pledge, pledge_id)


def _rows(pledge_id, kind):
    return list(db.session.execute(db.select(LedgerEntry).where(
        LedgerEntry.pledge_id == pledge_id, LedgerEntry.kind == kind)).scalars())


def _stored_events():
    return [e.id for e in db.session.execute(db.select(StripeEvent)).scalars()]


@pytest.fixture
def charged_at_stripe(stripe_standin, make_campaign, make_pledge):
    """An active pledge whose card Stripe has charged, and the PaymentIntent; the app knows nothing yet."""
    campaign = make_campaign(state="successful")
    pledge = make_pledge(campaign, amount=4200, state="active")
    save_card(pledge)
    result = charge_at_stripe(pledge)
    assert result.status == "succeeded"
    return pledge, result


def _intent_object(payment_intent_id, **extra):
    details = gateway.payment_details(payment_intent_id)
    return {"id": details.id, "object": "payment_intent", "status": details.status, "amount": details.amount,
            "currency": details.currency.lower(), "metadata": details.metadata, **extra}


def test_signed_payment_succeeded_collects_the_pledge_and_books_it(client, charged_at_stripe, outbox):
    pledge, result = charged_at_stripe
    pledge.stripe_payment_intent_id = result.payment_intent_id
    db.session.commit()
    event = _event("payment_intent.succeeded", _intent_object(result.payment_intent_id))

    response = _post(client, event)

    assert response.status_code == 200
    assert response.get_json()["outcome"] == "recorded"
    assert _pledge(pledge.id).state == "collected"
    assert ledger.pledge_balance(pledge.id) == (4200, 0)
    assert _stored_events() == [event["id"]]


def test_payment_succeeded_before_the_pledge_knows_its_intent_is_still_booked_once(client, charged_at_stripe):
    # The webhook overtakes the charging job: the pledge has no PaymentIntent id yet.
    pledge, result = charged_at_stripe
    assert _pledge(pledge.id).stripe_payment_intent_id is None

    response = _post(client, _event("payment_intent.succeeded", _intent_object(result.payment_intent_id)))
    # ...then the job records the same charge.
    record_successful_charge(_pledge(pledge.id), result.payment_intent_id, result.charge_id, 4200, pledge.created_at)
    db.session.commit()

    assert response.status_code == 200
    stored = _pledge(pledge.id)
    assert (stored.state, stored.stripe_payment_intent_id) == ("collected", result.payment_intent_id)
    assert [r.amount for r in _rows(pledge.id, "charge")] == [4200]


def test_event_body_is_not_trusted_for_the_amount_or_the_outcome(client, stripe_standin, make_campaign, make_pledge):
    # A correctly signed event claiming success for an intent Stripe declined books nothing.
    pledge = make_pledge(make_campaign(state="successful"), amount=4200, state="active")
    save_card(pledge, "4000000000000341")
    declined = charge_at_stripe(pledge)
    assert declined.status == "failed"
    forged = _intent_object(declined.payment_intent_id, status="succeeded", amount=999_999)

    response = _post(client, _event("payment_intent.succeeded", forged))

    assert response.status_code == 200
    assert response.get_json()["outcome"] == "not_succeeded"
    assert _pledge(pledge.id).state == "active"
    assert _rows(pledge.id, "charge") == []


@pytest.mark.parametrize("how", ["bad_signature", "stale_timestamp", "missing_header", "other_secret_body"])
def test_unverified_event_is_refused_and_changes_nothing(client, charged_at_stripe, how):
    pledge, result = charged_at_stripe
    event = _event("payment_intent.succeeded", _intent_object(result.payment_intent_id))
    if how == "bad_signature":
        response = _post(client, event, secret="whsec_someone_else")
    elif how == "stale_timestamp":
        response = _post(client, event, timestamp=int(time.time()) - 3600)
    elif how == "missing_header":
        response = _post(client, event, header=False)
    else:  # signed for one body, sent with another
        header = stripe.WebhookSignature.generate_signature_header(json.dumps(event), SECRET)
        event["data"]["object"]["amount"] = 1
        response = client.post("/stripe/webhook", data=json.dumps(event), headers={"Stripe-Signature": header})

    assert response.status_code == 400
    assert response.is_json and response.get_json()["error"]
    assert _pledge(pledge.id).state == "active"
    assert _rows(pledge.id, "charge") == []
    assert _stored_events() == []


def test_signed_body_that_is_not_json_is_a_400(client, app):
    payload = "not json"
    header = stripe.WebhookSignature.generate_signature_header(payload, SECRET)

    response = client.post("/stripe/webhook", data=payload, headers={"Stripe-Signature": header})

    assert response.status_code == 400
    assert _stored_events() == []


def test_webhook_needs_no_csrf_token(csrf_app, stripe_standin):
    event = _event("customer.created", {"id": "cus_1", "object": "customer"})

    response = _post(csrf_app.test_client(), event)

    assert response.status_code == 200


def test_duplicate_event_changes_nothing_the_second_time(client, stripe_standin, make_campaign, make_pledge,
                                                         make_user, outbox):
    make_user(role="moderator")
    pledge = collected_pledge(make_pledge, make_campaign(state="live", funding_model="flexible"), amount=4200)
    dispute = {"id": "dp_1", "object": "dispute", "amount": 4200, "reason": "fraudulent",
               "payment_intent": pledge.stripe_payment_intent_id, "charge": "ch_x"}
    event = _event("charge.dispute.created", dispute)

    first, second = _post(client, event), _post(client, event)

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.get_json()["outcome"], second.get_json()["outcome"]) == ("disputed", "duplicate")
    assert [r.amount for r in _rows(pledge.id, "dispute")] == [-4200]
    assert db.session.execute(db.select(db.func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "disputed")).scalar_one() == 1
    assert len(outbox) == 1
    assert _stored_events() == [event["id"]]


def test_dispute_flags_the_pledge_books_it_and_tells_every_moderator(client, stripe_standin, make_campaign,
                                                                     make_pledge, make_user, outbox):
    moderators = {make_user(role="moderator").email, make_user(role="admin").email}
    make_user()  # a backer is not told
    campaign = make_campaign(state="live", funding_model="flexible")
    pledge = collected_pledge(make_pledge, campaign, amount=4200)
    # Stripe names the charge; the app finds the PaymentIntent (and so the pledge) through it.
    charge_id = gateway.payment_details(pledge.stripe_payment_intent_id).charge_id
    dispute = {"id": "dp_2", "object": "dispute", "amount": 4200, "reason": "fraudulent", "charge": charge_id}

    response = _post(client, _event("charge.dispute.created", dispute))

    assert response.status_code == 200
    assert _pledge(pledge.id).disputed is True
    [row] = _rows(pledge.id, "dispute")
    assert (row.amount, row.stripe_id) == (-4200, "dp_2")
    totals = ledger.money_totals([campaign.id])[campaign.id]
    assert (totals.collected, totals.disputed, totals.net) == (4200, 4200, 0)
    assert {m["To"] for m in outbox} == moderators
    assert "$42.00" in outbox[0].get_body(("plain",)).get_content()


def test_refund_made_at_stripe_is_booked_once_from_charge_refunded(client, stripe_standin, make_campaign, make_pledge):
    pledge = collected_pledge(make_pledge, make_campaign(state="live", funding_model="flexible"), amount=4200)
    refund_id = gateway.refund(pledge.stripe_payment_intent_id, 1200, "dashboard", {})
    details = gateway.payment_details(pledge.stripe_payment_intent_id)
    charge = {"id": details.charge_id, "object": "charge", "payment_intent": details.id, "amount": 4200,
              "amount_refunded": 1200, "refunded": False}

    first = _post(client, _event("charge.refunded", charge))
    replay_with_new_id = _post(client, _event("charge.refunded", charge))

    assert (first.get_json()["outcome"], replay_with_new_id.get_json()["outcome"]) == ("booked", "known")
    [row] = _rows(pledge.id, "refund")
    assert (row.amount, row.stripe_id) == (-1200, refund_id)


def test_refund_event_before_the_success_event_books_both(client, charged_at_stripe):
    pledge, result = charged_at_stripe
    gateway.refund(result.payment_intent_id, 4200, "dashboard", {})
    charge = {"id": result.charge_id, "object": "charge", "payment_intent": result.payment_intent_id,
              "metadata": {"pledge_id": str(pledge.id)}}

    response = _post(client, _event("charge.refunded", charge))

    assert response.status_code == 200
    assert ledger.pledge_balance(pledge.id) == (4200, 4200)


def test_payment_failed_notes_the_error_without_a_second_fix_window(client, stripe_standin, make_campaign,
                                                                    make_pledge):
    pledge = make_pledge(make_campaign(state="successful"), amount=4200, state="active")
    save_card(pledge, "4000000000000341")
    declined = charge_at_stripe(pledge)
    stored = _pledge(pledge.id)
    stored.state, stored.errored_at, stored.fix_deadline = "errored", stored.created_at, stored.created_at
    db.session.commit()
    deadline = stored.fix_deadline
    obj = _intent_object(declined.payment_intent_id, last_payment_error={"code": "card_declined"})

    response = _post(client, _event("payment_intent.payment_failed", obj))

    assert response.get_json()["outcome"] == "noted"
    after = _pledge(pledge.id)
    assert (after.state, after.fix_deadline, after.last_error) == ("errored", deadline, "card_declined")
    assert after.stripe_payment_intent_id == declined.payment_intent_id


def test_payment_failed_after_the_pledge_was_collected_is_ignored(client, stripe_standin, make_campaign, make_pledge):
    pledge = collected_pledge(make_pledge, make_campaign(state="live", funding_model="flexible"), amount=4200)
    obj = _intent_object(pledge.stripe_payment_intent_id, last_payment_error={"code": "card_declined"})

    response = _post(client, _event("payment_intent.payment_failed", obj))

    assert response.get_json()["outcome"] == "ignored"
    after = _pledge(pledge.id)
    assert (after.state, after.last_error) == ("collected", None)


def test_setup_succeeded_completes_a_pending_pledge(client, stripe_standin, make_campaign, make_pledge):
    pledge = make_pledge(make_campaign(state="live"), amount=4200, state="pending")
    save_card(pledge)  # the browser confirmed the SetupIntent; the page that would complete it never loaded
    obj = {"id": pledge.stripe_setup_intent_id, "object": "setup_intent", "status": "succeeded",
           "metadata": {"pledge_id": str(pledge.id)}}

    response = _post(client, _event("setup_intent.succeeded", obj))

    assert response.get_json()["outcome"] == "completed"
    assert _pledge(pledge.id).state == "active"


def test_unknown_event_type_is_stored_and_ignored(client, stripe_standin, make_campaign, make_pledge):
    pledge = make_pledge(make_campaign(state="live"), state="active")
    event = _event("invoice.paid", {"id": "in_1", "object": "invoice", "metadata": {"pledge_id": str(pledge.id)}})

    response = _post(client, event)

    assert response.status_code == 200
    assert response.get_json()["outcome"] == "ignored"
    assert _stored_events() == [event["id"]]
    assert _pledge(pledge.id).state == "active"


def test_stripe_unreachable_answers_503_and_stores_nothing_so_the_retry_applies_it(client, charged_at_stripe,
                                                                                  monkeypatch):
    pledge, result = charged_at_stripe
    event = _event("payment_intent.succeeded", _intent_object(result.payment_intent_id))
    real = gateway.payment_details

    def unreachable(payment_intent_id):
        raise gateway.GatewayError("connection refused")

    monkeypatch.setattr(gateway, "payment_details", unreachable)
    failed = _post(client, event)
    monkeypatch.setattr(gateway, "payment_details", real)
    retried = _post(client, event)

    assert (failed.status_code, retried.status_code) == (503, 200)
    assert retried.get_json()["outcome"] == "recorded"
    assert _pledge(pledge.id).state == "collected"
    assert _stored_events() == [event["id"]]
