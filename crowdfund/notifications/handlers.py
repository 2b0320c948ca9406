"""The emails the platform sends, as handlers of the outbox's domain events (crowdfund/outbox.py).

A service writes the event in the transaction that changes something; after the commit the
dispatcher calls the handler here with the event's payload (plus "_event_id"), in an app context and
a database session of its own. Each handler emails through services.send_once, keyed
"outbox:<event id>" (notifications to an audience: "<kind>:<id>", see services.notify), so a
redelivered event emails nobody twice. A handler that cannot send raises: the event stays in the
outbox and is retried with backoff. A payload may name the locale to write in ("locale").

Imported by notifications/routes.py, so every app (web, worker, CLI) has the handlers registered.
"""
import functools

from flask import current_app
from flask_babel import force_locale, format_datetime, gettext as _
from sqlalchemy.orm import selectinload

from crowdfund.accounts.models import User, make_token
from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.money import format_money
from crowdfund.notifications import services
from crowdfund.outbox import handles
from crowdfund.pledges.models import Pledge

# Pledge.last_error after a charge Stripe refused for want of 3-D Secure (settlement/charging.py):
# the fix email then asks the backer to confirm the payment rather than for a new card.
AUTHENTICATION_REQUIRED = "authentication_required"


def emails(kind: str):
    """Register the decorated function as the handler of kind, run in the payload's locale."""
    def register(function):
        @functools.wraps(function)
        def in_locale(payload: dict) -> None:
            with force_locale(payload.get("locale") or current_app.config["BABEL_DEFAULT_LOCALE"]):
                function(payload)
        return handles(kind)(in_locale)
    return register


def _send(payload: dict, messages: dict) -> int:
    return services.send_once(f"outbox:{payload['_event_id']}", messages)


def _message_to(recipient: User, subject, template: str, **context):
    # Rendered now: send_once commits its claims before sending, which expires the rows loaded here.
    message = services.build_message(recipient.email, str(subject), template, **context)
    return lambda: message


# --- accounts ------------------------------------------------------------------------------------

@emails("account.verification_requested")
def email_verification_link(payload: dict) -> None:
    """The link that confirms a new (or re-sent) address; nothing once the address is confirmed."""
    user = db.session.get(User, payload["user_id"])
    if user is None or user.email_verified_at is not None:
        return
    link = services.public_url("accounts.verify_email", token=make_token(user, "verify"))
    _send(payload, {user.id: _message_to(user, _("Confirm your email address"), "verify_email",
                                         user=user, link=link)})


@emails("account.password_reset_requested")
def email_password_reset_link(payload: dict) -> None:
    """A reset link to the address typed into the form, if it has an account (the request that
    emitted the event did not look: it does the same work either way)."""
    user = db.session.execute(db.select(User).where(User.email == payload["email"])).scalar_one_or_none()
    if user is None:
        return
    link = services.public_url("accounts.reset_password", token=make_token(user, "reset"))
    _send(payload, {user.id: _message_to(user, _("Reset your password"), "reset_password", user=user, link=link)})


# --- campaigns and updates: their audiences, in batches --------------------------------------------

@emails("campaign.launched")
def email_launch(payload: dict) -> None:
    services.notify("launch", payload["campaign_id"])


@emails("campaign.succeeded")
def email_success(payload: dict) -> None:
    services.notify("campaign-result", payload["campaign_id"])


@emails("campaign.failed")
def email_failure(payload: dict) -> None:
    services.notify("campaign-result", payload["campaign_id"])


@emails(services.ENDING_SOON_EVENT)
def email_ending_soon(payload: dict) -> None:
    services.notify("ending-soon", payload["campaign_id"])


@emails("update.posted")
def email_update(payload: dict) -> None:
    services.notify("update", payload["update_id"])


# --- pledges and money ---------------------------------------------------------------------------

