"""Outbox observers of crowdfund/risk: what it recomputes when a domain event is delivered
(crowdfund.outbox.observes). Imported by the app factory, which registers them.

Each event about a campaign reassesses that campaign (Flushes; the dispatcher commits). Coalescing:
when a later event about the same campaign is due and not yet claimed, this one skips the work —
that delivery reassesses from the database, where this event's change is already committed. At a
deadline, hundreds of pledge.collected events of one campaign then cost one assessment."""
from crowdfund.campaigns.subjects import campaign_ids_of as campaigns_of
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.outbox import observes, waiting_payloads

EVENTS = ("campaign.submitted", "campaign.launched", "campaign.succeeded", "pledge.completed",
          "pledge.collected", "pledge.refunded", "pledge.disputed", "update.posted", "update.requested",
          "report.created", "receipt.marked", "release.requested", "release.approved")


def later_event_waits(campaign_id: int, event_id: int | None) -> bool:
    """Whether a later event this observer handles, about the same campaign, will be delivered."""
    if event_id is None:
        return False
    return campaign_id in campaigns_of(waiting_payloads(event_id, EVENTS))


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
