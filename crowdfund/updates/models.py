"""Updates a founder posts to the people following a campaign: public, or for backers only."""
from datetime import datetime

from flask_babel import lazy_gettext as _l
from datetime import date

from markupsafe import Markup
from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.clock import utcnow
from crowdfund.extensions import db

VISIBILITIES = ("public", "backers")
MILESTONE_STATUSES = ("on_track", "delayed", "completed")
MILESTONE_STATUS_LABELS = {"planned": _l("Planned"), "on_track": _l("On track"), "delayed": _l("Delayed"),
                           "completed": _l("Completed")}
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
    # A milestone report: which milestone, its status, the new date (delayed) and the reason or evidence.
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestone.id", ondelete="SET NULL"), index=True)
    milestone_status: Mapped[str | None] = mapped_column(String(16))
    milestone_new_date: Mapped[date | None] = mapped_column(Date)
    milestone_note: Mapped[str] = mapped_column(Text, default="")
    # body and milestone_note rendered and sanitised at save time, with the campaign's gallery
    # (crowdfund/campaigns/derived.py, which renders them again when the gallery changes).
    body_html: Mapped[str] = mapped_column(Text, default="", server_default="")
    milestone_note_html: Mapped[str] = mapped_column(Text, default="", server_default="")

    author = relationship("User", lazy="joined")
    milestone = relationship("Milestone", lazy="joined")
    spend_reports: Mapped[list["SpendReport"]] = relationship(
        back_populates="update", cascade="all, delete-orphan", order_by="SpendReport.id", lazy="selectin")

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"

    @property
    def body_markup(self) -> Markup:
        return Markup(self.body_html or "")

    @property
    def milestone_note_markup(self) -> Markup:
        return Markup(self.milestone_note_html or "")


class SpendReport(db.Model):
    """Money the founder reports spent on one budget line, in the campaign's minor units."""

    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(ForeignKey("campaign_update.id", ondelete="CASCADE"), index=True)
    budget_line_id: Mapped[int] = mapped_column(ForeignKey("budget_line.id", ondelete="CASCADE"), index=True)
    amount: Mapped[int]
    note: Mapped[str] = mapped_column(String(300), default="")

    update: Mapped[Update] = relationship(back_populates="spend_reports")
    budget_line = relationship("BudgetLine", lazy="joined")


class UpdateRequest(db.Model):
    """A backer asking for news after a long silence; counted since the campaign's last update."""

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
