"""Giving money back: one pledge in full or in part (a moderator's decision), or every pledge of a
campaign that stopped after money was collected. COMMITS; Stripe is called only between commits.

A refund is never made twice and never exceeds what was collected:
1. no transaction open: the refunds Stripe already made of the PaymentIntent are read (a crash after
   an earlier call, a refund made in Stripe's dashboard);
2. a short transaction that locks the pledge's row (a plain UPDATE, which PostgreSQL and SQLite both
   serialise) books those refunds, settles earlier claims they answer, computes what remains —
   collected less refunded, disputed and still-open claims — and inserts a RefundAttempt claim for
   the amount: COMMITTED, which releases the lock;
3. the Stripe refund, no transaction open, with the idempotency key pledge-P-refund-N;
4. a short transaction books the refund in the ledger under Stripe's refund id, closes the claim,
   writes the audit entry and the outbox event that emails the backer: COMMITTED.
A claim whose call failed for an unknown reason stays open (counted as spent) until step 2 of a
later refund, or resolve_open_refunds, finds it at Stripe — booked — or, after STALE_CLAIM, not."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError

from crowdfund import money
from crowdfund.campaigns.models import Campaign
from crowdfund.errors import DomainError, NotAllowed, ValidationFailed
from crowdfund.extensions import db
from crowdfund.moderation.services import record_action
from crowdfund.payments import gateway, ledger
from crowdfund.outbox import emit
from crowdfund.payments.models import RefundAttempt
from crowdfund.pledges.models import Pledge
from crowdfund.pledges.services import transition_where


# Campaign states in which every pledge is voided and all collected money given back.
STOPPED_STATES = ("cancelled", "suspended")
# Refund claims whose outcome is not known yet: counted as spent.
OPEN_REFUNDS = ("claimed", "unknown")
# A claim older than this was left by a process that died mid-call: looked up, not trusted.
STALE_CLAIM = timedelta(minutes=10)


class RefundFailed(DomainError):
    """Stripe could not make the refund; nothing was refunded and it can be tried again."""

    status_code = 502


@dataclass
class CampaignRefunds:
    """What refund_campaign did: pledges refunded, the amount, and the pledges still to retry."""

    refunded: int = 0
    amount: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)


def refundable_amount(pledge_id: int) -> int:
    """Collected less refunded and disputed, from the ledger (≥ 0)."""
    collected, refunded = ledger.pledge_balance(pledge_id)
    return max(collected - refunded, 0)


def check_refund_amount(pledge_id: int, amount: int, currency: str) -> int:
    """Raise ValidationFailed unless 1 ≤ amount ≤ what may still be refunded; returns that remainder."""
    remaining = refundable_amount(pledge_id)
    if remaining <= 0:
        raise ValidationFailed(_("Nothing of this pledge is left to refund."))
    if not isinstance(amount, int) or not 1 <= amount <= remaining:
        raise ValidationFailed(_("The refund must be between %(low)s and %(high)s.",
                                 low=money.format_money(1, currency), high=money.format_money(remaining, currency)))
    return remaining


def book_stripe_refunds(pledge: Pledge, campaign: Campaign, payment_intent_id: str | None = None,
                        known_refunds: list | None = None) -> int:
    """Book every succeeded Stripe refund of the pledge's PaymentIntent that the ledger lacks
    (keyed on the refund id, so never twice): known_refunds as read from Stripe before the
    transaction, or (None) read now. Flushes; returns the number of rows booked."""
    payment_intent_id = payment_intent_id or pledge.stripe_payment_intent_id
    if not payment_intent_id:
        return 0
    booked = 0
    for refund in gateway.refunds_of(payment_intent_id) if known_refunds is None else known_refunds:
        if refund.status not in ("succeeded", "pending") or refund.amount <= 0:
            continue
        if ledger.book(campaign.id, "refund", refund.amount, campaign.currency, pledge.id, refund.id,
                       note=_("Refund found at Stripe")) is not None:
            booked += 1
    return booked


def _lock(pledge_id: int) -> None:
    # A write on the pledge's row: a second refund of the same pledge waits here until the first has
    # committed its claim, then reads the claims with the first one in it. No Stripe call is made while
    # it is held. (Setting a column to itself changes nothing but takes the row lock.)
    db.session.execute(update(Pledge).where(Pledge.id == pledge_id).values(disputed=Pledge.disputed)
                       .execution_options(synchronize_session=False))


def _open_claims(pledge_id: int) -> int:
    return db.session.execute(db.select(func.coalesce(func.sum(RefundAttempt.amount), 0)).where(
        RefundAttempt.pledge_id == pledge_id, RefundAttempt.status.in_(OPEN_REFUNDS))).scalar_one()


def _settle_claims(pledge_id: int, known: list, now: datetime) -> None:
    """Close open claims that Stripe answered (a refund with their number in its metadata) and stale
    ones it never made. Flushes."""
    made = {str(r.metadata.get("refund")): r for r in known if r.status in ("succeeded", "pending")}
    for attempt in db.session.execute(db.select(RefundAttempt).where(
            RefundAttempt.pledge_id == pledge_id, RefundAttempt.status.in_(OPEN_REFUNDS))).scalars():
        refund = made.get(str(attempt.number))
        if refund is not None:
            attempt.status, attempt.stripe_refund_id, attempt.finished_at = "succeeded", refund.id, now
        elif attempt.status == "unknown" or attempt.created_at <= now - STALE_CLAIM:
            attempt.status, attempt.finished_at = "failed", now
    db.session.flush()


def _claim(pledge: Pledge, campaign: Campaign, amount: int | None, known: list, now: datetime):
    """Step 2: (number, amount) of the claimed refund, COMMITTED; (None, 0) when nothing is left."""
    _lock(pledge.id)
    book_stripe_refunds(pledge, campaign, known_refunds=known)
    _settle_claims(pledge.id, known, now)
    remaining = refundable_amount(pledge.id) - _open_claims(pledge.id)
    if amount is None:
        amount = remaining
        if amount <= 0:
            _void_if_stopped(pledge, campaign)
            db.session.commit()  # keeps refunds found at Stripe
            return None, 0
    if remaining <= 0:
        db.session.rollback()
        raise ValidationFailed(_("Nothing of this pledge is left to refund."))
    if not isinstance(amount, int) or not 1 <= amount <= remaining:
        db.session.rollback()
        raise ValidationFailed(_("The refund must be between %(low)s and %(high)s.",
                                 low=money.format_money(1, campaign.currency),
                                 high=money.format_money(remaining, campaign.currency)))
    number = db.session.execute(db.select(func.coalesce(func.max(RefundAttempt.number), 0)).where(
        RefundAttempt.pledge_id == pledge.id)).scalar_one() + 1
    db.session.add(RefundAttempt(pledge_id=pledge.id, number=number, amount=amount, status="claimed", created_at=now))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise RefundFailed(_("Another refund of this pledge is being made; try again in a minute.")) from None
    return number, amount


def _refund(pledge: Pledge, campaign: Campaign, amount: int | None, reason: str, actor, now: datetime) -> int:
    """Refund amount (None: all that remains) of pledge; COMMITS. Returns the amount refunded (0: nothing left)."""
    pledge_id, payment_intent_id = pledge.id, pledge.stripe_payment_intent_id
    campaign_id = campaign.id
    db.session.commit()  # step 1 runs with no transaction open
    try:
        known = gateway.refunds_of(payment_intent_id) if payment_intent_id else []
    except gateway.GatewayError as error:
        raise RefundFailed(_("Stripe could not be asked about this pledge (%(error)s). Nothing was refunded; "
                             "try again later.", error=str(error))) from error
    pledge = db.session.get(Pledge, pledge_id)
    if not pledge.stripe_payment_intent_id and amount is not None:
        check_refund_amount(pledge_id, amount, campaign.currency)
        raise RefundFailed(_("This pledge has no Stripe payment to refund."))
    number, amount = _claim(pledge, campaign, amount, known, now)
    if number is None:
        return 0
    if not payment_intent_id:
        _close_claim(pledge_id, number, "failed", None, now)
        raise RefundFailed(_("This pledge has no Stripe payment to refund."))
    try:
        refund_id = gateway.refund(payment_intent_id, amount, f"pledge-{pledge_id}-refund-{number}",
                                   {"pledge_id": str(pledge_id), "campaign_id": str(campaign_id),
                                    "refund": str(number)})
    except gateway.GatewayError as error:
        # Refused or unreachable: we cannot tell whether Stripe made it, so the claim stays open (and
        # counted) until the next refund or resolve_open_refunds looks it up.
        _close_claim(pledge_id, number, "unknown", None, now)
        raise RefundFailed(_("Stripe did not make the refund (%(error)s). Nothing was refunded; try again later.",
                             error=str(error))) from error
    actor_id = actor.id if actor is not None else None
    ledger.book(campaign.id, "refund", amount, campaign.currency, pledge_id, refund_id, note=reason, actor_id=actor_id)
    _close_claim(pledge_id, number, "succeeded", refund_id, now, commit=False)
    record_action(actor, "refunded", campaign, reason,
                  details={"pledge_id": pledge_id, "amount": amount, "refund_id": refund_id})
    if refundable_amount(pledge_id) == 0:
        _void_if_stopped(db.session.get(Pledge, pledge_id), campaign)
    emit("pledge.refunded", now=now, pledge_id=pledge_id, amount=amount, reason=reason)
    db.session.commit()
    return amount


def _close_claim(pledge_id: int, number: int, status: str, refund_id: str | None, now: datetime,
                 commit: bool = True) -> None:
    db.session.execute(update(RefundAttempt).where(
        RefundAttempt.pledge_id == pledge_id, RefundAttempt.number == number).values(
        status=status, stripe_refund_id=refund_id, finished_at=now).execution_options(synchronize_session=False))
    if commit:
        db.session.commit()


def _void_if_stopped(pledge: Pledge, campaign: Campaign) -> None:
    # A campaign that stopped voids its pledges; a collected one only once all its money is back.
    if campaign.state in STOPPED_STATES:
        transition_where("void", Pledge.id == pledge.id, from_states=("collected",))
        db.session.flush()


def resolve_open_refunds(now: datetime) -> int:
    """Settle refund claims left open (unknown, or claimed longer than STALE_CLAIM ago) against Stripe:
    found → booked; not found after STALE_CLAIM → failed, so the money may be refunded again. COMMITS."""
    pledge_ids = db.session.execute(db.select(RefundAttempt.pledge_id).where(
        RefundAttempt.status.in_(OPEN_REFUNDS), RefundAttempt.created_at <= now - STALE_CLAIM).distinct()).scalars().all()
    db.session.commit()
    for pledge_id in pledge_ids:
        pledge = db.session.get(Pledge, pledge_id)
        payment_intent_id = pledge.stripe_payment_intent_id
        db.session.commit()
        try:
            known = gateway.refunds_of(payment_intent_id) if payment_intent_id else []
        except gateway.GatewayError:
            continue
        pledge = db.session.get(Pledge, pledge_id)
        _lock(pledge_id)
        book_stripe_refunds(pledge, db.session.get(Campaign, pledge.campaign_id), known_refunds=known)
        _settle_claims(pledge_id, known, now)
        db.session.commit()
    return len(pledge_ids)


def refund_pledge(pledge: Pledge, amount: int, reason: str, actor, now: datetime) -> int:
    """A moderator gives back amount (minor units, 1 up to collected − refunded) of a pledge, with a reason.

    Refused with NotAllowed (not a moderator) or ValidationFailed (no reason, amount out of range);
    RefundFailed when Stripe fails, with nothing refunded. On success the refund is booked in the
    ledger under Stripe's refund id, audit-logged and mailed to the backer. Commits."""
    if actor is None or not actor.is_moderator:
        raise NotAllowed(_("Only moderators can refund pledges."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Give a reason for the refund."))
    campaign = db.session.get(Campaign, pledge.campaign_id)
    check_refund_amount(pledge.id, amount, campaign.currency)  # early and clear; checked again under the lock
    return _refund(pledge, campaign, amount, reason, actor, now)


def money_to_refund(campaign: Campaign) -> int:
    """What the platform still holds for the campaign (collected − refunds − disputes)."""
    return ledger.money_totals([campaign.id]).get(campaign.id, ledger.MoneyTotals()).net


def refund_campaign(campaign: Campaign, actor, reason: str, now: datetime) -> CampaignRefunds:
    """Refund what remains of every collected pledge of the campaign.

    Commits whatever the caller changed first (the campaign's stop), then refunds pledge by pledge,
    each in its own transaction: a Stripe failure is reported in .failed and leaves that pledge
    as it was, so running this again finishes the job and never refunds twice. actor None is the
    system; otherwise a moderator, or the founder of a cancelled campaign."""
    if actor is not None and not actor.is_moderator and not (
            actor.id == campaign.founder_id and campaign.state == "cancelled"):
        raise NotAllowed(_("Only moderators can refund a campaign."))
    reason = (reason or "").strip() or _("The campaign was stopped.")
    db.session.commit()
    outcome = CampaignRefunds()
    for pledge in ledger.pledges_with_money(campaign.id):
        try:
            amount = _refund(pledge, campaign, None, reason, actor, now)
        except (RefundFailed, ValidationFailed) as error:
            outcome.failed.append((pledge.id, error.message))
            current_app.logger.warning("Refund of pledge %s failed: %s", pledge.id, error.message)
            continue
        if amount:
            outcome.refunded += 1
            outcome.amount += amount
    return outcome
