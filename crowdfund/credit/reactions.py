"""Outbox observers of crowdfund/credit: what it recomputes when a domain event is delivered
(crowdfund.outbox.observes). Imported by the app factory, which registers them.

Every event that can change a founder's scorecard recomputes that founder's profile (Flushes; the
dispatcher commits). Coalescing: when another event about the same founder is still waiting to be
delivered (due, not yet claimed by a dispatcher), this one skips the recompute — that later
delivery starts after this event's transaction committed, so its recompute sees this change too.
At a deadline, hundreds of pledge.collected events of one campaign then cost one recompute, not
hundreds. (Comparing the profile's computed_at with the event's created_at would not be safe: an
event's created_at is the `now` its job started with, possibly before an earlier recompute that
could not see the still-uncommitted change.)"""
from collections.abc import Iterable

from crowdfund.campaigns.models import Campaign
from crowdfund.campaigns.subjects import KEYS as CAMPAIGN_KEYS, campaign_ids_of
from crowdfund.clock import utcnow
from crowdfund.credit.services import recompute_profile
from crowdfund.extensions import db
from crowdfund.outbox import observes, waiting_payloads

KINDS = (
    "pledge.collected", "pledge.refunded", "pledge.disputed",
    "update.posted", "update.requested",
    "campaign.launched", "campaign.succeeded", "campaign.failed", "campaign.abandoned",
    "campaign.cancelled", "campaign.suspended",
    "release.approved", "release.transferred",
    "report.resolved", "receipt.marked", "tier.shipped",
    "business.checked", "business.declared",
)

STATS = {"recomputed": 0, "coalesced": 0}  # per process, for measuring the coalescing


def founders_of(payloads: Iterable[dict]) -> list[int | None]:
    """The founder each payload is about: its campaign's (named directly or through a pledge, update
    or release), else its user_id; None when it names nothing known. Two queries for any number."""
    payloads = list(payloads)
    campaign_ids = campaign_ids_of(payloads)
    known = {c for c in campaign_ids if c is not None}
    founder_by_campaign = dict(db.session.execute(
        db.select(Campaign.id, Campaign.founder_id).where(Campaign.id.in_(known))).all()) if known else {}
    founders = []
    for payload, campaign_id in zip(payloads, campaign_ids):
        if any(payload.get(key) is not None for key in CAMPAIGN_KEYS):
            founders.append(founder_by_campaign.get(campaign_id))
        else:
            founders.append(payload.get("user_id"))
    return founders


def later_event_waits(founder_id: int, event_id: int) -> bool:
    """Whether a later event about the same founder will be delivered (and see this change)."""
    return founder_id in founders_of(waiting_payloads(event_id, KINDS))


@observes(*KINDS)
def recompute_founder(kind: str, payload: dict) -> None:
    """Recompute the profile of the founder the event is about (unless a later event will)."""
    founder_id = founders_of([payload])[0]
    if founder_id is None:
        return
    event_id = payload.get("_event_id")
    if event_id is not None and later_event_waits(founder_id, event_id):
        STATS["coalesced"] += 1
        return
    recompute_profile(founder_id, utcnow(), touch=False)  # an unchanged profile is not written
    STATS["recomputed"] += 1
