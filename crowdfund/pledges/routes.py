"""Backing a campaign: the pledge form, the card page, the confirmation, and "My pledges"."""
import hashlib
import hmac

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from crowdfund.accounts.forms import EmptyForm
from crowdfund.campaigns.services import campaign_for_viewer
from crowdfund.clock import utcnow
from crowdfund.errors import IllegalTransition
from crowdfund.extensions import db, limiter
from crowdfund.payments import gateway
from crowdfund.pledges import services
from crowdfund.pledges.forms import PledgeForm
from crowdfund.pledges.models import Pledge
from crowdfund.settlement import checkout

bp = Blueprint("pledges", __name__)


def _pledge_rate_limit():
    return current_app.config["PLEDGE_RATE_LIMIT"]


PLEDGE_STATE_LABELS = {
    "pending": _l("Waiting for your card"), "active": _l("Card saved, not charged yet"),
    "collected": _l("Charged"), "errored": _l("Payment failed: action needed"), "dropped": _l("Dropped"),
    "cancelled": _l("Cancelled"), "void": _l("Void: nothing charged"),
}


@bp.app_context_processor
def pledge_helpers():
    return {"stripe_test_mode": gateway.is_test_mode, "pledge_state_label": PLEDGE_STATE_LABELS.__getitem__}


def _payment_unavailable():
    db.session.rollback()
    return _("The payment service could not be reached. Nothing was charged; please try again in a minute.")


def _client_ip_hash() -> str | None:
    """HMAC-SHA256 of the client's address keyed with SECRET_KEY (hex): pledges from one address can be
    grouped by the risk review, and the address itself is never stored."""
    if not request.remote_addr:
        return None
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, request.remote_addr.encode(), hashlib.sha256).hexdigest()


def _pledge_form_page(form, campaign, status=200, pledge=None):
    return render_template("pledges/new.html", form=form, campaign=campaign, pledge=pledge,
                           now=utcnow()), status


def _apply(form, campaign, action):
    """Run action(tier, amount, country); a refusal goes next to its field. Returns True on success."""
    try:
        action(form.chosen_tier, form.amount.minor, form.shipping_country.data or None)
    except services.PledgeRefused as error:
        db.session.rollback()
        getattr(form, error.field or "reward").errors.append(error.message)
        return False, error.status_code
    except gateway.GatewayError:
        form.reward.errors.append(_payment_unavailable())
        return False, 503
    return True, 200


@bp.route("/c/<slug>/pledge", methods=["GET", "POST"])
@login_required
@limiter.limit(_pledge_rate_limit, methods=["POST"])
def new(slug):
    campaign = campaign_for_viewer(slug, current_user, with_details=True)
    now = utcnow()
    if not campaign.is_open(now):
        raise IllegalTransition(_("This campaign is not taking pledges: it is not live, or its deadline has passed."))
    if campaign.founder_id == current_user.id:
        abort(403, _("You cannot back your own campaign."))
    existing = services.open_pledge_of(campaign, current_user)
    if existing is not None:
        return _to_existing(existing.id)
    form = PledgeForm(campaign=campaign, countries=services.country_codes(),
                      data=None if request.method == "POST" else {"reward": request.args.get("tier", "none")})
    if request.method == "GET" and form.reward.data not in dict(form.reward.choices):
        form.reward.data = "none"
    if not form.validate_on_submit():
        return _pledge_form_page(form, campaign, 422 if request.method == "POST" else 200)
    created = {}

    def start(tier, amount, country):
        created["pledge"] = checkout.start_pledge(campaign, current_user, tier, amount, country, now,
                                                  client_ip_hash=_client_ip_hash())

    try:
        ok, status = _apply(form, campaign, start)
    except services.AlreadyPledged as error:  # a double click or a second tab: the first submission won
        if error.pledge_id is None:
            raise
        return _to_existing(error.pledge_id)
    if not ok:
        return _pledge_form_page(form, campaign, status)
    return redirect(url_for("pledges.card", pledge_id=created["pledge"].id))


def _to_existing(pledge_id: int):
    """The backer's one open pledge on the campaign: its edit page (or the fix page once it errored)."""
    pledge = db.session.get(Pledge, pledge_id)
    if pledge is not None and pledge.state == "errored":
        return redirect(url_for("payments.fix", pledge_id=pledge_id))
    flash(_("You already back this campaign. You can change your pledge here."), "info")
    return redirect(url_for("pledges.edit", pledge_id=pledge_id))


@bp.get("/pledges/<int:pledge_id>/card")
@login_required
def card(pledge_id):
    pledge = services.pledge_for_backer(pledge_id, current_user)
    if pledge.state not in services.CHANGEABLE_STATES or not pledge.campaign.is_open(utcnow()):
        return redirect(url_for("pledges.show", pledge_id=pledge.id))
    try:
        client_secret = checkout.card_form_secret(pledge)
    except gateway.GatewayError:
        abort(503, _payment_unavailable())
    pledge = services.pledge_for_backer(pledge_id, current_user)  # read again after the Stripe call
    return render_template("pledges/card.html", pledge=pledge, campaign=pledge.campaign, form=EmptyForm(),
                           client_secret=client_secret, publishable_key=gateway.publishable_key(),
                           stripe_js_url=gateway.stripe_js_url())


