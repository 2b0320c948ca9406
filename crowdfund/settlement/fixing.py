"""The fix flow for a pledge whose deadline charge failed, and what the founder sees of settlement.

Authentication needed (3-D Secure) → the backer confirms the SAME PaymentIntent on-session and the
server reads it back; any other decline → the backer saves a new card (a new SetupIntent) and it
is charged at once, on-session, as a new attempt. Only the backer may see or fix their pledge."""
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func
from werkzeug.exceptions import NotFound

from crowdfund.errors import IllegalTransition, ValidationFailed
from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.settlement.charging import AUTHENTICATION_REQUIRED, charge_pledge, record_successful_charge
from crowdfund.payments.gateway import ChargeResult
from crowdfund.pledges.models import Pledge


def pledge_of_backer(pledge_id: int, user) -> Pledge:
    """The pledge if user is its backer; NotFound for anyone else (its existence is not admitted)."""
    pledge = db.session.get(Pledge, pledge_id)
    if pledge is None or not getattr(user, "is_authenticated", False) or pledge.backer_id != user.id:
        raise NotFound()
    return pledge


def needs_authentication(pledge: Pledge) -> bool:
    return pledge.state == "errored" and pledge.last_error == AUTHENTICATION_REQUIRED \
        and bool(pledge.stripe_payment_intent_id)


def _require_errored(pledge: Pledge) -> None:
    if pledge.state != "errored":
        raise IllegalTransition(_("This pledge has no payment to fix."))


def authentication_secret(pledge: Pledge) -> str:
    """The client secret with which the browser confirms the pledge's PaymentIntent (read back
    from Stripe, never stored). Raises GatewayError when Stripe cannot be reached."""
    _require_errored(pledge)
    payment_intent_id = pledge.stripe_payment_intent_id
    db.session.commit()  # ends the page's read: no transaction open while Stripe is asked
    return gateway.payment_intent_client_secret(payment_intent_id)


def confirm_authentication(pledge: Pledge, now: datetime) -> ChargeResult:
    """After the browser's 3-D Secure step: read the PaymentIntent back (no transaction open);
    succeeded → collected (idempotent with the webhook). A failed authentication leaves the pledge
    errored with that reason, so the page then offers a new card. COMMITS."""
    _require_errored(pledge)
    if not pledge.stripe_payment_intent_id:
        raise IllegalTransition(_("This pledge has no payment to confirm."))
    pledge_id, payment_intent_id = pledge.id, pledge.stripe_payment_intent_id
    db.session.commit()
    result = gateway.payment_intent_result(payment_intent_id)
    pledge = db.session.get(Pledge, pledge_id)
    if result.status == "succeeded":
        record_successful_charge(pledge, result.payment_intent_id, result.charge_id, pledge.amount, now)
    elif result.status == "failed":
        pledge.last_error = (result.error_code or "payment_failed")[:200]
    db.session.commit()
    return result


def start_new_card(pledge: Pledge, earlier_setup_intent_id: str | None = None) -> tuple[str, str]:
    """The SetupIntent for the card form: (id, client secret). The one this fix session already made
    (earlier_setup_intent_id, kept by the caller in the backer's session) while it can still take a
    card, else a new one — so reloading the page does not make a SetupIntent per view (a card-testing
    surface). Changes nothing in the database (it is called on GET); the card is stored by save_new_card."""
    _require_errored(pledge)
    if not pledge.stripe_customer_id:
        raise IllegalTransition(_("This pledge has no payment account yet."))
    pledge_id, customer_id = pledge.id, pledge.stripe_customer_id
    db.session.commit()  # ends the page's read: no transaction open while Stripe is asked
    if earlier_setup_intent_id and gateway.setup_intent_belongs_to(earlier_setup_intent_id, customer_id, pledge_id):
        secret = gateway.reusable_setup_intent(earlier_setup_intent_id)
        if secret:
            return earlier_setup_intent_id, secret
    return gateway.create_setup_intent(customer_id, pledge_id)


def add_customer(pledge: Pledge, user) -> None:
    """Give an errored pledge without a Stripe customer one (made with no transaction open), so a card
    can be saved. COMMITS."""
    _require_errored(pledge)
    if pledge.stripe_customer_id:
        return
    pledge_id, email, name, user_id = pledge.id, user.email, user.display_name, user.id
    db.session.commit()
    customer_id = gateway.create_customer(email, name, user_id)
    pledge = db.session.get(Pledge, pledge_id)
    if not pledge.stripe_customer_id:
        pledge.stripe_customer_id = customer_id
    db.session.commit()


def save_new_card(pledge: Pledge, setup_intent_id: str, now: datetime) -> ChargeResult:
    """Store the card the backer confirmed with the SetupIntent (which must be this pledge's) and
    charge it at once, on-session. COMMITS (the card, then charge_pledge's claim). ValidationFailed when the
    SetupIntent is not this pledge's or has not succeeded."""
    from crowdfund.pledges.services import forget_card_after_commit

    _require_errored(pledge)
    pledge_id, customer_id = pledge.id, pledge.stripe_customer_id
    db.session.commit()  # the SetupIntent is read with no transaction open
    if not setup_intent_id or not customer_id or not gateway.setup_intent_belongs_to(
            setup_intent_id, customer_id, pledge_id):
        raise ValidationFailed(_("That card form has expired. Please enter your card again."))
    setup = gateway.confirmed_card(setup_intent_id, customer_id)
    if setup.status != "succeeded":
        raise ValidationFailed(_("Your card was not confirmed. Please enter it again."))
    pledge = db.session.get(Pledge, pledge_id)
    _require_errored(pledge)  # again: it may have been fixed meanwhile (another tab, the webhook)
    old_card = pledge.stripe_payment_method_id
    pledge.stripe_setup_intent_id = setup_intent_id
    pledge.stripe_payment_method_id = setup.payment_method_id
    pledge.card_summary = setup.card_summary
    if old_card and old_card != setup.payment_method_id:
        forget_card_after_commit(old_card)
    db.session.commit()
    return charge_pledge(pledge, now, off_session=False)


@dataclass(frozen=True)
class SettlementSummary:
    """A campaign's pledges by payment outcome: counts and amounts in minor units."""

    currency: str
    collected_count: int = 0
    collected_amount: int = 0
    errored_count: int = 0
    errored_amount: int = 0
    dropped_count: int = 0
    dropped_amount: int = 0
    pending_count: int = 0  # active: saved cards not charged yet
    pending_amount: int = 0

    @property
    def still_expected(self) -> int:
        """Money that may still come in: pledges not charged yet, and failed ones still in their fix window."""
        return self.errored_amount + self.pending_amount


def settlement_summary(campaign) -> SettlementSummary:
    """Collected / errored / dropped / not yet charged pledges of campaign, in one grouped query."""
    rows = db.session.execute(
        db.select(Pledge.state, func.count(Pledge.id), func.coalesce(func.sum(Pledge.amount), 0))
        .where(Pledge.campaign_id == campaign.id, Pledge.state.in_(("collected", "errored", "dropped", "active")))
        .group_by(Pledge.state)).all()
    by_state = {state: (int(count), int(amount)) for state, count, amount in rows}
    values = {}
    for state, prefix in (("collected", "collected"), ("errored", "errored"), ("dropped", "dropped"),
                          ("active", "pending")):
        values[f"{prefix}_count"], values[f"{prefix}_amount"] = by_state.get(state, (0, 0))
    return SettlementSummary(campaign.currency, **values)

