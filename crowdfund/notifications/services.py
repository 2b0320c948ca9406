"""Sending email: the one way the platform tells people things by mail; and the notifications
built on it (updates, campaign results, launches and deadline reminders to followers), follows,
and the signed unsubscribe links.

Nothing here is called inside a request to send: email goes out from the outbox handlers
(notifications/handlers.py) after the commit that decided it, each email claimed once per event
and recipient (send_once).

The backend is chosen by MAIL_BACKEND: "log" writes the message to the log (the default
run), "smtp" sends through MAIL_SERVER, "memory" keeps it in a list (tests).
"""
import re
import smtplib
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import current_app, render_template
from flask_babel import format_date, format_datetime, gettext as _, lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup
from sqlalchemy import String, and_, case, cast, delete, exists, func, literal, or_
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import selectinload

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.errors import NotAllowed
from crowdfund.extensions import db
from crowdfund.markdown import render_markdown
from crowdfund.templating import absolute_url
from crowdfund.money import format_money
from crowdfund.notifications.models import EmailDelivery, Follow
from crowdfund.outbox import OutboxEvent, emit
from crowdfund.pledges.models import COUNTING_STATES, Pledge, pledged_totals
from crowdfund.updates.models import MILESTONE_STATUS_LABELS, Update


def outbox() -> list[EmailMessage]:
    """Messages kept by the memory backend, oldest first."""
    return current_app.extensions.setdefault("crowdfund_outbox", [])


def build_message(to: str, subject: str, template: str, **context) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(render_template(f"email/{template}.txt", **context))
    message.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    return message


@contextmanager
def mail_sender():
    """Yields send(message), delivering through the configured backend. With SMTP one connection
    carries every message sent inside the block (a batch of notifications)."""
    backend = current_app.config["MAIL_BACKEND"]
    if backend == "memory":
        yield outbox().append
    elif backend == "smtp":
        config = current_app.config
        smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30)
        try:
            if config["MAIL_USE_TLS"]:
                smtp.starttls()
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            yield smtp.send_message
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    else:
        def log(message):
            text = message.get_body(preferencelist=("plain",)).get_content()
            current_app.logger.info("Email to %s: %s\n%s", message["To"], message["Subject"], text)
        yield log


# --- follows -------------------------------------------------------------------------------------

# A campaign can be followed once it is public and still going somewhere: live, or finished with a
# result (its public updates keep coming). Cancelled and suspended campaigns cannot be followed.
FOLLOWABLE_STATES = ("live", "successful", "failed")


def is_following(user, campaign) -> bool:
    if user is None or not user.is_authenticated:
        return False
    return db.session.execute(db.select(exists().where(
        Follow.user_id == user.id, Follow.campaign_id == campaign.id))).scalar()


def follower_count(campaign) -> int:
    return db.session.execute(
        db.select(func.count(Follow.id)).where(Follow.campaign_id == campaign.id)).scalar_one()


def follow(user, campaign) -> None:
    """user follows campaign (again: nothing changes). Flushes."""
    if campaign.founder_id == user.id:
        raise NotAllowed(_("You cannot follow your own campaign."))
    if campaign.state not in FOLLOWABLE_STATES:
        raise NotAllowed(_("This campaign cannot be followed."))
    db.session.execute(_insert_ignoring_duplicates(
        Follow, [{"user_id": user.id, "campaign_id": campaign.id, "created_at": utcnow()}],
        ["user_id", "campaign_id"]))
    db.session.flush()


def unfollow(user, campaign) -> None:
    db.session.execute(delete(Follow).where(Follow.user_id == user.id, Follow.campaign_id == campaign.id))
    db.session.flush()


def _insert_ignoring_duplicates(model, rows: list[dict], unique: list[str]):
    """INSERT … ON CONFLICT (unique) DO NOTHING, on SQLite and PostgreSQL alike (as payments/ledger.py)."""
    insert = sqlite_insert if db.session.get_bind().dialect.name == "sqlite" else postgresql_insert
    return insert(model).values(rows).on_conflict_do_nothing(index_elements=unique)


# --- unsubscribe links ---------------------------------------------------------------------------

