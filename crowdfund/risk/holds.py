"""Holds on a campaign's releases while its risk is high, moderators' clearances, the risk queue and
the moderators' daily digest.

A campaign is held while its assessment's score is at or above RiskSettings.hold_threshold and some
current reason code is not covered by its latest clearance (a clearance covers the codes present
when it was made: a new code holds again). Functions here flush, never commit; emails go out from
the outbox events they emit (notifications/handlers.py)."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import Campaign
from crowdfund.errors import ValidationFailed
from crowdfund.extensions import db
from crowdfund.moderation.services import record_action, require_moderator
from crowdfund.outbox import OutboxEvent, emit
from crowdfund.risk.models import RiskAssessment, RiskClearance, RiskHistoryPoint
from crowdfund.risk.rules import RiskSettings
from crowdfund.risk.texts import REASONS

HOLD_STARTED = "risk.hold_started"
DIGEST = "risk.digest"


@dataclass(frozen=True)
class Hold:
    """Why a campaign's releases are held: its score, the threshold and the reason codes not cleared."""

    campaign_id: int
    score: int
    threshold: int
    codes: tuple[str, ...]


@dataclass(frozen=True)
class ReasonText:
    label: str
    explanation: str
    todo: str  # what the founder should do


def settings() -> RiskSettings:
    """The configured risk settings (RISK_* config)."""
    from crowdfund.risk.assessment import settings_from_config  # here: assessment calls back into holds

    return settings_from_config()


def reason_text(code: str) -> ReasonText:
    """The label, explanation and founder's to-do of a reason code (the code itself when unknown)."""
    texts = REASONS.get(code)
    if not texts:
        return ReasonText(code, "", "")
    label, explanation, todo = (str(text) for text in texts)
    return ReasonText(label, explanation, todo)


def reason_codes(assessment: RiskAssessment | None) -> list[str]:
    """The distinct reason codes of an assessment, in their order."""
    codes: list[str] = []
    for reason in (assessment.reasons or []) if assessment is not None else []:
        code = str(reason.get("code", "")) if isinstance(reason, dict) else ""
        if code and code not in codes:
            codes.append(code)
    return codes


def latest_clearance(campaign_id: int) -> RiskClearance | None:
    return db.session.execute(
        db.select(RiskClearance).where(RiskClearance.campaign_id == campaign_id)
        .order_by(RiskClearance.created_at.desc(), RiskClearance.id.desc()).limit(1)).scalar_one_or_none()


def hold_of(campaign_id: int, risk_settings: RiskSettings | None = None) -> Hold | None:
    """The hold on the campaign's releases, or None when they may be approved."""
    threshold = (risk_settings or settings()).hold_threshold
    assessment = db.session.get(RiskAssessment, campaign_id)
    if assessment is None or assessment.score < threshold:
        return None
    clearance = latest_clearance(campaign_id)
    covered = set(clearance.codes or []) if clearance is not None else set()
    uncovered = tuple(code for code in reason_codes(assessment) if code not in covered)
    if not uncovered:
        return None
    return Hold(campaign_id, assessment.score, threshold, uncovered)


def hold_message(hold: Hold) -> str:
    """What a moderator is told when approving a held release."""
    labels = ", ".join(reason_text(code).label for code in hold.codes)
    return _("Releases of this campaign are held by the risk review (score %(score)s: %(reasons)s) until "
             "a moderator clears these flags on its risk page.", score=hold.score, reasons=labels)


def clear(campaign: Campaign, moderator, reason: str, now: datetime) -> RiskClearance:
    """A moderator clears the campaign's current flags with a reason (audit-logged). Flushes."""
    require_moderator(moderator)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Give a reason."))
    assessment = db.session.get(RiskAssessment, campaign.id)
    codes = reason_codes(assessment)
    if not codes:
        raise ValidationFailed(_("This campaign has no risk flags to clear."))
    clearance = RiskClearance(campaign_id=campaign.id, moderator_id=moderator.id, reason=reason[:5000],
                              codes=codes, score=assessment.score, created_at=now)
    db.session.add(clearance)
    db.session.flush()
    record_action(moderator, "risk_cleared", campaign, reason[:5000], {"codes": codes, "score": assessment.score})
    return clearance


# --- the founder is told -----------------------------------------------------------------------

def hold_key(campaign_id: int) -> str:
    """One hold per campaign and clearance: a hold after a clearance is a new one."""
    clearance = latest_clearance(campaign_id)
    return f"risk-hold:{campaign_id}:{clearance.id if clearance is not None else 0}"


def _emitted(kind: str, marker: str) -> bool:
    return db.session.scalar(db.select(OutboxEvent.id).where(
        OutboxEvent.kind == kind, OutboxEvent.payload.contains(marker, autoescape=True)).limit(1)) is not None


