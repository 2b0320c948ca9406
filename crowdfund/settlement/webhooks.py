"""Stripe webhook events, applied once each and in any order.

The event id is inserted into StripeEvent in the same transaction as the event's effect, so a
replayed or concurrently delivered event changes nothing (the second insert conflicts and is
rolled back). Where the order of events matters, the handler reads the object back through the
gateway instead of trusting the event's copy: a `payment_intent.succeeded` that arrives before
the charging job recorded its PaymentIntent still books the charge, once."""
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crowdfund import money
from crowdfund.campaigns.models import Campaign
from crowdfund.errors import DomainError
from crowdfund.extensions import db
from crowdfund.moderation.services import record_action
from crowdfund.payments import gateway, ledger
from crowdfund.payments.models import StripeEvent
from crowdfund.settlement.refunds import book_stripe_refunds, refundable_amount
from crowdfund.pledges.models import Pledge


def _pledge_by_metadata(obj: dict) -> Pledge | None:
    raw = (obj.get("metadata") or {}).get("pledge_id") or (obj.get("metadata") or {}).get("pledge")
    try:
        return db.session.get(Pledge, int(raw)) if raw else None
    except (TypeError, ValueError):
        return None


def _pledge_for_payment_intent(payment_intent_id: str | None, obj: dict | None = None) -> Pledge | None:
    """The pledge a PaymentIntent paid for: by its metadata (also before the pledge knows the
    intent), else by the intent id the pledge recorded, else by the intent's own metadata at Stripe."""
    pledge = _pledge_by_metadata(obj or {})
    if pledge is None and payment_intent_id:
        pledge = db.session.execute(db.select(Pledge).where(
            Pledge.stripe_payment_intent_id == payment_intent_id)).scalar_one_or_none()
        if pledge is None:
            details = gateway.payment_details(payment_intent_id)
            pledge = _pledge_by_metadata({"metadata": details.metadata}) if details else None
    return pledge


def _intent_id(value) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


def _book_succeeded_payment(pledge: Pledge, payment_intent_id: str, now: datetime) -> str:
    """Record a PaymentIntent that Stripe says succeeded (read back, not taken from the event)."""
    from crowdfund.settlement.charging import record_successful_charge

    details = gateway.payment_details(payment_intent_id)
    if details is None or details.status != "succeeded":
        return "not_succeeded"
    record_successful_charge(pledge, payment_intent_id, details.charge_id, details.amount, now)
    return "recorded"


def _payment_intent_succeeded(obj: dict, now: datetime, after: list) -> str:
    pledge = _pledge_for_payment_intent(obj.get("id"), obj)
    if pledge is None:
        return "ignored"
    return _book_succeeded_payment(pledge, obj["id"], now)


def _payment_intent_failed(obj: dict, now: datetime, after: list) -> str:
    pledge = _pledge_for_payment_intent(obj.get("id"), obj)
    if pledge is None or pledge.state == "collected":
        return "ignored"
    details = gateway.payment_details(obj["id"])
    if details is not None and details.status == "succeeded":
        return _book_succeeded_payment(pledge, obj["id"], now)  # the failure was retried and won since
    error = obj.get("last_payment_error") or {}
    pledge.last_error = (error.get("code") or error.get("decline_code") or "payment_failed")[:200]
    if pledge.stripe_payment_intent_id is None:
        pledge.stripe_payment_intent_id = obj["id"]
    # The charging job owns errored/fix_deadline: a webhook never opens a second fix window.
    db.session.flush()
    return "noted"


def _setup_intent_succeeded(obj: dict, now: datetime, after: list) -> str:
    pledge = _pledge_by_metadata(obj)
    if pledge is None and obj.get("id"):
        pledge = db.session.execute(db.select(Pledge).where(
            Pledge.stripe_setup_intent_id == obj["id"])).scalar_one_or_none()
    if pledge is None or pledge.state != "pending":
        return "ignored"
    from crowdfund.pledges.services import complete_pledge

    pledge = db.session.get(Pledge, pledge.id, options=[selectinload(Pledge.campaign)], populate_existing=True)
    try:
        complete_pledge(pledge, now)
    except DomainError as error:  # the campaign closed meanwhile, or Stripe says the card is not confirmed
        current_app.logger.info("setup_intent.succeeded for pledge %s not applied: %s", pledge.id, error.message)
        return "ignored"
    return "completed"


