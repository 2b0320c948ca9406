"""The release schedule: the held funds of a successful campaign go to its founder in tranches.

An optional first tranche (FIRST_TRANCHE_BP of the founder's share) is approved at success without
review; each milestone's tranche is requested by the founder, pointing at the update that reported
the milestone completed, and approved or rejected by a moderator. An approved release is sent by
transfer_release: the claim (approved → transferring, amount fixed) is COMMITTED before Stripe is
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
from crowdfund.payments import gateway, ledger
from crowdfund.payments.gateway import GatewayError
from crowdfund.payouts import schedule
from crowdfund.payouts.models import LIVE_RELEASE_STATES, PayoutAccount, Release
from crowdfund.pledges.models import Pledge
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


def create_first_tranches(now: datetime) -> int:
    """Approve the first tranche of every successful, settled campaign that has none yet (and money
    collected). Idempotent and safe to run concurrently (the one-live-release index). Commits per
    campaign; returns how many were created."""
    if int(current_app.config["FIRST_TRANCHE_BP"]) <= 0:
        return 0
    candidates = db.session.execute(
        db.select(Campaign.id).where(
            Campaign.state == "successful",
            ~exists().where(Release.campaign_id == Campaign.id, Release.tranche == FIRST),
            ~exists().where(Pledge.campaign_id == Campaign.id, Pledge.state.in_(UNSETTLED_PLEDGE_STATES)),
            exists().where(Pledge.campaign_id == Campaign.id, Pledge.state == "collected"))
        .order_by(Campaign.id)).scalars().all()
    created = 0
    for campaign_id in candidates:
        db.session.add(Release(campaign_id=campaign_id, milestone_id=None, tranche=FIRST, state="approved",
                               requested_at=now, decided_at=now, reason=_("First tranche, released at success.")))
        try:
            db.session.flush()
            db.session.commit()
        except IntegrityError:  # another run created it first
            db.session.rollback()
            continue
        created += 1
    return created


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
    Flushes. One live release per milestone: a second request raises IllegalTransition."""
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
    return release


# --- moderator: verify ------------------------------------------------------------------------

def requested_releases() -> list[Release]:
    """Releases waiting for a moderator, oldest request first."""
    return list(db.session.execute(
        db.select(Release).where(Release.state == "requested")
        .order_by(Release.requested_at, Release.id)).scalars())


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
    """requested → approved (audit-logged). Flushes; the caller commits and then runs the transfer.
    A release no longer requested (a second click, a concurrent approval) raises IllegalTransition."""
    require_moderator(moderator)
    if not reason.strip():
        raise ValidationFailed(_("Give a reason."))
    campaign = db.session.get(Campaign, release.campaign_id)
    if campaign.state != "successful":
        raise IllegalTransition(_("Releases are made only for a successful campaign."))
    if not _decide(release, moderator, "requested", "approved", reason, now):
        raise IllegalTransition(_("This release was already decided."))
    record_action(moderator, "release_approved", campaign, reason,
                  {"release_id": release.id, "milestone_id": release.milestone_id,
                   "amount_now": amount_now(campaign, release.milestone_id)})


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

@dataclass(frozen=True)
class TransferOutcome:
    status: str  # transferred | waiting (no payout account) | skipped (someone else has it) | failed
    amount: int = 0
    message: str = ""


def destination_of(campaign: Campaign) -> str | None:
    account = db.session.execute(
        db.select(PayoutAccount).where(PayoutAccount.user_id == campaign.founder_id)).scalar_one_or_none()
    return account.stripe_account_id if account is not None and account.can_receive_transfers else None


def _claim(release_id: int) -> Release | None:
    """approved → transferring with the amount fixed, COMMITTED; None when it is not approved (any more)."""
    release = db.session.get(Release, release_id)
    if release is None or release.state != "approved":
        db.session.rollback()
        return None
    # One claim per campaign at a time (PostgreSQL: row lock; SQLite serialises writers), so two
    # tranches of a campaign claimed at once cannot both count on the same unreleased money.
    db.session.execute(db.select(Campaign.id).where(Campaign.id == release.campaign_id).with_for_update())
    campaign = db.session.get(Campaign, release.campaign_id)
    amount = amount_now(campaign, release.milestone_id, except_release_id=release.id)
    claimed = db.session.execute(
        update(Release).where(Release.id == release_id, Release.state == "approved")
        .values(state="transferring", amount=amount).execution_options(synchronize_session=False)).rowcount == 1
    db.session.commit()
    if not claimed:
        return None
    release = db.session.get(Release, release_id)
    db.session.refresh(release)
    return release


