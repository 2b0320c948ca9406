"""Sending releases to founders: the first tranche at success, approved releases, and releases a dead
process left half sent (crowdfund/payouts/releases.py has the schedule and the decisions). COMMITS: the
claim (approved → transferring, amount fixed) is committed before Stripe is called, so two approvals
or two job runs cannot both send it, and the transfer carries the idempotency key release-<id>; the
outcome (transferred + a ledger row keyed by the transfer id, or failed) in a transaction of its own."""
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import exists, update
from sqlalchemy.exc import IntegrityError

from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.outbox import emit
from crowdfund.payments import gateway, ledger
from crowdfund.payments.gateway import GatewayError
from crowdfund.payouts.models import Release
from crowdfund.payouts.releases import FIRST, UNSETTLED_PLEDGE_STATES, amount_now, destination_of, transfer_group
from crowdfund.pledges.models import Pledge
from crowdfund.risk.holds import hold_of


@dataclass(frozen=True)
class TransferOutcome:
    # transferred | waiting (no payout account) | held (risk hold: stays approved) | skipped
    # (someone else has it) | failed
    status: str
    amount: int = 0
    message: str = ""


def create_first_tranches(now: datetime) -> int:
    """Approve the first tranche of every successful, settled campaign that has none yet (and money
    collected). A campaign held by the risk review (risk/holds.py) gets none until a moderator clears
    it (a later run creates it). Idempotent and safe to run concurrently (the one-live-release
    index). Commits per campaign; returns how many were created."""
    if int(current_app.config["FIRST_TRANCHE_BP"]) <= 0:
        return 0
    candidates = db.session.execute(
        db.select(Campaign.id).where(
            Campaign.state == "successful",
            ~exists().where(Release.campaign_id == Campaign.id, Release.tranche == FIRST),
            ~exists().where(Pledge.campaign_id == Campaign.id, Pledge.state.in_(UNSETTLED_PLEDGE_STATES)),
            exists().where(Pledge.campaign_id == Campaign.id, Pledge.state == "collected"))
        .order_by(Campaign.id)).scalars().all()
    created = 0
    for campaign_id in candidates:
        if hold_of(campaign_id) is not None:
            continue
        release = Release(campaign_id=campaign_id, milestone_id=None, tranche=FIRST, state="approved",
                          requested_at=now, decided_at=now, reason=_("First tranche, released at success."))
        db.session.add(release)
        try:
            db.session.flush()
            emit("release.approved", now=now, campaign_id=campaign_id, release_id=release.id)
            db.session.commit()
        except IntegrityError:  # another run created it first
            db.session.rollback()
            continue
        created += 1
    return created


def _claim(release_id: int) -> Release | None:
    """approved → transferring with the amount fixed, COMMITTED; None when it is not approved (any more)."""
    release = db.session.get(Release, release_id)
    if release is None or release.state != "approved":
        db.session.rollback()
        return None
    # One claim per campaign at a time (PostgreSQL: row lock; SQLite serialises writers), so two
    # tranches of a campaign claimed at once cannot both count on the same unreleased money.
    db.session.execute(db.select(Campaign.id).where(Campaign.id == release.campaign_id).with_for_update())
    campaign = db.session.get(Campaign, release.campaign_id)
    amount = amount_now(campaign, release.milestone_id, except_release_id=release.id)
    claimed = db.session.execute(
        update(Release).where(Release.id == release_id, Release.state == "approved")
        .values(state="transferring", amount=amount).execution_options(synchronize_session=False)).rowcount == 1
    db.session.commit()
    if not claimed:
        return None
    release = db.session.get(Release, release_id)
    db.session.refresh(release)
    return release