def _charge_refunded(obj: dict, now: datetime, after: list) -> str:
    payment_intent_id = _intent_id(obj.get("payment_intent"))
    if not payment_intent_id and obj.get("id"):
        payment_intent_id = gateway.payment_intent_of_charge(obj["id"])
    pledge = _pledge_for_payment_intent(payment_intent_id, obj)
    if pledge is None:
        return "ignored"
    campaign = db.session.get(Campaign, pledge.campaign_id)
    if not ledger.pledge_balance(pledge.id)[0]:
        _book_succeeded_payment(pledge, payment_intent_id, now)  # the refund overtook the success event
    return "booked" if book_stripe_refunds(pledge, campaign, payment_intent_id) else "known"


def _dispute_created(obj: dict, now: datetime, after: list) -> str:
    payment_intent_id = _intent_id(obj.get("payment_intent"))
    if not payment_intent_id and obj.get("charge"):
        payment_intent_id = gateway.payment_intent_of_charge(_intent_id(obj["charge"]))
    pledge = _pledge_for_payment_intent(payment_intent_id, obj)
    if pledge is None:
        return "ignored"
    campaign = db.session.get(Campaign, pledge.campaign_id)
    if not ledger.pledge_balance(pledge.id)[0]:
        _book_succeeded_payment(pledge, payment_intent_id, now)
    pledge.disputed = True
    # The dispute takes back at most what is still held (a refunded part cannot be disputed again).
    amount = min(int(obj.get("amount") or 0), refundable_amount(pledge.id))
    if amount > 0:
        ledger.book(campaign.id, "dispute", amount, campaign.currency, pledge.id, obj["id"],
                    note=str(obj.get("reason") or ""))
    record_action(None, "disputed", campaign, str(obj.get("reason") or ""),
                  details={"pledge_id": pledge.id, "amount": amount, "dispute_id": obj["id"]})
    db.session.flush()
    after.append(lambda pledge_id=pledge.id: _tell_moderators_of_dispute(pledge_id, obj))
    return "disputed"


def _tell_moderators_of_dispute(pledge_id: int, dispute: dict) -> None:
    from crowdfund.accounts.models import User
    from crowdfund.notifications.services import queue_email
    from crowdfund.settlement.charging import public_url

    pledge = db.session.get(Pledge, pledge_id)
    campaign = db.session.get(Campaign, pledge.campaign_id)
    context = {"title": campaign.title, "pledge_id": pledge.id, "reason": str(dispute.get("reason") or ""),
               "amount": money.format_money(int(dispute.get("amount") or 0), campaign.currency),
               "link": public_url("moderation.review", campaign_id=campaign.id)}
    moderators = db.session.execute(db.select(User.email).where(User.role.in_(("moderator", "admin")))).scalars()
    for email in list(moderators):
        try:
            queue_email(email, _("Payment disputed on %(title)s", title=campaign.title), "pledge_disputed", **context)
        except Exception:  # the dispute is recorded; a lost email must not make Stripe resend the event
            current_app.logger.exception("Could not email %s about dispute %s", email, dispute.get("id"))


def _account_updated(obj: dict, now: datetime, after: list) -> str:
    """A founder's Connect account changed: re-read it from Stripe into their PayoutAccount."""
    from crowdfund.payouts.accounts import account_updated

    return account_updated(obj.get("id"), now)


HANDLERS = {
    "account.updated": _account_updated,
    "payment_intent.succeeded": _payment_intent_succeeded,
    "payment_intent.payment_failed": _payment_intent_failed,
    "setup_intent.succeeded": _setup_intent_succeeded,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}


def handle_event(event: dict, now: datetime) -> str:
    """Apply a verified event once; returns what happened ("duplicate", "ignored", "recorded", …).

    The event id and the effect commit together; a replay returns "duplicate" and changes nothing.
    An unknown type is stored and ignored. A GatewayError (Stripe unreachable while reading an
    object back) rolls everything back, the event included, so Stripe's retry applies it later."""
    event_id, event_type = event.get("id"), event.get("type") or ""
    if not event_id:
        raise ValueError("The event has no id.")
    if db.session.get(StripeEvent, event_id) is not None:
        return "duplicate"
    # A plain INSERT, not a savepoint: it must open the transaction (pysqlite does not BEGIN before a
    # SAVEPOINT, and releasing that savepoint would commit the event before its effect).
    db.session.add(StripeEvent(id=event_id, type=event_type[:100], received_at=now))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()  # delivered twice at once: the other delivery has it
        return "duplicate"
    handler = HANDLERS.get(event_type)
    after: list = []  # emails, sent once the event's transaction has committed (never for a replay)
    try:
        outcome = handler(event.get("data", {}).get("object") or {}, now, after) if handler else "ignored"
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if db.session.get(StripeEvent, event_id) is not None:
            return "duplicate"
        raise
    except Exception:
        db.session.rollback()
        raise
    for action in after:
        action()
    return outcome
