"""Overdue milestones and abandoned campaigns.

A milestone of a funded (successful) campaign is overdue when the day it is expected (revised or as
planned) has passed, it is not completed, and no update has reported on it since that day. Backers
see it on the campaign page; moderators get a list of them.

A moderator may then declare the campaign abandoned. The money the platform still holds for it
(MoneyTotals.held: nothing released, no fee) goes back to the backers pro rata to what each still
has paid in, integer-exact (schedule.pro_rata). The split is fixed at the declaration and kept in
its audit entry, so a run interrupted by a Stripe failure is finished later with the same amounts,
and running it again never refunds twice: what each pledge got since the declaration is read back
from the ledger, and one run at a time holds the campaign's refund lock."""
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, text, update
from sqlalchemy.orm import contains_eager
from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length

from crowdfund import money
from crowdfund.campaigns import lifecycle
from crowdfund.campaigns.models import Campaign, Milestone
from crowdfund.clock import utcnow
from crowdfund.errors import IllegalTransition, ValidationFailed
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry
from crowdfund.payments import ledger
from crowdfund.settlement import refunds
from crowdfund.payouts.models import Release
from crowdfund.payouts.schedule import pro_rata
from crowdfund.pledges.models import Pledge
from crowdfund.updates.models import Update

# Campaigns whose milestones can be overdue: funded, still delivering.
OVERDUE_STATES = ("successful",)
# Releases not yet transferred, rejected when the campaign is abandoned.
PENDING_RELEASE_STATES = ("requested", "approved")


# --- Overdue ---------------------------------------------------------------------------------------

def overdue_since(campaign_state: str, milestone: Milestone, last_report_at: datetime | None,
                  today: date) -> date | None:
    """The day the milestone fell due if it is overdue today, else None (pure: no queries)."""
    if campaign_state not in OVERDUE_STATES or milestone.status == "completed":
        return None
    due = milestone.revised_due_date or milestone.due_date
    if due >= today:
        return None
    if last_report_at is not None and last_report_at.date() > due:
        return None  # the founder reported on it after it fell due
    return due


def milestone_overdue_since(campaign: Campaign, milestone: Milestone, report=None) -> date | None:
    """Template global for the campaign page's milestone timeline; report is the milestone's latest
    ReportRef from milestone_reports(campaign) (or None)."""
    return overdue_since(campaign.state, milestone, report.created_at if report is not None else None,
                         utcnow().date())


@dataclass(frozen=True)
class OverdueMilestone:
    campaign: Campaign
    milestone: Milestone
    since: date
    days: int
    last_report_at: datetime | None


def overdue_milestones(today: date | None = None) -> list[OverdueMilestone]:
    """Every overdue milestone, longest overdue first, in two queries."""
    today = today or utcnow().date()
    due = func.coalesce(Milestone.revised_due_date, Milestone.due_date)
    milestones = list(db.session.execute(
        db.select(Milestone).join(Milestone.campaign).options(contains_eager(Milestone.campaign))
        .where(Campaign.state.in_(OVERDUE_STATES), Milestone.status != "completed", due < today)
        .order_by(due, Milestone.id)).scalars())
    last_reports = dict(db.session.execute(
        db.select(Update.milestone_id, func.max(Update.created_at))
        .where(Update.milestone_id.in_([m.id for m in milestones])).group_by(Update.milestone_id)).all()) \
        if milestones else {}
    rows = []
    for milestone in milestones:
        since = overdue_since(milestone.campaign.state, milestone, last_reports.get(milestone.id), today)
        if since is not None:
            rows.append(OverdueMilestone(milestone.campaign, milestone, since, (today - since).days,
                                         last_reports.get(milestone.id)))
    return rows


# --- Abandoned ---------------------------------------------------------------------------------------

class AbandonForm(FlaskForm):
    reason = TextAreaField(_l("Reason (recorded in the audit log and sent to every backer)"),
                           validators=[DataRequired(message=_l("Give a reason.")), Length(max=5000)])
    confirm = BooleanField(_l("I understand this is final: no more money goes to the founder and what the "
                              "platform holds is refunded to the backers"),
                           validators=[DataRequired(message=_l("Tick the box to confirm."))])


@dataclass
class AbandonOutcome:
    """What declare_abandoned / finish_refunds did."""

    declared: bool = False  # this call declared the campaign abandoned
    held: int = 0  # what the platform held at the declaration (split over the backers)
    cancelled_releases: int = 0
    refunded: int = 0  # pledges refunded by this call
    amount: int = 0  # and how much
    failed: list[tuple[int, str]] = field(default_factory=list)  # (pledge id, why): retry later
    busy: bool = False  # another run was refunding this campaign; nothing done


