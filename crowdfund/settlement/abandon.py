"""Declaring a funded campaign abandoned and refunding what the platform holds (crowdfund/payouts/
abandon.py has the rules: overdue milestones, the pro-rata split, what is still due). COMMITS:
the declaration first, then each pledge's refund through settlement.refunds (its own transactions,
Stripe between commits). One refund run per campaign at a time holds an advisory lock, which blocks
no reader or writer of the tables."""
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import text, update

from crowdfund.campaigns import lifecycle
from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.errors import IllegalTransition, ValidationFailed
from crowdfund.extensions import db
from crowdfund.outbox import emit
from crowdfund.payouts.abandon import (PENDING_RELEASE_STATES, _abandonment, _refuse_if_transferring, refund_shares,
                                       refunds_due)
from crowdfund.payouts.models import Release
from crowdfund.pledges.models import Pledge
from crowdfund.settlement import refunds


@dataclass
class AbandonOutcome:
    """What declare_abandoned / finish_refunds did."""

    declared: bool = False  # this call declared the campaign abandoned
    held: int = 0  # what the platform held at the declaration (split over the backers)
    cancelled_releases: int = 0
    refunded: int = 0  # pledges refunded by this call
    amount: int = 0  # and how much
    failed: list[tuple[int, str]] = field(default_factory=list)  # (pledge id, why): retry later
    busy: bool = False  # another run was refunding this campaign; nothing done


def declare_abandoned(campaign: Campaign, moderator, reason: str, now: datetime | None = None) -> AbandonOutcome:
    """A moderator declares a funded campaign abandoned: pending releases are rejected, the split of
    what is held is fixed in the audit log, the backers are emailed, then the refunds are made (each
    pledge in its own transaction, see finish_refunds). Commits.

    Declaring an already abandoned campaign again only finishes refunds still due (never twice).
    Raises NotAllowed (not a moderator, own campaign, no reason) or IllegalTransition (not funded,
    or a transfer to the founder is under way)."""
    now = now or utcnow()
    if campaign.state == "abandoned":
        return finish_refunds(campaign, moderator, now)
    _refuse_if_transferring(campaign)
    entry = lifecycle.abandon(campaign, moderator, reason)
    cancelled = db.session.execute(
        update(Release).where(Release.campaign_id == campaign.id, Release.state.in_(PENDING_RELEASE_STATES))
        .values(state="rejected", decided_at=now, decided_by_id=moderator.id,
                reason=_("The campaign was declared abandoned."))
        .execution_options(synchronize_session=False)).rowcount
    # Checked again now that no release can be claimed any more (a claim is a conditional UPDATE from
    # "approved", which these rows no longer are): what is held cannot shrink under the split below.
    try:
        _refuse_if_transferring(campaign)
    except IllegalTransition:
        db.session.rollback()
        raise
    held, shares, balances = refund_shares(campaign.id)
    entry.details = {"held": held, "currency": campaign.currency, "cancelled_releases": cancelled,
                     "plan": {str(pid): [share, balances[pid][1]] for pid, share in shares.items()}}
    emit("campaign.abandoned", now=now, campaign_id=campaign.id, reason=entry.reason,
         shares={str(pid): share for pid, share in shares.items()})  # the backers' emails, after commit
    db.session.commit()
    outcome = finish_refunds(campaign, moderator, now)
    outcome.declared, outcome.held, outcome.cancelled_releases = True, held, cancelled
    return outcome


def finish_refunds(campaign: Campaign, moderator, now: datetime | None = None) -> AbandonOutcome:
    """Refund what the abandonment split still owes each pledge, through refunds.refund_pledge (Stripe,
    ledger, audit log, the backer's receipt). A Stripe failure leaves that pledge for the next run."""
    now = now or utcnow()
    outcome = AbandonOutcome()
    if campaign.state != "abandoned":
        raise IllegalTransition(_("Only an abandoned campaign is refunded this way."))
    entry = _abandonment(campaign.id)
    reason = entry.reason if entry is not None else ""
    db.session.commit()
    with _refund_lock(campaign.id) as acquired:
        if not acquired:
            outcome.busy = True
            return outcome
        db.session.expire_all()  # read the ledger as the previous run left it
        due = refunds_due(campaign)
        pledges = {p.id: p for p in db.session.execute(
            db.select(Pledge).where(Pledge.id.in_(list(due))).order_by(Pledge.id)).scalars()} if due else {}
        for pledge_id in sorted(due):
            note = _("Campaign abandoned: %(reason)s", reason=reason)
            try:
                refunds.refund_pledge(pledges[pledge_id], due[pledge_id], note, moderator, now)
            except (refunds.RefundFailed, ValidationFailed) as error:
                db.session.rollback()
                outcome.failed.append((pledge_id, error.message))
                current_app.logger.warning("Abandonment refund of pledge %s failed: %s", pledge_id, error.message)
                continue
            outcome.refunded += 1
            outcome.amount += due[pledge_id]
    return outcome


# One refund run per campaign at a time, across transactions (refund_pledge commits per pledge):
# a PostgreSQL session advisory lock on a connection of its own; in-process for SQLite (one server).
# Advisory locks are per database, not per schema: the lock's first key is a hash of the schema the
# tables live in, so two sites (or test workers) in schemas of one database never block each other.
_ADVISORY_NAMESPACE = "crowdfund-refunds"
_LOCK_KEY = "hashtext(:ns || current_schema())"
_local_locks: dict[tuple[str, int], threading.Lock] = {}
_local_guard = threading.Lock()


@contextmanager
def _refund_lock(campaign_id: int):
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            acquired = connection.execute(text(f"SELECT pg_try_advisory_lock({_LOCK_KEY}, :id)"),
                                          {"ns": _ADVISORY_NAMESPACE, "id": campaign_id}).scalar()
            connection.commit()
            try:
                yield acquired
            finally:
                if acquired:
                    connection.execute(text(f"SELECT pg_advisory_unlock({_LOCK_KEY}, :id)"),
                                       {"ns": _ADVISORY_NAMESPACE, "id": campaign_id})
                    connection.commit()
        return
    with _local_guard:
        lock = _local_locks.setdefault((str(db.engine.url), campaign_id), threading.Lock())
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()
