"""Charging pledges: off-session at an all-or-nothing campaign's successful deadline, on-session in
the fix flow and for flexible pledges, with the fix window (reminders, retries, drop) after a failure.

Exactly once per attempt: before Stripe is called, a ChargeAttempt row is inserted and the pledge's
charge_attempts bumped by a conditional UPDATE, and that claim is COMMITTED on its own. A worker
that crashes after the call leaves the claim behind, so nobody charges that attempt blindly again;
two workers racing for the same pledge cannot both claim it (the conditional UPDATE matches once,
and the unique (pledge_id, attempt) constraint refuses a second row), so the loser skips it.
A claim whose outcome is unknown (network error, crash) is first looked up at Stripe by the next run."""
from collections import Counter
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import exists, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager
from sqlalchemy.orm.attributes import set_committed_value

from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.payments import gateway, ledger
from crowdfund.payments.gateway import ChargeResult, GatewayError
from crowdfund.payments.models import OPEN_ATTEMPTS, ChargeAttempt
from crowdfund.pledges.models import Pledge
from crowdfund.outbox import emit
from crowdfund.pledges.services import release_reward_unit, transition_where

# Pledges a charge may be attempted for (P1 moves a flexible pledge to active before charging it).
CHARGEABLE_STATES = ("active", "errored")
# A claim older than this was left by a worker that died mid-call: it is looked up, not trusted.
STALE_CLAIM = timedelta(minutes=10)
AUTHENTICATION_REQUIRED = "authentication_required"
NO_CARD = "no_card"


def idempotency_key(pledge_id: int, attempt: int) -> str:
    return f"pledge-{pledge_id}-charge-{attempt}"


def attempt_from_key(pledge_id: int, key: str | None) -> int | None:
    """The attempt number in an idempotency key of this pledge's, else None."""
    prefix = f"pledge-{pledge_id}-charge-"
    if key and key.startswith(prefix) and key[len(prefix):].isdigit():
        return int(key[len(prefix):])
    return None


def charge_pledge(pledge: Pledge, now: datetime, off_session: bool = True) -> ChargeResult:
    """Charge the pledge's saved card for its amount, at most once per attempt.

    COMMITS: first whatever the caller flushed, then the attempt claim (before Stripe is called),
    then the outcome. Returns the gateway's ChargeResult, or status "skipped" when another worker
    holds the pledge (or it is not chargeable), or "unknown" when Stripe could not be reached (the
    attempt stays open; the next run looks it up before charging again). Succeeded → collected and
    booked; declined or authentication needed → errored with a fix window once the campaign has
    ended (a charge at pledge time only records the error for the caller to show)."""
    return _charge(pledge.id, pledge.charge_attempts, now, off_session)


def _charge(pledge_id: int, expected_attempts: int, now: datetime, off_session: bool) -> ChargeResult:
    db.session.commit()  # the claim must be a transaction of its own, committed before the call
    # A pledge never attempted has no attempt to look up, unless another worker claimed it since
    # the caller read charge_attempts: then the claim below misses, and the lookup runs after all.
    if expected_attempts > 0:
        resolved = _resolve_open_attempt(pledge_id, now)
        if resolved is not None:
            return resolved
    attempt_id = _claim(pledge_id, expected_attempts, now)
    if attempt_id is None:
        if expected_attempts == 0:
            resolved = _resolve_open_attempt(pledge_id, now)
            if resolved is not None:
                return resolved
        return ChargeResult("skipped", None, message=_("This pledge is being charged already."))
    attempt_key = idempotency_key(pledge_id, expected_attempts + 1)
    pledge, campaign = _load_for_charge(pledge_id)
    customer_id, card_id = pledge.stripe_customer_id, pledge.stripe_payment_method_id
    amount, currency, campaign_id = pledge.amount, campaign.currency, campaign.id
    db.session.commit()  # no transaction open while Stripe is called
    if not (customer_id and card_id):
        result = ChargeResult("failed", None, error_code=NO_CARD, message=_("No card is saved for this pledge."))
    else:
        try:
            result = gateway.charge(
                customer_id, card_id, amount, currency, attempt_key,
                {"pledge_id": str(pledge_id), "campaign_id": str(campaign_id), "attempt_key": attempt_key},
                off_session=off_session)
        except GatewayError as error:
            return _leave_unknown(attempt_id, now, str(error))
    return _finish(attempt_id, pledge, campaign, result, now)


