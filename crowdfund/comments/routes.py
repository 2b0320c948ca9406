from functools import wraps

from flask import (
    Blueprint, abort, current_app, flash, get_template_attribute, redirect, render_template, request, url_for,
)
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required

from crowdfund.campaigns.services import campaign_for_viewer
from crowdfund.comments import services
from crowdfund.comments.forms import CommentForm, HideForm, ReportForm, UnhideForm
from crowdfund.comments.models import Comment
from crowdfund.errors import ValidationFailed
from crowdfund.extensions import db, limiter
from crowdfund.moderation.services import require_moderator
from crowdfund.personal import filler, shared_render
from crowdfund.updates.routes import BACKER_OF
from crowdfund.redirects import safe_next
from crowdfund.updates.models import Update

bp = Blueprint("comments", __name__)


def _comment_rate_limit():
    return current_app.config["COMMENT_RATE_LIMIT"]


def _poster_key():
    """Per person when signed in (people behind one address don't share a limit), else per address."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return get_remote_address()


# One limit shared by comments on campaigns and on updates.
comment_limit = limiter.shared_limit(_comment_rate_limit, scope="post-comment", key_func=_poster_key)


def place_url(campaign, update_id: int | None, comment_id: int | None = None) -> str:
    anchor = f"comment-{comment_id}" if comment_id else "comments"
    if update_id is None:
        return url_for("campaigns.show", slug=campaign.slug, _anchor=anchor)
    return url_for("updates.show", slug=campaign.slug, update_id=update_id, _anchor=anchor)


@bp.app_template_global()
def comment_section(campaign, update=None) -> dict:
    """What the comments include needs, in a constant number of queries however many comments."""
    readable = services.may_read(current_user, campaign, update)
    threads = services.threads_of(campaign, update, current_user) if readable else []
    shown = [c for t in threads for c in (t.comment, *t.replies)]
    moderator = current_user.is_authenticated and current_user.is_moderator
    ids = [c.id for c in shown if moderator or not c.is_hidden]
    known_backer = request.environ.get(BACKER_OF, {}).get(campaign.id)
    refusal = services.posting_refusal(current_user, campaign, update, backer=known_backer) if readable else None
    return {
        "readable": readable, "threads": threads, "count": len(ids),
        "refusal": refusal, "may_post": readable and refusal is None,
        # In a shared body each viewer's "you reported this" is a slot (report_controls, below).
        "reported": set() if shared_render() else services.reported_by(current_user, ids),
        "moderator": moderator,
        "post_url": url_for("comments.post_on_campaign", slug=campaign.slug) if update is None
        else url_for("comments.post_on_update", slug=campaign.slug, update_id=update.id),
    }


@filler("report")
def report_controls(markers: list[tuple[int, ...]]) -> list[str]:
    """"Report" on each comment of a shared page, for this viewer: one query for all of them."""
    control = get_template_attribute("comments/_macros.html", "report_control")
    reported = services.reported_by(current_user, [comment_id for comment_id, _author in markers])
    return [str(control(comment_id, author_id, comment_id in reported, current_user))
            for comment_id, author_id in markers]


def _update_of(campaign, update_id: int) -> Update:
    update = db.session.get(Update, update_id)
    if update is None or update.campaign_id != campaign.id or not services.may_read(current_user, campaign, update):
        abort(404)
    return update


def _post(campaign, update):
    form = CommentForm()
    if form.validate_on_submit():
        try:
            comment = services.post_comment(campaign, current_user, form.body.data, update, form.parent)
        except ValidationFailed as error:
            form.body.errors = [*form.body.errors, error.message]
        else:
            db.session.commit()
            flash(_("Your comment is posted."), "success")
            return redirect(place_url(campaign, comment.update_id, comment.id), 303)
    elif services.posting_refusal(current_user, campaign, update):
        abort(403, services.posting_refusal(current_user, campaign, update))
    parent = db.session.get(Comment, form.parent) if form.parent_id.data and not form.parent_id.errors else None
    if parent is not None and (parent.campaign_id != campaign.id or parent.is_hidden):
        parent = None
    return render_template("comments/write.html", campaign=campaign, update=update, form=form, parent=parent,
                           back_url=place_url(campaign, update.id if update else None)), 422


@bp.post("/c/<slug>/comments")
@login_required
@comment_limit
def post_on_campaign(slug):
    return _post(campaign_for_viewer(slug, current_user), None)


@bp.post("/c/<slug>/updates/<int:update_id>/comments")
@login_required
@comment_limit
def post_on_update(slug, update_id):
    campaign = campaign_for_viewer(slug, current_user)
    return _post(campaign, _update_of(campaign, update_id))


@bp.post("/comments/<int:comment_id>/report")
@login_required
def report(comment_id):
    comment, campaign = services.comment_for_viewer(comment_id, current_user)
    form = ReportForm()
    if not form.validate_on_submit():
        abort(400, _("The reason can be at most %(n)d characters.", n=services.MAX_REPORT_REASON))
    if services.report_comment(comment, current_user, form.reason.data or ""):
        db.session.commit()
        flash(_("Thank you: the moderators will look at this comment."), "success")
    else:
        flash(_("You have already reported this comment."), "info")
    return redirect(place_url(campaign, comment.update_id, comment.id), 303)


# --- Moderation -----------------------------------------------------------------------------------

def moderator_only(view):
    """As the moderation blueprint: log in first, then 403 for anyone who is not a moderator."""

    @wraps(view)
    @login_required
    def guarded(*args, **kwargs):
        require_moderator(current_user)
        return view(*args, **kwargs)

    return guarded


def _comment(comment_id: int) -> Comment:
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        abort(404)
    return comment


def _back(comment: Comment):
    """Back to where the moderator acted: the campaign page or the reported-comments list."""
    return redirect(safe_next(request.form.get("next", ""), url_for("comments.moderation")), 303)


def _moderation_page(status=200, failed_comment=None, failed_form=None):
    """The reported-comments page; a hide form that failed is shown with its error and text."""
    return render_template("comments/moderation.html", reported=services.open_reports(),
                           hidden=services.hidden_comments(), failed_comment=failed_comment,
                           failed_form=failed_form), status


@bp.get("/moderation/comments")
@moderator_only
def moderation():
    return _moderation_page()


@bp.post("/moderation/comments/<int:comment_id>/hide")
@moderator_only
def hide(comment_id):
    comment = _comment(comment_id)
    form = HideForm()
    if not form.validate_on_submit():
        return _moderation_page(422, comment, form)
    services.hide_comment(comment, current_user, form.reason.data)
    db.session.commit()
    flash(_("The comment is hidden."), "success")
    return _back(comment)


@bp.post("/moderation/comments/<int:comment_id>/unhide")
@moderator_only
def unhide(comment_id):
    comment = _comment(comment_id)
    form = UnhideForm()
    if not form.validate_on_submit():
        abort(400)
    services.unhide_comment(comment, current_user, form.reason.data or "")
    db.session.commit()
    flash(_("The comment is shown again."), "success")
    return _back(comment)


@bp.post("/moderation/comments/<int:comment_id>/dismiss")
@moderator_only
def dismiss(comment_id):
    comment = _comment(comment_id)
    form = UnhideForm()
    if not form.validate_on_submit():
        abort(400)
    services.dismiss_reports(comment, current_user, form.reason.data or "")
    db.session.commit()
    flash(_("The reports are closed; the comment stays."), "success")
    return _back(comment)
