"""Risk early-warning: each campaign's current assessment (score and reason codes), its history for
the trend, moderators' clearances, and the fingerprints the review rules compare."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.clock import utcnow
from crowdfund.extensions import db


class RiskAssessment(db.Model):
    """A campaign's current risk: the sum of its flags' points, and the flags with their reasons."""

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[int] = mapped_column(default=0, index=True)
    # [{code, points, detail, phase}] — every flag with its reason code.
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    # The score a week before (for the trend shown in the queue); None when there is no such point.
    previous_score: Mapped[int | None]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_flagged_at: Mapped[datetime | None]


class RiskHistoryPoint(db.Model):
    """The score at one moment, added when it changes (the trend)."""

    __table_args__ = (Index("ix_risk_history_campaign_at", "campaign_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    score: Mapped[int]


class RiskClearance(db.Model):
    """A moderator looked at a campaign's flags and cleared them, with a reason (also audit-logged).
    A clearance covers the reason codes present at that moment; a new code holds releases again."""

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    moderator_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    reason: Mapped[str] = mapped_column(Text)
    codes: Mapped[list] = mapped_column(JSON, default=list)
    score: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoryBand(db.Model):
    """One locality-sensitive-hashing band of a campaign story's MinHash signature: two campaigns
    sharing a band are candidates for a near-duplicate story (then compared by signature)."""

    __table_args__ = (Index("ix_story_band_key", "band_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    band_key: Mapped[str] = mapped_column(String(40))


class StorySignature(db.Model):
    """A campaign story's MinHash signature (datasketch), written when the story is saved."""

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True)
    signature: Mapped[list] = mapped_column(JSON, default=list)
    shingle_count: Mapped[int] = mapped_column(default=0)