def note_hold_changes(campaign_id: int, now: datetime) -> bool:
    """Emit "risk.hold_started" once when the campaign becomes held (again after a clearance), with
    each reason's to-do for the founder's email. Flushes; True when it emitted. Idempotent: the
    event is keyed by hold_key, and its email too (send_once)."""
    hold = hold_of(campaign_id)
    if hold is None:
        return False
    key = hold_key(campaign_id)
    if _emitted(HOLD_STARTED, f'"hold_key": "{key}"'):
        return False
    reasons = [{"code": code, "label": text.label, "todo": text.todo}
               for code, text in ((code, reason_text(code)) for code in hold.codes)]
    emit(HOLD_STARTED, now=now, campaign_id=campaign_id, hold_key=key, score=hold.score, reasons=reasons)
    return True


# --- the risk queue ----------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueRow:
    campaign: Campaign
    assessment: RiskAssessment
    labels: list[str]
    held: bool

    @property
    def trend(self) -> int | None:
        """score − previous score; None when there is no previous score."""
        previous = self.assessment.previous_score
        return None if previous is None else self.assessment.score - previous


def risk_queue(page: int, per_page: int = 25):
    """(pagination, rows): campaigns past draft (in review and later) with a score above 0, highest
    first (then by id). A draft is its founder's business until it is submitted."""
    query = (db.select(RiskAssessment).join(Campaign, Campaign.id == RiskAssessment.campaign_id)
             .where(RiskAssessment.score > 0, Campaign.state != "draft")
             .order_by(RiskAssessment.score.desc(), RiskAssessment.campaign_id))
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    campaigns = {c.id: c for c in db.session.execute(
        db.select(Campaign).where(Campaign.id.in_([a.campaign_id for a in pagination.items]))
        .options(selectinload(Campaign.founder))).scalars()}
    risk_settings = settings()
    rows = [QueueRow(campaigns[a.campaign_id], a, [reason_text(code).label for code in reason_codes(a)],
                     hold_of(a.campaign_id, risk_settings) is not None)
            for a in pagination.items if a.campaign_id in campaigns]
    return pagination, rows


def score_history(campaign_id: int, limit: int = 60) -> list[RiskHistoryPoint]:
    """The campaign's latest score changes, oldest first."""
    points = db.session.execute(
        db.select(RiskHistoryPoint).where(RiskHistoryPoint.campaign_id == campaign_id)
        .order_by(RiskHistoryPoint.at.desc(), RiskHistoryPoint.id.desc()).limit(limit)).scalars().all()
    return list(reversed(points))


def clearances_of(campaign_id: int) -> list[tuple[RiskClearance, User | None]]:
    """The campaign's clearances, newest first, with the moderator who made each."""
    return [(clearance, db.session.get(User, clearance.moderator_id)) for clearance in db.session.execute(
        db.select(RiskClearance).where(RiskClearance.campaign_id == campaign_id)
        .order_by(RiskClearance.created_at.desc(), RiskClearance.id.desc())).scalars()]


# --- the moderators' daily digest --------------------------------------------------------------

@dataclass(frozen=True)
class DigestItem:
    campaign_id: int
    title: str
    founder: str
    score: int
    labels: list[str]
    new: bool  # at or above the threshold now, not a day before
    held: bool


def _score_at(campaign_id: int, at: datetime) -> int | None:
    return db.session.scalar(
        db.select(RiskHistoryPoint.score).where(RiskHistoryPoint.campaign_id == campaign_id,
                                                RiskHistoryPoint.at <= at)
        .order_by(RiskHistoryPoint.at.desc(), RiskHistoryPoint.id.desc()).limit(1))


def digest(now: datetime) -> list[DigestItem]:
    """Campaigns past draft at or above the hold threshold: new since yesterday first, then by score."""
    risk_settings = settings()
    threshold = risk_settings.hold_threshold
    day_before = now - timedelta(days=1)
    items = []
    for assessment, campaign in db.session.execute(
            db.select(RiskAssessment, Campaign).join(Campaign, Campaign.id == RiskAssessment.campaign_id)
            .where(RiskAssessment.score >= threshold, Campaign.state != "draft")
            .options(selectinload(Campaign.founder))).all():
        before = _score_at(campaign.id, day_before)
        if before is None:
            new = assessment.first_flagged_at is None or assessment.first_flagged_at > day_before
        else:
            new = before < threshold
        items.append(DigestItem(campaign.id, campaign.title, campaign.founder.display_name, assessment.score,
                                [reason_text(code).label for code in reason_codes(assessment)], new,
                                hold_of(campaign.id, risk_settings) is not None))
    items.sort(key=lambda item: (not item.new, -item.score, item.campaign_id))
    return items


def send_digest_if_due(now: datetime) -> bool:
    """Once per UTC day, when some campaign is at or above the threshold, emit "risk.digest" with the
    day's list (each moderator's email is sent once, keyed "risk-digest:<date>:<moderator id>").
    Notes holds that started unnoticed first. Flushes; True when it emitted."""
    day = now.date().isoformat()
    if _emitted(DIGEST, f'"date": "{day}"'):
        return False
    items = digest(now)
    for item in items:
        note_hold_changes(item.campaign_id, now)
    if not items:
        return False
    emit(DIGEST, now=now, date=day, campaigns=[
        {"campaign_id": i.campaign_id, "title": i.title, "founder": i.founder, "score": i.score,
         "labels": i.labels, "new": i.new, "held": i.held} for i in items])
    return True
