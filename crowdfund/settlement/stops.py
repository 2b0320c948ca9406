"""Stopping a live campaign — cancelled by its founder or suspended by a moderator — and giving back
the money it collected. COMMITS: the stop (campaign state, voided pledges, audit entry) first, so it
holds whatever Stripe does; then each collected pledge is refunded in transactions of its own
(settlement.refunds), and a Stripe failure leaves that refund for a retry, never a half-stopped campaign."""
from datetime import datetime

from crowdfund.campaigns import lifecycle
from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.outbox import emit
from crowdfund.settlement.refunds import CampaignRefunds, money_to_refund, refund_campaign


def _refund_collected_money(campaign: Campaign, actor, reason: str, now: datetime) -> CampaignRefunds | None:
    if money_to_refund(campaign) <= 0:
        return None
    return refund_campaign(campaign, actor, reason, now)


def cancel_campaign(campaign: Campaign, founder, reason: str, now: datetime) -> CampaignRefunds | None:
    """The founder cancels their live campaign (lifecycle.cancel), committed; then collected money is
    refunded. Returns the refunds' outcome, None when nothing had been collected."""
    lifecycle.cancel(campaign, founder, reason, now)
    emit("campaign.cancelled", now=now, campaign_id=campaign.id)
    db.session.commit()
    return _refund_collected_money(campaign, founder, reason, now)


def suspend_campaign(campaign: Campaign, moderator, reason: str, now: datetime) -> CampaignRefunds | None:
    """A moderator suspends a live campaign (lifecycle.suspend), committed; then refunds as for cancel."""
    lifecycle.suspend(campaign, moderator, reason, now)
    emit("campaign.suspended", now=now, campaign_id=campaign.id)
    db.session.commit()
    return _refund_collected_money(campaign, moderator, reason, now)
