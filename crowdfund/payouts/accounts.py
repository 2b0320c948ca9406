"""Founders' payout accounts: a Stripe Connect Express account per founder, read back from Stripe.

The row (PayoutAccount, one per user) mirrors what Stripe says about the account; Stripe is the
truth. It is refreshed when the founder comes back from onboarding, when they ask, and on
`account.updated` webhooks. Plain functions that flush; routes and the webhook handler commit."""
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from crowdfund.errors import NotAllowed
from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.payouts.models import PayoutAccount

# What /me/payouts shows: no account yet, onboarding not finished (or Stripe still reviewing), ready.
STATUS_NONE, STATUS_INCOMPLETE, STATUS_READY = "none", "incomplete", "ready"


def payout_account_of(user_id: int) -> PayoutAccount | None:
    return db.session.execute(db.select(PayoutAccount).where(PayoutAccount.user_id == user_id)).scalar_one_or_none()


def status_of(account: PayoutAccount | None) -> str:
    if account is None:
        return STATUS_NONE
    return STATUS_READY if account.can_receive_transfers else STATUS_INCOMPLETE


def can_receive_transfers(user_id: int) -> bool:
    account = payout_account_of(user_id)
    return account is not None and account.can_receive_transfers


def ensure_account(user) -> PayoutAccount:
    """The user's payout account, creating the Connect account at Stripe the first time.

    Raises gateway.GatewayError when Stripe refuses or cannot be reached (nothing is stored then).
    Two concurrent first clicks: both create an account at Stripe, the unique user_id keeps one
    row and the other request uses it (the second Stripe account stays unused)."""
    account = payout_account_of(user.id)
    if account is not None:
        return account
    stripe_account_id = gateway.create_connect_account(user.email, user.id)
    account = PayoutAccount(user_id=user.id, stripe_account_id=stripe_account_id)
    try:
        with db.session.begin_nested():
            db.session.add(account)
    except IntegrityError:
        existing = payout_account_of(user.id)
        if existing is None:
            raise
        return existing
    return account


def onboarding_url(account: PayoutAccount, refresh_url: str, return_url: str) -> str:
    """A fresh account link for the account (links expire after a few minutes: never store one)."""
    return gateway.account_link_url(account.stripe_account_id, refresh_url, return_url)


def refresh_status(account: PayoutAccount, now: datetime) -> PayoutAccount:
    """Read the account back from Stripe and store what it says. Raises gateway.GatewayError."""
    return _store(account, gateway.account_status(account.stripe_account_id), now)


def payout_account_by_stripe_id(stripe_account_id: str) -> PayoutAccount | None:
    return db.session.execute(db.select(PayoutAccount).where(
        PayoutAccount.stripe_account_id == stripe_account_id)).scalar_one_or_none()


def store_status(stripe_account_id: str | None, status, now: datetime) -> str:
    """An `account.updated` event: store the status read back from Stripe (never the event's copy). Flushes."""
    account = payout_account_by_stripe_id(stripe_account_id) if stripe_account_id else None
    if account is None:
        return "ignored"
    _store(account, status, now)
    return "recorded"


def _store(account: PayoutAccount, status, now: datetime) -> PayoutAccount:
    account.details_submitted = status.details_submitted
    account.transfers_active = status.transfers_active
    account.payouts_enabled = status.payouts_enabled
    account.checked_at = now
    db.session.flush()
    return account


def require_payout_account_for_launch(user) -> None:
    """Launching needs a payout account that can receive transfers, unless REQUIRE_PAYOUT_ACCOUNT is off."""
    if not current_app.config.get("REQUIRE_PAYOUT_ACCOUNT"):
        return
    if not can_receive_transfers(user.id):
        raise NotAllowed(_("Before launching, connect a payout account that can receive transfers: "
                           "open Payouts in the menu (%(path)s) and finish the onboarding.", path="/me/payouts"))
