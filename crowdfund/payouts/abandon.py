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
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _, lazy_gettext as _l
from crowdfund.forms import Form as FlaskForm  # the project's input layer (crowdfund/forms.py)
from sqlalchemy import func
from sqlalchemy.orm import contains_eager
from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length

from crowdfund.campaigns.models import Campaign, Milestone
from crowdfund.clock import utcnow
from crowdfund.errors import IllegalTransition
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry
from crowdfund.payments import ledger
from crowdfund.payouts.models import Release
from crowdfund.payouts.schedule import pro_rata
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


def refund_shares(campaign_id: int) -> tuple[int, dict[int, int], dict[int, tuple[int, int]]]:
    """(held, {pledge id: its share of held}, {pledge id: (collected, refunded)}): held split pro rata
    to what each pledge still has paid in (collected − refunds − disputes)."""
    totals = ledger.money_totals([campaign_id]).get(campaign_id, ledger.MoneyTotals())
    pledge_ids = [p.id for p in ledger.pledges_with_money(campaign_id)]
    balances = ledger.pledge_balances(pledge_ids)
    weights = {pid: max(collected - refunded, 0) for pid, (collected, refunded) in balances.items()}
    held = max(0, min(totals.held, sum(weights.values())))
    return held, pro_rata(held, weights), balances


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
