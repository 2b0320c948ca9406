"""Payment pages and Stripe's webhook endpoint."""
import json

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crowdfund.accounts.forms import EmptyForm
from crowdfund.clock import utcnow
from crowdfund.errors import ValidationFailed
from crowdfund.extensions import csrf, db, limiter
from crowdfund.payments import gateway
from crowdfund.settlement import fixing, webhooks

bp = Blueprint("payments", __name__)


def _fix_rate_limit():
    # The fix flow saves and charges cards like pledging does, and is limited the same way.
    return current_app.config["PLEDGE_RATE_LIMIT"]


@bp.post("/stripe/webhook")
@csrf.exempt
def stripe_webhook():
    """Stripe's calls: the signature is checked on the raw body before anything is read or changed."""
    payload = request.get_data(cache=False)
    try:
        gateway.verify_event(payload, request.headers.get("Stripe-Signature"))
        event = json.loads(payload)
        if not isinstance(event, dict):
            raise ValueError("The event is not a JSON object.")
    except ValueError as error:
        return jsonify(error=str(error)), 400
    try:
        outcome = webhooks.handle_event(event, utcnow())
    except gateway.GatewayError as error:  # Stripe retries a failed delivery; nothing was stored
        current_app.logger.warning("Webhook %s not applied: %s", event.get("id"), error)
        return jsonify(error="Stripe could not be reached; retry later."), 503
    except ValueError as error:
        return jsonify(error=str(error)), 400
    return jsonify(received=True, outcome=outcome)


# --- The fix flow: a backer whose deadline charge failed pays after all (P2) ---------------------

def _fix_page(pledge, error=None, status=200):
    """The fix page for the pledge's current state; asks Stripe for what the browser needs."""
    from crowdfund.campaigns.models import Campaign

    campaign = db.session.get(Campaign, pledge.campaign_id)
    mode, client_secret, setup_intent_id = None, None, None
    if pledge.state == "errored":
        try:
            if fixing.needs_authentication(pledge):
                mode, client_secret = "authenticate", fixing.authentication_secret(pledge)
            elif not pledge.stripe_customer_id:
                mode = "account"
            else:
                mode = "card"
                key = f"fix-setup-intent-{pledge.id}"
                setup_intent_id, client_secret = fixing.start_new_card(pledge, session.get(key))
                session[key] = setup_intent_id
        except gateway.GatewayError:
            abort(503, _("The payment service could not be reached. Please try again in a minute."))
    return render_template(
        "payments/fix.html", pledge=pledge, campaign=campaign, mode=mode, client_secret=client_secret,
        setup_intent_id=setup_intent_id, publishable_key=gateway.publishable_key(),
        stripe_js_url=gateway.stripe_js_url(), form=EmptyForm(), error=error), status


@bp.get("/pledges/<int:pledge_id>/fix")
@login_required
@limiter.shared_limit(_fix_rate_limit, scope="fix-payment")
def fix(pledge_id):
    return _fix_page(fixing.pledge_of_backer(pledge_id, current_user))


@bp.post("/pledges/<int:pledge_id>/fix/confirmed")
@login_required
@limiter.shared_limit(_fix_rate_limit, scope="fix-payment")
def fix_confirmed(pledge_id):
    pledge = fixing.pledge_of_backer(pledge_id, current_user)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        result = fixing.confirm_authentication(pledge, utcnow())
    except gateway.GatewayError:
        db.session.rollback()
        abort(503, _("The payment service could not be reached. Please try again in a minute."))
    db.session.commit()
    if result.status == "succeeded":
        flash(_("Thank you! Your payment is confirmed."), "success")
        return redirect(url_for("pledges.show", pledge_id=pledge.id))
    message = (_("The payment was not confirmed. You can try again, or pay with another card.")
               if result.status == "requires_action" else
               _("The confirmation failed. Please pay with another card."))
    return _fix_page(pledge, message, 422)


@bp.post("/pledges/<int:pledge_id>/fix/account")
@login_required
@limiter.shared_limit(_fix_rate_limit, scope="fix-payment")
def fix_account(pledge_id):
    pledge = fixing.pledge_of_backer(pledge_id, current_user)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        fixing.add_customer(pledge, current_user)
    except gateway.GatewayError:
        db.session.rollback()
        abort(503, _("The payment service could not be reached. Please try again in a minute."))
    db.session.commit()
    return redirect(url_for("payments.fix", pledge_id=pledge.id))


@bp.post("/pledges/<int:pledge_id>/fix/card")
@login_required
@limiter.shared_limit(_fix_rate_limit, scope="fix-payment")
def fix_card(pledge_id):
    pledge = fixing.pledge_of_backer(pledge_id, current_user)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        result = fixing.save_new_card(pledge, request.form.get("setup_intent_id", ""), utcnow())
    except ValidationFailed as error:
        db.session.rollback()
        return _fix_page(pledge, error.message, 422)
    except gateway.GatewayError:
        db.session.rollback()
        abort(503, _("The payment service could not be reached. Please try again in a minute."))
    db.session.commit()
    db.session.refresh(pledge)
    if result.status == "succeeded":
        flash(_("Thank you! Your new card was charged."), "success")
        return redirect(url_for("pledges.show", pledge_id=pledge.id))
    if result.status == "requires_action":
        flash(_("Your bank asks you to confirm this payment."), "info")
        return redirect(url_for("payments.fix", pledge_id=pledge.id))
    if result.status in ("unknown", "skipped"):
        return _fix_page(pledge, result.message, 503 if result.status == "unknown" else 409)
    return _fix_page(pledge, _("Your new card was declined too: %(reason)s",
                               reason=result.message or result.error_code), 422)


@bp.get("/c/<slug>/settlement")
@login_required
def settlement(slug):
    """The founder's view of what was collected, what failed and what may still come in."""
    from crowdfund.campaigns.services import campaign_for_founder

    campaign = campaign_for_founder(slug, current_user, with_details=False)
    return render_template("payments/settlement.html", campaign=campaign,
                           summary=fixing.settlement_summary(campaign))
