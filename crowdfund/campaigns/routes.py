from datetime import timezone

from flask import (
    Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import escape
from werkzeug.exceptions import NotFound
from wtforms.fields.choices import SelectChoice

from crowdfund import money
from crowdfund.accounts.forms import EmptyForm
from crowdfund.campaigns import lifecycle, services
from crowdfund.settlement import stops
from crowdfund.campaigns.forms import (
    BasicsForm, BudgetLineForm, CancelForm, MilestoneForm, NewCampaignForm, RewardTierForm,
)
from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.credit.routes import founder_summary
from crowdfund.errors import DomainError, ValidationFailed
from crowdfund.extensions import db
from crowdfund.http_errors import widget_content_security_policy
from crowdfund.markdown import render_markdown
from crowdfund.moderation.services import audit_log_query
from crowdfund.page_cache import campaign_version, slow_clock
from crowdfund.personal import shared_page
from crowdfund.pledges.services import pledged_totals
from crowdfund.templating import absolute_url
from crowdfund.updates.routes import BACKER_OF
from crowdfund.notifications.routes import FOLLOWER_OF
from crowdfund.updates.services import backs_and_follows_columns, latest_updates_of

bp = Blueprint("campaigns", __name__)

ITEM_FORMS = {"budget": BudgetLineForm, "rewards": RewardTierForm, "milestones": MilestoneForm}
ITEM_TITLES = {"budget": "Budget", "rewards": "Reward tiers", "milestones": "Milestones"}


def _category_choices(form_field, blank=True):
    choices = [SelectChoice(c.id, c.name) for c in services.categories()]
    form_field.choices = ([SelectChoice(0, _("Choose a category"))] if blank else []) + choices


@bp.route("/campaigns/new", methods=["GET", "POST"])
@login_required
def new():
    form = NewCampaignForm()
    _category_choices(form.category_id)
    if form.validate_on_submit():
        if form.category_id.data == 0:
            form.category_id.errors.append(_("Choose a category."))
        else:
            campaign = services.create_draft(current_user, form.title.data, form.category_id.data,
                                             form.currency.data, form.funding_model.data)
            db.session.commit()
            flash(_("Your draft is saved. Fill in the rest at your own pace."), "success")
            return redirect(url_for("campaigns.edit", slug=campaign.slug))
    return render_template("campaigns/new.html", form=form), 422 if request.method == "POST" else 200


@bp.get("/me/campaigns")
@login_required
def mine():
    campaigns = list(db.session.execute(
        db.select(Campaign).where(Campaign.founder_id == current_user.id)
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())).scalars())
    return render_template("campaigns/mine.html", campaigns=campaigns,
                           totals=pledged_totals(c.id for c in campaigns))


# Who is looking at a campaign page, as far as its body is concerned: everyone of one kind gets the
# same body (crowdfund/personal.py); the founder and moderators get a body of their own.
PERSONAL_VIEWERS = ("founder", "moderator")


def viewer_and_campaign(slug: str):
    """(the kind of viewer, the campaign or None): anonymous (nothing read: their body, stored or not,
    is all they get), signed-in, backer (reads backers-only updates, may comment), founder or moderator
    — the campaign read with whether the viewer backs and follows it, in one query. What it learns is
    kept for the personal parts. NotFound when this viewer may not see the campaign."""
    if not current_user.is_authenticated:
        return "anonymous", None
    row = db.session.execute(db.select(Campaign, *backs_and_follows_columns(current_user))
                             .where(Campaign.slug == slug)).first()
    if row is None or not services.can_view(current_user, row[0]):
        raise NotFound()
    campaign, backs, follows = row
    request.environ[BACKER_OF] = {campaign.id: bool(backs)}
    request.environ[FOLLOWER_OF] = {campaign.id: bool(follows)}
    if current_user.id == campaign.founder_id:
        return "founder", campaign
    if current_user.is_moderator:
        return "moderator", campaign
    return ("backer" if backs else "signed-in"), campaign


@bp.get("/c/<slug>")
def show(slug):
    """The campaign page: the body shared by every viewer of a kind (stored until the campaign
    changes), the viewer's own parts around it. With the body stored, an anonymous visitor costs no
    query, a signed-in one the user and the campaign (with "backs it" and "follows it") and the
    personal parts' queries; the founder's and moderators' pages are made for them."""
    kind, campaign = viewer_and_campaign(slug)
    personal = kind in PERSONAL_VIEWERS or (campaign is not None and not campaign.is_public)
    return shared_page(None if personal else f"campaign:{slug}:{kind}", (campaign_version(slug),),
                       "campaigns/show.html", lambda: campaign_page(slug, kind))