def transfer_release(release_id: int, now: datetime) -> TransferOutcome:
    """Send an approved release to the founder's account, exactly once. COMMITS (the claim before
    Stripe is called, then the outcome). Waits (stays approved) while the founder cannot receive transfers."""
    db.session.commit()
    release = db.session.get(Release, release_id)
    if release is None or release.state != "approved":
        return TransferOutcome("skipped", message=_("This release is not waiting to be sent."))
    campaign = db.session.get(Campaign, release.campaign_id)
    if campaign.state != "successful":  # abandoned: what is still held goes back to the backers
        return TransferOutcome("skipped", message=_("Releases are made only for a successful campaign."))
    if destination_of(campaign) is None:
        return TransferOutcome("waiting", message=_("The founder has not connected a payout account yet."))
    looked_up_before = release.error is not None  # a failed attempt may have reached Stripe after all
    release = _claim(release_id)
    if release is None:
        return TransferOutcome("skipped", message=_("This release is being sent already."))
    return _send(release, campaign, now, look_up=looked_up_before)


def _send(release: Release, campaign: Campaign, now: datetime, look_up: bool) -> TransferOutcome:
    group = transfer_group(campaign.id)
    if not release.amount:
        return _finish(release, campaign, None, now)
    destination = destination_of(campaign)
    try:
        transfer_id = gateway.find_transfer(group, "release_id", str(release.id)) if look_up else None
        if transfer_id is None:
            if destination is None:
                raise GatewayError(_("The founder's payout account cannot receive transfers."))
            transfer_id = gateway.create_transfer(
                release.amount, campaign.currency, destination, group, f"release-{release.id}",
                {"release_id": str(release.id), "campaign_id": str(campaign.id), "tranche": release.tranche})
    except GatewayError as error:
        db.session.execute(
            update(Release).where(Release.id == release.id, Release.state == "transferring")
            .values(state="failed", error=str(error)[:200]).execution_options(synchronize_session=False))
        db.session.commit()
        return TransferOutcome("failed", release.amount or 0, str(error))
    return _finish(release, campaign, transfer_id, now)


def _finish(release: Release, campaign: Campaign, transfer_id: str | None, now: datetime) -> TransferOutcome:
    amount = release.amount or 0
    done = db.session.execute(
        update(Release).where(Release.id == release.id, Release.state == "transferring")
        .values(state="transferred", stripe_transfer_id=transfer_id, transferred_at=now, error=None)
        .execution_options(synchronize_session=False)).rowcount == 1
    if transfer_id is not None:  # booked once per transfer id, whoever gets here
        ledger.book(campaign.id, "release", amount, campaign.currency, stripe_id=transfer_id,
                    note=f"release {release.id} ({release.tranche})", actor_id=release.decided_by_id)
    db.session.commit()
    return TransferOutcome("transferred" if done else "skipped", amount)


def recover_stuck(release_id: int, now: datetime) -> TransferOutcome:
    """A release left in transferring (the process died mid-call): find its transfer at Stripe and
    book it, or send it again with the same idempotency key (Stripe returns the same transfer if the
    first call did get through). Commits."""
    db.session.commit()
    release = db.session.get(Release, release_id)
    if release is None or release.state != "transferring":
        return TransferOutcome("skipped")
    return _send(release, db.session.get(Campaign, release.campaign_id), now, look_up=True)


def run_release_jobs(now: datetime) -> dict:
    """The periodic catch-up: first tranches of newly settled campaigns, approved releases not sent
    yet (e.g. waiting for the payout account), and releases a dead process left transferring."""
    counts = {"first_tranches": create_first_tranches(now), "transferred": 0, "failed": 0}
    stuck = db.session.execute(db.select(Release.id).where(Release.state == "transferring")
                               .order_by(Release.id)).scalars().all()
    approved = db.session.execute(db.select(Release.id).where(Release.state == "approved")
                                  .order_by(Release.id)).scalars().all()
    for release_id in stuck:
        outcome = recover_stuck(release_id, now)
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    for release_id in approved:
        outcome = transfer_release(release_id, now)
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return {key: value for key, value in counts.items() if value}


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
