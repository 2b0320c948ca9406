"""/me/payouts: a founder connects a Stripe Connect Express account and sees whether it can receive transfers.

Flow: POST /me/payouts/connect creates the account (once) and sends the founder (303) to a fresh
account link at Stripe (the stand-in's "Test onboarding" page without keys). Stripe sends them back
to /me/payouts/return, which reads the account back and stores its status; an expired or reused
link sends them to /me/payouts/refresh, which makes a new link.

Both return and refresh are GETs because Stripe redirects there. They change nothing a user
decides: return re-reads Stripe's truth into the local mirror (idempotent, like the
account.updated webhook does), refresh only asks Stripe for a new link."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import BadRequest

from crowdfund.accounts.forms import EmptyForm
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.http_errors import content_security_policy
from crowdfund.payments import gateway
from crowdfund.payouts import accounts
from crowdfund.templating import absolute_url

bp = Blueprint("payout_accounts", __name__)

STRIPE_CONNECT_ORIGIN = "https://connect.stripe.com"


def _absolute(endpoint: str) -> str:
    return absolute_url(endpoint)  # on PUBLIC_URL, never the request's host


def _onboarding_origin() -> str:
    if gateway.uses_standin():
        parts = urlsplit(current_app.config["STRIPE_STANDIN_URL"])
        return f"{parts.scheme}://{parts.netloc}"
    return STRIPE_CONNECT_ORIGIN


def _back_after_gateway_trouble():
    """Undo what this request did, say Stripe could not be reached, and go back to /me/payouts."""
    db.session.rollback()
    flash(_("We could not reach our payment provider just now. Nothing was changed; please try again "
            "in a few minutes."), "error")
    return redirect(url_for("payout_accounts.show"), 303)


def _to_onboarding(account):
    """303 to a fresh account link, or back to /me/payouts with a message when Stripe fails."""
    try:
        url = accounts.onboarding_url(account, _absolute("payout_accounts.refresh"),
                                      _absolute("payout_accounts.returned"))
    except gateway.GatewayError:
        return _back_after_gateway_trouble()
    return redirect(url, 303)


@bp.get("/me/payouts")
@login_required
def show():
    account = accounts.payout_account_of(current_user.id)
    response = make_response(render_template(
        "payouts/account.html", account=account, status=accounts.status_of(account), form=EmptyForm(),
        required=current_app.config.get("REQUIRE_PAYOUT_ACCOUNT")))
    # The Connect button's form is answered with a redirect to Stripe's onboarding: browsers check
    # form-action against every redirect of a form submission, so this page allows that origin too.
    response.headers["Content-Security-Policy"] = content_security_policy(current_app).replace(
        "form-action 'self'", f"form-action 'self' {_onboarding_origin()}")
    return response


@bp.post("/me/payouts/connect")
@login_required
def connect():
    if not EmptyForm().validate_on_submit():
        raise BadRequest()
    try:
        account = accounts.ensure_account(current_user)
        db.session.commit()
    except gateway.GatewayError:
        return _back_after_gateway_trouble()
    if account.can_receive_transfers:
        flash(_("Your payout account is ready to receive transfers."), "info")
        return redirect(url_for("payout_accounts.show"), 303)
    return _to_onboarding(account)


@bp.post("/me/payouts/check")
@login_required
def check():
    if not EmptyForm().validate_on_submit():
        raise BadRequest()
    return _read_back(flash_ready=True)


@bp.get("/me/payouts/return")
@login_required
def returned():
    return _read_back(flash_ready=True)


@bp.get("/me/payouts/refresh")
@login_required
def refresh():
    account = accounts.payout_account_of(current_user.id)
    if account is None:
        return redirect(url_for("payout_accounts.show"))
    return _to_onboarding(account)


def _read_back(flash_ready: bool):
    account = accounts.payout_account_of(current_user.id)
    if account is None:
        return redirect(url_for("payout_accounts.show"), 303)
    try:
        accounts.refresh_status(account, utcnow())
        db.session.commit()
    except gateway.GatewayError:
        return _back_after_gateway_trouble()
    if account.can_receive_transfers:
        flash(_("Your payout account is ready to receive transfers."), "success")
    else:
        flash(_("Your payout account is not ready yet: the onboarding is incomplete or still being reviewed."),
              "warning")
    return redirect(url_for("payout_accounts.show"), 303)