def campaign_page(slug: str, kind: str) -> dict:
    """Everything the campaign page's body shows, read afresh (the row loaded before the cache was
    asked may be older than the versions the body is stored under)."""
    campaign = services.campaign_for_viewer(slug, current_user, with_details=True, fresh=True)
    pledged, backers = campaign.pledged_amount, campaign.backer_count  # kept by the pledge triggers
    now = utcnow()
    if campaign.state != "live" or campaign.seconds_left(now) >= 3600:
        slow_clock()  # "20 days left", "5 hours left", "ended 3 May": fine for minutes
    founder_credit = founder_summary(campaign.founder_id)
    facts = founder_credit["profile"].facts if founder_credit["profile"] is not None else None
    launched = (facts or {}).get("campaigns_launched")
    if launched is None:  # no profile yet (it is made after the founder's first event): count them
        launched = db.session.execute(db.select(db.func.count(Campaign.id)).where(
            Campaign.founder_id == campaign.founder_id, Campaign.launched_at.is_not(None))).scalar_one()
    founder_stats = {"launched": launched}
    is_owner = kind == "founder"
    updates, update_count = latest_updates_of(campaign)
    seen = updates[0].created_at if updates else campaign.launched_at  # never later than the silence began
    silence_seen_at = int(seen.replace(tzinfo=timezone.utc).timestamp()) if seen else None
    return dict(
        silence_seen_at=silence_seen_at,
        campaign=campaign, viewer=kind, pledged=pledged, backers=backers, now=now,
        updates=updates, update_count=update_count, latest_update=updates[0].created_at if updates else None,
        update_reader=kind in ("backer", "founder", "moderator"),
        percent=money.percent(pledged, campaign.goal), founder_stats=founder_stats, is_owner=is_owner,
        founder_credit=founder_credit,
        budget_total=sum(line.amount for line in campaign.budget_lines),
        checklist=services.checklist(campaign) if is_owner and campaign.is_editable else None)


WIDGET_WIDTH, WIDGET_HEIGHT = 340, 440


@bp.app_template_global()
def embed_code(campaign) -> str:
    """The HTML a founder pastes into another site to show the widget (escaped where shown)."""
    src = absolute_url("campaigns.widget", slug=campaign.slug)
    return (f'<iframe src="{escape(src)}" width="{WIDGET_WIDTH}" height="{WIDGET_HEIGHT}" '
            f'style="border:0;max-width:100%" loading="lazy" title="{escape(campaign.title)}"></iframe>')


@bp.get("/c/<slug>/widget")
def widget(slug):
    """A small card with live progress, made to be framed by other sites: the one page whose
    Content-Security-Policy lets any site frame it. Only public campaigns have one."""
    campaign = services.campaign_for_viewer(slug, None)
    # The template reads the totals from the campaign row (kept by the pledge triggers).
    response = make_response(render_template("campaigns/widget.html", campaign=campaign, now=utcnow()))
    response.headers["Content-Security-Policy"] = widget_content_security_policy(current_app)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def _basics_data(campaign):
    return {
        "title": campaign.title, "blurb": campaign.blurb, "category_id": campaign.category_id or 0,
        "funding_model": campaign.funding_model, "currency": campaign.currency,
        "goal": money.amount_input(campaign.goal, campaign.currency) if campaign.goal else "",
        "duration_days": campaign.duration_days, "story": campaign.story, "risks": campaign.risks,
    }


@bp.route("/c/<slug>/edit", methods=["GET", "POST"])
@login_required
def edit(slug):
    campaign = services.campaign_for_founder(slug, current_user)
    if not campaign.is_editable:
        flash(_("This campaign can no longer be edited."), "warning")
        return redirect(url_for("campaigns.show", slug=slug))
    form = BasicsForm(currency=campaign.currency, data=None if request.method == "POST" else _basics_data(campaign))
    _category_choices(form.category_id)
    preview = None
    if request.method == "POST" and "preview" in request.form:
        # The no-script preview: the page again, unsaved, with the story as it will look.
        return render_template("campaigns/edit_basics.html", campaign=campaign, form=form,
                               checklist=services.checklist(campaign), section="basics",
                               preview=render_markdown(form.story.data or "", campaign.gallery))
    if form.validate_on_submit():
        if form.category_id.data == 0:
            form.category_id.errors.append(_("Choose a category."))
        else:
            try:
                services.update_basics(
                    campaign, title=form.title.data, blurb=form.blurb.data or "",
                    category_id=form.category_id.data, funding_model=form.funding_model.data,
                    currency=form.currency.data, goal=form.goal.minor or 0, duration_days=form.duration_days.data,
                    story=form.story.data or "", risks=form.risks.data or "")
            except ValidationFailed as error:  # the only rule the form cannot check: a currency change
                form.currency.errors.append(error.message)
            else:
                db.session.commit()
                flash(_("Saved."), "success")
                return redirect(url_for("campaigns.edit", slug=slug))
    return render_template("campaigns/edit_basics.html", campaign=campaign, form=form, preview=preview,
                           checklist=services.checklist(campaign), section="basics"), \
        422 if request.method == "POST" else 200


