"""Posting updates and deciding who may read them. Backers-only text reaches backers (pledges
that count: active, collected, errored) and the founder and moderators; nobody else, on any page,
in the feed or anywhere else that goes through `readable_by`.

An update may carry a milestone report (on track / delayed with a new date and a reason /
completed with evidence) and spend reports against budget lines; backers may ask for an update
after a long silence (`request_update`)."""
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import format_date, gettext as _
from sqlalchemy import exists

from crowdfund.campaigns.models import BudgetLine, Campaign, Milestone
from crowdfund.clock import utcnow
from crowdfund.errors import NotAllowed, ValidationFailed
from crowdfund.extensions import db
from crowdfund.outbox import emit
from crowdfund.pledges.models import COUNTING_STATES, Pledge
from crowdfund.updates.models import MILESTONE_STATUSES, VISIBILITIES, SpendReport, Update, UpdateRequest

# Campaigns whose founder can post: once launched (during the campaign and after it).
POSTING_STATES = ("live", "successful", "failed")


def is_backer(user, campaign: Campaign) -> bool:
    if user is None or not user.is_authenticated:
        return False
    return db.session.execute(db.select(exists().where(
        Pledge.campaign_id == campaign.id, Pledge.backer_id == user.id,
        Pledge.state.in_(COUNTING_STATES)))).scalar()


def backs_and_follows_columns(user) -> tuple:
    """For a select over Campaign: whether a signed-in user backs each campaign (as is_backer) and
    whether they follow it — so the campaign page reads both with the campaign, in one query."""
    from crowdfund.notifications.models import Follow

    return (exists().where(Pledge.campaign_id == Campaign.id, Pledge.backer_id == user.id,
                           Pledge.state.in_(COUNTING_STATES)).label("backs"),
            exists().where(Follow.user_id == user.id, Follow.campaign_id == Campaign.id).label("follows"))


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


def latest_updates_of(campaign: Campaign, limit: int = 3) -> tuple[list[Update], int]:
    """The campaign's newest updates and how many it has in all, in one query (the campaign page
    shows a few; loading every update there would grow with the campaign's age)."""
    rows = db.session.execute(
        db.select(Update, db.func.count().over()).where(Update.campaign_id == campaign.id)
        .order_by(Update.created_at.desc(), Update.id.desc()).limit(limit)).all()
    return [update for update, _total in rows], (rows[0][1] if rows else 0)


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


# Milestone and spend reports: while the campaign runs and after it succeeded (a failed campaign
# collected nothing, so there is no money to account for and nothing for milestones to release).
REPORTING_STATES = ("live", "successful")
# Backers may ask for news once the campaign has been this long without an update.
SILENCE_BEFORE_REQUEST = timedelta(days=30)


