"""Campaign reports: someone signed in reports a campaign, a moderator upholds or dismisses it
(audit-logged; upheld reports count in the founder's profile). Flushes only; the routes commit."""
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from crowdfund.campaigns.models import Campaign
from crowdfund.errors import IllegalTransition, NotAllowed, ValidationFailed
from crowdfund.extensions import db
from crowdfund.moderation.models import REPORT_OUTCOMES, CampaignReport
from crowdfund.moderation.services import record_action, require_moderator
from crowdfund.outbox import emit

REASON_MAX = 5000


def open_report_of(campaign_id: int, reporter_id: int) -> CampaignReport | None:
    """The reporter's unresolved report on the campaign, if any."""
    return db.session.execute(
        db.select(CampaignReport).where(CampaignReport.campaign_id == campaign_id,
                                        CampaignReport.reporter_id == reporter_id,
                                        CampaignReport.resolved_at.is_(None))).scalars().first()


def create_report(campaign: Campaign, reporter, reason: str, now: datetime) -> CampaignReport:
    """Record a report (one open report per person and campaign; never by its founder). Flushes and
    emits "report.created"."""
    if campaign.founder_id == reporter.id:
        raise NotAllowed(_("You cannot report your own campaign."))
    if not campaign.is_public:
        raise ValidationFailed(_("Only public campaigns can be reported."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Tell the moderators what is wrong."))
    if len(reason) > REASON_MAX:
        raise ValidationFailed(_("The reason is too long."))
    if open_report_of(campaign.id, reporter.id) is not None:
        raise IllegalTransition(_("You have already reported this campaign; a moderator will look at it."))
    report = CampaignReport(campaign_id=campaign.id, reporter_id=reporter.id, reason=reason, created_at=now)
    db.session.add(report)
    db.session.flush()
    emit("report.created", now=now, campaign_id=campaign.id, report_id=report.id)
    return report


def open_reports() -> list[tuple[CampaignReport, Campaign]]:
    """Unresolved reports with their campaigns (founders loaded), newest first."""
    rows = db.session.execute(
        db.select(CampaignReport, Campaign).join(Campaign, Campaign.id == CampaignReport.campaign_id)
        .options(selectinload(Campaign.founder))
        .where(CampaignReport.resolved_at.is_(None))
        .order_by(CampaignReport.created_at.desc(), CampaignReport.id.desc()))
    return [(report, campaign) for report, campaign in rows]


def resolve(report: CampaignReport, moderator, outcome: str, note: str, now: datetime) -> CampaignReport:
    """Uphold or dismiss an open report (audit-logged, emits "report.resolved"). Flushes."""
    require_moderator(moderator)
    if outcome not in REPORT_OUTCOMES:
        raise ValidationFailed(_("Choose uphold or dismiss."))
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Give a reason."))
    if report.resolved_at is not None:
        raise IllegalTransition(_("This report has already been resolved."))
    report.resolved_at, report.resolved_by_id = now, moderator.id
    report.outcome, report.resolution_note = outcome, note
    campaign = db.session.get(Campaign, report.campaign_id)
    record_action(moderator, f"report_{outcome}", campaign, note, {"report_id": report.id})
    emit("report.resolved", now=now, campaign_id=report.campaign_id, report_id=report.id, outcome=outcome)
    return report
