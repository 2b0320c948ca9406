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
import json
from collections import defaultdict
from collections.abc import Iterable

from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.credit.services import recompute_profile
from crowdfund.extensions import db
from crowdfund.outbox import OutboxEvent, observes
from crowdfund.payouts.models import Release
from crowdfund.pledges.models import Pledge
from crowdfund.updates.models import Update

KINDS = (
    "pledge.collected", "pledge.refunded", "pledge.disputed",
    "update.posted", "update.requested",
    "campaign.launched", "campaign.succeeded", "campaign.failed", "campaign.abandoned",
    "campaign.cancelled", "campaign.suspended",
    "release.approved", "release.transferred",
    "report.resolved", "receipt.marked", "tier.shipped",
    "business.checked", "business.declared",
)
# How many waiting events a delivery looks through for a later one about the same founder.
LOOKAHEAD = 100

STATS = {"recomputed": 0, "coalesced": 0}  # per process, for measuring the coalescing


def founders_of(payloads: Iterable[dict]) -> list[int | None]:
    """The founder each payload is about (user_id, campaign_id, release_id, pledge_id or update_id),
    None when it names nothing known; a fixed number of queries for any number of payloads."""
    payloads = list(payloads)
    wanted = defaultdict(set)
    for payload in payloads:
        for key in ("campaign_id", "release_id", "pledge_id", "update_id"):
            if payload.get(key) is not None:
                wanted[key].add(payload[key])
    via = {"campaign_id": _map(Campaign.id, Campaign.id, wanted["campaign_id"]),
           "release_id": _map(Release.id, Release.campaign_id, wanted["release_id"]),
           "pledge_id": _map(Pledge.id, Pledge.campaign_id, wanted["pledge_id"]),
           "update_id": _map(Update.id, Update.campaign_id, wanted["update_id"])}
    campaign_ids = {c for mapping in via.values() for c in mapping.values()}
    founder_by_campaign = _map(Campaign.id, Campaign.founder_id, campaign_ids)
    result = []
    for payload in payloads:
        founder = None
        if payload.get("user_id") is not None and not any(payload.get(k) is not None for k in via):
            founder = payload["user_id"]
        for key, mapping in via.items():
            if founder is None and payload.get(key) in mapping:
                founder = founder_by_campaign.get(mapping[payload[key]])
        result.append(founder)
    return result


def _map(key_column, value_column, keys: set) -> dict:
    if not keys:
        return {}
    return dict(db.session.execute(db.select(key_column, value_column).where(key_column.in_(keys))).all())


def later_event_waits(founder_id: int, event_id: int) -> bool:
    """Whether an event after event_id about the same founder is due and not yet claimed. One that
    failed before is not relied on (its handler may keep failing, and observers run after it)."""
    rows = db.session.execute(
        db.select(OutboxEvent.payload).where(
            OutboxEvent.id > event_id, OutboxEvent.delivered_at.is_(None), OutboxEvent.available_at <= utcnow(),
            OutboxEvent.last_error.is_(None), OutboxEvent.kind.in_(KINDS))
        .order_by(OutboxEvent.id.desc()).limit(LOOKAHEAD)).scalars().all()
    return founder_id in founders_of(json.loads(payload or "{}") for payload in rows)


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
