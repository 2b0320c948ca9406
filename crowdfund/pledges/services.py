"""Pledge totals and state changes the campaign lifecycle needs. Functions flush; callers commit."""
from sqlalchemy import func, update

from crowdfund.extensions import db
from crowdfund.pledges.models import COUNTING_STATES, Pledge


def pledged_totals(campaign_ids) -> dict[int, tuple[int, int]]:
    """campaign id -> (pledged amount, number of backers), in one query for all ids."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        db.select(Pledge.campaign_id, func.coalesce(func.sum(Pledge.amount), 0),
                  func.count(func.distinct(Pledge.backer_id)))
        .where(Pledge.campaign_id.in_(ids), Pledge.state.in_(COUNTING_STATES))
        .group_by(Pledge.campaign_id))
    return {campaign_id: (int(total), int(backers)) for campaign_id, total, backers in rows}


def void_open_pledges(campaign) -> int:
    """Mark every pledge not yet charged as void (the campaign failed or was stopped)."""
    result = db.session.execute(
        update(Pledge).where(Pledge.campaign_id == campaign.id, Pledge.state.in_(("pending", "active")))
        .values(state="void").execution_options(synchronize_session=False))
    db.session.flush()
    return result.rowcount


def backed_campaign_count(user_id: int) -> int:
    return db.session.execute(
        db.select(func.count(func.distinct(Pledge.campaign_id)))
        .where(Pledge.backer_id == user_id, Pledge.state.in_(COUNTING_STATES))).scalar_one()
