"""Stripe webhook events, applied once each and in any order.

Two phases, so that no Stripe call happens while the database is written to:
1. read: every object the event's effect depends on is read back from Stripe (never trusted from
   the event's copy: a `payment_intent.succeeded` may arrive before the charging job recorded its
   PaymentIntent), with no transaction open;
2. write: the event id is inserted into StripeEvent in the same short transaction as the effect, so a
   replayed or concurrently delivered event changes nothing (the second insert conflicts and is rolled
   back).
`setup_intent.succeeded` completes the pledge through settlement.checkout (which owns its
transactions and is itself idempotent), then stores the event. Emails go through the outbox."""
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crowdfund.campaigns.models import Campaign
from crowdfund.errors import DomainError
from crowdfund.extensions import db
from crowdfund.moderation.services import record_action
from crowdfund.outbox import emit
from crowdfund.payments import gateway, ledger
from crowdfund.payments.models import StripeEvent
from crowdfund.payouts import accounts
from crowdfund.pledges.models import Pledge
from crowdfund.settlement.charging import record_successful_charge
from crowdfund.settlement.refunds import book_stripe_refunds, refundable_amount


@dataclass
class StripeFacts:
    """What phase 1 read from Stripe for one event."""

    payment_intent_id: str | None = None
    payment: gateway.PaymentDetails | None = None
    refunds: list = field(default_factory=list)
    account: gateway.AccountStatus | None = None


def _pledge_by_metadata(obj: dict) -> Pledge | None:
    raw = (obj.get("metadata") or {}).get("pledge_id") or (obj.get("metadata") or {}).get("pledge")
    try:
        return db.session.get(Pledge, int(raw)) if raw else None
    except (TypeError, ValueError):
        return None


def _pledge_for_payment_intent(facts: StripeFacts, obj: dict | None = None) -> Pledge | None:
    """The pledge a PaymentIntent paid for: by the event object's metadata (also before the pledge
    knows the intent), else by the intent id the pledge recorded, else by the intent's own metadata
    as read back from Stripe."""
    pledge = _pledge_by_metadata(obj or {})
    if pledge is None and facts.payment_intent_id:
        pledge = db.session.execute(db.select(Pledge).where(
            Pledge.stripe_payment_intent_id == facts.payment_intent_id)).scalar_one_or_none()
        if pledge is None and facts.payment is not None:
            pledge = _pledge_by_metadata({"metadata": facts.payment.metadata})
    return pledge


def _intent_id(value) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


def _book_succeeded_payment(pledge: Pledge, facts: StripeFacts, now: datetime) -> str:
    """Record a PaymentIntent that Stripe says succeeded (as read back in phase 1)."""
    details = facts.payment
    if details is None or details.status != "succeeded":
        return "not_succeeded"
    record_successful_charge(pledge, details.id, details.charge_id, details.amount, now,
                             attempt_key=details.metadata.get("attempt_key"))
    return "recorded"


def _payment_intent_succeeded(obj: dict, facts: StripeFacts, now: datetime) -> str:
    pledge = _pledge_for_payment_intent(facts, obj)
    if pledge is None:
        return "ignored"
    return _book_succeeded_payment(pledge, facts, now)


def _payment_intent_failed(obj: dict, facts: StripeFacts, now: datetime) -> str:
    pledge = _pledge_for_payment_intent(facts, obj)
    if pledge is None or pledge.state == "collected":
        return "ignored"
    if facts.payment is not None and facts.payment.status == "succeeded":
        return _book_succeeded_payment(pledge, facts, now)  # the failure was retried and won since
    error = obj.get("last_payment_error") or {}
    pledge.last_error = (error.get("code") or error.get("decline_code") or "payment_failed")[:200]
    if pledge.stripe_payment_intent_id is None:
        pledge.stripe_payment_intent_id = obj["id"]
    # The charging job owns errored/fix_deadline: a webhook never opens a second fix window.
    db.session.flush()
    return "noted"


def _charged_pledge(obj: dict, facts: StripeFacts, now: datetime):
    """(pledge, campaign) of a refund or dispute event, its charge booked first if this event overtook
    the success event; None when the PaymentIntent is not a pledge's."""
    pledge = _pledge_for_payment_intent(facts, obj)
    if pledge is None:
        return None
    if not ledger.pledge_balance(pledge.id)[0]:
        _book_succeeded_payment(pledge, facts, now)
    return pledge, db.session.get(Campaign, pledge.campaign_id)


def _charge_refunded(obj: dict, facts: StripeFacts, now: datetime) -> str:
    found = _charged_pledge(obj, facts, now)
    if found is None:
        return "ignored"
    pledge, campaign = found
    booked = book_stripe_refunds(pledge, campaign, facts.payment_intent_id, known_refunds=facts.refunds)
    return "booked" if booked else "known"


def _dispute_created(obj: dict, facts: StripeFacts, now: datetime) -> str:
    found = _charged_pledge(obj, facts, now)
    if found is None:
        return "ignored"
    pledge, campaign = found
    pledge.disputed = True
    # The dispute takes back at most what is still held (a refunded part cannot be disputed again).
    amount = min(int(obj.get("amount") or 0), refundable_amount(pledge.id))
    if amount > 0:
        ledger.book(campaign.id, "dispute", amount, campaign.currency, pledge.id, obj["id"],
                    note=str(obj.get("reason") or ""))
    record_action(None, "disputed", campaign, str(obj.get("reason") or ""),
                  details={"pledge_id": pledge.id, "amount": amount, "dispute_id": obj["id"]})
    db.session.flush()
    emit("pledge.disputed", now=now, pledge_id=pledge.id, dispute_id=obj["id"],
         amount=int(obj.get("amount") or 0), reason=str(obj.get("reason") or ""))
    return "disputed"


