"""Campaign state changes: one function per transition, each checking who acts and from
which state. A transition is a conditional UPDATE on the current state, so two requests
(or two job runs) racing for the same change cannot both win; the loser gets
IllegalTransition. Functions flush; callers commit."""
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import update

from crowdfund.campaigns.derived import refresh_trending
from crowdfund.campaigns.models import STATE_LABELS, TRANSITIONS, Campaign
from crowdfund.campaigns.services import missing_items
from crowdfund.errors import IllegalTransition, NotAllowed
from crowdfund.extensions import db
from crowdfund.moderation.services import record_action
from crowdfund.outbox import emit
from crowdfund.pledges.services import pledged_totals, void_open_pledges


def transition(campaign: Campaign, to_state: str, **values) -> None:
    """Move campaign to to_state, setting values too; raises IllegalTransition if the
    state machine forbids it or another transaction changed the state first."""
    from_state = campaign.state
    if to_state not in TRANSITIONS.get(from_state, ()):
        raise IllegalTransition(_("A campaign that is %(from_state)s cannot become %(to_state)s.",
                                  from_state=str(STATE_LABELS[from_state]).lower(),
                                  to_state=str(STATE_LABELS[to_state]).lower()))
    result = db.session.execute(
        update(Campaign).where(Campaign.id == campaign.id, Campaign.state == from_state)
        .values(state=to_state, **values).execution_options(synchronize_session="evaluate"))
    if result.rowcount != 1:
        db.session.refresh(campaign, ["state"])
        raise IllegalTransition(_("This campaign changed state in the meantime; reload the page."))
    db.session.flush()


def _require_founder(campaign: Campaign, user) -> None:
    if campaign.founder_id != user.id:
        raise NotAllowed(_("Only the campaign's founder can do this."))


def _require_reviewer(campaign: Campaign, moderator, reason: str) -> str:
    if not moderator.is_moderator:
        raise NotAllowed(_("Only moderators review campaigns."))
    if moderator.id == campaign.founder_id:
        raise NotAllowed(_("You cannot review your own campaign."))
    reason = (reason or "").strip()
    if not reason:
        raise NotAllowed(_("A decision needs a reason."))
    return reason


def submit_for_review(campaign: Campaign, user, now: datetime) -> None:
    """draft/changes_requested → in_review, only when the checklist is complete."""
    _require_founder(campaign, user)
    missing = missing_items(campaign)
    if missing:
        raise IllegalTransition(_("Complete these before submitting: %(items)s.",
                                  items="; ".join(str(item.label) for item in missing)))
    transition(campaign, "in_review", submitted_at=now)
    record_action(user, "submitted", campaign)
    emit("campaign.submitted", now=now, campaign_id=campaign.id)  # the risk review fingerprints the story


def approve(campaign: Campaign, moderator, reason: str) -> None:
    reason = _require_reviewer(campaign, moderator, reason)
    transition(campaign, "approved", review_reason=reason)
    record_action(moderator, "approved", campaign, reason)


def request_changes(campaign: Campaign, moderator, reason: str) -> None:
    reason = _require_reviewer(campaign, moderator, reason)
    transition(campaign, "changes_requested", review_reason=reason)
    record_action(moderator, "changes_requested", campaign, reason)


def reject(campaign: Campaign, moderator, reason: str) -> None:
    reason = _require_reviewer(campaign, moderator, reason)
    transition(campaign, "rejected", review_reason=reason)
    record_action(moderator, "rejected", campaign, reason)


DECISIONS = {"approve": approve, "request_changes": request_changes, "reject": reject}


def launch(campaign: Campaign, user, now: datetime) -> None:
    """approved → live; the deadline is now plus the campaign's duration."""
    _require_founder(campaign, user)
    from crowdfund.payouts.accounts import require_payout_account_for_launch

    require_payout_account_for_launch(user)  # when REQUIRE_PAYOUT_ACCOUNT is on
    transition(campaign, "live", launched_at=now, deadline=now + timedelta(days=campaign.duration_days))
    refresh_trending(now, [campaign.id])  # listed by trending at once, not after the next periodic job
    record_action(user, "launched", campaign)
    emit("campaign.launched", now=now, campaign_id=campaign.id)


def cancel(campaign: Campaign, user, reason: str, now: datetime) -> None:
    """live → cancelled by the founder; every open pledge is voided. Flushes: refunding money already
    collected (flexible campaigns) is crowdfund/settlement/stops.py's job, after this commits."""
    _require_founder(campaign, user)
    transition(campaign, "cancelled", ended_at=now)
    void_open_pledges(campaign)
    record_action(user, "cancelled", campaign, (reason or "").strip())


def suspend(campaign: Campaign, moderator, reason: str, now: datetime) -> None:
    """live → suspended by a moderator; every open pledge is voided. Flushes (refunds as for cancel)."""
    reason = _require_reviewer(campaign, moderator, reason)
    transition(campaign, "suspended", ended_at=now, review_reason=reason)
    void_open_pledges(campaign)
    record_action(moderator, "suspended", campaign, reason)


def abandon(campaign: Campaign, moderator, reason: str):
    """successful → abandoned by a moderator (the founder stopped delivering). Returns the audit
    entry; refunding what was not released is crowdfund/settlement/abandon.py's job."""
    reason = _require_reviewer(campaign, moderator, reason)
    transition(campaign, "abandoned", review_reason=reason)
    return record_action(moderator, "abandoned", campaign, reason)


def close_due_campaigns(now: datetime) -> dict[str, int]:
    """Close every live campaign whose deadline has passed: funded → successful, else failed.

    Safe to run twice, also at once: each campaign is closed by the one run whose
    conditional UPDATE wins; the other skips it. Returns counts per outcome."""
    due = list(db.session.execute(
        db.select(Campaign).where(Campaign.state == "live", Campaign.deadline <= now)
        .order_by(Campaign.deadline)).scalars())
    totals = pledged_totals([c.id for c in due])
    counts = {"successful": 0, "failed": 0}
    for campaign in due:
        pledged = totals.get(campaign.id, (0, 0))[0]
        funded = pledged >= campaign.goal if campaign.funding_model == "all_or_nothing" else pledged > 0
        outcome = "successful" if funded else "failed"
        try:
            transition(campaign, outcome, ended_at=now)
        except IllegalTransition:
            continue  # another run closed it first
        if outcome == "failed":
            void_open_pledges(campaign)
        record_action(None, outcome, campaign, details={"pledged": pledged, "goal": campaign.goal})
        emit("campaign.succeeded" if outcome == "successful" else "campaign.failed", now=now, campaign_id=campaign.id)
        counts[outcome] += 1
    return counts