# Which preference (User column) an unsubscribe token turns off.
PREFERENCES = {"updates": "email_updates", "follows": "email_follows"}
PREFERENCE_LABELS = {
    "updates": _l("updates, milestone reports and results of campaigns you back"),
    "follows": _l("launches and deadline reminders of campaigns you follow"),
}
_UNSUBSCRIBE_SALT = "crowdfund-unsubscribe"


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def unsubscribe_token(user_id: int, preference: str) -> str:
    if preference not in PREFERENCES:
        raise ValueError(preference)
    return _unsubscribe_serializer().dumps({"u": user_id, "p": preference})


def read_unsubscribe_token(token: str):
    """(user, preference) named by a token this app signed; None for anything else. The token does
    not expire: an unsubscribe link in an old email must keep working."""
    try:
        data = _unsubscribe_serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("p") not in PREFERENCES or not isinstance(data.get("u"), int):
        return None
    user = db.session.get(User, data["u"])
    return (user, data["p"]) if user is not None else None


def unsubscribe(user, preference: str) -> None:
    setattr(user, PREFERENCES[preference], False)
    db.session.flush()


# --- notifications: who is told what -------------------------------------------------------------

# Events, each "<kind>:<id>" in EmailDelivery: "update:<update id>", "campaign-result:<campaign id>",
# "launch:<campaign id>", "ending-soon:<campaign id>".
KINDS = ("update", "campaign-result", "launch", "ending-soon")
ENDING_SOON_HOURS = 48


def _counting_backer(campaign_id: int, states=COUNTING_STATES):
    return exists().where(Pledge.campaign_id == campaign_id, Pledge.backer_id == User.id, Pledge.state.in_(states))


def _target(kind: str, target_id: int):
    """(campaign, update or None) of an event, or None when it is gone or no longer news."""
    def load(campaign_id):
        return db.session.execute(db.select(Campaign).where(Campaign.id == campaign_id).options(
            selectinload(Campaign.founder), selectinload(Campaign.gallery))).scalar_one_or_none()

    if kind == "update":
        update = db.session.get(Update, target_id)
        if update is None:
            return None
        return load(update.campaign_id), update
    campaign = load(target_id)
    if campaign is None:
        return None
    wanted = {"campaign-result": ("successful", "failed"), "launch": ("live",), "ending-soon": ("live",)}[kind]
    return (campaign, None) if campaign.state in wanted else None


def _audience(kind: str, campaign, update):
    """(conditions on User, SQL expression naming the preference that lets each one be emailed)."""
    not_founder = User.id != campaign.founder_id
    if kind == "update":
        backer = _counting_backer(campaign.id)
        follower = exists().where(Follow.campaign_id == campaign.id, Follow.user_id == User.id)
        # Backers hear of every update when email_updates is on; a public update also reaches
        # followers who are not backers when their email_follows is on. Backers-only text: backers only.
        allowed = and_(backer, User.email_updates)
        if update.is_public:
            allowed = or_(allowed, and_(~backer, follower, User.email_follows))
        return [not_founder, allowed], case((backer, literal("updates")), else_=literal("follows"))
    if kind == "campaign-result":
        states = COUNTING_STATES if campaign.state == "successful" else ("void",)
        return [not_founder, _counting_backer(campaign.id, states), User.email_updates], literal("updates")
    if kind == "launch":
        # Nobody can follow a campaign before it is public, so its launch is news for the people who
        # follow the founder's other campaigns.
        earlier = exists().where(Follow.user_id == User.id, Follow.campaign_id == Campaign.id,
                                 Campaign.founder_id == campaign.founder_id, Campaign.id != campaign.id)
        return [not_founder, earlier, User.email_follows], literal("follows")
    # ending-soon: followers who have not backed it yet.
    follower = exists().where(Follow.campaign_id == campaign.id, Follow.user_id == User.id)
    return [not_founder, follower, ~_counting_backer(campaign.id), User.email_follows], literal("follows")


def _not_delivered(event_key: str):
    return ~exists().where(EmailDelivery.event == event_key, EmailDelivery.user_id == User.id)


def audience_ids(kind: str, target_id: int) -> list[int]:
    """Ids of everyone to tell about this event who has not been told yet, in id order."""
    found = _target(kind, target_id)
    if found is None:
        return []
    conditions, _preference = _audience(kind, *found)
    return list(db.session.execute(
        db.select(User.id).where(*conditions, _not_delivered(f"{kind}:{target_id}")).order_by(User.id)).scalars())


