"""Who follows which campaign, and which emails were sent for which event (never twice)."""
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.clock import utcnow
from crowdfund.extensions import db


class Follow(db.Model):
    __table_args__ = (UniqueConstraint("user_id", "campaign_id", name="one_follow"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailDelivery(db.Model):
    """One email for one event to one person: the row is claimed (committed) before sending, so a
    task that runs twice finds it and sends nothing."""

    __table_args__ = (UniqueConstraint("event", "user_id", name="once_per_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "outbox:<event id>" (one email per outbox event), or for notifications to an audience the fact
    # itself: "update:42", "campaign-result:7", "launch:7", "ending-soon:7"
    event: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