def refund_shares(campaign_id: int) -> tuple[int, dict[int, int], dict[int, tuple[int, int]]]:
    """(held, {pledge id: its share of held}, {pledge id: (collected, refunded)}): held split pro rata
    to what each pledge still has paid in (collected − refunds − disputes)."""
    totals = ledger.money_totals([campaign_id]).get(campaign_id, ledger.MoneyTotals())
    pledge_ids = [p.id for p in refunds.pledges_with_money(campaign_id)]
    balances = ledger.pledge_balances(pledge_ids)
    weights = {pid: max(collected - refunded, 0) for pid, (collected, refunded) in balances.items()}
    held = max(0, min(totals.held, sum(weights.values())))
    return held, pro_rata(held, weights), balances


def declare_abandoned(campaign: Campaign, moderator, reason: str, now: datetime | None = None) -> AbandonOutcome:
    """A moderator declares a funded campaign abandoned: pending releases are rejected, the split of
    what is held is fixed in the audit log, the backers are emailed, then the refunds are made (each
    pledge in its own transaction, see finish_refunds). Commits.

    Declaring an already abandoned campaign again only finishes refunds still due (never twice).
    Raises NotAllowed (not a moderator, own campaign, no reason) or IllegalTransition (not funded,
    or a transfer to the founder is under way)."""
    now = now or utcnow()
    if campaign.state == "abandoned":
        return finish_refunds(campaign, moderator, now)
    _refuse_if_transferring(campaign)
    entry = lifecycle.abandon(campaign, moderator, reason)
    cancelled = db.session.execute(
        update(Release).where(Release.campaign_id == campaign.id, Release.state.in_(PENDING_RELEASE_STATES))
        .values(state="rejected", decided_at=now, decided_by_id=moderator.id,
                reason=_("The campaign was declared abandoned."))
        .execution_options(synchronize_session=False)).rowcount
    # Checked again now that no release can be claimed any more (a claim is a conditional UPDATE from
    # "approved", which these rows no longer are): what is held cannot shrink under the split below.
    try:
        _refuse_if_transferring(campaign)
    except IllegalTransition:
        db.session.rollback()
        raise
    held, shares, balances = refund_shares(campaign.id)
    entry.details = {"held": held, "currency": campaign.currency, "cancelled_releases": cancelled,
                     "plan": {str(pid): [share, balances[pid][1]] for pid, share in shares.items()}}
    db.session.commit()
    _tell_backers(campaign, shares, entry.reason)
    outcome = finish_refunds(campaign, moderator, now)
    outcome.declared, outcome.held, outcome.cancelled_releases = True, held, cancelled
    return outcome


def _refuse_if_transferring(campaign: Campaign) -> None:
    in_flight = db.session.execute(db.select(func.count(Release.id)).where(
        Release.campaign_id == campaign.id, Release.state == "transferring")).scalar_one()
    if in_flight:
        raise IllegalTransition(_("A transfer to the founder is under way; try again once it has finished."))


def _abandonment(campaign_id: int) -> AuditEntry | None:
    return db.session.execute(
        db.select(AuditEntry).where(AuditEntry.campaign_id == campaign_id, AuditEntry.action == "abandoned")
        .order_by(AuditEntry.id.desc()).limit(1)).scalar_one_or_none()


def refunds_due(campaign: Campaign) -> dict[int, int]:
    """pledge id -> what the abandonment split still owes it (only pledges owed something): its
    share less what was refunded or disputed since, never more than it still has paid in."""
    entry = _abandonment(campaign.id)
    plan = (entry.details or {}).get("plan", {}) if entry is not None else {}
    balances = ledger.pledge_balances([int(pid) for pid in plan])
    due = {}
    for key, (share, refunded_before) in plan.items():
        collected, refunded = balances.get(int(key), (0, 0))
        owed = min(share - (refunded - refunded_before), collected - refunded)
        if owed > 0:
            due[int(key)] = owed
    return due


