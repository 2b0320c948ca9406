from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.clock import utcnow
from crowdfund.extensions import db

# Kinds of ledger entries, and the sign their amount carries: money in is positive.
LEDGER_KINDS = ("charge", "refund", "platform_fee", "dispute", "release")


class LedgerEntry(db.Model):
    """One money movement, never changed once written: every total the site shows is a sum of these.

    charge: money collected from a backer (+); refund: money given back (−); platform_fee: the
    platform's share of a charge (+, money the founder will not receive); dispute: money taken back
    by a card dispute (−); release: money transferred to the founder's Connect account (−, keyed by the
    Stripe transfer id)."""

    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in LEDGER_KINDS)})", name="known_kind"),
        UniqueConstraint("kind", "stripe_id", name="one_entry_per_stripe_object"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    pledge_id: Mapped[int | None] = mapped_column(ForeignKey("pledge.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # The Stripe object behind the movement (charge, refund, dispute id): each is booked once.
    stripe_id: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(500), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# Charge attempts whose outcome is not known yet: no new attempt may start, and the pledge may not be
# cancelled or dropped, while one of these exists (the resolver job settles them against Stripe).
OPEN_ATTEMPTS = ("claimed", "unknown")


class ChargeAttempt(db.Model):
    """A claim on "charge pledge P, attempt N", inserted and committed BEFORE Stripe is called.

    The unique (pledge_id, attempt) constraint is what guarantees one charge per attempt even when
    two workers run the deadline job at once: the second insert fails and that worker skips the pledge."""

    __table_args__ = (UniqueConstraint("pledge_id", "attempt", name="one_claim_per_attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledge.id"), index=True)
    attempt: Mapped[int]
    # claimed → succeeded | failed | requires_action | unknown (the call itself failed)
    status: Mapped[str] = mapped_column(String(20), default="claimed")
    payment_intent_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class RefundAttempt(db.Model):
    """A claim on "refund `amount` of pledge P, refund number N", committed BEFORE Stripe is called.

    What may still be refunded counts open claims as spent, so two moderators (or a moderator and a
    campaign stop) refunding at once cannot give back more than was collected, and Stripe is never
    called while the pledge's row is locked. The unique (pledge_id, number) constraint makes two
    concurrent claims of the same number impossible; the idempotency key pledge-P-refund-N ties the
    Stripe refund to its claim."""

    __table_args__ = (UniqueConstraint("pledge_id", "number", name="one_refund_per_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledge.id"), index=True)
    number: Mapped[int]
    amount: Mapped[int]
    # claimed → succeeded | failed | unknown (the call itself failed: looked up before the next refund)
    status: Mapped[str] = mapped_column(String(20), default="claimed")
    stripe_refund_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class StripeEvent(db.Model):
    """A webhook event already handled, stored in the same transaction as its effect."""

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
