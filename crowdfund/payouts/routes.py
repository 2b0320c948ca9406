"""Releases: the founder requests a milestone's tranche, a moderator verifies it, the transfer follows."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from crowdfund.forms import Form as FlaskForm  # the project's input layer (crowdfund/forms.py)
from werkzeug.exceptions import NotFound
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from crowdfund import money
from crowdfund.campaigns.models import Campaign
from crowdfund.campaigns.services import campaign_for_founder
from crowdfund.clock import utcnow
from crowdfund.errors import DomainError
from crowdfund.extensions import db
from crowdfund.moderation.services import require_moderator
from crowdfund.payouts import releases
from crowdfund.settlement import releases as sending
from crowdfund.payouts.models import Release
from crowdfund.risk import holds
from crowdfund.updates.models import Update

bp = Blueprint("payouts", __name__)

STATE_LABELS = {"requested": _l("Waiting for verification"), "approved": _l("Approved, to be sent"),
                "rejected": _l("Rejected"), "transferring": _l("Being sent"), "transferred": _l("Released"),
                "failed": _l("Transfer failed")}


@bp.app_template_global()
def release_overview(campaign):
    """The campaign's releases for the milestone timeline, worked out once per request."""
    cache = request.environ.setdefault("crowdfund.release_overviews", {})  # per request (g may outlive it)
    if campaign.id not in cache:
        cache[campaign.id] = releases.release_overview(campaign)
    return cache[campaign.id]


@bp.app_template_global()
def payout_account_url():
    """The founder's payout account page (payout_accounts.show), if that blueprint has it."""
    if "payout_accounts.show" in current_app.view_functions:
        return url_for("payout_accounts.show")
    return None


@bp.app_template_global()
def release_state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state))


class RequestReleaseForm(FlaskForm):
    update_id = HiddenField()


class DecisionForm(FlaskForm):
    decision = RadioField(_l("Decision"), choices=[SelectChoice("approve", _l("Approve: send the tranche")),
                                                    SelectChoice("reject", _l("Reject"))],
                          validators=[DataRequired(message=_l("Approve or reject."))])
    reason = TextAreaField(_l("Reason (recorded in the audit log; shown to the founder)"),
                           validators=[DataRequired(message=_l("Give a reason.")), Length(max=5000)])


class RetryForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Length(max=5000)])


def _flash_outcome(outcome: sending.TransferOutcome, currency: str) -> None:
    if outcome.status == "transferred":
        flash(_("Released %(amount)s to the founder.", amount=money.format_money(outcome.amount, currency)),
              "success")
    elif outcome.status == "waiting":
        flash(_("Approved. The money is sent as soon as the founder's payout account can receive it."), "info")
    elif outcome.status == "held":
        flash(outcome.message, "info")
    elif outcome.status == "failed":
        flash(_("The transfer failed: %(error)s. It can be retried.", error=outcome.message), "error")


# --- founder ----------------------------------------------------------------------------------

@bp.post("/campaigns/<slug>/milestones/<int:milestone_id>/release")
@login_required
def request_release(slug, milestone_id):
    campaign = campaign_for_founder(slug, current_user)
    if not any(m.id == milestone_id for m in campaign.milestones):
        raise NotFound()
    form = RequestReleaseForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return redirect(url_for("campaigns.show", slug=slug) + f"#milestone-{milestone_id}", 303)
    try:
        update_id = int(form.update_id.data) if form.update_id.data else None
    except ValueError:
        update_id = None
    try:
        releases.request_release(campaign, milestone_id, update_id, current_user, utcnow())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(_("Release requested: a moderator will check your milestone report."), "success")
        if holds.hold_of(campaign.id) is not None:
            flash(_("Your releases are on hold after a risk review: your release schedule says what to do."), "info")
    return redirect(url_for("campaigns.show", slug=slug) + f"#milestone-{milestone_id}", 303)


@bp.get("/campaigns/<slug>/releases")
@login_required
def campaign_releases(slug):
    """The founder's view of the schedule: every tranche, its state and what it released; while the
    risk review holds the releases, what to do about each reason."""
    campaign = campaign_for_founder(slug, current_user)
    hold = holds.hold_of(campaign.id)
    return render_template("payouts/releases.html", campaign=campaign, releases=releases.releases_of(campaign.id),
                           overview=releases.release_overview(campaign), hold=hold,
                           hold_reasons=[holds.reason_text(code) for code in hold.codes] if hold else [])


# --- moderator --------------------------------------------------------------------------------

def _moderator():
    require_moderator(current_user)


def _release(release_id: int) -> Release:
    release = db.session.get(Release, release_id)
    if release is None:
        raise NotFound()
    return release


def _queue_page(forms=None, status: int = 200):
    rows = []
    risk_settings = holds.settings()
    for release in releases.requested_releases():
        campaign = db.session.get(Campaign, release.campaign_id)
        report = db.session.get(Update, release.update_id) if release.update_id else None
        rows.append((release, campaign, report, releases.amount_now(campaign, release.milestone_id),
                     (forms or {}).get(release.id) or DecisionForm(prefix=f"r{release.id}", formdata=None),
                     holds.hold_of(campaign.id, risk_settings)))
    failed = [(r, db.session.get(Campaign, r.campaign_id)) for r in releases.failed_releases()]
    return render_template("payouts/release_queue.html", rows=rows, failed=failed,
                           held=releases.approved_but_held(), retry_form=RetryForm(formdata=None)), status


@bp.get("/moderation/releases")
@login_required
def queue():
    _moderator()
    return _queue_page()


@bp.post("/moderation/releases/<int:release_id>/decide")
@login_required
def decide(release_id):
    _moderator()
    release = _release(release_id)
    form = DecisionForm(prefix=f"r{release.id}")
    if not form.validate_on_submit():
        if release.state != "requested":
            flash(_("This release was already decided."), "info")
            return redirect(url_for("payouts.queue"), 303)
        return _queue_page({release.id: form}, 422)
    campaign = db.session.get(Campaign, release.campaign_id)
    currency = campaign.currency
    try:
        if form.decision.data == "approve":
            releases.approve_release(release, current_user, form.reason.data, utcnow())
        else:
            releases.reject_release(release, current_user, form.reason.data, utcnow())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "info")
        return redirect(url_for("payouts.queue"), 303)
    db.session.commit()
    if form.decision.data == "approve":
        _flash_outcome(sending.transfer_release(release_id, utcnow()), currency)
    else:
        flash(_("Release rejected."), "success")
    return redirect(url_for("payouts.queue"), 303)


@bp.post("/moderation/releases/<int:release_id>/retry")
@login_required
def retry(release_id):
    _moderator()
    release = _release(release_id)
    form = RetryForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return redirect(url_for("payouts.queue"), 303)
    currency = db.session.get(Campaign, release.campaign_id).currency
    try:
        releases.retry_release(release, current_user, form.reason.data or "", utcnow())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "info")
        return redirect(url_for("payouts.queue"), 303)
    db.session.commit()
    _flash_outcome(sending.transfer_release(release_id, utcnow()), currency)
    return redirect(url_for("payouts.queue"), 303)