def notify(kind: str, target_id: int) -> int:
    """Email everyone the event (kind, target_id) is news for and who has not had it yet, in batches
    of NOTIFY_BATCH_SIZE (send_batch each, one mail-server connection per batch). Run by the outbox
    handlers (notifications/handlers.py), after the commit that made the event happen. COMMITS.
    Raises when a send fails; running it again sends only what did not go out. Returns how many."""
    if kind not in KINDS:
        raise ValueError(kind)
    user_ids = audience_ids(kind, target_id)
    size = max(1, int(current_app.config.get("NOTIFY_BATCH_SIZE") or 100))
    return sum(send_batch(kind, target_id, user_ids[start:start + size]) for start in range(0, len(user_ids), size))


ENDING_SOON_EVENT = "campaign.ending_soon"


def queue_ending_soon(now: datetime) -> int:
    """Emit a "campaign.ending_soon" event for every live campaign within ENDING_SOON_HOURS of its
    deadline that still has a follower to tell (one who was told has an EmailDelivery row, so a
    campaign drops out once everyone has it) and no such event waiting for delivery. Run by the
    periodic job. COMMITS. Returns how many events were emitted."""
    due = list(db.session.execute(
        db.select(Campaign.id).where(Campaign.state == "live", Campaign.deadline > now,
                                     Campaign.deadline <= now + timedelta(hours=ENDING_SOON_HOURS),
                                     exists().where(
                                         Follow.campaign_id == Campaign.id, Follow.user_id == User.id,
                                         User.id != Campaign.founder_id, User.email_follows,
                                         ~exists().where(Pledge.campaign_id == Campaign.id,
                                                         Pledge.backer_id == User.id,
                                                         Pledge.state.in_(COUNTING_STATES)),
                                         ~exists().where(EmailDelivery.user_id == User.id,
                                                         EmailDelivery.event == literal("ending-soon:")
                                                         + cast(Campaign.id, String))))
        .order_by(Campaign.deadline)).scalars())
    if not due:
        return 0
    # A mail server that is down leaves the event waiting (and retried); one per campaign is enough.
    waiting = {event.data.get("campaign_id") for event in db.session.execute(
        db.select(OutboxEvent).where(OutboxEvent.kind == ENDING_SOON_EVENT,
                                     OutboxEvent.delivered_at.is_(None))).scalars()}
    emitted = [campaign_id for campaign_id in due if campaign_id not in waiting]
    for campaign_id in emitted:
        emit(ENDING_SOON_EVENT, campaign_id=campaign_id)
    db.session.commit()
    return len(emitted)


# --- notifications: sending a batch --------------------------------------------------------------

def public_url(endpoint: str, **values) -> str:
    """An absolute link for an email, also outside a request (templating.absolute_url: on PUBLIC_URL)."""
    return absolute_url(endpoint, **values)


_RELATIVE_URL = re.compile(r'((?:src|href|srcset)="|, )/(?!/)')


def _absolute_urls(html: str) -> str:
    """Links and gallery images of rendered Markdown, made absolute for an email."""
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    return _RELATIVE_URL.sub(lambda match: match.group(1) + base + "/", html)


def _content(kind: str, campaign, update) -> tuple[str, str, dict]:
    """(subject, template, context) shared by every recipient of the event."""
    campaign_link = public_url("campaigns.show", slug=campaign.slug)
    context = {"campaign_title": campaign.title, "campaign_link": campaign_link,
               "founder_name": campaign.founder.display_name}
    if kind == "update":
        gallery = list(campaign.gallery)
        context.update(
            update_title=update.title, backers_only=not update.is_public, body_text=update.body,
            body_html=Markup(_absolute_urls(str(render_markdown(update.body, gallery)))),
            update_link=public_url("updates.show", slug=campaign.slug, update_id=update.id),
            milestone=None, spend=[])
        if update.milestone_id and update.milestone is not None and update.milestone_status:
            context["milestone"] = {
                "title": update.milestone.title,
                "status": str(MILESTONE_STATUS_LABELS.get(update.milestone_status, update.milestone_status)),
                "new_date": format_date(update.milestone_new_date, "d MMM y") if update.milestone_new_date else "",
                "note": update.milestone_note or ""}
        context["spend"] = [{"purpose": report.budget_line.purpose,
                             "amount": format_money(report.amount, campaign.currency), "note": report.note}
                            for report in update.spend_reports]
        return _("%(campaign)s: %(title)s", campaign=campaign.title, title=update.title), "notify_update", context
    if kind == "campaign-result":
        pledged, backers = pledged_totals([campaign.id]).get(campaign.id, (0, 0))
        successful = campaign.state == "successful"
        context.update(successful=successful, pledged=format_money(pledged, campaign.currency),
                       goal=format_money(campaign.goal or 0, campaign.currency), backers=backers,
                       all_or_nothing=campaign.funding_model == "all_or_nothing")
        subject = (_("%(title)s reached its goal", title=campaign.title) if successful
                   else _("%(title)s did not reach its goal", title=campaign.title))
        return subject, "notify_result", context
    deadline = format_datetime(campaign.deadline, "d MMM y, HH:mm") + " UTC" if campaign.deadline else ""
    context.update(deadline=deadline, blurb=campaign.blurb or "",
                   goal=format_money(campaign.goal or 0, campaign.currency))
    if kind == "launch":
        return (_("%(founder)s launched a new campaign: %(title)s", founder=campaign.founder.display_name,
                  title=campaign.title), "notify_launch", context)
    pledged, backers = pledged_totals([campaign.id]).get(campaign.id, (0, 0))
    context.update(pledged=format_money(pledged, campaign.currency), backers=backers)
    return _("48 hours left to back %(title)s", title=campaign.title), "notify_ending_soon", context


