"""The daily part of crowdfund/risk in the periodic job (crowdfund/ticker.py)."""
from datetime import datetime, time

from crowdfund.campaigns.models import Campaign, Milestone
from crowdfund.extensions import db
from crowdfund.risk.models import RiskAssessment

REVIEWED_STATES = ("in_review", "approved", "live")
BATCH = 200  # campaigns per tick; the next tick takes the rest


def due_campaigns(now: datetime, limit: int = BATCH) -> list[int]:
    """Campaigns still open to risk (in review, live, successful with open milestones) not assessed
    since the start of this UTC day."""
    day_start = datetime.combine(now.date(), time.min)
    open_milestone = db.select(Milestone.id).where(Milestone.campaign_id == Campaign.id,
                                                   Milestone.status != "completed").exists()
    query = (db.select(Campaign.id).outerjoin(RiskAssessment, RiskAssessment.campaign_id == Campaign.id)
             .where(db.or_(Campaign.state.in_(REVIEWED_STATES), db.and_(Campaign.state == "successful", open_milestone)),
                    db.or_(RiskAssessment.campaign_id.is_(None), RiskAssessment.computed_at < day_start))
             .order_by(Campaign.id).limit(limit))
    return list(db.session.execute(query).scalars())


def run_daily(now: datetime) -> None:
    """Reassess each campaign still open to risk once per UTC day (time alone raises silence and
    overdue milestones), then the moderators' digest. Called on every tick; writes nothing when every
    such campaign was assessed today. Flushes."""
    from crowdfund.risk.assessment import assess, settings_from_config
    from crowdfund.risk.holds import send_digest_if_due

    campaign_ids = due_campaigns(now)
    if campaign_ids:
        settings = settings_from_config()
        for campaign_id in campaign_ids:
            assess(campaign_id, now, settings)
    send_digest_if_due(now)