def transfer_release(release_id: int, now: datetime) -> TransferOutcome:
    """Send an approved release to the founder's account, exactly once. COMMITS (the claim before
    Stripe is called, then the outcome). Waits (stays approved, no Stripe call) while the campaign is
    held by the risk review (risk/holds.py) or the founder cannot receive transfers."""
    db.session.commit()
    release = db.session.get(Release, release_id)
    if release is None or release.state != "approved":
        return TransferOutcome("skipped", message=_("This release is not waiting to be sent."))
    campaign = db.session.get(Campaign, release.campaign_id)
    if campaign.state != "successful":  # abandoned: what is still held goes back to the backers
        return TransferOutcome("skipped", message=_("Releases are made only for a successful campaign."))
    if hold_of(campaign.id) is not None:  # approved before the hold: sent once a moderator clears it
        return TransferOutcome("held", message=_("Approved, waiting: releases of this campaign are held by "
                                                 "the risk review until a moderator clears its flags."))
    if destination_of(campaign) is None:
        return TransferOutcome("waiting", message=_("The founder has not connected a payout account yet."))
    looked_up_before = release.error is not None  # a failed attempt may have reached Stripe after all
    release = _claim(release_id)
    if release is None:
        return TransferOutcome("skipped", message=_("This release is being sent already."))
    return _send(release, campaign, now, look_up=looked_up_before)


def _send(release: Release, campaign: Campaign, now: datetime, look_up: bool) -> TransferOutcome:
    group = transfer_group(campaign.id)
    if not release.amount:
        return _finish(release, campaign, None, now)
    destination = destination_of(campaign)
    release_id, amount, tranche = release.id, release.amount, release.tranche
    currency, campaign_id = campaign.currency, campaign.id
    db.session.commit()  # no transaction open while Stripe is called
    try:
        transfer_id = gateway.find_transfer(group, "release_id", str(release_id)) if look_up else None
        if transfer_id is None:
            if destination is None:
                raise GatewayError(_("The founder's payout account cannot receive transfers."))
            transfer_id = gateway.create_transfer(
                amount, currency, destination, group, f"release-{release_id}",
                {"release_id": str(release_id), "campaign_id": str(campaign_id), "tranche": tranche})
    except GatewayError as error:
        db.session.execute(
            update(Release).where(Release.id == release.id, Release.state == "transferring")
            .values(state="failed", error=str(error)[:200]).execution_options(synchronize_session=False))
        db.session.commit()
        return TransferOutcome("failed", release.amount or 0, str(error))
    return _finish(release, campaign, transfer_id, now)


def _finish(release: Release, campaign: Campaign, transfer_id: str | None, now: datetime) -> TransferOutcome:
    amount = release.amount or 0
    done = db.session.execute(
        update(Release).where(Release.id == release.id, Release.state == "transferring")
        .values(state="transferred", stripe_transfer_id=transfer_id, transferred_at=now, error=None)
        .execution_options(synchronize_session=False)).rowcount == 1
    if transfer_id is not None:  # booked once per transfer id, whoever gets here
        ledger.book(campaign.id, "release", amount, campaign.currency, stripe_id=transfer_id,
                    note=f"release {release.id} ({release.tranche})", actor_id=release.decided_by_id)
    if done:
        emit("release.transferred", now=now, campaign_id=campaign.id, release_id=release.id, amount=amount)
    db.session.commit()
    return TransferOutcome("transferred" if done else "skipped", amount)


def recover_stuck(release_id: int, now: datetime) -> TransferOutcome:
    """A release left in transferring (the process died mid-call): find its transfer at Stripe and
    book it, or send it again with the same idempotency key (Stripe returns the same transfer if the
    first call did get through). Commits."""
    db.session.commit()
    release = db.session.get(Release, release_id)
    if release is None or release.state != "transferring":
        return TransferOutcome("skipped")
    return _send(release, db.session.get(Campaign, release.campaign_id), now, look_up=True)


def run_release_jobs(now: datetime) -> dict:
    """The periodic catch-up: first tranches of newly settled campaigns, approved releases not sent
    yet (waiting for the payout account, or for a risk hold to be cleared), and releases a dead
    process left transferring."""
    counts = {"first_tranches": create_first_tranches(now), "transferred": 0, "failed": 0}
    stuck = db.session.execute(db.select(Release.id).where(Release.state == "transferring")
                               .order_by(Release.id)).scalars().all()
    approved = db.session.execute(db.select(Release.id).where(Release.state == "approved")
                                  .order_by(Release.id)).scalars().all()
    for release_id in stuck:
        outcome = recover_stuck(release_id, now)
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    for release_id in approved:
        outcome = transfer_release(release_id, now)
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return {key: value for key, value in counts.items() if value}


