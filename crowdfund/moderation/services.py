"""The audit log and moderator-only actions that are not state transitions."""
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from crowdfund.campaigns.models import Campaign
from crowdfund.errors import IllegalTransition, NotAllowed
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry


def record_action(actor, action: str, campaign: Campaign | None = None, reason: str = "",
                  details: dict | None = None) -> AuditEntry:
    """Append an audit entry (actor None means the system's periodic job)."""
    entry = AuditEntry(actor_id=actor.id if actor is not None else None, action=action,
                       campaign_id=campaign.id if campaign is not None else None,
                       reason=reason or "", details=details or {})
    db.session.add(entry)
    db.session.flush()
    return entry


def require_moderator(user) -> None:
    if not user.is_authenticated or not user.is_moderator:
        raise NotAllowed(_("This page is for moderators."))


def review_queue_query():
    """Campaigns waiting for review, oldest submission first."""
    return (db.select(Campaign).where(Campaign.state == "in_review")
            .options(selectinload(Campaign.founder), selectinload(Campaign.category))
            .order_by(Campaign.submitted_at, Campaign.id))


def audit_log_query(campaign_id: int | None = None):
    query = (db.select(AuditEntry).options(selectinload(AuditEntry.actor), selectinload(AuditEntry.campaign))
             .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()))
    if campaign_id is not None:
        query = query.where(AuditEntry.campaign_id == campaign_id)
    return query


def set_featured(campaign: Campaign, moderator, featured: bool, reason: str = "") -> None:
    """Feature a live campaign on the home page, or stop featuring it; raises IllegalTransition
    when there is nothing to change (not live, or already so)."""
    require_moderator(moderator)
    if featured and campaign.state != "live":
        raise IllegalTransition(_("Only live campaigns can be featured."))
    if campaign.featured == featured:
        raise IllegalTransition(_("This campaign is already featured.") if featured
                                else _("This campaign is not featured."))
    campaign.featured = featured
    record_action(moderator, "featured" if featured else "unfeatured", campaign, reason)