class ReportRefused(ValidationFailed):
    """A milestone or spend report that breaks a rule; `field` names the form field it is about."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass
class MilestoneReport:
    milestone_id: int
    status: str  # on_track | delayed | completed
    new_date: date | None = None  # delayed: when it is now expected
    note: str = ""  # delayed: the reason; completed: the evidence (Markdown)


@dataclass
class SpendLine:
    budget_line_id: int
    amount: int  # minor units of the campaign's currency
    note: str = ""
    form_field: str | None = None  # the form field it came from, for error messages


def post_update(campaign: Campaign, author, title: str, body: str, visibility: str,
                milestone_report: MilestoneReport | None = None, spend: list[SpendLine] | tuple = (),
                today: date | None = None) -> Update:
    """Post an update, with an optional milestone report and spend reports (the milestone's status
    and dates change with it), and the "update.posted" event that emails backers and followers after
    the commit. Flushes. Raises NotAllowed / ReportRefused; nothing is written then."""
    if author.id != campaign.founder_id:
        raise NotAllowed(_("Only the campaign's founder can post updates."))
    if campaign.state not in POSTING_STATES:
        raise NotAllowed(_("Updates can be posted once the campaign has launched."))
    if visibility not in VISIBILITIES:
        raise NotAllowed(_("Choose who can read the update."))
    today = today or utcnow().date()
    milestone = _check_milestone_report(campaign, milestone_report, today) if milestone_report else None
    lines = _check_spend(campaign, spend) if spend else []
    update = Update(campaign_id=campaign.id, author_id=author.id, title=title.strip(), body=body,
                    visibility=visibility)
    if milestone is not None:
        report = milestone_report
        update.milestone_id = milestone.id
        update.milestone_status = report.status
        update.milestone_new_date = report.new_date if report.status == "delayed" else None
        update.milestone_note = (report.note or "").strip() if report.status != "on_track" else ""
        if report.status == "delayed":
            milestone.revised_due_date = report.new_date
        elif report.status == "completed":
            milestone.completed_on = milestone.completed_on or today
        milestone.status = report.status
    update.spend_reports = [SpendReport(budget_line_id=line.id, amount=item.amount, note=(item.note or "").strip())
                            for line, item in lines]
    db.session.add(update)
    db.session.flush()
    emit("update.posted", update_id=update.id)
    return update


def _check_milestone_report(campaign: Campaign, report: MilestoneReport, today: date) -> Milestone:
    if campaign.state not in REPORTING_STATES:
        raise ReportRefused(_("Milestones can be reported while the campaign is live and after it succeeded."),
                            "milestone_id")
    milestone = db.session.get(Milestone, report.milestone_id)
    if milestone is None or milestone.campaign_id != campaign.id:
        raise ReportRefused(_("Choose one of this campaign's milestones."), "milestone_id")
    if report.status not in MILESTONE_STATUSES:
        raise ReportRefused(_("Choose the milestone's status."), "milestone_status")
    if milestone.status == "completed" and report.status != "completed":
        raise ReportRefused(_("This milestone was reported completed; it cannot go back to on track or delayed."),
                            "milestone_status")
    if report.status == "delayed":
        if report.new_date is None:
            raise ReportRefused(_("Give the new date for a delayed milestone."), "milestone_new_date")
        if report.new_date <= today:
            raise ReportRefused(_("The new date must be in the future."), "milestone_new_date")
        if not (report.note or "").strip():
            raise ReportRefused(_("Tell your backers why the milestone is delayed."), "milestone_reason")
    if report.status == "completed" and not (report.note or "").strip():
        raise ReportRefused(_("Show what was done: describe the evidence (pictures from your gallery help)."),
                            "milestone_evidence")
    return milestone


def _check_spend(campaign: Campaign, spend) -> list[tuple[BudgetLine, SpendLine]]:
    if campaign.state not in REPORTING_STATES:
        raise ReportRefused(_("Spending can be reported while the campaign is live and after it succeeded."))
    own = {line.id: line for line in db.session.execute(
        db.select(BudgetLine).where(BudgetLine.campaign_id == campaign.id)).scalars()}
    checked = []
    for item in spend:
        line = own.get(item.budget_line_id)
        if line is None:
            raise ReportRefused(_("Report spending against this campaign's budget lines only."), item.form_field)
        if item.amount <= 0:
            raise ReportRefused(_("The amount must be more than zero."), item.form_field)
        if len((item.note or "").strip()) > 300:
            raise ReportRefused(_("Keep the note under 300 characters."), item.form_field)
        checked.append((line, item))
    return checked


# --- What the campaign page shows (each one query, whatever the number of updates) -------------

def spend_by_line(campaign: Campaign) -> dict[int, int]:
    """budget line id -> total spend reported on it, from every update (backers-only ones count:
    the amounts are public, the notes stay with the update)."""
    rows = db.session.execute(
        db.select(SpendReport.budget_line_id, db.func.sum(SpendReport.amount))
        .join(Update, Update.id == SpendReport.update_id)
        .where(Update.campaign_id == campaign.id).group_by(SpendReport.budget_line_id))
    return {line_id: int(total) for line_id, total in rows}


@dataclass(frozen=True)
class ReportRef:
    """The update that last reported a milestone: enough to link to it, nothing of its text."""
    update_id: int
    created_at: datetime
    visibility: str
    status: str

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"


def milestone_reports(campaign: Campaign) -> dict[int, ReportRef]:
    """milestone id -> the latest update that reported it, in one query."""
    ranked = (db.select(Update.id, Update.milestone_id, Update.created_at, Update.visibility,
                        Update.milestone_status,
                        db.func.row_number().over(partition_by=Update.milestone_id,
                                                  order_by=(Update.created_at.desc(), Update.id.desc()))
                        .label("rank"))
              .where(Update.campaign_id == campaign.id, Update.milestone_id.is_not(None)).subquery())
    rows = db.session.execute(db.select(ranked).where(ranked.c.rank == 1))
    return {row.milestone_id: ReportRef(row.id, row.created_at, row.visibility, row.milestone_status)
            for row in rows}


# --- Accountability: asking for an update after a silence ---------------------------------------

ACCOUNTABLE_STATES = ("live", "successful")


def silent_since(campaign: Campaign) -> datetime | None:
    """When the current silence began: the latest update, or the launch when there is none."""
    latest = last_update_times([campaign.id]).get(campaign.id)
    return latest or campaign.launched_at


def _requested_since(campaign: Campaign, user_id: int, since: datetime | None) -> datetime | None:
    query = db.select(db.func.max(UpdateRequest.created_at)).where(
        UpdateRequest.campaign_id == campaign.id, UpdateRequest.user_id == user_id)
    if since is not None:
        query = query.where(UpdateRequest.created_at >= since)
    return db.session.execute(query).scalar()


def _silence_and_request(campaign: Campaign, user_id: int) -> tuple[datetime | None, datetime | None]:
    """(silent_since, the user's request during this silence or None), in one query."""
    latest_update, latest_request = db.session.execute(db.select(
        db.select(db.func.max(Update.created_at)).where(Update.campaign_id == campaign.id).scalar_subquery(),
        db.select(db.func.max(UpdateRequest.created_at)).where(
            UpdateRequest.campaign_id == campaign.id, UpdateRequest.user_id == user_id).scalar_subquery())).one()
    since = latest_update or campaign.launched_at
    return since, latest_request if latest_request is not None and (since is None or latest_request >= since) else None


def request_count(campaign: Campaign, since: datetime | None) -> int:
    """How many backers asked for an update since `since` (each counted once)."""
    query = db.select(db.func.count(db.distinct(UpdateRequest.user_id))).where(
        UpdateRequest.campaign_id == campaign.id)
    if since is not None:
        query = query.where(UpdateRequest.created_at >= since)
    return db.session.execute(query).scalar_one()


def request_update(campaign: Campaign, user, now: datetime | None = None) -> UpdateRequest:
    """A backer asks the founder for news. Allowed on live and successful campaigns, to backers
    with a counting pledge, once the campaign has been silent for 30 days, once per silence."""
    now = now or utcnow()
    if campaign.state not in ACCOUNTABLE_STATES:
        raise NotAllowed(_("Updates can be requested only while a campaign is live or after it succeeded."))
    if not is_backer(user, campaign):
        raise NotAllowed(_("Only backers can ask for an update."))
    since = silent_since(campaign)
    if since is not None and now - since < SILENCE_BEFORE_REQUEST:
        wait = since + SILENCE_BEFORE_REQUEST
        raise ValidationFailed(_("You can ask for an update once the campaign has been 30 days without one "
                                 "(from %(date)s).", date=format_date(wait.date())))
    if _requested_since(campaign, user.id, since) is not None:
        raise AlreadyRequested(_("You already asked for an update; the founder has been told."))
    request = UpdateRequest(campaign_id=campaign.id, user_id=user.id, created_at=now)
    db.session.add(request)
    db.session.flush()
    emit("update.requested", now=now, campaign_id=campaign.id, request_id=request.id)
    return request


class AlreadyRequested(ValidationFailed):
    status_code = 409


@dataclass(frozen=True)
class Accountability:
    """What the campaign page and the updates list show about asking for news, for one viewer."""
    can_request: bool = False  # show the button
    requested_on: datetime | None = None  # this viewer already asked during this silence
    request_count: int | None = None  # for the founder and moderators only
    silent_since: datetime | None = None


def accountability(campaign: Campaign, user, now: datetime | None = None, backer: bool | None = None) -> Accountability:
    """A constant number of queries (at most four), whatever the number of updates or requests;
    backer: whether user backs the campaign, when the caller knows already (one query fewer)."""
    if campaign.state not in ACCOUNTABLE_STATES or user is None or not user.is_authenticated:
        return Accountability()
    now = now or utcnow()
    staff = user.id == campaign.founder_id or user.is_moderator
    backs = user.id != campaign.founder_id and (is_backer(user, campaign) if backer is None else backer)
    if not staff and not backs:
        return Accountability()  # nothing to show a visitor who is neither backer nor staff
    if not staff:  # a backer: the silence and their own latest request, in one query
        since, requested = _silence_and_request(campaign, user.id)
        count = None
    else:
        since = silent_since(campaign)
        count = request_count(campaign, since)
        if not backs:
            return Accountability(request_count=count, silent_since=since)
        requested = _requested_since(campaign, user.id, since)
    long_silence = since is None or now - since >= SILENCE_BEFORE_REQUEST
    return Accountability(can_request=long_silence and requested is None, requested_on=requested,
                          request_count=count, silent_since=since)
