"""The release schedule: the held funds of a successful campaign go to its founder in tranches.

An optional first tranche (FIRST_TRANCHE_BP of the founder's share) is approved at success without
review; each milestone's tranche is requested by the founder, pointing at the update that reported
the milestone completed, and approved or rejected by a moderator. Functions here flush. An approved
release is sent by crowdfund/settlement/releases.py's transfer_release: the claim (approved → transferring, amount fixed) is COMMITTED before Stripe is
called, so two approvals or two job runs cannot both send it (the conditional UPDATE matches once),
and the transfer carries the idempotency key release-<id>: a release left in transferring by a
process that died is looked up at Stripe (find_transfer) and, if Stripe never made it, sent again
with the same key. Released money is booked as ledger kind "release", keyed by the transfer id."""
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import exists, func, update
from sqlalchemy.exc import IntegrityError

from crowdfund.campaigns.models import Campaign, Milestone
from crowdfund.errors import IllegalTransition, NotAllowed, ValidationFailed
from crowdfund.extensions import db
from crowdfund.moderation.services import record_action, require_moderator
from crowdfund.outbox import emit
from crowdfund.payments import ledger
from crowdfund.payouts import schedule
from crowdfund.payouts.models import LIVE_RELEASE_STATES, PayoutAccount, Release
from crowdfund.pledges.models import Pledge
from crowdfund.risk.holds import hold_message, hold_of, note_hold_changes
from crowdfund.updates.models import Update

FIRST = "first"
# Pledges whose money may still come in (or go): while any is left, the campaign is not settled.
UNSETTLED_PLEDGE_STATES = ("pending", "active", "errored")


def tranche_key(milestone_id: int | None) -> str:
    return FIRST if milestone_id is None else f"milestone-{milestone_id}"


