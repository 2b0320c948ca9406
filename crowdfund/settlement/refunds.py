"""Giving money back: one pledge in full or in part (a moderator's decision), or every pledge of a
campaign that stopped after money was collected.

A refund is never made twice and never exceeds what was collected: the pledge's row is locked
(a plain UPDATE, which PostgreSQL and SQLite both serialise) while the ledger is read, Stripe is
called and the refund row is booked, all in one transaction. Refunds Stripe made that the ledger
does not know yet (a crash after the call, a refund made in Stripe's dashboard) are booked first,
so what remains is always counted from Stripe's side as well."""
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, update

from crowdfund import money
from crowdfund.campaigns.models import Campaign
from crowdfund.errors import DomainError, NotAllowed, ValidationFailed
from crowdfund.extensions import db
from crowdfund.moderation.services import record_action
from crowdfund.payments import gateway, ledger
from crowdfund.payments.models import LedgerEntry
from crowdfund.pledges.models import Pledge


# Campaign states in which every pledge is voided and all collected money given back.
STOPPED_STATES = ("cancelled", "suspended")


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


def book_stripe_refunds(pledge: Pledge, campaign: Campaign, payment_intent_id: str | None = None) -> int:
    """Book every succeeded Stripe refund of the pledge's PaymentIntent that the ledger lacks
    (keyed on the refund id, so never twice). Flushes; returns the number of rows booked."""
    payment_intent_id = payment_intent_id or pledge.stripe_payment_intent_id
    if not payment_intent_id:
        return 0
    booked = 0
    for refund in gateway.refunds_of(payment_intent_id):
        if refund.status not in ("succeeded", "pending") or refund.amount <= 0:
            continue
        if ledger.book(campaign.id, "refund", refund.amount, campaign.currency, pledge.id, refund.id,
                       note=_("Refund found at Stripe")) is not None:
            booked += 1
    return booked


def _lock(pledge: Pledge) -> None:
    # A write on the pledge's row: a second refund of the same pledge waits here until the first commits,
    # then reads the ledger with the first refund in it.
    # (Setting a column to itself changes nothing but takes the row lock.)
    db.session.execute(update(Pledge).where(Pledge.id == pledge.id).values(disputed=Pledge.disputed)
                       .execution_options(synchronize_session=False))


def _refund(pledge: Pledge, campaign: Campaign, amount: int | None, reason: str, actor, now: datetime) -> int:
    """Refund amount (None: all that remains) of pledge; commits. Returns the amount refunded (0: nothing left)."""
    _lock(pledge)
    try:
        book_stripe_refunds(pledge, campaign)
    except gateway.GatewayError as error:
        db.session.rollback()
        raise RefundFailed(_("Stripe could not be asked about this pledge (%(error)s). Nothing was refunded; "
                             "try again later.", error=str(error))) from error
    if amount is None:
        amount = refundable_amount(pledge.id)
        if amount <= 0:
            _void_if_stopped(pledge, campaign)
            db.session.commit()  # keeps refunds found at Stripe
            return 0
    try:
        check_refund_amount(pledge.id, amount, campaign.currency)
    except ValidationFailed:
        db.session.rollback()
        raise
    if not pledge.stripe_payment_intent_id:
        db.session.rollback()
        raise RefundFailed(_("This pledge has no Stripe payment to refund."))
    number = db.session.execute(db.select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.pledge_id == pledge.id, LedgerEntry.kind == "refund")).scalar_one() + 1
    try:
        refund_id = gateway.refund(pledge.stripe_payment_intent_id, amount, f"pledge-{pledge.id}-refund-{number}",
                                   {"pledge_id": str(pledge.id), "campaign_id": str(campaign.id),
                                    "refund": str(number)})
    except gateway.GatewayError as error:
        db.session.rollback()
        raise RefundFailed(_("Stripe did not make the refund (%(error)s). Nothing was refunded; try again later.",
                             error=str(error))) from error
    actor_id = actor.id if actor is not None else None
    ledger.book(campaign.id, "refund", amount, campaign.currency, pledge.id, refund_id, note=reason, actor_id=actor_id)
    record_action(actor, "refunded", campaign, reason,
                  details={"pledge_id": pledge.id, "amount": amount, "refund_id": refund_id})
    if refundable_amount(pledge.id) == 0:
        _void_if_stopped(pledge, campaign)
    db.session.commit()
    _tell_backer(pledge, campaign, amount, reason)
    return amount


def _void_if_stopped(pledge: Pledge, campaign: Campaign) -> None:
    # A campaign that stopped voids its pledges; a collected one only once all its money is back.
    if campaign.state in STOPPED_STATES and pledge.state == "collected":
        pledge.state = "void"
        db.session.flush()


def _tell_backer(pledge: Pledge, campaign: Campaign, amount: int, reason: str) -> None:
    from crowdfund.accounts.models import User
    from crowdfund.notifications.services import queue_email
    from crowdfund.settlement.charging import public_url

    backer = db.session.get(User, pledge.backer_id)
    link = public_url("campaigns.show", slug=campaign.slug)
    try:
        queue_email(backer.email, _("Refund from %(title)s", title=campaign.title), "pledge_refunded",
                    name=backer.display_name, title=campaign.title,
                    amount=money.format_money(amount, campaign.currency), reason=reason, link=link)
    except Exception:  # the money is back either way; a lost email must not look like a failed refund
        current_app.logger.exception("Could not email the refund of pledge %s", pledge.id)


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
    db.session.commit()  # a fresh transaction, so the lock below is taken on current data (SQLite WAL)
    return _refund(pledge, campaign, amount, reason, actor, now)


def pledges_with_money(campaign_id: int) -> list[Pledge]:
    """Pledges of the campaign that have a charge in the ledger, oldest first."""
    charged = db.select(LedgerEntry.pledge_id).where(LedgerEntry.campaign_id == campaign_id,
                                                     LedgerEntry.kind == "charge")
    return list(db.session.execute(db.select(Pledge).where(Pledge.id.in_(charged)).order_by(Pledge.id)).scalars())


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
    for pledge in pledges_with_money(campaign.id):
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
