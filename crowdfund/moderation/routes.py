from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import NotFound

from crowdfund import money
from crowdfund.campaigns import lifecycle, services as campaign_services
from crowdfund.accounts.forms import EmptyForm
from crowdfund.campaigns.forms import DecisionForm, ReasonForm
from crowdfund.campaigns.models import STATE_LABELS, Campaign
from crowdfund.clock import utcnow
from crowdfund.database import requested_page
from crowdfund.errors import ValidationFailed
from crowdfund.extensions import db
from crowdfund.moderation import services
from crowdfund.moderation.forms import RefundForm
from crowdfund.payments import ledger
from crowdfund.settlement import refunds
from crowdfund.payouts import abandon as abandonment
from crowdfund.settlement import abandon as settle_abandon
from crowdfund.settlement import stops
from crowdfund.pledges.models import Pledge
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
    forms.setdefault("refund_all_form", ReasonForm(prefix="refund_all", formdata=None))
    pledged, backers = pledged_totals([campaign.id]).get(campaign.id, (0, 0))
    entries = list(db.session.execute(services.audit_log_query(campaign.id)).scalars())
    return render_template(
        "moderation/review.html", campaign=campaign, entries=entries, pledged=pledged, backers=backers,
        checklist=campaign_services.checklist(campaign),
        budget_total=sum(line.amount for line in campaign.budget_lines), now=utcnow(),
        percent=money.percent(pledged, campaign.goal), own=campaign.founder_id == current_user.id,
        pledge_rows=_pledge_rows(campaign), money_left=refunds.money_to_refund(campaign), **forms,
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
    outcome = stops.suspend_campaign(campaign, current_user, form.reason.data, utcnow())
    flash(_("The campaign is suspended and its pledges released."), "success")
    _flash_refunds(outcome, campaign.currency)
    return redirect(url_for("moderation.review", campaign_id=campaign.id), 303)


@bp.get("/audit")
def audit_log():
    page = db.paginate(services.audit_log_query(), page=requested_page(request.args),
                       per_page=50, error_out=False)
    return render_template("moderation/audit.html", page=page)


# --- Refunds --------------------------------------------------------------------------------------

PLEDGE_ROWS_SHOWN = 200


def _pledge_rows(campaign: Campaign) -> list[tuple]:
    """(pledge, collected, refunded) for the campaign's latest pledges, in two queries."""
    pledges = list(db.session.execute(
        db.select(Pledge).where(Pledge.campaign_id == campaign.id).options(selectinload(Pledge.backer))
        .order_by(Pledge.id.desc()).limit(PLEDGE_ROWS_SHOWN)).scalars())
    balances = ledger.pledge_balances([p.id for p in pledges])
    return [(p, *balances.get(p.id, (0, 0))) for p in pledges]


def _pledge_with_money(pledge_id: int):
    pledge = db.session.execute(db.select(Pledge).where(Pledge.id == pledge_id).options(
        selectinload(Pledge.campaign), selectinload(Pledge.backer))).scalar_one_or_none()
    if pledge is None:
        raise NotFound()
    collected, refunded = ledger.pledge_balance(pledge.id)
    return pledge, collected, refunded


@bp.route("/pledges/<int:pledge_id>/refund", methods=["GET", "POST"])
def refund_pledge(pledge_id):
    """Refund one pledge in full or in part, with a reason (audit-logged, the backer emailed)."""
    pledge, collected, refunded = _pledge_with_money(pledge_id)
    currency, backer_name, campaign_id = pledge.campaign.currency, pledge.backer.display_name, pledge.campaign_id
    form = RefundForm(currency=currency)
    if request.method == "GET" and collected > refunded:
        form.amount.data = money.amount_input(collected - refunded, currency)
    status = 200
    if form.validate_on_submit():
        try:
            amount = refunds.refund_pledge(pledge, form.amount.minor, form.reason.data, current_user, utcnow())
        except ValidationFailed as error:
            form.amount.errors = [*form.amount.errors, error.message]
        except refunds.RefundFailed as error:
            flash(error.message, "error")
            status = 502
        else:
            flash(_("Refunded %(amount)s to %(backer)s.", amount=money.format_money(amount, currency),
                    backer=backer_name), "success")
            return redirect(url_for("moderation.review", campaign_id=campaign_id), 303)
        pledge, collected, refunded = _pledge_with_money(pledge_id)
    if request.method == "POST" and status == 200:
        status = 422
    return render_template("moderation/refund.html", pledge=pledge, campaign=pledge.campaign, form=form,
                           collected=collected, refunded=refunded), status


@bp.post("/campaigns/<int:campaign_id>/refund-all")
def refund_campaign(campaign_id):
    """Finish refunding a stopped campaign (after a Stripe failure left some pledges unrefunded)."""
    campaign = _campaign(campaign_id)
    form = ReasonForm(prefix="refund_all")
    if not form.validate_on_submit():
        return _review_page(campaign, 422, refund_all_form=form)
    if campaign.state not in refunds.STOPPED_STATES:
        flash(_("Only a cancelled or suspended campaign is refunded as a whole."), "error")
        return redirect(url_for("moderation.review", campaign_id=campaign.id), 303)
    _flash_refunds(refunds.refund_campaign(campaign, current_user, form.reason.data, utcnow()), campaign.currency)
    return redirect(url_for("moderation.review", campaign_id=campaign.id), 303)


def _flash_refunds(outcome, currency: str) -> None:
    """Tell the moderator (or founder) what a campaign-wide refund did; failures are retryable."""
    if outcome is None:
        return
    if outcome.refunded:
        flash(_("Refunded %(amount)s to %(count)d backer(s).", amount=money.format_money(outcome.amount, currency),
                count=outcome.refunded), "success")
    if outcome.failed:
        flash(_("%(count)d pledge(s) could not be refunded now (Stripe did not answer). A moderator can retry "
                "from the campaign's review page.", count=len(outcome.failed)), "error")


# --- Overdue milestones and abandoned campaigns (crowdfund/payouts/abandon.py) ----------------------

@bp.get("/overdue")
def overdue():
    return render_template("moderation/overdue.html", rows=abandonment.overdue_milestones(utcnow().date()))


@bp.route("/campaigns/<int:campaign_id>/abandon", methods=["GET", "POST"])
def abandon(campaign_id):
    """Declare a funded campaign abandoned (reason + confirmation) and refund what is held; on an
    abandoned campaign, finish refunds a Stripe failure left undone."""
    campaign = _campaign(campaign_id)
    if campaign.state not in ("successful", "abandoned"):
        flash(_("Only a funded campaign can be declared abandoned."), "error")
        return redirect(url_for("moderation.review", campaign_id=campaign.id), 303 if request.method == "POST" else 302)
    form = abandonment.AbandonForm() if campaign.state == "successful" else EmptyForm()
    if form.validate_on_submit():
        reason = form.reason.data if isinstance(form, abandonment.AbandonForm) else ""
        outcome = settle_abandon.declare_abandoned(campaign, current_user, reason, utcnow())
        if outcome.declared:
            flash(_("The campaign is abandoned; %(count)d release(s) waiting were rejected.",
                    count=outcome.cancelled_releases), "success")
        if outcome.busy:
            flash(_("Refunds for this campaign are already being made; reload in a minute."), "error")
        _flash_refunds(outcome if outcome.refunded or outcome.failed else None, campaign.currency)
        return redirect(url_for("moderation.abandon", campaign_id=campaign.id), 303)
    return render_template("payouts/abandon.html", campaign=campaign, form=form,
                           **abandonment.abandonment_summary(campaign)), 422 if request.method == "POST" else 200
