"""Pledges: the totals and state changes the campaign lifecycle needs, the pledge state machine's one
transition function, and the pledge flow's rules (open, change, cancel, expire). Functions here FLUSH
and never commit and never call Stripe: crowdfund.settlement.checkout owns the transactions around
them and the Stripe calls between those."""
from datetime import datetime, timedelta

from babel import Locale
from flask_babel import gettext as _
from sqlalchemy import exists, func, or_, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.util import identity_key
from werkzeug.exceptions import NotFound

from crowdfund.campaigns.models import RewardTier
from crowdfund.errors import IllegalTransition, NotAllowed, ValidationFailed
from crowdfund.extensions import db
from crowdfund.money import MAX_MINOR_UNITS
from crowdfund.payments import gateway
from crowdfund.payments.models import OPEN_ATTEMPTS, ChargeAttempt
from crowdfund.pledges.models import COUNTING_STATES, OPEN_STATES, TRANSITIONS, Pledge, pledged_totals  # noqa: F401
from crowdfund.templating import format_money
from crowdfund.unit_of_work import after_commit


# --- The state machine ---------------------------------------------------------------------------

def _check_transition(from_states, to_state: str) -> tuple:
    from_states = tuple(from_states)
    illegal = [state for state in from_states if to_state not in TRANSITIONS[state]]
    if illegal or not from_states:
        raise ValueError(f"pledge state machine: {illegal or from_states} -> {to_state} is not a transition")
    return from_states


def sources_of(to_state: str) -> tuple:
    """Every state a pledge may reach to_state from."""
    return tuple(state for state, targets in TRANSITIONS.items() if to_state in targets)


def transition_where(to_state: str, *conditions, from_states=None, **values) -> int:
    """The one way a pledge's state changes: a conditional UPDATE of the pledges matching conditions
    whose state is one of from_states (default: every state the table allows to reach to_state), to
    to_state with values. Each from_state must be allowed to reach to_state (ValueError otherwise: a
    programming error). Returns how many pledges moved; racing transactions cannot both move one.
    Flushes nothing else and does not refresh loaded pledges (transition() does)."""
    from_states = _check_transition(from_states or sources_of(to_state), to_state)
    if values.pop("state", to_state) != to_state:
        raise ValueError("transition_where: state is to_state")
    result = db.session.execute(
        update(Pledge).where(*conditions, Pledge.state.in_(from_states))
        .values(state=to_state, **values).execution_options(synchronize_session=False))
    return result.rowcount


def transition(pledge: Pledge, to_state: str, from_states=None, **values) -> None:
    """Move one loaded pledge to to_state (see transition_where) and refresh it; IllegalTransition
    when it is not in from_states any more (another request or job changed it first). Flushes."""
    db.session.flush()
    if transition_where(to_state, Pledge.id == pledge.id, from_states=from_states, **values) != 1:
        db.session.refresh(pledge)
        raise IllegalTransition(_("This pledge changed in the meantime; reload the page."))
    db.session.refresh(pledge)


def void_open_pledges(campaign) -> int:
    """Mark every pledge not yet charged as void (the campaign failed or was stopped)."""
    voided = transition_where("void", Pledge.campaign_id == campaign.id, from_states=("pending", "active"))
    db.session.flush()
    return voided


def backed_campaign_count(user_id: int) -> int:
    return db.session.execute(
        db.select(func.count(func.distinct(Pledge.campaign_id)))
        .where(Pledge.backer_id == user_id, Pledge.state.in_(COUNTING_STATES))).scalar_one()


# --- Pledging -----------------------------------------------------------------------------------
# Every function below checks who acts and in which state, flushes, and leaves the commit to the
# caller, so a refused pledge (or a Stripe failure) rolled back also gives back its reward unit.

# Pledges the backer can still change, give a card to, or cancel.
CHANGEABLE_STATES = ("pending", "active")


class AlreadyPledged(IllegalTransition):
    """The backer already has an open pledge on this campaign (the database refused a second)."""

    def __init__(self, pledge_id: int | None):
        super().__init__(_("You already back this campaign. You can change your pledge here."))
        self.pledge_id = pledge_id


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


def open_pledge(campaign, backer, tier, amount: int, shipping_country: str | None, now: datetime) -> Pledge:
    """A new `pending` pledge of amount (plus the tier's shipping), no card yet. Checks the campaign is
    open, the backer is not its founder and the terms; claims a reward unit first (SoldOut when there
    is none). Flushes: a second open pledge of the same backer on the campaign is refused by the
    database (IntegrityError on the partial unique index) at this flush or at the caller's commit."""
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
    return pledge


def stripe_customer_of(backer_id: int) -> str | None:
    """The Stripe customer an earlier pledge of the backer made, if any."""
    return db.session.execute(
        db.select(Pledge.stripe_customer_id).where(Pledge.backer_id == backer_id,
                                                   Pledge.stripe_customer_id.is_not(None))
        .order_by(Pledge.id.desc()).limit(1)).scalar_one_or_none()


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
    """The backer's open pledge on campaign (pending, active or errored), if any: at most one exists."""
    return db.session.execute(
        db.select(Pledge).where(Pledge.campaign_id == campaign.id, Pledge.backer_id == backer.id,
                                Pledge.state.in_(OPEN_STATES))
        .order_by(Pledge.id.desc()).limit(1)).scalar_one_or_none()


