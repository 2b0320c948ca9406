"""Pages of crowdfund/risk: the moderators' risk queue, a campaign's flags and clearing them."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import NotFound

from crowdfund.campaigns.models import STATE_LABELS, Campaign
from crowdfund.clock import utcnow
from crowdfund.database import requested_page
from crowdfund.errors import DomainError
from crowdfund.extensions import db
from crowdfund.moderation.services import require_moderator
from crowdfund.payouts import releases
from crowdfund.risk import holds
from crowdfund.risk.forms import ClearForm
from crowdfund.risk.models import RiskAssessment

bp = Blueprint("risk", __name__, url_prefix="/moderation/risk")


@bp.before_request
@login_required
def moderators_only():
    require_moderator(current_user)


@bp.app_template_filter("risk_label")
def risk_label(code: str) -> str:
    """A reason code's label (risk/texts.py)."""
    return holds.reason_text(str(code)).label


@bp.get("")
def queue():
    pagination, rows = holds.risk_queue(requested_page(request.args), current_app.config["PAGE_SIZE"])
    return render_template("risk/queue.html", page=pagination, rows=rows, state_labels=STATE_LABELS)


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.execute(db.select(Campaign).where(Campaign.id == campaign_id)
                                  .options(selectinload(Campaign.founder))).scalar_one_or_none()
    if campaign is None:
        raise NotFound()
    return campaign


SPARK_W, SPARK_H, SPARK_PAD = 480, 120, 8


def score_chart(history, threshold: int) -> dict | None:
    """Inline-SVG geometry of the score over time (x by time, y by score) and the hold threshold's
    height; None with fewer than two points."""
    if len(history) < 2:
        return None
    start, end = history[0].at, history[-1].at
    span = max((end - start).total_seconds(), 1.0)
    top = max(max(point.score for point in history), threshold, 1)

    def y(score: int) -> int:
        return SPARK_H - SPARK_PAD - round(score * (SPARK_H - 2 * SPARK_PAD) / top)

    points = " ".join(f"{SPARK_PAD + round((p.at - start).total_seconds() * (SPARK_W - 2 * SPARK_PAD) / span)},"
                      f"{y(p.score)}" for p in history)
    return {"width": SPARK_W, "height": SPARK_H, "points": points, "threshold_y": y(threshold),
            "left": SPARK_PAD, "right": SPARK_W - SPARK_PAD}


def _detail_page(campaign: Campaign, form: ClearForm | None = None, status: int = 200):
    assessment = db.session.get(RiskAssessment, campaign.id)
    flags = [(reason, holds.reason_text(str(reason.get("code", ""))))
             for reason in (assessment.reasons or [] if assessment else []) if isinstance(reason, dict)]
    waiting = [r for r in releases.releases_of(campaign.id) if r.state in ("requested", "approved")]
    threshold, history = holds.settings().hold_threshold, holds.score_history(campaign.id)
    return render_template(
        "risk/detail.html", campaign=campaign, assessment=assessment, flags=flags,
        hold=holds.hold_of(campaign.id), threshold=threshold,
        history=history, chart=score_chart(history, threshold), clearances=holds.clearances_of(campaign.id),
        waiting=waiting, form=form or ClearForm(formdata=None), state_labels=STATE_LABELS), status


@bp.get("/<int:campaign_id>")
def detail(campaign_id):
    return _detail_page(_campaign(campaign_id))


@bp.post("/<int:campaign_id>/clear")
def clear(campaign_id):
    campaign = _campaign(campaign_id)
    form = ClearForm()
    if not form.validate_on_submit():
        return _detail_page(campaign, form, 422)
    try:
        holds.clear(campaign, current_user, form.reason.data, utcnow())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("risk.detail", campaign_id=campaign_id), 303)
    db.session.commit()
    flash(_("Flags cleared: releases of this campaign may be approved until a new flag appears."), "success")
    return redirect(url_for("risk.detail", campaign_id=campaign_id), 303)
