"""Checkout: starting a pledge, saving its card, charging a flexible pledge at once, changing and
cancelling it. Every function here COMMITS, and calls Stripe only between commits:

- start_pledge: (1) claim the reward unit and insert the pending pledge, committed — the partial unique
  index lets one open pledge per backer and campaign exist, so a double click or a second tab gets
  AlreadyPledged with the pledge that won; (2) Stripe customer + SetupIntent, no transaction open;
  (3) store their ids, committed. A Stripe failure in (2) cancels the pledge and frees its unit.
- complete_pledge: (1) read the SetupIntent back from Stripe, no transaction open; (2) store the card
  (pending → active), committed; (3) for a flexible campaign, charge it (settlement.charging, which
  claims the attempt before calling Stripe).
"""
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crowdfund.extensions import db
from crowdfund.outbox import emit
from crowdfund.payments import gateway
from crowdfund.pledges import services as pledges
from crowdfund.pledges.models import Pledge
from crowdfund.settlement.charging import charge_pledge

AlreadyPledged = pledges.AlreadyPledged


def _load(pledge_id: int) -> Pledge:
    """The pledge with its campaign, read afresh (after a commit or a Stripe call)."""
    return db.session.execute(db.select(Pledge).where(Pledge.id == pledge_id)
                              .options(selectinload(Pledge.campaign))
                              .execution_options(populate_existing=True)).scalar_one()


def _end_transaction() -> None:
    """Commit what was read (nothing written), so no transaction is open during the Stripe call
    that follows: a slow Stripe answer then blocks nobody's writes."""
    db.session.commit()


def start_pledge(campaign, backer, tier, amount: int, shipping_country: str | None, now: datetime,
                 client_ip_hash: str | None = None) -> Pledge:
    """Open a pending pledge with a Stripe customer and a SetupIntent for the card form. COMMITS.
    client_ip_hash (a keyed hash of the backer's address, never the address) is kept for the risk review.

    Raises PledgeRefused / SoldOut / NotAllowed / IllegalTransition for terms the campaign cannot take
    (nothing is stored), AlreadyPledged when the backer already has an open pledge on the campaign
    (the database refused a second one; .pledge_id names it), and gateway.GatewayError when Stripe
    fails (the new pledge is then cancelled and its reward unit freed)."""
    backer_id = backer.id
    try:
        pledge = pledges.open_pledge(campaign, backer, tier, amount, shipping_country, now)
        pledge.client_ip_hash = client_ip_hash
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = pledges.open_pledge_of(campaign, backer)
        raise AlreadyPledged(existing.id if existing is not None else None) from None
    pledge_id = pledge.id
    customer_id = pledges.stripe_customer_of(backer_id)
    email, name = backer.email, backer.display_name
    _end_transaction()
    try:
        customer_id = customer_id or gateway.create_customer(email, name, backer_id)
        setup_intent_id, _secret = gateway.create_setup_intent(customer_id, pledge_id)
    except gateway.GatewayError:
        _give_back_unstarted(pledge_id)
        raise
    pledge = db.session.get(Pledge, pledge_id)
    pledge.stripe_customer_id = customer_id
    pledge.stripe_setup_intent_id = setup_intent_id
    db.session.commit()
    return pledge


def _give_back_unstarted(pledge_id: int) -> None:
    """Stripe could not start the card form: cancel the pledge and free its unit (committed), so the
    backer can simply try again. Should this fail too, the periodic job expires it later."""
    db.session.rollback()
    tier_id = db.session.get(Pledge, pledge_id).reward_tier_id
    if pledges.transition_where("cancelled", Pledge.id == pledge_id, from_states=("pending",)) == 1 \
            and tier_id is not None:
        pledges.release_reward_unit(tier_id)
    db.session.commit()


def card_form_secret(pledge: Pledge) -> str:
    """The client secret of the pledge's SetupIntent for the card page, read back from Stripe (never
    stored) after ending the page's read transaction. Raises gateway.GatewayError."""
    setup_intent_id = pledge.stripe_setup_intent_id
    _end_transaction()
    return gateway.setup_intent_client_secret(setup_intent_id)


def new_card_setup(pledge: Pledge, user, now: datetime) -> None:
    """A fresh SetupIntent to save a (new) card for a pending or active pledge; the saved card stays in
    use until the new one is confirmed. COMMITS. Raises gateway.GatewayError (nothing changed)."""
    pledge = _load(pledge.id)
    pledges.require_card_changeable(pledge, user, now)
    pledge_id, customer_id = pledge.id, pledge.stripe_customer_id
    email, name, user_id = user.email, user.display_name, user.id
    customer_id = customer_id or pledges.stripe_customer_of(user_id)
    _end_transaction()
    customer_id = customer_id or gateway.create_customer(email, name, user_id)
    setup_intent_id, _secret = gateway.create_setup_intent(customer_id, pledge_id)
    pledge = db.session.get(Pledge, pledge_id)
    pledge.stripe_customer_id = customer_id
    pledge.stripe_setup_intent_id = setup_intent_id
    db.session.commit()


def complete_pledge(pledge: Pledge, now: datetime):
    """Take the card the backer confirmed in the browser (the pledge's SetupIntent, read back from
    Stripe with no transaction open). COMMITS. Raises CardNotConfirmed when it has not succeeded. A
    pending all-or-nothing pledge becomes `active` (and the backer gets a receipt); a flexible one is
    then charged at once, on-session; for an active all-or-nothing pledge this only replaces the card
    (the old one is forgotten after commit). Returns the ChargeResult of a flexible charge, else None."""
    pledge = _load(pledge.id)
    pledges.require_waiting_for_card(pledge, now)
    pledge_id, setup_intent_id, customer_id = pledge.id, pledge.stripe_setup_intent_id, pledge.stripe_customer_id
    flexible = pledge.campaign.funding_model == "flexible"
    _end_transaction()
    setup = gateway.confirmed_card(setup_intent_id, customer_id)
    if setup.status != "succeeded":
        raise pledges.CardNotConfirmed(_("Your card was not confirmed. Please enter it again."))
    pledge = _load(pledge_id)
    pledges.require_waiting_for_card(pledge, now)  # again: it may have changed during the call
    first_time = pledge.state == "pending"
    old_card = pledges.save_card(pledge, setup.payment_method_id, setup.card_summary, setup.card_fingerprint)
    if old_card:
        pledges.forget_card_after_commit(old_card)
    if first_time and not flexible:
        emit("pledge.completed", now=now, pledge_id=pledge_id)
    db.session.commit()
    if not flexible:
        return None
    # Also a new card after a charge at pledge time failed. charge_pledge claims the attempt (committed)
    # before it calls Stripe.
    # charge_pledge books the outcome: collected; errored with a fix window (3-D Secure); back to pending
    # (declined: another card); or, when Stripe's answer is unknown, the attempt stays open and the
    # pledge active until the resolver job settles it against Stripe — it is never cancelled meanwhile.
    return charge_pledge(pledge, now, off_session=False)


def change_pledge(pledge: Pledge, user, tier, amount: int, shipping_country: str | None, now: datetime) -> None:
    """pledges.change_pledge, committed (no Stripe call: the saved card covers the new amount)."""
    pledges.change_pledge(pledge, user, tier, amount, shipping_country, now)
    db.session.commit()


def cancel_pledge(pledge: Pledge, user, now: datetime) -> None:
    """pledges.cancel_pledge, committed; the saved card is detached at Stripe after the commit."""
    pledges.cancel_pledge(pledge, user, now)
    db.session.commit()