def require_card_changeable(pledge: Pledge, user, now: datetime) -> None:
    """A (new) card may be saved for user's pending or active pledge while the campaign is open."""
    if pledge.backer_id != user.id:
        raise NotFound()
    _require_open(pledge.campaign, now)
    if pledge.state not in CHANGEABLE_STATES:
        raise IllegalTransition(_("The card of this pledge can no longer be changed here."))


def require_waiting_for_card(pledge: Pledge, now: datetime) -> None:
    _require_open(pledge.campaign, now)
    if pledge.state not in CHANGEABLE_STATES or not pledge.stripe_setup_intent_id:
        raise IllegalTransition(_("This pledge is not waiting for a card."))


def save_card(pledge: Pledge, payment_method_id: str, card_summary: str | None,
              card_fingerprint: str | None = None) -> str | None:
    """Store the card the backer confirmed (and its fingerprint, for the risk review); a pending pledge
    becomes active. Returns the card it replaces (to forget after commit), if any. Flushes."""
    old_card = pledge.stripe_payment_method_id
    pledge.stripe_payment_method_id = payment_method_id
    pledge.card_summary = card_summary
    pledge.card_fingerprint = card_fingerprint
    db.session.flush()
    if pledge.state == "pending":
        transition(pledge, "active", from_states=("pending",))
    return old_card if old_card and old_card != payment_method_id else None


class CardNotConfirmed(IllegalTransition):
    """The SetupIntent has not succeeded (the browser did not finish, or the card was refused)."""


def change_pledge(pledge: Pledge, user, tier, amount: int, shipping_country: str | None, now: datetime) -> None:
    """Change the reward, amount or shipping country of a pending or active pledge of user's, while
    the campaign is open. A new tier's unit is claimed before the old one is released, so a
    sold-out tier leaves the pledge as it was (SoldOut). Flushes."""
    if pledge.backer_id != user.id:
        raise NotFound()
    campaign = pledge.campaign
    _require_open(campaign, now)
    if pledge.state not in CHANGEABLE_STATES:
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
    if pledge.state not in CHANGEABLE_STATES:
        if pledge.state == "collected" and pledge.campaign.funding_model == "flexible":
            return _("This flexible campaign has already charged your pledge, so it cannot be cancelled. "
                     "Contact the founder if something is wrong.")
        return _("This pledge can no longer be cancelled.")
    if not pledge.campaign.is_open(now):
        return _("The campaign's deadline has passed, so pledges can no longer be cancelled.")
    if has_open_charge_attempt(pledge.id):
        return _("A payment for this pledge is being processed; try again in a few minutes.")
    return None


def has_open_charge_attempt(pledge_id: int) -> bool:
    """Whether a charge of the pledge was started and its outcome is not known yet."""
    return db.session.execute(db.select(exists().where(
        ChargeAttempt.pledge_id == pledge_id, ChargeAttempt.status.in_(OPEN_ATTEMPTS)))).scalar()


def cancel_pledge(pledge: Pledge, user, now: datetime) -> None:
    """Cancel a pending or active pledge of user's before the deadline: nothing is charged, its
    reward unit is freed and its saved card forgotten after commit. A collected (flexible) pledge, or
    one with a charge under way, cannot be cancelled: IllegalTransition. Flushes."""
    if pledge.backer_id != user.id:
        raise NotFound()
    refusal = cancellation_refusal(pledge, now)
    if refusal:
        raise IllegalTransition(refusal)
    if transition_where("cancelled", Pledge.id == pledge.id, ~_open_attempt_exists(),
                        from_states=CHANGEABLE_STATES) != 1:
        db.session.refresh(pledge)
        raise IllegalTransition(_("This pledge changed in the meantime; reload the page."))
    db.session.refresh(pledge)
    if pledge.reward_tier_id is not None:
        release_reward_unit(pledge.reward_tier_id)
    if pledge.stripe_payment_method_id:
        forget_card_after_commit(pledge.stripe_payment_method_id)


def _open_attempt_exists():
    return exists().where(ChargeAttempt.pledge_id == Pledge.id, ChargeAttempt.status.in_(OPEN_ATTEMPTS))


def forget_card_after_commit(payment_method_id: str) -> None:
    """Detach a saved card at Stripe once this transaction commits: a rolled-back change keeps its card."""
    after_commit(lambda: gateway.detach_card(payment_method_id))


def expire_abandoned_pledges(now: datetime, older_than: timedelta = timedelta(hours=2)) -> int:
    """Cancel pending pledges whose card never came (the backer left the card page), freeing
    their reward units — never one with a charge attempt whose outcome is unknown (a flexible
    charge that may have gone through: the resolver settles it first). Safe to run twice at once:
    each pledge is cancelled by one conditional UPDATE. Flushes."""
    stale = list(db.session.execute(
        db.select(Pledge.id, Pledge.reward_tier_id)
        .where(Pledge.state == "pending", Pledge.created_at < now - older_than, ~_open_attempt_exists())).all())
    expired = 0
    for pledge_id, tier_id in stale:
        if transition_where("cancelled", Pledge.id == pledge_id, ~_open_attempt_exists(),
                            from_states=("pending",)) == 1:
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
