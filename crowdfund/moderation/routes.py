from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import NotFound

from crowdfund import money
from crowdfund.campaigns import lifecycle, services as campaign_services
from crowdfund.campaigns.forms import DecisionForm, ReasonForm
from crowdfund.campaigns.models import STATE_LABELS, Campaign
from crowdfund.clock import utcnow
from crowdfund.database import requested_page
from crowdfund.extensions import db
from crowdfund.moderation import services
from crowdfund.pledges.services import pledged_totals

bp = Blueprint("moderation", __name__, url_prefix="/moderation")


@bp.before_request
@login_required
def require_moderator():
    services.require_moderator(current_user)


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.execute(
        db.select(Campaign).where(Campaign.id == campaign_id).options(
            selectinload(Campaign.founder), selectinload(Campaign.category), selectinload(Campaign.budget_lines),
            selectinload(Campaign.reward_tiers), selectinload(Campaign.milestones))).scalar_one_or_none()
    if campaign is None:
        raise NotFound()
    return campaign


@bp.get("/")
def queue():
    page = db.paginate(services.review_queue_query(), page=requested_page(request.args),
                       per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("moderation/queue.html", page=page, now=utcnow())


def _review_page(campaign: Campaign, status: int = 200, **forms):
    """The review page; a form that failed validation is passed in so its errors show next to its fields."""
    forms.setdefault("form", DecisionForm(formdata=None))
    forms.setdefault("feature_form", ReasonForm(prefix="feature", formdata=None))
    forms.setdefault("suspend_form", ReasonForm(prefix="suspend", formdata=None))
    pledged, backers = pledged_totals([campaign.id]).get(campaign.id, (0, 0))
    entries = list(db.session.execute(services.audit_log_query(campaign.id)).scalars())
    return render_template(
        "moderation/review.html", campaign=campaign, entries=entries, pledged=pledged, backers=backers,
        checklist=campaign_services.checklist(campaign),
        budget_total=sum(line.amount for line in campaign.budget_lines), now=utcnow(),
        percent=money.percent(pledged, campaign.goal), own=campaign.founder_id == current_user.id, **forms,
    ), status


@bp.route("/campaigns/<int:campaign_id>", methods=["GET", "POST"])
def review(campaign_id):
    campaign = _campaign(campaign_id)
    form = DecisionForm()
    if form.validate_on_submit():
        lifecycle.DECISIONS[form.decision.data](campaign, current_user, form.reason.data)
        db.session.commit()
        flash(_("Decision recorded: %(state)s.", state=str(STATE_LABELS[campaign.state])), "success")
        return redirect(url_for("moderation.queue"), 303)
    return _review_page(campaign, 422 if request.method == "POST" else 200, form=form)


@bp.post("/campaigns/<int:campaign_id>/feature")
def feature(campaign_id):
    campaign = _campaign(campaign_id)
    featured = request.form.get("featured") == "1"
    form = ReasonForm(prefix="feature")
    if not form.validate_on_submit():
        return _review_page(campaign, 422, feature_form=form)
    services.set_featured(campaign, current_user, featured, form.reason.data)
    db.session.commit()
    flash(_("Featured on the home page.") if featured else _("No longer featured."), "success")
    return redirect(url_for("moderation.review", campaign_id=campaign.id), 303)


@bp.post("/campaigns/<int:campaign_id>/suspend")
def suspend(campaign_id):
    campaign = _campaign(campaign_id)
    form = ReasonForm(prefix="suspend")
    if not form.validate_on_submit():
        return _review_page(campaign, 422, suspend_form=form)
    lifecycle.suspend(campaign, current_user, form.reason.data, utcnow())
    db.session.commit()
    flash(_("The campaign is suspended and its pledges released."), "success")
    return redirect(url_for("moderation.review", campaign_id=campaign.id), 303)


@bp.get("/audit")
def audit_log():
    page = db.paginate(services.audit_log_query(), page=requested_page(request.args),
                       per_page=50, error_out=False)
    return render_template("moderation/audit.html", page=page)
