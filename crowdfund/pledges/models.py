from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.clock import utcnow
from crowdfund.extensions import db

STATES = ("pending", "active", "collected", "errored", "dropped", "cancelled", "void")
# Pledges that count toward a campaign's pledged total and backer count.
COUNTING_STATES = ("active", "collected", "errored")


class Pledge(db.Model):
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    backer_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    reward_tier_id: Mapped[int | None] = mapped_column(ForeignKey("reward_tier.id"), index=True)
    # Total in the campaign's currency's minor units, shipping included.
    amount: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    campaign = relationship("Campaign", lazy="raise_on_sql")
    backer = relationship("User", lazy="raise_on_sql")
    reward_tier = relationship("RewardTier", lazy="raise_on_sql")
