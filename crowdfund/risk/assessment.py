"""A campaign's risk assessment: its signals judged by the rules, stored as RiskAssessment (score and
every flag with its reason code and numbers) with a RiskHistoryPoint whenever the score changes.
Functions flush, never commit."""
from dataclasses import fields
from datetime import datetime, timedelta

from flask import current_app

from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.risk.models import RiskAssessment, RiskHistoryPoint
from crowdfund.risk.rules import Flag, RiskSettings, evaluate
from crowdfund.risk.signals import campaign_signals, phase_of
from crowdfund.risk.texts import reason

TREND_WINDOW = timedelta(days=7)  # previous_score: the score this long before


def settings_from_config(config=None) -> RiskSettings:
    """RiskSettings from the RISK_* settings (RISK_HOLD_THRESHOLD, RISK_SILENCE_DAYS, …); a setting
    that is not configured keeps the default of RiskSettings."""
    config = config if config is not None else current_app.config
    values = {}
    for item in fields(RiskSettings):
        key = f"RISK_{item.name.upper()}"
        if config.get(key) is not None:
            cast = type(getattr(RiskSettings, item.name))
            values[item.name] = cast(config[key])
    return RiskSettings(**values)


def reasons_of(flags: list[Flag]) -> list[dict]:
    return [{"code": f.code, "points": f.points, "phase": f.phase, "detail": f.detail} for f in flags]


def _latest_point(campaign_id: int, at: datetime | None = None) -> RiskHistoryPoint | None:
    query = db.select(RiskHistoryPoint).where(RiskHistoryPoint.campaign_id == campaign_id)
    if at is not None:
        query = query.where(RiskHistoryPoint.at <= at)
    return db.session.execute(query.order_by(RiskHistoryPoint.at.desc(), RiskHistoryPoint.id.desc())
                              .limit(1)).scalar_one_or_none()


def assess(campaign_id: int, now: datetime, settings: RiskSettings | None = None) -> RiskAssessment:
    """Recompute the campaign's risk and store it (upsert), adding a history point when the score
    changed; tells the holds (crowdfund/risk/holds.py) when the score reaches the threshold. Flushes."""
    settings = settings or settings_from_config()
    flags = evaluate(campaign_signals(campaign_id, now, settings), settings)
    score = sum(flag.points for flag in flags)
    assessment = db.session.get(RiskAssessment, campaign_id)
    if assessment is None:
        assessment = RiskAssessment(campaign_id=campaign_id)
        db.session.add(assessment)
    assessment.score, assessment.reasons, assessment.computed_at = score, reasons_of(flags), now
    if score >= settings.hold_threshold and assessment.first_flagged_at is None:
        assessment.first_flagged_at = now
    latest = _latest_point(campaign_id)
    if latest is None or latest.score != score:
        db.session.add(RiskHistoryPoint(campaign_id=campaign_id, at=now, score=score))
    week_ago = _latest_point(campaign_id, now - TREND_WINDOW)
    assessment.previous_score = week_ago.score if week_ago is not None else None
    db.session.flush()
    if score >= settings.hold_threshold:
        _note_hold(campaign_id, now)
    return assessment


def _note_hold(campaign_id: int, now: datetime) -> None:
    """The founder is told once when releases become held (holds.note_hold_changes is idempotent)."""
    try:
        from crowdfund.risk.holds import note_hold_changes
    except ImportError:  # holds not present in this build
        return
    note_hold_changes(campaign_id, now)


def _numbers(detail: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in detail.items())


def _header(campaign: Campaign) -> list[str]:
    return [f"{campaign.slug} — {campaign.title}", f"state {campaign.state} (phase {phase_of(campaign.state)})"]


def _reason_lines(reasons: list[dict]) -> list[str]:
    lines = [] if reasons else ["no flags"]
    for item in reasons:
        label, explanation, _todo = reason(item["code"])
        lines.append(f"- {item['code']}  +{item['points']}  [{item['phase']}]  {_numbers(item.get('detail') or {})}")
        lines.append(f"    {label}: {explanation}")
    return lines


def explain(campaign: Campaign, settings: RiskSettings | None = None) -> str:
    """The campaign's stored assessment in plain text: score, then every flag with its code, points,
    phase, numbers, label and explanation."""
    settings = settings or settings_from_config()
    assessment = db.session.get(RiskAssessment, campaign.id)
    lines = _header(campaign)
    if assessment is None:
        lines.append("not assessed yet (run: flask crowdfund risk assess)")
        return "\n".join(lines) + "\n"
    trend = "" if assessment.previous_score is None else f", a week before {assessment.previous_score}"
    lines.append(f"score {assessment.score} (hold threshold {settings.hold_threshold}{trend}); "
                 f"computed {assessment.computed_at:%Y-%m-%d %H:%M} UTC")
    lines += _reason_lines(assessment.reasons or [])
    return "\n".join(lines) + "\n"


def explain_unstored(campaign: Campaign, now: datetime, settings: RiskSettings | None = None) -> str:
    """The campaign's risk as of now in the same plain text as explain(), stored nowhere (for a
    draft). Gathering the signals flushes the story signature: the caller rolls back."""
    settings = settings or settings_from_config()
    flags = evaluate(campaign_signals(campaign.id, now, settings), settings)
    lines = _header(campaign)
    lines.append(f"score {sum(f.points for f in flags)} (hold threshold {settings.hold_threshold}); "
                 f"computed now, not stored (a draft is assessed once submitted)")
    lines += _reason_lines(reasons_of(flags))
    return "\n".join(lines) + "\n"