def _item_data(kind, item, currency):
    if kind == "budget":
        return {"purpose": item.purpose, "amount": money.amount_input(item.amount, currency)}
    if kind == "rewards":
        return {"title": item.title, "description": item.description,
                "minimum_amount": money.amount_input(item.minimum_amount, currency), "quantity": item.quantity,
                "estimated_delivery": item.estimated_delivery, "ships": item.ships,
                "shipping_amount": money.amount_input(item.shipping_amount, currency) if item.shipping_amount else ""}
    bp_whole, bp_frac = divmod(item.release_bp, 100)
    return {"title": item.title, "description": item.description, "due_date": item.due_date,
            "release_percent": f"{bp_whole}.{bp_frac:02d}" if bp_frac else str(bp_whole)}


def _item_fields(kind, form):
    if kind == "budget":
        return {"purpose": form.purpose.data, "amount": form.amount.minor}
    if kind == "rewards":
        return {"title": form.title.data, "description": form.description.data,
                "minimum_amount": form.minimum_amount.minor, "quantity": form.quantity.data,
                "estimated_delivery": form.estimated_delivery.data, "ships": form.ships.data,
                "shipping_amount": (form.shipping_amount.minor or 0) if form.ships.data else 0}
    return {"title": form.title.data, "description": form.description.data, "due_date": form.due_date.data,
            "release_bp": form.release_bp}


@bp.route("/c/<slug>/edit/<any(budget, rewards, milestones):kind>", methods=["GET", "POST"])
@bp.route("/c/<slug>/edit/<any(budget, rewards, milestones):kind>/<int:item_id>", methods=["GET", "POST"])
@login_required
def edit_items(slug, kind, item_id=None):
    campaign = services.campaign_for_founder(slug, current_user)
    if not campaign.is_editable:
        flash(_("This campaign can no longer be edited."), "warning")
        return redirect(url_for("campaigns.show", slug=slug))
    item = services.item_for_founder(campaign, kind, item_id) if item_id is not None else None
    data = _item_data(kind, item, campaign.currency) if item is not None and request.method == "GET" else None
    form = ITEM_FORMS[kind](currency=campaign.currency, data=data)
    if form.validate_on_submit():
        services.save_item(campaign, kind, _item_fields(kind, form), item)
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("campaigns.edit_items", slug=slug, kind=kind))
    return render_template("campaigns/edit_items.html", campaign=campaign, form=form, kind=kind, item=item,
                           section=kind, title=_(ITEM_TITLES[kind]), checklist=services.checklist(campaign),
                           delete_form=EmptyForm()), 422 if request.method == "POST" else 200


@bp.post("/c/<slug>/edit/<any(budget, rewards, milestones):kind>/<int:item_id>/delete")
@login_required
def delete_item(slug, kind, item_id):
    campaign = services.campaign_for_founder(slug, current_user)
    item = services.item_for_founder(campaign, kind, item_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.delete_item(campaign, item)
    db.session.commit()
    flash(_("Removed."), "info")
    return redirect(url_for("campaigns.edit_items", slug=slug, kind=kind))


@bp.post("/c/<slug>/submit")
@login_required
def submit(slug):
    campaign = services.campaign_for_founder(slug, current_user)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        lifecycle.submit_for_review(campaign, current_user, utcnow())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("campaigns.edit", slug=slug), 303)
    db.session.commit()
    flash(_("Submitted. A moderator will review your campaign; you will see their decision here."), "success")
    return redirect(url_for("campaigns.show", slug=slug), 303)


@bp.post("/c/<slug>/launch")
@login_required
def launch(slug):
    campaign = services.campaign_for_founder(slug, current_user, with_details=False)
    if not EmptyForm().validate_on_submit():
        abort(400)
    lifecycle.launch(campaign, current_user, utcnow())
    db.session.commit()
    flash(_("Your campaign is live. Share it!"), "success")
    return redirect(url_for("campaigns.show", slug=slug), 303)


@bp.route("/c/<slug>/cancel", methods=["GET", "POST"])
@login_required
def cancel(slug):
    campaign = services.campaign_for_founder(slug, current_user, with_details=False)
    if request.method == "GET" and campaign.state != "live":
        flash(_("Only a live campaign can be cancelled."), "warning")
        return redirect(url_for("campaigns.show", slug=slug))
    form = CancelForm()
    if form.validate_on_submit():
        refunds = stops.cancel_campaign(campaign, current_user, form.reason.data, utcnow())
        flash(_("The campaign is cancelled and every pledge released."), "info")
        if refunds is not None and refunds.failed:
            flash(_("Some backers could not be refunded yet; our moderators will finish the refunds."), "warning")
        elif refunds is not None:
            flash(_("Every backer who paid has been refunded."), "info")
        return redirect(url_for("campaigns.show", slug=slug), 303)
    return render_template("campaigns/cancel.html", campaign=campaign, form=form), \
        422 if request.method == "POST" else 200


@bp.get("/c/<slug>/history")
@login_required
def history(slug):
    """The founder's view of every review decision on their campaign."""
    campaign = services.campaign_for_founder(slug, current_user, with_details=False)
    entries = list(db.session.execute(audit_log_query(campaign.id)).scalars())
    return render_template("campaigns/history.html", campaign=campaign, entries=entries)
