from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.clock import utcnow
from crowdfund.extensions import db


class AuditEntry(db.Model):
    """One moderator or system action: who, what, on which campaign, when and why."""

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    actor = relationship("User", lazy="raise_on_sql")
    campaign = relationship("Campaign", lazy="raise_on_sql")


REPORT_OUTCOMES = ("upheld", "dismissed")


class CampaignReport(db.Model):
    """Someone signed in reporting a campaign (misleading, not delivering, suspected fraud…). A
    moderator upholds or dismisses it (audit-logged); upheld reports count in the founder's profile."""

    __table_args__ = (CheckConstraint("outcome IS NULL OR outcome IN ('upheld', 'dismissed')",
                                      name="known_outcome"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    outcome: Mapped[str | None] = mapped_column(String(16))
    resolution_note: Mapped[str] = mapped_column(Text, default="")