@bp.post("/pledges/<int:pledge_id>/card")
@login_required
@limiter.limit(_pledge_rate_limit)
def new_card(pledge_id):
    """Replace the saved card: a new SetupIntent, confirmed on the same card page."""
    pledge = services.pledge_for_backer(pledge_id, current_user)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        checkout.new_card_setup(pledge, current_user, utcnow())
    except gateway.GatewayError:
        abort(503, _payment_unavailable())
    return redirect(url_for("pledges.card", pledge_id=pledge_id))


@bp.post("/pledges/<int:pledge_id>/complete")
@login_required
@limiter.limit(_pledge_rate_limit)
def complete(pledge_id):
    pledge = services.pledge_for_backer(pledge_id, current_user)
    if not EmptyForm().validate_on_submit():
        abort(400)
    first_time = pledge.state == "pending"
    now = utcnow()
    try:
        charge = checkout.complete_pledge(pledge, now)
    except gateway.GatewayError:
        abort(503, _payment_unavailable())
    if charge is None:  # the receipt goes out through the outbox (event pledge.completed)
        flash(_("Thank you! Your pledge is in.") if first_time else _("Your new card is saved."), "success")
    elif charge.status == "succeeded":  # charge_pledge has sent the payment receipt
        flash(_("Thank you! Your pledge is paid."), "success")
    elif charge.status == "requires_action":
        flash(_("Your bank asks you to confirm this payment."), "info")
        return redirect(url_for("payments.fix", pledge_id=pledge.id))
    elif charge.status == "failed":
        # Flexible: nothing was charged; the backer can try another card at once.
        flash(_("Your card was not charged: %(reason)s Please try another card.",
                reason=charge.message or charge.error_code or ""), "error")
        try:
            checkout.new_card_setup(db.session.get(Pledge, pledge_id), current_user, now)
        except gateway.GatewayError:
            abort(503, _payment_unavailable())
        return redirect(url_for("pledges.card", pledge_id=pledge_id))
    else:  # unknown or skipped: the charge may be under way; the periodic job settles it
        flash(charge.message or _("Your payment is being processed."), "warning")
    return redirect(url_for("pledges.show", pledge_id=pledge_id))


@bp.get("/pledges/<int:pledge_id>")
@login_required
def show(pledge_id):
    pledge = services.pledge_for_backer(pledge_id, current_user)
    return render_template("pledges/show.html", pledge=pledge, campaign=pledge.campaign, tier=pledge.reward_tier,
                           now=utcnow())


@bp.get("/me/pledges")
@login_required
def mine():
    return render_template("pledges/mine.html", pledges=services.pledges_of(current_user), now=utcnow(),
                           form=EmptyForm())


@bp.route("/pledges/<int:pledge_id>/edit", methods=["GET", "POST"])
@login_required
@limiter.limit(_pledge_rate_limit, methods=["POST"])
def edit(pledge_id):
    pledge = services.pledge_for_backer(pledge_id, current_user)
    campaign = campaign_for_viewer(pledge.campaign.slug, current_user, with_details=True)
    now = utcnow()
    if pledge.state not in services.CHANGEABLE_STATES or not campaign.is_open(now):
        raise IllegalTransition(_("This pledge can no longer be changed."))
    form = PledgeForm(campaign=campaign, countries=services.country_codes(),
                      data=None if request.method == "POST" else PledgeForm.data_for(pledge, campaign.currency))
    if not form.validate_on_submit():
        return _pledge_form_page(form, campaign, 422 if request.method == "POST" else 200, pledge=pledge)

    def change(tier, amount, country):
        checkout.change_pledge(pledge, current_user, tier, amount, country, now)

    ok, status = _apply(form, campaign, change)
    if not ok:
        return _pledge_form_page(form, campaign, status, pledge=pledge)
    flash(_("Your pledge is changed."), "success")
    if pledge.state == "pending":
        return redirect(url_for("pledges.card", pledge_id=pledge.id))
    return redirect(url_for("pledges.mine"))


@bp.route("/pledges/<int:pledge_id>/cancel", methods=["GET", "POST"])
@login_required
@limiter.limit(_pledge_rate_limit, methods=["POST"])
def cancel(pledge_id):
    pledge = services.pledge_for_backer(pledge_id, current_user)
    now = utcnow()
    form = EmptyForm()
    refusal = services.cancellation_refusal(pledge, now)
    if request.method == "POST" and form.validate_on_submit():
        checkout.cancel_pledge(pledge, current_user, now)  # raises IllegalTransition with the refusal
        flash(_("Your pledge is cancelled. Nothing will be charged."), "success")
        return redirect(url_for("pledges.mine"))
    return render_template("pledges/cancel.html", pledge=pledge, campaign=pledge.campaign, tier=pledge.reward_tier,
                           form=form, refusal=refusal), 409 if refusal else 200
