"""The daily part of crowdfund/credit in the periodic job (crowdfund/ticker.py)."""
from datetime import datetime, time

from crowdfund.credit.models import CreditProfile
from crowdfund.credit.services import recompute_profile
from crowdfund.extensions import db

# Founders recomputed per tick at most (the rest on the next ticks), so one tick stays short.
DAILY_BATCH = 500


def due_today(now: datetime, limit: int = DAILY_BATCH) -> list[int]:
    """Founders whose profile was computed before today (UTC). A founder gets a profile from the
    first event about them (or `credit rebuild`), so the job never creates one: a tick on data
    that no event touched writes nothing."""
    midnight = datetime.combine(now.date(), time())
    return list(db.session.execute(
        db.select(CreditProfile.user_id).where(CreditProfile.computed_at < midnight)
        .order_by(CreditProfile.user_id).limit(limit)).scalars())


def run_daily(now: datetime) -> None:
    """Recompute what changes with time alone (account age, milestones becoming overdue, a growing
    silence), at most once per UTC day per founder; called on every tick, it writes nothing when
    every profile was computed today. Flushes."""
    for founder_id in due_today(now):
        recompute_profile(founder_id, now, touch=True)
