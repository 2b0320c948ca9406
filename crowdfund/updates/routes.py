from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crowdfund.campaigns.services import campaign_for_founder, campaign_for_viewer
from crowdfund.clock import utcnow
from crowdfund.errors import NotAllowed
from crowdfund.extensions import db
from crowdfund.markdown import render_markdown
from crowdfund.updates import services
from crowdfund.updates.forms import UpdateForm
from crowdfund.updates.models import Update

bp = Blueprint("updates", __name__)


@bp.get("/c/<slug>/updates")
def index(slug):
    campaign = campaign_for_viewer(slug, current_user, with_details=True)
    return render_template("updates/index.html", campaign=campaign, updates=services.updates_of(campaign),
                           reader=services.reads_backer_updates(current_user, campaign),
                           is_owner=current_user.is_authenticated and current_user.id == campaign.founder_id,
                           now=utcnow())


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
    form = UpdateForm()
    if form.validate_on_submit():
        try:
            update = services.post_update(campaign, current_user, form.title.data, form.body.data,
                                          form.visibility.data)
        except NotAllowed as error:
            form.visibility.errors.append(error.message)
        else:
            db.session.commit()
            flash(_("Your update is posted."), "success")
            return redirect(url_for("updates.show", slug=slug, update_id=update.id))
    return render_template("updates/new.html", campaign=campaign, form=form), \
        422 if request.method == "POST" else 200


@bp.get("/c/<slug>/updates.atom")
def feed(slug):
    """An Atom feed of the campaign's public updates (backers-only ones are never in it)."""
    campaign = campaign_for_viewer(slug, None, with_details=True)
    updates = services.public_updates_of(campaign)
    # Plain strings, so the XML template escapes the HTML into the entry's text.
    entries = [(update, str(render_markdown(update.body, campaign.gallery))) for update in updates]
    response = make_response(render_template("updates/feed.xml", campaign=campaign, entries=entries,
                                             updated=updates[0].created_at if updates else campaign.launched_at
                                             or campaign.created_at))
    response.mimetype = "application/atom+xml"
    return response
