"""Updates a founder posts to the people following a campaign: public, or for backers only."""
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.clock import utcnow
from crowdfund.extensions import db

VISIBILITIES = ("public", "backers")
VISIBILITY_LABELS = {"public": _l("Public: everyone can read it"),
                     "backers": _l("Backers only: only people who backed the campaign can read it")}


class Update(db.Model):
    __tablename__ = "campaign_update"  # "update" is an SQL keyword
    __table_args__ = (CheckConstraint("visibility IN ('public', 'backers')", name="visibility_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    title: Mapped[str] = mapped_column(String(160))
    body: Mapped[str] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    edited_at: Mapped[datetime | None]

    author = relationship("User", lazy="joined")

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"
