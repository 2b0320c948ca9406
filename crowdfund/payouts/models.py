"""Payouts: founders' Stripe Connect accounts and the releases of held funds to them."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.clock import utcnow
from crowdfund.extensions import db

# requested (founder asked, moderator to verify) → approved → transferring (claim committed before
# Stripe is called) → transferred; requested → rejected; transferring → failed (Stripe refused).
RELEASE_STATES = ("requested", "approved", "rejected", "transferring", "transferred", "failed")
# A milestone has at most one release that is not rejected or failed (the first tranche: milestone NULL).
LIVE_RELEASE_STATES = ("requested", "approved", "transferring", "transferred")


class PayoutAccount(db.Model):
    """A founder's Stripe Connect Express account, as last read back from Stripe."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    stripe_account_id: Mapped[str] = mapped_column(String(64), unique=True)
    details_submitted: Mapped[bool] = mapped_column(default=False)
    transfers_active: Mapped[bool] = mapped_column(default=False)
    payouts_enabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    checked_at: Mapped[datetime | None]

    @property
    def can_receive_transfers(self) -> bool:
        return self.details_submitted and self.transfers_active


class Release(db.Model):
    """One tranche of a campaign's held funds, to be transferred to the founder once verified."""

    __table_args__ = (
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in RELEASE_STATES)})", name="known_state"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount_not_negative"),
        # One live release per milestone (and one first tranche per campaign): a double request or
        # a double click cannot create two. Partial unique indexes work on SQLite and PostgreSQL.
        Index("uq_release_live_per_tranche", "campaign_id", "tranche", unique=True,
              sqlite_where=text("state IN ('requested', 'approved', 'transferring', 'transferred')"),
              postgresql_where=text("state IN ('requested', 'approved', 'transferring', 'transferred')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    # None: the first tranche, released at success without review.
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestone.id"))
    # "first" or "milestone-<id>": what the one-live-release-per-tranche index is on.
    tranche: Mapped[str] = mapped_column(String(32))
    # The update reporting the milestone completed, which the moderator checks.
    update_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_update.id"))
    state: Mapped[str] = mapped_column(String(16), default="requested", index=True)
    # Fixed when the transfer is claimed (the schedule's amount at that moment).
    amount: Mapped[int | None]
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    stripe_transfer_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    transferred_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(200))

    milestone = relationship("Milestone", lazy="joined")
