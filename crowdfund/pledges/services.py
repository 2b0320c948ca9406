"""Pledges: the totals and state changes the campaign lifecycle needs, and the pledge flow itself
(start, complete with a saved card, change, cancel). Functions flush; callers commit."""
from datetime import datetime, timedelta

from babel import Locale
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import event, func, or_, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.util import identity_key
from werkzeug.exceptions import NotFound

from crowdfund.campaigns.models import RewardTier
from crowdfund.errors import IllegalTransition, NotAllowed, ValidationFailed
from crowdfund.extensions import db
from crowdfund.money import MAX_MINOR_UNITS
from crowdfund.payments import gateway
from crowdfund.pledges.models import COUNTING_STATES, Pledge
from crowdfund.templating import format_money


def pledged_totals(campaign_ids) -> dict[int, tuple[int, int]]:
    """campaign id -> (pledged amount, number of backers), in one query for all ids."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        db.select(Pledge.campaign_id, func.coalesce(func.sum(Pledge.amount), 0),
                  func.count(func.distinct(Pledge.backer_id)))
        .where(Pledge.campaign_id.in_(ids), Pledge.state.in_(COUNTING_STATES))
        .group_by(Pledge.campaign_id))
    return {campaign_id: (int(total), int(backers)) for campaign_id, total, backers in rows}


def void_open_pledges(campaign) -> int:
    """Mark every pledge not yet charged as void (the campaign failed or was stopped)."""
    result = db.session.execute(
        update(Pledge).where(Pledge.campaign_id == campaign.id, Pledge.state.in_(("pending", "active")))
        .values(state="void").execution_options(synchronize_session=False))
    db.session.flush()
    return result.rowcount


def backed_campaign_count(user_id: int) -> int:
    return db.session.execute(
        db.select(func.count(func.distinct(Pledge.campaign_id)))
        .where(Pledge.backer_id == user_id, Pledge.state.in_(COUNTING_STATES))).scalar_one()


# --- Pledging -----------------------------------------------------------------------------------
# Every function below checks who acts and in which state, flushes, and leaves the commit to the
# caller, so a refused pledge (or a Stripe failure) rolled back also gives back its reward unit.

OPEN_STATES = ("pending", "active")


class PledgeRefused(ValidationFailed):
    """Input a pledge cannot accept; `field` names the form field the message belongs next to."""

    status_code = 422

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class SoldOut(PledgeRefused):
    status_code = 409

    def __init__(self):
        super().__init__(_("This reward is sold out. Choose another reward or pledge without one."), "reward")


def claim_reward_unit(tier_id: int) -> bool:
    """Take one unit of a reward tier; False when it is sold out. One conditional UPDATE, so two
    transactions racing for the last unit cannot both win (PostgreSQL re-checks the condition
    after the row lock; SQLite serialises writers), and the claim is undone by a rollback."""
    result = db.session.execute(
        update(RewardTier).where(RewardTier.id == tier_id,
                                 or_(RewardTier.quantity.is_(None), RewardTier.claimed < RewardTier.quantity))
        .values(claimed=RewardTier.claimed + 1).execution_options(synchronize_session=False))
    _expire_tier(tier_id)
    return result.rowcount == 1


def release_reward_unit(tier_id: int) -> None:
    """Give one unit of a reward tier back (never below zero)."""
    db.session.execute(
        update(RewardTier).where(RewardTier.id == tier_id, RewardTier.claimed > 0)
        .values(claimed=RewardTier.claimed - 1).execution_options(synchronize_session=False))
    _expire_tier(tier_id)


def _expire_tier(tier_id: int) -> None:
    tier = db.session.identity_map.get(identity_key(RewardTier, tier_id))
    if tier is not None:
        db.session.expire(tier, ["claimed"])


def _check_terms(campaign, tier, amount: int, shipping_country: str | None) -> int:
    """The shipping cost the pledge adds; raises PledgeRefused for terms the campaign cannot take."""
    if tier is not None and tier.campaign_id != campaign.id:
        raise PledgeRefused(_("Choose one of this campaign's rewards."), "reward")
    if amount <= 0:
        raise PledgeRefused(_("The amount must be more than zero."), "amount")
    if tier is not None and amount < tier.minimum_amount:
        raise PledgeRefused(_("This reward needs a pledge of at least %(amount)s.",
                              amount=format_money(tier.minimum_amount, campaign.currency)), "amount")
    if tier is not None and tier.ships:
        if not shipping_country:
            raise PledgeRefused(_("Choose the country the reward ships to."), "shipping_country")
        if shipping_country not in country_codes():
            raise PledgeRefused(_("Choose a country from the list."), "shipping_country")
        shipping = tier.shipping_amount
    else:
        shipping = 0
    if amount + shipping > MAX_MINOR_UNITS:
        raise PledgeRefused(_("That amount is too large."), "amount")
    return shipping


def _require_open(campaign, now: datetime) -> None:
    if not campaign.is_open(now):
        raise IllegalTransition(_("This campaign is not taking pledges: it is not live, or its deadline has passed."))


def start_pledge(campaign, backer, tier, amount: int, shipping_country: str | None, now: datetime) -> Pledge:
    """A new `pending` pledge of amount (plus the tier's shipping) with a Stripe customer and a
    SetupIntent to collect the card. Checks the campaign is open, the backer is not its founder
    and the terms; claims a reward unit first (SoldOut when there is none). Raises
    gateway.GatewayError when Stripe fails: the caller rolls back, which frees the unit."""
    _require_open(campaign, now)
    if backer.id == campaign.founder_id:
        raise NotAllowed(_("You cannot back your own campaign."))
    shipping = _check_terms(campaign, tier, amount, shipping_country)
    if tier is not None and not claim_reward_unit(tier.id):
        raise SoldOut()
    pledge = Pledge(campaign_id=campaign.id, backer_id=backer.id, reward_tier_id=tier.id if tier else None,
                    amount=amount + shipping, shipping_amount=shipping,
                    shipping_country=shipping_country if shipping or (tier and tier.ships) else None,
                    state="pending", created_at=now)
    db.session.add(pledge)
    db.session.flush()
    pledge.stripe_customer_id = _customer_for(backer)
    pledge.stripe_setup_intent_id, _secret = gateway.create_setup_intent(pledge.stripe_customer_id, pledge.id)
    db.session.flush()
    return pledge


def _customer_for(backer) -> str:
    """The backer's Stripe customer: the one an earlier pledge made, or a new one."""
    existing = db.session.execute(
        db.select(Pledge.stripe_customer_id).where(Pledge.backer_id == backer.id,
                                                   Pledge.stripe_customer_id.is_not(None))
        .order_by(Pledge.id.desc()).limit(1)).scalar_one_or_none()
    return existing or gateway.create_customer(backer.email, backer.display_name, backer.id)


def pledge_for_backer(pledge_id: int, user) -> Pledge:
    """The pledge if it belongs to user, with its campaign and tier loaded; NotFound otherwise
    (another backer's pledge is not even admitted to exist)."""
    pledge = db.session.execute(
        db.select(Pledge).where(Pledge.id == pledge_id)
        .options(selectinload(Pledge.campaign), selectinload(Pledge.reward_tier))).scalar_one_or_none()
    if pledge is None or not getattr(user, "is_authenticated", False) or pledge.backer_id != user.id:
        raise NotFound()
    return pledge


def open_pledge_of(campaign, backer) -> Pledge | None:
    """The backer's pledge on campaign that can still be changed (pending or active), if any."""
    return db.session.execute(
        db.select(Pledge).where(Pledge.campaign_id == campaign.id, Pledge.backer_id == backer.id,
                                Pledge.state.in_(OPEN_STATES))
        .order_by(Pledge.id.desc()).limit(1)).scalar_one_or_none()


def _set_state(pledge: Pledge, from_states, to_state: str, **values) -> None:
    """A conditional UPDATE on the pledge's state: a concurrent change makes it IllegalTransition."""
    result = db.session.execute(
        update(Pledge).where(Pledge.id == pledge.id, Pledge.state.in_(tuple(from_states)))
        .values(state=to_state, **values).execution_options(synchronize_session="evaluate"))
    if result.rowcount != 1:
        db.session.refresh(pledge)
        raise IllegalTransition(_("This pledge changed in the meantime; reload the page."))
    db.session.flush()


def new_card_setup(pledge: Pledge, user, now: datetime) -> None:
    """Start saving a (new) card for a pending or active pledge: a fresh SetupIntent. The saved
    card stays in use until the new one is confirmed."""
    if pledge.backer_id != user.id:
        raise NotFound()
    _require_open(pledge.campaign, now)
    if pledge.state not in OPEN_STATES:
        raise IllegalTransition(_("The card of this pledge can no longer be changed here."))
    if not pledge.stripe_customer_id:
        pledge.stripe_customer_id = _customer_for(user)
    pledge.stripe_setup_intent_id, _secret = gateway.create_setup_intent(pledge.stripe_customer_id, pledge.id)
    db.session.flush()


def complete_pledge(pledge: Pledge, now: datetime):
    """Take the card the backer confirmed in the browser (the pledge's SetupIntent, read back
    from Stripe). Raises CardNotConfirmed when it has not succeeded. A pending all-or-nothing
    pledge becomes `active`; a pending flexible one is charged now, on-session (charge_pledge
    commits its attempt claim, and with it everything flushed before); so is an active flexible
    one whose charge failed and that got a new card. For an active all-or-nothing pledge this
    only replaces the saved card (the old one is forgotten after commit). Returns the ChargeResult
    of a flexible charge, else None."""
    campaign = pledge.campaign
    _require_open(campaign, now)
    if pledge.state not in OPEN_STATES or not pledge.stripe_setup_intent_id:
        raise IllegalTransition(_("This pledge is not waiting for a card."))
    setup = gateway.confirmed_card(pledge.stripe_setup_intent_id, pledge.stripe_customer_id)
    if setup.status != "succeeded":
        raise CardNotConfirmed(_("Your card was not confirmed. Please enter it again."))
    old_card = pledge.stripe_payment_method_id
    pledge.stripe_payment_method_id = setup.payment_method_id
    pledge.card_summary = setup.card_summary
    db.session.flush()
    if old_card and old_card != setup.payment_method_id:
        forget_card_after_commit(old_card)
    if pledge.state == "pending":
        _set_state(pledge, ("pending",), "active")
    if campaign.funding_model == "flexible":  # also a new card after a charge at pledge time failed
        from crowdfund.settlement.charging import charge_pledge

        result = charge_pledge(pledge, now, off_session=False)
        if result.status == "requires_action":
            # The bank wants the backer to confirm this payment (3-D Secure): the fix page does it on
            # the same PaymentIntent, within the usual fix window (then the pledge is dropped).
            window = timedelta(days=current_app.config["FIX_WINDOW_DAYS"])
            _set_state(pledge, ("active",), "errored", errored_at=now, fix_deadline=now + window,
                       last_reminder_at=now)
        elif result.status != "succeeded":
            # Not charged, so not a backer yet: back to waiting for a card (it keeps its reward
            # unit until it is completed, cancelled or expires, and counts toward no total).
            _set_state(pledge, ("active",), "pending")
        return result
    return None


class CardNotConfirmed(IllegalTransition):
    """The SetupIntent has not succeeded (the browser did not finish, or the card was refused)."""


def change_pledge(pledge: Pledge, user, tier, amount: int, shipping_country: str | None, now: datetime) -> None:
    """Change the reward, amount or shipping country of a pending or active pledge of user's, while
    the campaign is open. A new tier's unit is claimed before the old one is released, so a
    sold-out tier leaves the pledge as it was (SoldOut)."""
    if pledge.backer_id != user.id:
        raise NotFound()
    campaign = pledge.campaign
    _require_open(campaign, now)
    if pledge.state not in OPEN_STATES:
        raise IllegalTransition(_("This pledge can no longer be changed."))
    shipping = _check_terms(campaign, tier, amount, shipping_country)
    new_tier_id = tier.id if tier else None
    if new_tier_id != pledge.reward_tier_id:
        if new_tier_id is not None and not claim_reward_unit(new_tier_id):
            raise SoldOut()
        if pledge.reward_tier_id is not None:
            release_reward_unit(pledge.reward_tier_id)
    pledge.reward_tier_id = new_tier_id
    pledge.reward_tier = tier
    pledge.amount = amount + shipping
    pledge.shipping_amount = shipping
    pledge.shipping_country = shipping_country if tier is not None and tier.ships else None
    db.session.flush()


def cancellation_refusal(pledge: Pledge, now: datetime) -> str | None:
    """Why the backer cannot cancel this pledge now, or None when they can."""
    if pledge.state not in OPEN_STATES:
        if pledge.state == "collected" and pledge.campaign.funding_model == "flexible":
            return _("This flexible campaign has already charged your pledge, so it cannot be cancelled. "
                     "Contact the founder if something is wrong.")
        return _("This pledge can no longer be cancelled.")
    if not pledge.campaign.is_open(now):
        return _("The campaign's deadline has passed, so pledges can no longer be cancelled.")
    return None


def cancel_pledge(pledge: Pledge, user, now: datetime) -> None:
    """Cancel a pending or active pledge of user's before the deadline: nothing is charged, its
    reward unit is freed and its saved card forgotten. A collected (flexible) pledge cannot be
    cancelled: IllegalTransition."""
    if pledge.backer_id != user.id:
        raise NotFound()
    refusal = cancellation_refusal(pledge, now)
    if refusal:
        raise IllegalTransition(refusal)
    _set_state(pledge, OPEN_STATES, "cancelled")
    if pledge.reward_tier_id is not None:
        release_reward_unit(pledge.reward_tier_id)
    if pledge.stripe_payment_method_id:
        forget_card_after_commit(pledge.stripe_payment_method_id)


def forget_card_after_commit(payment_method_id: str) -> None:
    """Detach a saved card once this transaction commits: a rolled-back change keeps its card."""
    db.session().info.setdefault(_CARDS_TO_FORGET, []).append(payment_method_id)


_CARDS_TO_FORGET = "crowdfund_cards_to_forget"


@event.listens_for(Session, "after_commit")
def _forget_cards(session) -> None:
    for payment_method_id in session.info.pop(_CARDS_TO_FORGET, []):
        gateway.detach_card(payment_method_id)


@event.listens_for(Session, "after_rollback")
def _keep_cards(session) -> None:
    session.info.pop(_CARDS_TO_FORGET, None)


def expire_abandoned_pledges(now: datetime, older_than: timedelta = timedelta(hours=2)) -> int:
    """Cancel pending pledges whose card never came (the backer left the card page), freeing
    their reward units. Safe to run twice at once: each pledge is cancelled by one conditional UPDATE."""
    stale = list(db.session.execute(
        db.select(Pledge.id, Pledge.reward_tier_id)
        .where(Pledge.state == "pending", Pledge.created_at < now - older_than)).all())
    expired = 0
    for pledge_id, tier_id in stale:
        result = db.session.execute(
            update(Pledge).where(Pledge.id == pledge_id, Pledge.state == "pending")
            .values(state="cancelled").execution_options(synchronize_session=False))
        if result.rowcount == 1:
            expired += 1
            if tier_id is not None:
                release_reward_unit(tier_id)
    db.session.flush()
    return expired


def pledges_of(user) -> list[Pledge]:
    """Every pledge of user, newest first, with campaign and tier loaded."""
    return list(db.session.execute(
        db.select(Pledge).where(Pledge.backer_id == user.id)
        .options(selectinload(Pledge.campaign), selectinload(Pledge.reward_tier))
        .order_by(Pledge.created_at.desc(), Pledge.id.desc())).scalars())


def country_codes() -> dict[str, str]:
    """ISO 3166 alpha-2 code -> country name in the current locale, sorted by name."""
    from flask_babel import get_locale

    names = (get_locale() or Locale.parse("en")).territories
    countries = {code: name for code, name in names.items()
                 if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES}
    return dict(sorted(countries.items(), key=lambda item: item[1]))


# Babel territories with two letters that are not ISO 3166-1 countries (Kosovo's XK is kept:
# user-assigned, but what Stripe and carriers use).
NOT_COUNTRIES = {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "ZZ"}