def finish_refunds(campaign: Campaign, moderator, now: datetime | None = None) -> AbandonOutcome:
    """Refund what the abandonment split still owes each pledge, through refunds.refund_pledge (Stripe,
    ledger, audit log, the backer's receipt). A Stripe failure leaves that pledge for the next run."""
    now = now or utcnow()
    outcome = AbandonOutcome()
    if campaign.state != "abandoned":
        raise IllegalTransition(_("Only an abandoned campaign is refunded this way."))
    entry = _abandonment(campaign.id)
    reason = entry.reason if entry is not None else ""
    db.session.commit()
    with _refund_lock(campaign.id) as acquired:
        if not acquired:
            outcome.busy = True
            return outcome
        db.session.expire_all()  # read the ledger as the previous run left it
        due = refunds_due(campaign)
        pledges = {p.id: p for p in db.session.execute(
            db.select(Pledge).where(Pledge.id.in_(list(due))).order_by(Pledge.id)).scalars()} if due else {}
        for pledge_id in sorted(due):
            note = _("Campaign abandoned: %(reason)s", reason=reason)
            try:
                refunds.refund_pledge(pledges[pledge_id], due[pledge_id], note, moderator, now)
            except (refunds.RefundFailed, ValidationFailed) as error:
                db.session.rollback()
                outcome.failed.append((pledge_id, error.message))
                current_app.logger.warning("Abandonment refund of pledge %s failed: %s", pledge_id, error.message)
                continue
            outcome.refunded += 1
            outcome.amount += due[pledge_id]
    return outcome


# One refund run per campaign at a time, across transactions (refund_pledge commits per pledge):
# a PostgreSQL session advisory lock on a connection of its own; in-process for SQLite (one server).
# Advisory locks are per database, not per schema: the lock's first key is a hash of the schema the
# tables live in, so two sites (or test workers) in schemas of one database never block each other.
_ADVISORY_NAMESPACE = "crowdfund-refunds"
_LOCK_KEY = "hashtext(:ns || current_schema())"
_local_locks: dict[tuple[str, int], threading.Lock] = {}
_local_guard = threading.Lock()


@contextmanager
def _refund_lock(campaign_id: int):
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            acquired = connection.execute(text(f"SELECT pg_try_advisory_lock({_LOCK_KEY}, :id)"),
                                          {"ns": _ADVISORY_NAMESPACE, "id": campaign_id}).scalar()
            connection.commit()
            try:
                yield acquired
            finally:
                if acquired:
                    connection.execute(text(f"SELECT pg_advisory_unlock({_LOCK_KEY}, :id)"),
                                       {"ns": _ADVISORY_NAMESPACE, "id": campaign_id})
                    connection.commit()
        return
    with _local_guard:
        lock = _local_locks.setdefault((str(db.engine.url), campaign_id), threading.Lock())
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


def _tell_backers(campaign: Campaign, shares: dict[int, int], reason: str) -> None:
    """One email per backer with money in the campaign: abandoned, why, and what comes back."""
    from crowdfund.accounts.models import User
    from crowdfund.notifications.services import queue_email
    from crowdfund.settlement.charging import public_url

    rows = db.session.execute(db.select(Pledge.id, Pledge.backer_id).where(Pledge.id.in_(list(shares)))).all() \
        if shares else []
    per_backer: dict[int, int] = {}
    for pledge_id, backer_id in rows:
        per_backer[backer_id] = per_backer.get(backer_id, 0) + shares[pledge_id]
    backers = {u.id: u for u in db.session.execute(
        db.select(User).where(User.id.in_(list(per_backer)))).scalars()} if per_backer else {}
    link = public_url("campaigns.show", slug=campaign.slug)
    for backer_id, amount in sorted(per_backer.items()):
        backer = backers[backer_id]
        try:
            queue_email(backer.email, _("“%(title)s” was abandoned: your refund", title=campaign.title),
                        "campaign_abandoned", name=backer.display_name, title=campaign.title, reason=reason,
                        amount=money.format_money(amount, campaign.currency), has_refund=amount > 0, link=link)
        except Exception:  # the refunds go ahead either way
            current_app.logger.exception("Could not email backer %s about abandoned campaign %s",
                                         backer_id, campaign.id)


def abandonment_summary(campaign: Campaign) -> dict:
    """What the moderator's "Declare abandoned" page shows: before (held, pledges, pending releases)
    or after the declaration (refunds still due)."""
    if campaign.state == "abandoned":
        due = refunds_due(campaign)
        return {"due_total": sum(due.values()), "due_count": len(due)}
    held, shares, _balances = refund_shares(campaign.id)
    pending = db.session.execute(db.select(func.count(Release.id)).where(
        Release.campaign_id == campaign.id, Release.state.in_(PENDING_RELEASE_STATES))).scalar_one()
    return {"held": held, "pledges": sum(1 for share in shares.values() if share > 0), "pending_releases": pending}
