"""The daily part of crowdfund/credit in the periodic job (crowdfund/ticker.py)."""
from datetime import datetime, time

from sqlalchemy import or_

from crowdfund.campaigns.models import Campaign
from crowdfund.credit.models import CreditProfile
from crowdfund.credit.services import recompute_profile
from crowdfund.extensions import db

# Founders recomputed per tick at most (the rest on the next ticks), so one tick stays short.
DAILY_BATCH = 500


def due_today(now: datetime, limit: int = DAILY_BATCH) -> list[int]:
    """Founders (a launched campaign) whose profile is missing or was computed before today (UTC)."""
    midnight = datetime.combine(now.date(), time())
    return list(db.session.execute(
        db.select(Campaign.founder_id).distinct()
        .outerjoin(CreditProfile, CreditProfile.user_id == Campaign.founder_id)
        .where(Campaign.launched_at.is_not(None),
               or_(CreditProfile.user_id.is_(None), CreditProfile.computed_at < midnight))
        .order_by(Campaign.founder_id).limit(limit)).scalars())


def run_daily(now: datetime) -> None:
    """Recompute what changes with time alone (account age, milestones becoming overdue, a growing
    silence), at most once per UTC day per founder; called on every tick, it writes nothing when
    every profile was computed today. Flushes."""
    for founder_id in due_today(now):
        recompute_profile(founder_id, now, touch=True)