def _pledge(pledge_id: int) -> tuple[Pledge | None, Campaign | None, User | None]:
    pledge = db.session.execute(db.select(Pledge).where(Pledge.id == pledge_id).options(
        selectinload(Pledge.campaign), selectinload(Pledge.backer), selectinload(Pledge.reward_tier))
    ).scalar_one_or_none()
    if pledge is None:
        return None, None, None
    return pledge, pledge.campaign, pledge.backer


def _email_backer(payload: dict, pledge: Pledge, campaign: Campaign, backer: User, template: str, subject,
                  amount: int | None = None) -> None:
    """A payment email to the backer, with the context they share (amount, fix link and deadline, links)."""
    context = {
        "name": backer.display_name, "campaign_title": campaign.title,
        "amount": format_money(amount if amount is not None else pledge.amount, campaign.currency),
        "needs_authentication": pledge.last_error == AUTHENTICATION_REQUIRED,
        "fix_deadline": format_datetime(pledge.fix_deadline, "d MMM y, HH:mm") + " UTC" if pledge.fix_deadline else "",
        "fix_link": services.public_url("payments.fix", pledge_id=pledge.id),
        "pledge_link": services.public_url("pledges.show", pledge_id=pledge.id),
        "campaign_link": services.public_url("campaigns.show", slug=campaign.slug),
        "reminder": bool(payload.get("reminder")),
    }
    _send(payload, {backer.id: _message_to(backer, subject, template, **context)})


@emails("pledge.completed")
def email_pledge_receipt(payload: dict) -> None:
    """The receipt for a pledge whose card is saved (all-or-nothing: charged at the deadline)."""
    pledge, campaign, backer = _pledge(payload["pledge_id"])
    if pledge is None:
        return
    link = services.public_url("pledges.show", pledge_id=pledge.id)
    _send(payload, {backer.id: _message_to(
        backer, _("Your pledge to %(title)s", title=campaign.title), "pledge_receipt",
        pledge=pledge, campaign=campaign, tier=pledge.reward_tier, backer=backer, link=link)})


@emails("pledge.collected")
def email_charge_receipt(payload: dict) -> None:
    pledge, campaign, backer = _pledge(payload["pledge_id"])
    if pledge is not None:
        _email_backer(payload, pledge, campaign, backer, "pledge_charged",
                      _("Receipt: your pledge to %(title)s was charged", title=campaign.title),
                      amount=int(payload["amount"]))


@emails("pledge.charge_failed")
def email_fix_request(payload: dict) -> None:
    """The fix link after a failed charge at the deadline, or the reminder while the window is open."""
    pledge, campaign, backer = _pledge(payload["pledge_id"])
    if pledge is None:
        return
    if payload.get("reminder"):
        subject = _("Reminder: your pledge to %(title)s still needs a card", title=campaign.title)
    else:
        subject = _("Action needed: your pledge to %(title)s", title=campaign.title)
    _email_backer(payload, pledge, campaign, backer, "pledge_fix", subject)


@emails("pledge.dropped")
def email_pledge_dropped(payload: dict) -> None:
    pledge, campaign, backer = _pledge(payload["pledge_id"])
    if pledge is not None:
        _email_backer(payload, pledge, campaign, backer, "pledge_dropped",
                      _("Your pledge to %(title)s was dropped", title=campaign.title))


@emails("pledge.not_funded")
def email_pledge_not_funded(payload: dict) -> None:
    pledge, campaign, backer = _pledge(payload["pledge_id"])
    if pledge is not None:
        _email_backer(payload, pledge, campaign, backer, "pledge_not_funded",
                      _("%(title)s did not reach its goal: nothing was charged", title=campaign.title))


@emails("pledge.refunded")
def email_refund(payload: dict) -> None:
    pledge, campaign, backer = _pledge(payload["pledge_id"])
    if pledge is None:
        return
    _send(payload, {backer.id: _message_to(
        backer, _("Refund from %(title)s", title=campaign.title), "pledge_refunded",
        name=backer.display_name, title=campaign.title, reason=payload.get("reason") or "",
        amount=format_money(int(payload["amount"]), campaign.currency),
        link=services.public_url("campaigns.show", slug=campaign.slug))})