def _load_for_charge(pledge_id: int) -> tuple[Pledge, Campaign]:
    """The pledge, its campaign and its backer (for the emails) in one SELECT, read after the claim.
    The pledge holds the other two, so the session's (weak) identity map keeps them for later gets."""
    pledge = db.session.execute(
        db.select(Pledge).join(Pledge.campaign).join(Pledge.backer)
        .options(contains_eager(Pledge.campaign), contains_eager(Pledge.backer))
        .where(Pledge.id == pledge_id)).scalar_one()
    return pledge, pledge.campaign


def _claim(pledge_id: int, expected_attempts: int, now: datetime) -> int | None:
    """Insert and commit the claim on the next attempt and return its id; None when another worker
    got there first."""
    claimed = db.session.execute(
        update(Pledge).where(
            Pledge.id == pledge_id, Pledge.charge_attempts == expected_attempts,
            Pledge.state.in_(CHARGEABLE_STATES),
            ~exists().where(ChargeAttempt.pledge_id == pledge_id, ChargeAttempt.status.in_(OPEN_ATTEMPTS)))
        .values(charge_attempts=expected_attempts + 1).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        db.session.rollback()
        return None
    attempt = ChargeAttempt(pledge_id=pledge_id, attempt=expected_attempts + 1, status="claimed", created_at=now)
    db.session.add(attempt)
    try:
        db.session.flush()
        attempt_id = attempt.id  # read before the commit expires it (no reload)
        db.session.commit()
    except IntegrityError:  # a concurrent claim of the same attempt won
        db.session.rollback()
        return None
    return attempt_id


def _resolve_open_attempt(pledge_id: int, now: datetime) -> ChargeResult | None:
    """If the pledge's latest attempt has no known outcome (network error, or a claim left by a
    worker that died), take it over and look its PaymentIntent up at Stripe: found → apply that
    outcome and return it; not found → close it as lost (None: a new attempt may start).
    Returns "skipped" while another worker's claim is still fresh."""
    last = db.session.execute(
        db.select(ChargeAttempt).where(ChargeAttempt.pledge_id == pledge_id)
        .order_by(ChargeAttempt.attempt.desc()).limit(1)).scalar_one_or_none()
    if last is None or last.status not in OPEN_ATTEMPTS:
        return None
    if last.status == "claimed" and last.created_at > now - STALE_CLAIM:
        return ChargeResult("skipped", None, message=_("This pledge is being charged already."))
    taken = db.session.execute(
        update(ChargeAttempt).where(ChargeAttempt.id == last.id, ChargeAttempt.status == last.status,
                                    ChargeAttempt.created_at == last.created_at)
        .values(status="claimed", created_at=now).execution_options(synchronize_session=False))
    db.session.commit()
    if taken.rowcount != 1:
        return ChargeResult("skipped", None, message=_("This pledge is being charged already."))
    pledge = db.session.get(Pledge, pledge_id)
    attempt_id, attempt, payment_intent_id = last.id, last.attempt, last.payment_intent_id
    customer_id = pledge.stripe_customer_id
    db.session.commit()  # no transaction open while Stripe is asked
    try:
        if payment_intent_id:
            result = gateway.payment_intent_result(payment_intent_id)
        else:
            result = gateway.find_payment_intent(customer_id, "attempt_key", idempotency_key(pledge_id, attempt))
    except GatewayError as error:
        return _leave_unknown(attempt_id, now, str(error))
    if result is None:  # Stripe never made it: nothing was charged, so a new attempt is safe
        _close_attempt(attempt_id, "failed", None, "lost", now)
        campaign = db.session.get(Campaign, pledge.campaign_id)
        if campaign.funding_model == "flexible" and campaign.state != "successful":
            # A charge at pledge time that never reached Stripe: the backer pays again from the card page.
            transition_where("pending", Pledge.id == pledge_id, from_states=("active",))
        db.session.commit()
        return None
    return _finish(attempt_id, pledge, db.session.get(Campaign, pledge.campaign_id), result, now)


def _leave_unknown(attempt_id: int, now: datetime, message: str) -> ChargeResult:
    current_app.logger.warning("Charge attempt %s: Stripe unreachable (%s); looked up next run", attempt_id, message)
    db.session.rollback()
    _close_attempt(attempt_id, "unknown", None, None, now)
    db.session.commit()
    return ChargeResult("unknown", None, message=_("The payment service could not be reached. "
                                                   "Nothing more will be charged; we will check and try again."))


def _close_attempt(attempt_id: int, status: str, payment_intent_id, error_code, now: datetime) -> None:
    db.session.execute(update(ChargeAttempt).where(ChargeAttempt.id == attempt_id).values(
        status=status, payment_intent_id=payment_intent_id, error_code=(error_code or None) and error_code[:64],
        finished_at=now).execution_options(synchronize_session=False))


def _finish(attempt_id: int, pledge: Pledge, campaign: Campaign, result: ChargeResult, now: datetime) -> ChargeResult:
    _close_attempt(attempt_id, result.status, result.payment_intent_id, result.error_code, now)
    if result.status == "succeeded":
        record_successful_charge(pledge, result.payment_intent_id, result.charge_id, pledge.amount, now,
                                 attempt_closed=True)
    else:
        _record_failure(pledge, campaign, result, now)
    db.session.commit()
    return result


def _record_failure(pledge: Pledge, campaign: Campaign, result: ChargeResult, now: datetime) -> None:
    """Note why the charge failed; after the deadline the pledge becomes errored, and the first
    failure opens the fix window and emails the backer a fix link. Flushes."""
    values = {"last_error": (result.error_code or "payment_failed")[:200]}
    if result.payment_intent_id:
        values["stripe_payment_intent_id"] = result.payment_intent_id
    db.session.execute(update(Pledge).where(Pledge.id == pledge.id).values(**values)
                       .execution_options(synchronize_session=False))
    if campaign.state != "successful":
        # Charged at pledge time (flexible), on-session: the caller tells the backer at once.
        if result.status == "requires_action":
            # The bank wants the backer to confirm this payment (3-D Secure): the fix page does it on
            # the same PaymentIntent, within the usual fix window (then the pledge is dropped).
            window = timedelta(days=current_app.config["FIX_WINDOW_DAYS"])
            transition_where("errored", Pledge.id == pledge.id, from_states=("active",), errored_at=now,
                             fix_deadline=now + window, last_reminder_at=now)
        elif campaign.funding_model == "flexible":
            # Not charged, so not a backer yet: back to waiting for a card (it keeps its reward unit
            # until it is completed, cancelled or expires, and counts toward no total).
            transition_where("pending", Pledge.id == pledge.id, from_states=("active",))
        db.session.refresh(pledge)
        return
    deadline = now + timedelta(days=current_app.config["FIX_WINDOW_DAYS"])
    first = transition_where("errored", Pledge.id == pledge.id, from_states=("active",), errored_at=now,
                             fix_deadline=deadline, last_reminder_at=now) == 1
    db.session.refresh(pledge)
    if first:
        emit("pledge.charge_failed", now=now, pledge_id=pledge.id, reminder=False)


def record_successful_charge(pledge: Pledge, payment_intent_id: str, charge_id: str | None, amount: int,
                             now: datetime, attempt_closed: bool = False, attempt_key: str | None = None) -> bool:
    """Book a charge Stripe reports as succeeded and mark the pledge collected, idempotently:
    the ledger `charge` and `platform_fee` rows are keyed on the Stripe charge id (a webhook and the
    job may both report it), and only the first caller moves the pledge and sends the receipt
    (after commit). Returns whether this call collected the pledge. Flushes; the caller commits.
    attempt_closed: the caller has just marked the attempt that made this PaymentIntent succeeded
    (the idempotency key ties a PaymentIntent to one attempt), so no other attempt row needs it.
    attempt_key: the PaymentIntent's metadata attempt_key (webhooks, lookups), which names the attempt
    to close even when the process that made it died before recording the PaymentIntent."""
    attempt_number = attempt_from_key(pledge.id, attempt_key)
    campaign = db.session.get(Campaign, pledge.campaign_id)  # no query when the caller loaded it
    stripe_id = charge_id or payment_intent_id
    note = f"pledge {pledge.id}"
    ledger.book(campaign.id, "charge", amount, campaign.currency, pledge.id, stripe_id, note)
    fee = amount * current_app.config["PLATFORM_FEE_BP"] // 10000
    if fee > 0:
        ledger.book(campaign.id, "platform_fee", fee, campaign.currency, pledge.id, stripe_id, note)
    if not attempt_closed:
        # The attempt that made this PaymentIntent: by the id it recorded, or — when its process died
        # before recording it — by the attempt number in the idempotency key carried in the metadata.
        same_attempt = ChargeAttempt.payment_intent_id == payment_intent_id
        if attempt_number is not None:
            same_attempt = or_(same_attempt, ChargeAttempt.attempt == attempt_number)
        db.session.execute(update(ChargeAttempt).where(
            ChargeAttempt.pledge_id == pledge.id, same_attempt,
            ChargeAttempt.status != "succeeded").values(status="succeeded", payment_intent_id=payment_intent_id,
                                                         finished_at=now)
            .execution_options(synchronize_session=False))
    collected_values = {"state": "collected", "collected_at": now, "stripe_payment_intent_id": payment_intent_id,
                        "last_error": None, "fix_deadline": None}
    collected = transition_where("collected", Pledge.id == pledge.id,
                                 from_states=("pending",) + CHARGEABLE_STATES, **collected_values) == 1
    if collected:  # the row now holds exactly these values: set them on the object without a reload
        for key, value in collected_values.items():
            set_committed_value(pledge, key, value)
        db.session.expire(pledge, ["updated_at"])  # set by the UPDATE (onupdate); read again if asked for
    else:
        db.session.flush()
        db.session.refresh(pledge)
    if collected:
        emit("pledge.collected", now=now, pledge_id=pledge.id, amount=amount)
    elif pledge.state != "collected":
        current_app.logger.warning("Charge %s succeeded for pledge %s in state %s: refund or reconcile it",
                                   stripe_id, pledge.id, pledge.state)
    return collected


def charge_successful_campaign(campaign: Campaign, now: datetime) -> Counter:
    """Charge every active pledge of a successful all-or-nothing campaign once (charge_pledge each;
    commits). Safe to run twice, also at once. Returns a Counter of outcomes."""
    outcomes = Counter()
    if campaign.state != "successful" or campaign.funding_model != "all_or_nothing":
        return outcomes
    due = db.session.execute(
        db.select(Pledge.id, Pledge.charge_attempts)
        .where(Pledge.campaign_id == campaign.id, Pledge.state == "active").order_by(Pledge.id)).all()
    for pledge_id, attempts in due:
        outcomes[_charge(pledge_id, attempts, now, off_session=True).status] += 1
    return outcomes


def release_unfunded_pledges(now: datetime) -> int:
    """For campaigns that missed their goal: forget each void pledge's saved card (detached at
    Stripe) and tell its backer nothing was charged. Each pledge once: its card id is cleared by a
    conditional UPDATE committed before the card is detached and the email sent. Commits."""
    rows = db.session.execute(
        db.select(Pledge.id, Pledge.stripe_payment_method_id).join(Campaign, Campaign.id == Pledge.campaign_id)
        .where(Campaign.state == "failed", Pledge.state == "void",
               Pledge.stripe_payment_method_id.is_not(None))).all()
    released = [(pid, pm) for pid, pm in rows if db.session.execute(
        update(Pledge).where(Pledge.id == pid, Pledge.stripe_payment_method_id == pm)
        .values(stripe_payment_method_id=None).execution_options(synchronize_session=False)).rowcount == 1]
    db.session.commit()  # each card claimed before Stripe is called
    for pledge_id, payment_method_id in released:
        try:
            gateway.detach_card(payment_method_id)
        except GatewayError as error:  # the card id is forgotten here either way; Stripe keeps an unused card
            current_app.logger.warning("Could not detach the card of pledge %s: %s", pledge_id, error)
        emit("pledge.not_funded", now=now, pledge_id=pledge_id)
        db.session.commit()
    return len(released)


def settle_due_pledges(now: datetime) -> Counter:
    """The fix window of errored pledges: past fix_deadline → dropped (reward unit freed, card
    forgotten, backer told); otherwise every FIX_REMINDER_HOURS the saved card is retried (not for
    authentication failures: those need the backer) and, if still unpaid, the backer reminded.
    Each step is claimed by a conditional UPDATE, so two runs at once do it once. Commits."""
    outcomes = Counter()
    expired = db.session.execute(
        db.select(Pledge.id, Pledge.reward_tier_id, Pledge.stripe_payment_method_id)
        .where(Pledge.state == "errored", Pledge.fix_deadline <= now)).all()
    dropped = []
    for pledge_id, tier_id, payment_method_id in expired:
        won = transition_where(
            "dropped", Pledge.id == pledge_id, Pledge.fix_deadline <= now,
            ~exists().where(ChargeAttempt.pledge_id == pledge_id, ChargeAttempt.status.in_(OPEN_ATTEMPTS)),
            from_states=("errored",), stripe_payment_method_id=None) == 1
        if won:
            if tier_id is not None:
                release_reward_unit(tier_id)
            dropped.append((pledge_id, payment_method_id))
            emit("pledge.dropped", now=now, pledge_id=pledge_id)
    db.session.commit()
    for pledge_id, payment_method_id in dropped:
        if payment_method_id:
            try:
                gateway.detach_card(payment_method_id)
            except GatewayError as error:
                current_app.logger.warning("Could not detach the card of pledge %s: %s", pledge_id, error)
        outcomes["dropped"] += 1

    cadence = timedelta(hours=current_app.config["FIX_REMINDER_HOURS"])
    due = db.session.execute(
        db.select(Pledge.id, Pledge.charge_attempts, Pledge.last_reminder_at, Pledge.last_error)
        .where(Pledge.state == "errored", Pledge.fix_deadline > now,
               or_(Pledge.last_reminder_at.is_(None), Pledge.last_reminder_at <= now - cadence))).all()
    for pledge_id, attempts, last_reminder, last_error in due:
        same_reminder = (Pledge.last_reminder_at.is_(None) if last_reminder is None
                         else Pledge.last_reminder_at == last_reminder)
        won = db.session.execute(
            update(Pledge).where(Pledge.id == pledge_id, Pledge.state == "errored", same_reminder)
            .values(last_reminder_at=now).execution_options(synchronize_session=False)).rowcount == 1
        db.session.commit()
        if not won:
            continue
        if last_error not in (AUTHENTICATION_REQUIRED, NO_CARD):
            result = _charge(pledge_id, attempts, now, off_session=True)
            outcomes[f"retry_{result.status}"] += 1
            if result.status == "succeeded":
                continue
        pledge = db.session.get(Pledge, pledge_id)
        if pledge.state != "errored":
            continue
        emit("pledge.charge_failed", now=now, pledge_id=pledge_id, reminder=True)
        db.session.commit()
        outcomes["reminded"] += 1
    return outcomes


def resolve_open_attempts(now: datetime) -> Counter:
    """Settle every charge attempt left open — "unknown" (Stripe could not be reached) or "claimed"
    for longer than STALE_CLAIM (the process died during the call) — against Stripe, by the
    PaymentIntent it recorded or by its idempotency key in the metadata: found and succeeded →
    collected and booked; found and failed → the usual failure path; not found → closed as lost (a new
    attempt may start; a flexible pledge waits for its backer again). No pledge is cancelled or dropped
    while an attempt is open, so this is what unblocks them. COMMITS; safe to run twice at once."""
    outcomes = Counter()
    pledge_ids = db.session.execute(
        db.select(ChargeAttempt.pledge_id).where(or_(
            ChargeAttempt.status == "unknown",
            (ChargeAttempt.status == "claimed") & (ChargeAttempt.created_at <= now - STALE_CLAIM)))
        .distinct()).scalars().all()
    db.session.commit()
    for pledge_id in sorted(pledge_ids):
        result = _resolve_open_attempt(pledge_id, now)
        outcomes[f"resolved_{result.status if result is not None else 'lost'}"] += 1
    return outcomes


def run_payment_jobs(now: datetime) -> Counter:
    """The deadline's payment work, run by run_periodic_jobs after campaigns are closed: charge the
    active pledges of every successful all-or-nothing campaign (also ones a crashed run left half
    done), release the cards of unfunded ones, and settle errored pledges. Idempotent. Commits."""
    outcomes = resolve_open_attempts(now)
    campaign_ids = db.session.execute(
        db.select(Campaign.id).join(Pledge, Pledge.campaign_id == Campaign.id)
        .where(Campaign.state == "successful", Campaign.funding_model == "all_or_nothing",
               Pledge.state == "active").distinct()).scalars().all()
    for campaign_id in sorted(campaign_ids):
        outcomes.update(charge_successful_campaign(db.session.get(Campaign, campaign_id), now))
    outcomes["unfunded_released"] += release_unfunded_pledges(now)
    outcomes.update(settle_due_pledges(now))
    return +outcomes
