"""Outbox observers of crowdfund/risk: what it recomputes when a domain event is delivered
(crowdfund.outbox.observes). Imported by the app factory, which registers them.

Each event about a campaign reassesses that campaign (Flushes; the dispatcher commits). Coalescing:
when a later event about the same campaign is due and not yet claimed, this one skips the work —
that delivery reassesses from the database, where this event's change is already committed. At a
deadline, hundreds of pledge.collected events of one campaign then cost one assessment."""
import json
from collections.abc import Iterable

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.outbox import OutboxEvent, observes
from crowdfund.payouts.models import Release
from crowdfund.pledges.models import Pledge
from crowdfund.updates.models import Update

EVENTS = ("campaign.submitted", "campaign.launched", "campaign.succeeded", "pledge.completed",
          "pledge.collected", "pledge.refunded", "pledge.disputed", "update.posted", "update.requested",
          "report.created", "receipt.marked", "release.requested", "release.approved")
LOOKAHEAD = 100  # waiting events looked through for a later one about the same campaign
_VIA = {"pledge_id": (Pledge.id, Pledge.campaign_id), "update_id": (Update.id, Update.campaign_id),
        "release_id": (Release.id, Release.campaign_id)}


def campaigns_of(payloads: Iterable[dict]) -> list[int | None]:
    """The campaign each payload is about (its campaign_id, or that of its pledge, update or release);
    one query per kind of id, whatever the number of payloads."""
    payloads = list(payloads)
    maps = {}
    for key, (id_column, campaign_column) in _VIA.items():
        ids = {int(p[key]) for p in payloads if p.get("campaign_id") is None and p.get(key) is not None}
        maps[key] = dict(db.session.execute(db.select(id_column, campaign_column).where(id_column.in_(ids))).all()) \
            if ids else {}
    found = []
    for payload in payloads:
        campaign_id = payload.get("campaign_id")
        for key in _VIA:
            if campaign_id is None and payload.get(key) is not None:
                campaign_id = maps[key].get(int(payload[key]))
        found.append(int(campaign_id) if campaign_id is not None else None)
    return found


def later_event_waits(campaign_id: int, event_id: int | None) -> bool:
    """Whether an event after event_id that this observer handles, about the same campaign, is due,
    not yet claimed by a dispatcher, and never failed."""
    if event_id is None:
        return False
    rows = db.session.execute(
        db.select(OutboxEvent.payload).where(
            OutboxEvent.id > event_id, OutboxEvent.delivered_at.is_(None), OutboxEvent.available_at <= utcnow(),
            OutboxEvent.attempts == 0,  # one that failed before may fail again before its observers run
            OutboxEvent.kind.in_(EVENTS)).order_by(OutboxEvent.id.desc()).limit(LOOKAHEAD)).scalars().all()
    return campaign_id in campaigns_of(json.loads(payload or "{}") for payload in rows)


@observes(*EVENTS)
def reassess(kind: str, payload: dict) -> None:
    """Assess the event's campaign again, unless a later event about it will (idempotent: the
    assessment is recomputed from the database)."""
    from crowdfund.campaigns.models import Campaign
    from crowdfund.risk.assessment import assess

    [campaign_id] = campaigns_of([payload])
    if campaign_id is None or db.session.get(Campaign, campaign_id) is None:
        return
    if later_event_waits(campaign_id, payload.get("_event_id")):
        return
    assess(campaign_id, utcnow())