@emails("pledge.disputed")
def email_dispute_to_moderators(payload: dict) -> None:
    """Every moderator and admin hears of a disputed payment."""
    pledge, campaign, _backer = _pledge(payload["pledge_id"])
    if pledge is None:
        return
    context = {"title": campaign.title, "pledge_id": pledge.id, "reason": str(payload.get("reason") or ""),
               "amount": format_money(int(payload.get("amount") or 0), campaign.currency),
               "link": services.public_url("moderation.review", campaign_id=campaign.id)}
    subject = _("Payment disputed on %(title)s", title=campaign.title)
    moderators = db.session.execute(
        db.select(User).where(User.role.in_(("moderator", "admin"))).order_by(User.id)).scalars()
    _send(payload, {user.id: _message_to(user, subject, "pledge_disputed", **context) for user in moderators})


@emails("campaign.abandoned")
def email_abandonment(payload: dict) -> None:
    """One email per backer with money in the abandoned campaign: why, and what comes back to them
    (their pledges' shares summed)."""
    campaign = db.session.get(Campaign, payload["campaign_id"])
    shares = {int(pledge_id): int(amount) for pledge_id, amount in (payload.get("shares") or {}).items()}
    if campaign is None or not shares:
        return
    per_backer: dict[int, int] = {}
    for pledge_id, backer_id in db.session.execute(
            db.select(Pledge.id, Pledge.backer_id).where(Pledge.id.in_(list(shares)))).all():
        per_backer[backer_id] = per_backer.get(backer_id, 0) + shares[pledge_id]
    backers = db.session.execute(db.select(User).where(User.id.in_(list(per_backer))).order_by(User.id)).scalars()
    subject = _("“%(title)s” was abandoned: your refund", title=campaign.title)
    link = services.public_url("campaigns.show", slug=campaign.slug)
    _send(payload, {backer.id: _message_to(
        backer, subject, "campaign_abandoned", name=backer.display_name, title=campaign.title,
        reason=payload.get("reason") or "", amount=format_money(per_backer[backer.id], campaign.currency),
        has_refund=per_backer[backer.id] > 0, link=link) for backer in backers})


# --- risk early-warning (crowdfund/risk/holds.py emits these) --------------------------------------

@emails("risk.hold_started")
def email_hold_to_founder(payload: dict) -> None:
    """The founder hears that the campaign's releases are held, and what to do about each reason;
    once per hold (keyed by the payload's hold_key)."""
    campaign = db.session.get(Campaign, payload["campaign_id"])
    founder = db.session.get(User, campaign.founder_id) if campaign is not None else None
    if founder is None:
        return
    link = services.public_url("payouts.campaign_releases", slug=campaign.slug)
    services.send_once(str(payload["hold_key"]), {founder.id: _message_to(
        founder, _("Releases of “%(title)s” are on hold", title=campaign.title), "risk_hold_started",
        name=founder.display_name, title=campaign.title, reasons=list(payload.get("reasons") or []), link=link)})


@emails("risk.digest")
def email_risk_digest(payload: dict) -> None:
    """The day's flagged campaigns to every moderator and admin, each once a day
    ("risk-digest:<date>:<moderator id>")."""
    campaigns = [dict(c, link=services.public_url("risk.detail", campaign_id=int(c["campaign_id"])))
                 for c in payload.get("campaigns") or []]
    if not campaigns:
        return
    date = str(payload["date"])
    subject = _("Risk digest %(date)s: %(count)s flagged", date=date, count=len(campaigns))
    queue_link = services.public_url("risk.queue")
    moderators = db.session.execute(
        db.select(User).where(User.role.in_(("moderator", "admin"))).order_by(User.id)).scalars().all()
    messages = {user.id: _message_to(user, subject, "risk_digest", name=user.display_name, date=date,
                                     campaigns=campaigns, queue_link=queue_link) for user in moderators}
    for user_id, message in messages.items():
        services.send_once(f"risk-digest:{date}:{user_id}", {user_id: message})
