"""Founder credit profiles: the scorecard computed from what a founder did on the platform, its
history, the business details a founder declares (and a moderator checks), and backers' word on
whether their reward arrived."""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.clock import utcnow
from crowdfund.extensions import db

RECEIPT_STATES = ("received", "not_received")


class CreditProfile(db.Model):
    """A founder's current scorecard (crowdfund/credit): one row per founder, rewritten whenever a
    relevant event happens and by `flask crowdfund credit rebuild`."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    # None: "no history yet" (no campaign has reached an outcome), never a low score.
    score: Mapped[int | None]
    band: Mapped[str] = mapped_column(String(20), default="new")
    # [{code, points, max_points, numbers}] — every factor's contribution and the numbers it used; its
    # texts are rendered when shown (credit.engine.factor_value, FACTORS), in the reader's language.
    factors: Mapped[list] = mapped_column(JSON, default=list)
    # Every number the factors are built from, shown to backers.
    facts: Mapped[dict] = mapped_column(JSON, default=dict)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditHistoryPoint(db.Model):
    """The score at one moment, for the chart over time; a point is added when the score changes."""

    __table_args__ = (Index("ix_credit_history_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    score: Mapped[int | None]


class BusinessDetails(db.Model):
    """What a founder declares about their business; "declared" until a moderator checks it against a
    document (checked_at set, audit-logged). Any change by the founder makes it "declared" again."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    registration_number: Mapped[str] = mapped_column(String(80), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    declared_at: Mapped[datetime] = mapped_column(default=utcnow)
    checked_at: Mapped[datetime | None]
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    check_note: Mapped[str] = mapped_column(Text, default="")


class RewardReceipt(db.Model):
    """A backer's word on their reward: received or not received (one per pledge, may be changed)."""

    __table_args__ = (CheckConstraint("state IN ('received', 'not_received')", name="known_state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledge.id", ondelete="CASCADE"), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(500), default="")
    marked_at: Mapped[datetime] = mapped_column(default=utcnow)
