from datetime import datetime, timezone

from flask import (
    Blueprint, abort, flash, get_template_attribute, make_response, redirect, render_template, request, url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crowdfund.campaigns.services import campaign_for_founder, campaign_for_viewer
from crowdfund.clock import utcnow
from crowdfund.errors import NotAllowed
from crowdfund.extensions import db
from crowdfund.personal import filler
from crowdfund.updates import services
from crowdfund.updates.forms import UpdateForm
from crowdfund.updates.models import MILESTONE_STATUS_LABELS, Update

bp = Blueprint("updates", __name__)


# Data for the campaign page's includes (templates/updates/_campaign_section.html and
# templates/campaigns/_budget_and_milestones.html): each a constant number of queries.
bp.app_template_global("spend_by_line")(services.spend_by_line)
bp.app_template_global("milestone_reports")(services.milestone_reports)


@bp.app_template_global()
def update_accountability(campaign):
    """The "request an update" state for the current user (see services.accountability)."""
    return services.accountability(campaign, current_user)


# campaign id -> whether the viewer backs it, when the request found out already (the campaign page).
BACKER_OF = "crowdfund.backer_of"


@filler("request-box")
def request_boxes(markers: list[tuple[int, ...]]) -> list[str]:
    """"Request an update" on a shared campaign page, for this viewer. A marker may carry when the body
    saw the campaign's silence begin (seconds since the epoch, never later than it really began): a
    silence shorter than the wait has nothing to show a backer — no button, no request of theirs
    during it — so no query."""
    from crowdfund.campaigns.models import Campaign

    box = get_template_attribute("_macros/updates.html", "request_box")
    known = request.environ.get(BACKER_OF, {})
    now = utcnow()
    boxes = []
    for campaign_id, *silent_since in markers:
        campaign = db.session.get(Campaign, campaign_id)
        if silent_since and current_user.id != campaign.founder_id and not current_user.is_moderator and \
                now - datetime.fromtimestamp(silent_since[0], timezone.utc).replace(tzinfo=None) < services.SILENCE_BEFORE_REQUEST:
            boxes.append("")
            continue
        boxes.append(str(box(campaign, services.accountability(campaign, current_user, backer=known.get(campaign.id)))))
    return boxes


@bp.app_template_global()
def milestone_status_label(status: str) -> str:
    return str(MILESTONE_STATUS_LABELS.get(status, status))


@bp.get("/c/<slug>/updates")
def index(slug):
    campaign = campaign_for_viewer(slug, current_user, with_details=True)
    return render_template("updates/index.html", campaign=campaign, updates=services.updates_of(campaign),
                           reader=services.reads_backer_updates(current_user, campaign),
                           is_owner=current_user.is_authenticated and current_user.id == campaign.founder_id,
                           now=utcnow())


@bp.post("/c/<slug>/updates/request")
@login_required
def request_update(slug):
    """A backer asks the founder for news after 30 days of silence (once per silence)."""
    campaign = campaign_for_viewer(slug, current_user)
    try:
        services.request_update(campaign, current_user, utcnow())
    except services.AlreadyRequested as error:
        flash(error.message, "info")
    else:
        db.session.commit()
        flash(_("Thank you: the founder has been told that you are waiting for news."), "success")
    return redirect(url_for("campaigns.show", slug=slug) + "#updates-h", 303)


@bp.get("/c/<slug>/updates/<int:update_id>")
def show(slug, update_id):
    campaign = campaign_for_viewer(slug, current_user, with_details=True)
    update = db.session.get(Update, update_id)
    if update is None or update.campaign_id != campaign.id:
        abort(404)
    if not update.is_public and not services.reads_backer_updates(current_user, campaign):
        if not current_user.is_authenticated:  # a backer following an email link, not logged in yet
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        abort(404)
    return render_template("updates/show.html", campaign=campaign, update=update)


@bp.route("/c/<slug>/updates/new", methods=["GET", "POST"])
@login_required
def new(slug):
    campaign = campaign_for_founder(slug, current_user)
    if campaign.state not in services.POSTING_STATES:
        flash(_("Updates can be posted once the campaign has launched."), "warning")
        return redirect(url_for("campaigns.show", slug=slug))
    reporting = campaign.state in services.REPORTING_STATES
    form = UpdateForm(campaign=campaign)
    if form.validate_on_submit():
        report, spend = _reports_from(form) if reporting else (None, [])
        try:
            update = services.post_update(campaign, current_user, form.title.data, form.body.data,
                                          form.visibility.data, milestone_report=report, spend=spend)
        except services.ReportRefused as error:
            _field_named(form, error.field).errors.append(error.message)
        except NotAllowed as error:
            form.visibility.errors.append(error.message)
        else:
            db.session.commit()  # the update, and its event: backers and followers are emailed after this
            flash(_("Your update is posted."), "success")
            return redirect(url_for("updates.show", slug=slug, update_id=update.id))
    return render_template("updates/new.html", campaign=campaign, form=form, reporting=reporting), \
        422 if request.method == "POST" else 200


def _reports_from(form: UpdateForm):
    """The milestone report and spend lines the founder filled in (empty and zero amounts are none)."""
    report = None
    if form.milestone_id.data is not None:
        status = form.milestone_status.data
        report = services.MilestoneReport(
            milestone_id=form.milestone_id.data, status=status,
            new_date=form.milestone_new_date.data if status == "delayed" else None,
            note={"delayed": form.milestone_reason.data, "completed": form.milestone_evidence.data}.get(status) or "")
    spend = [services.SpendLine(line.id, entry.amount.minor, entry.note.data or "", form_field=entry.amount.name)
             for line, entry in form.spend_rows() if entry.amount.minor]
    return report, spend


def _field_named(form: UpdateForm, name: str | None):
    """The form field an error belongs to (the visibility field when none is named)."""
    fields = {field.name: field for field in form}
    for entry in form.spend:
        fields.update({field.name: field for field in entry.form})
    return fields.get(name) or form.visibility


@bp.get("/c/<slug>/updates.atom")
def feed(slug):
    """An Atom feed of the campaign's public updates (backers-only ones are never in it)."""
    campaign = campaign_for_viewer(slug, None, with_details=True)
    updates = services.public_updates_of(campaign)
    # Plain strings (the HTML stored at save time), so the XML template escapes it into the entry's text.
    entries = [(update, update.body_html) for update in updates]
    response = make_response(render_template("updates/feed.xml", campaign=campaign, entries=entries,
                                             updated=updates[0].created_at if updates else campaign.launched_at
                                             or campaign.created_at))
    response.mimetype = "application/atom+xml"
    return response
