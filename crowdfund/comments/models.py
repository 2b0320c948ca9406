"""Comments on a campaign or on one of its updates, reports of them, and moderators hiding them."""
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.clock import utcnow
from crowdfund.extensions import db

MAX_COMMENT_LENGTH = 5000


class Comment(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    # None: on the campaign itself; otherwise on that update.
    update_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_update.id", ondelete="CASCADE"), index=True)
    # A reply to another comment (one level: replies to replies attach to the same parent).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comment.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    hidden_at: Mapped[datetime | None]
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    hidden_reason: Mapped[str | None] = mapped_column(Text)

    author = relationship("User", lazy="joined", foreign_keys=[author_id])

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None


class CommentReport(db.Model):
    __table_args__ = (UniqueConstraint("comment_id", "reporter_id", name="one_report_per_person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comment.id", ondelete="CASCADE"), index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
