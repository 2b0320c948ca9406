"""Posting updates and deciding who may read them. Backers-only text reaches backers (pledges
that count: active, collected, errored) and the founder and moderators; nobody else, on any page,
in the feed or anywhere else that goes through `readable_by`."""
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import exists

from crowdfund.campaigns.models import Campaign
from crowdfund.errors import NotAllowed
from crowdfund.extensions import db
from crowdfund.pledges.models import COUNTING_STATES, Pledge
from crowdfund.updates.models import VISIBILITIES, Update

# Campaigns whose founder can post: once launched (during the campaign and after it).
POSTING_STATES = ("live", "successful", "failed")


def is_backer(user, campaign: Campaign) -> bool:
    if user is None or not user.is_authenticated:
        return False
    return db.session.execute(db.select(exists().where(
        Pledge.campaign_id == campaign.id, Pledge.backer_id == user.id,
        Pledge.state.in_(COUNTING_STATES)))).scalar()


def reads_backer_updates(user, campaign: Campaign) -> bool:
    """Whether this user may read the campaign's backers-only updates."""
    if user is None or not user.is_authenticated:
        return False
    return user.id == campaign.founder_id or user.is_moderator or is_backer(user, campaign)


def updates_of(campaign: Campaign) -> list[Update]:
    """Every update of the campaign, newest first (the caller decides what each viewer sees of them)."""
    return list(db.session.execute(
        db.select(Update).where(Update.campaign_id == campaign.id)
        .order_by(Update.created_at.desc(), Update.id.desc())).scalars())


def public_updates_of(campaign: Campaign, limit: int = 50) -> list[Update]:
    return list(db.session.execute(
        db.select(Update).where(Update.campaign_id == campaign.id, Update.visibility == "public")
        .order_by(Update.created_at.desc(), Update.id.desc()).limit(limit)).scalars())


def last_update_times(campaign_ids) -> dict[int, datetime]:
    """campaign id -> when its latest update (of any visibility) was posted, in one query."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        db.select(Update.campaign_id, db.func.max(Update.created_at))
        .where(Update.campaign_id.in_(ids)).group_by(Update.campaign_id))
    return {campaign_id: latest for campaign_id, latest in rows}


def post_update(campaign: Campaign, author, title: str, body: str, visibility: str) -> Update:
    if author.id != campaign.founder_id:
        raise NotAllowed(_("Only the campaign's founder can post updates."))
    if campaign.state not in POSTING_STATES:
        raise NotAllowed(_("Updates can be posted once the campaign has launched."))
    if visibility not in VISIBILITIES:
        raise NotAllowed(_("Choose who can read the update."))
    update = Update(campaign_id=campaign.id, author_id=author.id, title=title.strip(), body=body,
                    visibility=visibility)
    db.session.add(update)
    db.session.flush()
    return update