def _account_updated(obj: dict, facts: StripeFacts, now: datetime) -> str:
    """A founder's Connect account changed: store what Stripe says of it now (read in phase 1)."""
    if facts.account is None:
        return "ignored"
    return accounts.store_status(obj.get("id"), facts.account, now)


# --- phase 1: what each event type needs read back from Stripe -----------------------------------

def _intent_facts(payment_intent_id: str | None, with_refunds: bool = False) -> StripeFacts:
    facts = StripeFacts(payment_intent_id=payment_intent_id)
    if payment_intent_id:
        facts.payment = gateway.payment_details(payment_intent_id)
        if with_refunds:
            facts.refunds = gateway.refunds_of(payment_intent_id)
    return facts


def _read_payment_intent(obj: dict) -> StripeFacts:
    return _intent_facts(obj.get("id"))


def _read_refunded_charge(obj: dict) -> StripeFacts:
    payment_intent_id = _intent_id(obj.get("payment_intent"))
    if not payment_intent_id and obj.get("id"):
        payment_intent_id = gateway.payment_intent_of_charge(obj["id"])
    return _intent_facts(payment_intent_id, with_refunds=True)


def _read_dispute(obj: dict) -> StripeFacts:
    payment_intent_id = _intent_id(obj.get("payment_intent"))
    if not payment_intent_id and obj.get("charge"):
        payment_intent_id = gateway.payment_intent_of_charge(_intent_id(obj["charge"]))
    return _intent_facts(payment_intent_id)


def _read_account(obj: dict) -> StripeFacts:
    known = obj.get("id") and accounts.payout_account_by_stripe_id(obj["id"]) is not None
    return StripeFacts(account=gateway.account_status(obj["id"]) if known else None)


# type → (phase 1: read from Stripe, phase 2: apply in the event's transaction)
HANDLERS = {
    "account.updated": (_read_account, _account_updated),
    "payment_intent.succeeded": (_read_payment_intent, _payment_intent_succeeded),
    "payment_intent.payment_failed": (_read_payment_intent, _payment_intent_failed),
    "charge.refunded": (_read_refunded_charge, _charge_refunded),
    "charge.dispute.created": (_read_dispute, _dispute_created),
}


def _complete_setup(obj: dict, now: datetime) -> str:
    """setup_intent.succeeded: complete the pledge the SetupIntent is for (settlement.checkout, which
    reads the SetupIntent back and COMMITS; a pledge no longer pending is left alone)."""
    from crowdfund.settlement.checkout import complete_pledge

    pledge = _pledge_by_metadata(obj)
    if pledge is None and obj.get("id"):
        pledge = db.session.execute(db.select(Pledge).where(
            Pledge.stripe_setup_intent_id == obj["id"])).scalar_one_or_none()
    if pledge is None or pledge.state != "pending":
        return "ignored"
    pledge = db.session.get(Pledge, pledge.id, options=[selectinload(Pledge.campaign)], populate_existing=True)
    try:
        complete_pledge(pledge, now)
    except DomainError as error:  # the campaign closed meanwhile, or Stripe says the card is not confirmed
        db.session.rollback()
        current_app.logger.info("setup_intent.succeeded for pledge %s not applied: %s", pledge.id, error.message)
        return "ignored"
    return "completed"


def handle_event(event: dict, now: datetime) -> str:
    """Apply a verified event once; returns what happened ("duplicate", "ignored", "recorded", …).

    Phase 1 reads from Stripe with no transaction open; phase 2 stores the event id and its effect in
    one short transaction (COMMITS). A replay returns "duplicate" and changes nothing. An unknown type
    is stored and ignored. A GatewayError (Stripe unreachable in phase 1) leaves nothing stored, so
    Stripe's retry applies it later."""
    event_id, event_type = event.get("id"), event.get("type") or ""
    if not event_id:
        raise ValueError("The event has no id.")
    if db.session.get(StripeEvent, event_id) is not None:
        return "duplicate"
    obj = event.get("data", {}).get("object") or {}
    if not isinstance(obj, dict):
        raise ValueError("The event's data.object is not a JSON object.")
    db.session.commit()  # end the read: no transaction is open while Stripe is asked
    if event_type == "setup_intent.succeeded":
        outcome = _complete_setup(obj, now)
        facts, apply = None, None
    else:
        read, apply = HANDLERS.get(event_type, (None, None))
        facts = read(obj) if read else None
        outcome = "ignored"
    # A plain INSERT, not a savepoint: it must open the transaction (pysqlite does not BEGIN before a
    # SAVEPOINT, and releasing that savepoint would commit the event before its effect).
    db.session.add(StripeEvent(id=event_id, type=event_type[:100], received_at=now))
    try:
        db.session.flush()
        if apply is not None:
            outcome = apply(obj, facts, now)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if db.session.get(StripeEvent, event_id) is not None:
            return "duplicate"  # delivered twice at once: the other delivery applied it
        raise
    except Exception:
        db.session.rollback()
        raise
    return outcome
