"""Following campaigns, and the one-click unsubscribe link every notification email carries."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crowdfund.campaigns.services import campaign_for_viewer
from crowdfund.extensions import csrf, db
from crowdfund.notifications import services
from crowdfund.personal import filler
from crowdfund.notifications import handlers as _handlers  # noqa: F401  (registers the outbox handlers)

bp = Blueprint("notifications", __name__)


# campaign id -> whether the viewer follows it, when the request found out already (the campaign page).
FOLLOWER_OF = "crowdfund.follower_of"


@bp.app_template_global()
def follow_state(campaign) -> dict:
    """What the follow box on the campaign page shows: one query for a signed-in visitor (none when
    the request knows already), none else."""
    followable = campaign.state in services.FOLLOWABLE_STATES
    known = request.environ.get(FOLLOWER_OF, {}).get(campaign.id)
    following = (known if known is not None else services.is_following(current_user, campaign)) if followable else False
    return {"followable": followable, "following": following}


@filler("follow")
def follow_boxes(markers: list[tuple[int, ...]]) -> list[str]:
    """The follow box of a shared campaign page, for this viewer (the campaign is the request's)."""
    from crowdfund.campaigns.models import Campaign

    template = current_app.jinja_env.get_template("notifications/_follow.html")
    boxes = []
    for (campaign_id,) in markers:
        campaign = db.session.get(Campaign, campaign_id)
        boxes.append(template.render(campaign=campaign, current_user=current_user,
                                     is_owner=current_user.is_authenticated and current_user.id == campaign.founder_id))
    return boxes


@bp.post("/c/<slug>/follow")
@login_required
def follow(slug):
    campaign = campaign_for_viewer(slug, current_user)
    services.follow(current_user, campaign)
    db.session.commit()
    flash(_("You follow %(title)s: we will email you 48 hours before its deadline, and about its public "
            "updates.", title=campaign.title), "success")
    return redirect(url_for("campaigns.show", slug=slug))


@bp.post("/c/<slug>/unfollow")
@login_required
def unfollow(slug):
    campaign = campaign_for_viewer(slug, current_user)
    services.unfollow(current_user, campaign)
    db.session.commit()
    flash(_("You no longer follow %(title)s.", title=campaign.title), "success")
    return redirect(url_for("campaigns.show", slug=slug))


def _token_owner(token: str):
    found = services.read_unsubscribe_token(token)
    if found is None:
        abort(404)
    return found


@bp.get("/unsubscribe/<token>")
def unsubscribe(token):
    """The link in an email: asks before changing anything (mail scanners open links)."""
    user, preference = _token_owner(token)
    return render_template("notifications/unsubscribe.html", token=token, email=user.email,
                           what=services.PREFERENCE_LABELS[preference],
                           subscribed=getattr(user, services.PREFERENCES[preference]))


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # mail clients' one-click POST (RFC 8058) carries no CSRF token; the signed token is the proof
def unsubscribe_confirm(token):
    user, preference = _token_owner(token)
    services.unsubscribe(user, preference)
    db.session.commit()
    return render_template("notifications/unsubscribed.html", email=user.email,
                           what=services.PREFERENCE_LABELS[preference])
