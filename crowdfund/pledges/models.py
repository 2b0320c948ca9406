from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.clock import utcnow
from crowdfund.extensions import db

STATES = ("pending", "active", "collected", "errored", "dropped", "cancelled", "void")
# Pledges that count toward a campaign's pledged total and backer count.
COUNTING_STATES = ("active", "collected", "errored")
# Pledges that hold a unit of a limited reward tier.
HOLDING_STATES = ("pending", "active", "collected", "errored")
# A backer's pledge on a campaign that is still in play: at most one per backer and campaign, enforced
# by the partial unique index below (a double click or a second tab cannot make a second one).
OPEN_STATES = ("pending", "active", "errored")
# The pledge state machine: every state a pledge may move to from each state. Every change of a
# pledge's state goes through crowdfund.pledges.services.transition / transition_where, which check it.
#   pending   → active (card saved), collected (a flexible charge booked by a webhook first),
#               cancelled (by the backer, or unstarted after 2 h), void (the campaign stopped)
#   active    → collected (charged), errored (charge failed at the deadline, or 3-D Secure at pledge
#               time), pending (a flexible charge at pledge time failed: waiting for another card),
#               cancelled, void
#   errored   → collected (fixed), dropped (fix window over), void (the campaign stopped)
#   collected → void (the campaign stopped and all its money was refunded)
TRANSITIONS = {
    "pending": ("active", "collected", "cancelled", "void"),
    "active": ("collected", "errored", "pending", "cancelled", "void"),
    "errored": ("collected", "dropped", "void"),
    "collected": ("void",),
    "dropped": (),
    "cancelled": (),
    "void": (),
}
_OPEN_SQL = "state IN ('pending', 'active', 'errored')"


class Pledge(db.Model):
    """A backer's promise to a campaign. The money actually moved is in the ledger."""

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("shipping_amount >= 0", name="shipping_not_negative"),
        Index("uq_pledge_one_open_per_backer", "campaign_id", "backer_id", unique=True,
              sqlite_where=text(_OPEN_SQL), postgresql_where=text(_OPEN_SQL)),
        # The campaign-total triggers (crowdfund/database.py) ask "does this backer have another counting
        # pledge on this campaign?" on every pledge change; totals recomputed per campaign read it too.
        Index("ix_pledge_campaign_backer_state", "campaign_id", "backer_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    backer_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    reward_tier_id: Mapped[int | None] = mapped_column(ForeignKey("reward_tier.id"), index=True)
    # Total in the campaign's currency's minor units, shipping included.
    amount: Mapped[int]
    shipping_amount: Mapped[int] = mapped_column(default=0)
    shipping_country: Mapped[str | None] = mapped_column(String(2))
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # Stripe: the customer and saved card, and the intents used so far.
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64))
    stripe_setup_intent_id: Mapped[str | None] = mapped_column(String(64))
    stripe_payment_method_id: Mapped[str | None] = mapped_column(String(64))
    card_summary: Mapped[str | None] = mapped_column(String(64))
    # The PaymentIntent of the latest charge attempt (the one to re-authenticate or refund).
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    charge_attempts: Mapped[int] = mapped_column(default=0)
    collected_at: Mapped[datetime | None]
    errored_at: Mapped[datetime | None]
    # Errored pledges: the last day the backer can fix the card, and when we last reminded them.
    fix_deadline: Mapped[datetime | None] = mapped_column(index=True)
    last_reminder_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    # For the risk rules (crowdfund/risk): a keyed hash of the address the pledge was made from (never
    # the address itself) and the saved card's fingerprint as Stripe gives it (the same card number
    # gives the same fingerprint), to see many pledges from one place or one card.
    client_ip_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    card_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)

    campaign = relationship("Campaign", lazy="raise_on_sql")
    backer = relationship("User", lazy="raise_on_sql")
    reward_tier = relationship("RewardTier", lazy="raise_on_sql")


def pledged_totals(campaign_ids) -> dict[int, tuple[int, int]]:
    """campaign id -> (pledged amount, number of backers), in one query for all ids. Read-only; here
    with the model so every layer that shows totals (notifications too) reads them one way.

    This is the source of truth, read for money decisions (settlement, "goal reached"). Pages show
    campaign.pledged_amount / backer_count instead: the same figures kept on the campaign row by
    triggers (crowdfund/database.py), checked against this by `flask crowdfund reconcile`."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        db.select(Pledge.campaign_id, func.coalesce(func.sum(Pledge.amount), 0),
                  func.count(func.distinct(Pledge.backer_id)))
        .where(Pledge.campaign_id.in_(ids), Pledge.state.in_(COUNTING_STATES))
        .group_by(Pledge.campaign_id))
    return {campaign_id: (int(total), int(backers)) for campaign_id, total, backers in rows}