def transfer_group(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"


def founder_share(totals: ledger.MoneyTotals) -> int:
    """What the platform holds for the founder before any release: collected − refunds − disputes − fees."""
    return max(0, totals.collected - totals.refunded - totals.disputed - totals.platform_fees)


def milestones_of(campaign_id: int) -> list[Milestone]:
    """The campaign's milestones in schedule order: by due date, then id."""
    return list(db.session.execute(db.select(Milestone).where(Milestone.campaign_id == campaign_id)
                                   .order_by(Milestone.due_date, Milestone.id)).scalars())


def campaign_schedule(campaign: Campaign) -> list[schedule.Tranche]:
    """The campaign's tranches: the first one (if configured), then the milestones by (due date, id).
    A campaign whose milestone shares do not add up to 100 % has no schedule (ValidationFailed)."""
    milestones = milestones_of(campaign.id)
    try:
        return schedule.cumulative_shares([(m.id, m.release_bp) for m in milestones],
                                          int(current_app.config["FIRST_TRANCHE_BP"]))
    except ValueError as error:
        raise ValidationFailed(_("This campaign's milestones do not release all of the funds.")) from error


def _in_flight(campaign_id: int, except_release_id: int | None = None) -> int:
    """Amounts claimed for transfer but not booked yet (releases in transferring)."""
    query = db.select(func.coalesce(func.sum(Release.amount), 0)).where(
        Release.campaign_id == campaign_id, Release.state == "transferring", Release.amount.is_not(None))
    if except_release_id is not None:
        query = query.where(Release.id != except_release_id)
    return int(db.session.scalar(query))


def amount_now(campaign: Campaign, milestone_id: int | None, except_release_id: int | None = None) -> int:
    """What releasing this tranche would pay now: the schedule's cumulative amount through it, less
    what was released already (booked, or claimed and on its way)."""
    totals = ledger.money_totals([campaign.id]).get(campaign.id, ledger.MoneyTotals())
    released = totals.released + _in_flight(campaign.id, except_release_id)
    try:
        tranches = campaign_schedule(campaign)
        return schedule.tranche_amount(founder_share(totals), tranches, milestone_id, released)
    except (ValidationFailed, KeyError):
        return 0


# --- the first tranche ------------------------------------------------------------------------

def is_settled(campaign_id: int) -> bool:
    """Charging is done: no pledge is waiting to be charged, fixed or confirmed."""
    return not db.session.scalar(db.select(exists().where(
        Pledge.campaign_id == campaign_id, Pledge.state.in_(UNSETTLED_PLEDGE_STATES))))


# --- founder: request a milestone's release ---------------------------------------------------

def completed_report(milestone: Milestone) -> Update | None:
    """The latest update reporting the milestone completed."""
    return db.session.execute(
        db.select(Update).where(Update.milestone_id == milestone.id, Update.milestone_status == "completed")
        .order_by(Update.created_at.desc(), Update.id.desc()).limit(1)).scalar_one_or_none()


def live_release(campaign_id: int, tranche: str) -> Release | None:
    return db.session.execute(db.select(Release).where(
        Release.campaign_id == campaign_id, Release.tranche == tranche,
        Release.state.in_(LIVE_RELEASE_STATES))).scalar_one_or_none()


def request_release(campaign: Campaign, milestone_id: int, update_id: int | None, founder, now: datetime) -> Release:
    """The founder asks for a milestone's tranche, pointing at the update that reported it completed.
    Flushes ("release.requested" emitted). One live release per milestone: a second request raises
    IllegalTransition."""
    if campaign.founder_id != founder.id:
        raise NotAllowed(_("Only the campaign's founder can request a release."))
    if campaign.state != "successful":
        raise IllegalTransition(_("Releases are made only for a successful campaign."))
    milestone = db.session.get(Milestone, milestone_id)
    if milestone is not None and milestone.campaign_id != campaign.id:
        milestone = None
    if milestone is None:
        raise ValidationFailed(_("This milestone is not part of the campaign."))
    if update_id is None:
        report = completed_report(milestone)
    else:
        report = db.session.get(Update, update_id)
        if report is not None and (report.milestone_id != milestone.id or report.milestone_status != "completed"):
            report = None
    if report is None or report.campaign_id != campaign.id:
        raise ValidationFailed(_("Post an update reporting this milestone completed first."))
    tranche = tranche_key(milestone.id)
    if live_release(campaign.id, tranche) is not None:
        raise IllegalTransition(_("A release for this milestone was already requested."))
    release = Release(campaign_id=campaign.id, milestone_id=milestone.id, tranche=tranche, update_id=report.id,
                      state="requested", requested_at=now, requested_by_id=founder.id)
    db.session.add(release)
    try:
        db.session.flush()
    except IntegrityError as error:  # a concurrent request won
        db.session.rollback()
        raise IllegalTransition(_("A release for this milestone was already requested.")) from error
    emit("release.requested", now=now, campaign_id=campaign.id, release_id=release.id)
    note_hold_changes(campaign.id, now)  # a held campaign's founder hears what to do
    return release


# --- moderator: verify ------------------------------------------------------------------------

def requested_releases() -> list[Release]:
    """Releases waiting for a moderator, oldest request first."""
    return list(db.session.execute(
        db.select(Release).where(Release.state == "requested")
        .order_by(Release.requested_at, Release.id)).scalars())


def approved_but_held() -> list[tuple[Release, Campaign]]:
    """Approved releases not sent because their campaign is held by the risk review, oldest first."""
    rows = db.session.execute(
        db.select(Release, Campaign).join(Campaign, Campaign.id == Release.campaign_id)
        .where(Release.state == "approved", Campaign.state == "successful")
        .order_by(Release.decided_at, Release.id)).all()
    return [(release, campaign) for release, campaign in rows if hold_of(campaign.id) is not None]


def failed_releases() -> list[Release]:
    return list(db.session.execute(
        db.select(Release).where(Release.state == "failed").order_by(Release.id)).scalars())


def _decide(release: Release, moderator, from_state: str, to_state: str, reason: str, now: datetime) -> bool:
    """Conditional UPDATE from_state → to_state: True when this call made the change."""
    changed = db.session.execute(
        update(Release).where(Release.id == release.id, Release.state == from_state)
        .values(state=to_state, decided_at=now, decided_by_id=moderator.id, reason=reason[:5000])
        .execution_options(synchronize_session=False)).rowcount == 1
    db.session.refresh(release)
    return changed


def approve_release(release: Release, moderator, reason: str, now: datetime) -> None:
    """requested → approved (audit-logged, "release.approved" emitted). Flushes; the caller commits and
    then runs the transfer. A release no longer requested (a second click, a concurrent approval)
    raises IllegalTransition; one of a campaign held by the risk review (risk/holds.py) ValidationFailed."""
    require_moderator(moderator)
    if not reason.strip():
        raise ValidationFailed(_("Give a reason."))
    campaign = db.session.get(Campaign, release.campaign_id)
    if campaign.state != "successful":
        raise IllegalTransition(_("Releases are made only for a successful campaign."))
    hold = hold_of(campaign.id) if release.state == "requested" else None  # decided already: said below
    if hold is not None:
        raise ValidationFailed(hold_message(hold))
    if not _decide(release, moderator, "requested", "approved", reason, now):
        raise IllegalTransition(_("This release was already decided."))
    record_action(moderator, "release_approved", campaign, reason,
                  {"release_id": release.id, "milestone_id": release.milestone_id,
                   "amount_now": amount_now(campaign, release.milestone_id)})
    emit("release.approved", now=now, campaign_id=campaign.id, release_id=release.id)


def reject_release(release: Release, moderator, reason: str, now: datetime) -> None:
    """requested → rejected with a reason (audit-logged). Flushes."""
    require_moderator(moderator)
    if not reason.strip():
        raise ValidationFailed(_("Give a reason."))
    if not _decide(release, moderator, "requested", "rejected", reason, now):
        raise IllegalTransition(_("This release was already decided."))
    record_action(moderator, "release_rejected", db.session.get(Campaign, release.campaign_id), reason,
                  {"release_id": release.id, "milestone_id": release.milestone_id})


def retry_release(release: Release, moderator, reason: str, now: datetime) -> None:
    """failed → approved, to be sent again (the amount is worked out anew). Flushes."""
    require_moderator(moderator)
    changed = db.session.execute(
        update(Release).where(Release.id == release.id, Release.state == "failed")
        .values(state="approved", amount=None).execution_options(synchronize_session=False)).rowcount == 1
    db.session.refresh(release)
    if not changed:
        raise IllegalTransition(_("Only a failed release can be retried."))
    record_action(moderator, "release_retried", db.session.get(Campaign, release.campaign_id), reason,
                  {"release_id": release.id, "error": release.error})


# --- the transfer -----------------------------------------------------------------------------

def destination_of(campaign: Campaign) -> str | None:
    account = db.session.execute(
        db.select(PayoutAccount).where(PayoutAccount.user_id == campaign.founder_id)).scalar_one_or_none()
    return account.stripe_account_id if account is not None and account.can_receive_transfers else None


# --- what the pages show ----------------------------------------------------------------------

def releases_of(campaign_id: int) -> list[Release]:
    return list(db.session.execute(db.select(Release).where(Release.campaign_id == campaign_id)
                                   .order_by(Release.requested_at, Release.id)).scalars())


@dataclass(frozen=True)
class ReleaseOverview:
    by_milestone: dict  # milestone id → the latest release of it
    first: Release | None
    can_receive: bool


def release_overview(campaign: Campaign) -> ReleaseOverview:
    """For the milestone timeline: each milestone's latest release and the first tranche (2 queries)."""
    latest: dict = {}
    first = None
    for release in releases_of(campaign.id):
        if release.milestone_id is None:
            first = release
        else:
            latest[release.milestone_id] = release
    return ReleaseOverview(latest, first, destination_of(campaign) is not None)
