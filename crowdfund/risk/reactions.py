"""Outbox observers of crowdfund/risk: what it recomputes when a domain event is delivered
(crowdfund.outbox.observes). Imported by the app factory, which registers them."""
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.outbox import observes
from crowdfund.pledges.models import Pledge
from crowdfund.updates.models import Update

EVENTS = ("campaign.submitted", "campaign.launched", "campaign.succeeded", "pledge.completed",
          "pledge.collected", "pledge.refunded", "pledge.disputed", "update.posted", "update.requested",
          "report.created", "receipt.marked", "release.requested", "release.approved")


def campaign_of(payload: dict) -> int | None:
    """The campaign an event is about: its campaign_id, or that of its pledge or update."""
    if payload.get("campaign_id") is not None:
        return int(payload["campaign_id"])
    if payload.get("pledge_id") is not None:
        return db.session.scalar(db.select(Pledge.campaign_id).where(Pledge.id == int(payload["pledge_id"])))
    if payload.get("update_id") is not None:
        return db.session.scalar(db.select(Update.campaign_id).where(Update.id == int(payload["update_id"])))
    return None


@observes(*EVENTS)
def reassess(kind: str, payload: dict) -> None:
    """Assess the event's campaign again (idempotent: the assessment is recomputed from the database)."""
    from crowdfund.campaigns.models import Campaign
    from crowdfund.risk.assessment import assess

    campaign_id = campaign_of(payload)
    if campaign_id is None or db.session.get(Campaign, campaign_id) is None:
        return
    assess(campaign_id, utcnow())