def build_notification(to: str, name: str, user_id: int, preference: str, subject: str, template: str,
                       **context) -> EmailMessage:
    """A notification email: HTML + text with an unsubscribe link for preference, and the
    List-Unsubscribe headers (RFC 2369, one-click RFC 8058) pointing at the same signed link."""
    link = public_url("notifications.unsubscribe", token=unsubscribe_token(user_id, preference))
    message = build_message(to, subject, template, name=name, unsubscribe_link=link,
                            unsubscribe_what=str(PREFERENCE_LABELS[preference]),
                            settings_link=public_url("accounts.settings"), **context)
    # A header is never folded into encoded words (RFC 2047) here: mail clients read the URL as is.
    message.policy = message.policy.clone(max_line_length=998)
    message["List-Unsubscribe"] = f"<{link}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def send_once(event_key: str, messages: dict[int, Callable[[], EmailMessage]]) -> int:
    """Send each user in messages (user id → a function building their email) their email for
    event_key, at most once however often this runs: their EmailDelivery rows are inserted (ON
    CONFLICT DO NOTHING) and committed before anything is sent, so a second run finds them and sends
    nothing. A send that fails gives back its claim and those not sent yet (committed), then raises:
    a retry sends just those. Commits. Returns how many emails went out."""
    if not messages:
        return 0
    now = utcnow()
    claimed = set(db.session.execute(
        _insert_ignoring_duplicates(EmailDelivery, [{"event": event_key, "user_id": user_id, "claimed_at": now}
                                                    for user_id in messages], ["event", "user_id"])
        .returning(EmailDelivery.user_id)).scalars())
    db.session.commit()
    if not claimed:
        return 0
    sent: list[int] = []
    try:
        with mail_sender() as send:
            for user_id, build in messages.items():
                if user_id in claimed:
                    send(build())
                    sent.append(user_id)
    finally:
        unsent = claimed.difference(sent)
        if unsent:
            db.session.execute(delete(EmailDelivery).where(
                EmailDelivery.event == event_key, EmailDelivery.user_id.in_(unsent),
                EmailDelivery.sent_at.is_(None)))
        if sent:
            db.session.execute(sql_update(EmailDelivery).where(
                EmailDelivery.event == event_key, EmailDelivery.user_id.in_(sent)).values(sent_at=utcnow()))
        db.session.commit()
    return len(sent)


def send_batch(kind: str, target_id: int, user_ids: list[int]) -> int:
    """Email the event (kind, target_id) to those of user_ids who should still get it, each at most
    once (send_once, keyed "<kind>:<target_id>"). Commits; raises when a send fails. Returns how
    many emails went out."""
    found = _target(kind, target_id)
    if found is None or not user_ids:
        return 0
    campaign, update = found
    conditions, preference = _audience(kind, campaign, update)
    recipients = db.session.execute(
        db.select(User.id, User.email, User.display_name, preference)
        .where(*conditions, User.id.in_(user_ids)).order_by(User.id)).all()
    if not recipients:
        return 0
    subject, template, context = _content(kind, campaign, update)
    return send_once(f"{kind}:{target_id}", {
        user_id: (lambda email=email, name=name, user_id=user_id, pref=pref:
                  build_notification(email, name, user_id, pref, subject, template, **context))
        for user_id, email, name, pref in recipients})
