"""Shipped tiers and reward receipts: a founder marks a tier's rewards sent, a backer says whether
theirs arrived. Flushes only; the routes commit."""
from datetime import date, datetime

from flask_babel import gettext as _

from crowdfund.campaigns.models import Campaign, RewardTier
from crowdfund.credit.models import RECEIPT_STATES, RewardReceipt
from crowdfund.errors import IllegalTransition, ValidationFailed
from crowdfund.extensions import db
from crowdfund.outbox import emit
from crowdfund.pledges.models import Pledge

NOTE_MAX = 500


def mark_tier_shipped(campaign: Campaign, tier: RewardTier, now: datetime) -> bool:
    """Mark a tier of a funded campaign shipped (the caller checked the founder owns it). Flushes;
    False when it was already marked (nothing changes, no second event)."""
    if tier.campaign_id != campaign.id:
        raise ValidationFailed(_("That reward tier is not part of this campaign."))
    if campaign.state != "successful":
        raise IllegalTransition(_("Rewards can be marked shipped once the campaign is funded."))
    if tier.shipped_at is not None:
        return False
    tier.shipped_at = now
    db.session.flush()
    emit("tier.shipped", now=now, campaign_id=campaign.id, tier_id=tier.id)
    return True


def delivery_month_over(estimated: date | None, today: date) -> bool:
    """True once the whole estimated delivery month has passed (the estimate names a month)."""
    if estimated is None:
        return False
    next_month = date(estimated.year + estimated.month // 12, estimated.month % 12 + 1, 1)
    return today >= next_month


def receipt_open(pledge: Pledge, tier: RewardTier | None, now: datetime) -> bool:
    """Whether the pledge's backer may say if their reward arrived: a collected pledge with a reward
    tier that is marked shipped or whose estimated delivery month is over."""
    if pledge.state != "collected" or tier is None:
        return False
    return tier.shipped_at is not None or delivery_month_over(tier.estimated_delivery, now.date())


def receipt_of(pledge_id: int) -> RewardReceipt | None:
    return db.session.execute(db.select(RewardReceipt).where(RewardReceipt.pledge_id == pledge_id)).scalar_one_or_none()


def mark_receipt(pledge: Pledge, tier: RewardTier | None, backer, state: str, note: str,
                 now: datetime) -> RewardReceipt:
    """Record (or change) the backer's word on their reward. The caller loaded the pledge for this
    backer; the checks here repeat it. Flushes and emits "receipt.marked"."""
    if pledge.backer_id != backer.id:
        raise ValidationFailed(_("Only the backer of a pledge can say whether its reward arrived."))
    if state not in RECEIPT_STATES:
        raise ValidationFailed(_("Choose whether your reward arrived."))
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed(_("The note is too long."))
    if not receipt_open(pledge, tier, now):
        raise IllegalTransition(_("You can confirm your reward once the founder marks it shipped or its "
                                  "estimated delivery month is over, for a pledge that was charged."))
    receipt = receipt_of(pledge.id)
    if receipt is None:
        receipt = RewardReceipt(pledge_id=pledge.id, campaign_id=pledge.campaign_id)
        db.session.add(receipt)
    elif receipt.state == state and receipt.note == note:
        return receipt
    receipt.state, receipt.note, receipt.marked_at = state, note, now
    db.session.flush()
    emit("receipt.marked", now=now, pledge_id=pledge.id, campaign_id=pledge.campaign_id)
    return receipt


def receipt_counts(campaign_id: int) -> dict[int, dict[str, int]]:
    """{tier_id: {"received": n, "not_received": m}} for the campaign's receipts, in one query."""
    rows = db.session.execute(
        db.select(Pledge.reward_tier_id, RewardReceipt.state, db.func.count(RewardReceipt.id))
        .join(Pledge, Pledge.id == RewardReceipt.pledge_id)
        .where(RewardReceipt.campaign_id == campaign_id)
        .group_by(Pledge.reward_tier_id, RewardReceipt.state))
    counts: dict[int, dict[str, int]] = {}
    for tier_id, state, count in rows:
        counts.setdefault(tier_id, dict.fromkeys(RECEIPT_STATES, 0))[state] = int(count)
    return counts
