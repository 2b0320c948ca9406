from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund import money
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.media.models import GalleryImage, Image  # noqa: F401  (relationship targets)

FUNDING_MODELS = ("all_or_nothing", "flexible")
MIN_DURATION_DAYS, MAX_DURATION_DAYS = 1, 60

# Every state a campaign can be in, and where it may go from there.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("in_review",),
    "in_review": ("approved", "changes_requested", "rejected"),
    "changes_requested": ("in_review",),
    "approved": ("live",),
    "live": ("successful", "failed", "cancelled", "suspended"),
    "rejected": (),
    # A moderator declares a funded campaign abandoned: the money not yet released goes back to backers.
    "successful": ("abandoned",),
    "abandoned": (),
    "failed": (),
    "cancelled": (),
    "suspended": (),
}
STATES = tuple(TRANSITIONS)
STATE_LABELS = {
    "draft": _l("Draft"), "in_review": _l("In review"), "changes_requested": _l("Changes requested"),
    "approved": _l("Approved"), "live": _l("Live"), "rejected": _l("Rejected"), "successful": _l("Funded"),
    "failed": _l("Not funded"), "cancelled": _l("Cancelled"), "suspended": _l("Suspended"),
    "abandoned": _l("Abandoned"),
}
EDITABLE_STATES = ("draft", "changes_requested")
# States anyone may see; the others only the founder and moderators.
PUBLIC_STATES = ("live", "successful", "failed", "cancelled", "suspended", "abandoned")
ENDED_STATES = ("successful", "failed", "cancelled", "suspended", "abandoned")


class Category(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(default=0)


class Campaign(db.Model):
    __table_args__ = (
        CheckConstraint("goal >= 0", name="goal_not_negative"),
        CheckConstraint(f"duration_days BETWEEN {MIN_DURATION_DAYS} AND {MAX_DURATION_DAYS}", name="duration_range"),
        # The discover "trending" order walks this index (live campaigns only) instead of summing pledges.
        Index("ix_campaign_live_trending", "trending_score", "launched_at", "id",
              sqlite_where=text("state = 'live'"), postgresql_where=text("state = 'live'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    founder_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(140), unique=True)
    blurb: Mapped[str] = mapped_column(String(200), default="")
    story: Mapped[str] = mapped_column(Text, default="")
    risks: Mapped[str] = mapped_column(Text, default="")
    goal: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    funding_model: Mapped[str] = mapped_column(String(20), default="all_or_nothing")
    duration_days: Mapped[int] = mapped_column(default=30)
    state: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    cover_image_id: Mapped[int | None] = mapped_column(ForeignKey("image.id", ondelete="SET NULL"))
    cover_alt: Mapped[str] = mapped_column(String(200), default="")
    # A YouTube or Vimeo page address, stored in a canonical form (crowdfund/media/video.py).
    video_url: Mapped[str | None] = mapped_column(String(200))
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last moderator decision's reason, shown to the founder.
    review_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None]
    launched_at: Mapped[datetime | None]
    deadline: Mapped[datetime | None] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]

    # Derived columns (docs/architecture.md "Derived columns"), never set by application code:
    # - pledged_amount / backer_count: what pledged_totals() returns (COUNTING_STATES), kept by database
    #   triggers on `pledge` in the same transaction as every pledge change (crowdfund/database.py).
    #   For DISPLAY only: a Campaign already loaded in the session is stale after a pledge change is
    #   flushed (the trigger changed the row, not the object) until it is expired or the session commits.
    #   Money decisions (settlement, "goal reached") keep reading pledged_totals() and the ledger.
    # - story_html / risks_html: the Markdown rendered and sanitised at save time
    #   (crowdfund/campaigns/derived.py; the story with the campaign's gallery).
    # - trending_score: what the last 7 days' counting pledges add up to, refreshed by the periodic job.
    pledged_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    backer_count: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    story_html: Mapped[str] = mapped_column(Text, default="", server_default="")
    risks_html: Mapped[str] = mapped_column(Text, default="", server_default="")
    trending_score: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))

    founder = relationship("User", lazy="raise_on_sql")
    category = relationship(Category, lazy="raise_on_sql")
    # Every card shows the cover, so it always comes with the campaign (one join, no extra query).
    cover = relationship("Image", lazy="joined")
    gallery: Mapped[list["GalleryImage"]] = relationship(
        back_populates="campaign", order_by="GalleryImage.position, GalleryImage.id",
        cascade="all, delete-orphan", lazy="raise_on_sql")
    budget_lines: Mapped[list["BudgetLine"]] = relationship(
        back_populates="campaign", order_by="BudgetLine.position, BudgetLine.id",
        cascade="all, delete-orphan", lazy="raise_on_sql")
    reward_tiers: Mapped[list["RewardTier"]] = relationship(
        back_populates="campaign", order_by="RewardTier.minimum_amount, RewardTier.id",
        cascade="all, delete-orphan", lazy="raise_on_sql")
    milestones: Mapped[list["Milestone"]] = relationship(
        back_populates="campaign", order_by="Milestone.due_date, Milestone.id",
        cascade="all, delete-orphan", lazy="raise_on_sql")

    @property
    def video(self):
        from crowdfund.media.video import parse_video_url

        return parse_video_url(self.video_url) if self.video_url else None

    @property
    def is_editable(self) -> bool:
        return self.state in EDITABLE_STATES

    @property
    def story_markup(self) -> Markup:
        """The story as stored, sanitised HTML (gallery images placed), ready for a template."""
        return Markup(self.story_html or "")

    @property
    def risks_markup(self) -> Markup:
        return Markup(self.risks_html or "")

    @property
    def percent_funded(self) -> int:
        """Per cent of the goal pledged, from the stored total (display only)."""
        return money.percent(self.pledged_amount or 0, self.goal)

    @property
    def is_public(self) -> bool:
        return self.state in PUBLIC_STATES

    def is_open(self, now: datetime) -> bool:
        return self.state == "live" and self.deadline is not None and now < self.deadline

    def seconds_left(self, now: datetime) -> int:
        if not self.is_open(now):
            return 0
        return int((self.deadline - now).total_seconds())

    def __repr__(self) -> str:
        return f"<Campaign {self.slug} {self.state}>"


class BudgetLine(db.Model):
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int]
    position: Mapped[int] = mapped_column(default=0)

    campaign: Mapped[Campaign] = relationship(back_populates="budget_lines")


class RewardTier(db.Model):
    __table_args__ = (
        CheckConstraint("minimum_amount > 0", name="minimum_positive"),
        CheckConstraint("quantity IS NULL OR quantity > 0", name="quantity_positive"),
        CheckConstraint("quantity IS NULL OR claimed <= quantity", name="not_oversold"),
        CheckConstraint("shipping_amount >= 0", name="shipping_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    minimum_amount: Mapped[int]
    # None means unlimited.
    quantity: Mapped[int | None]
    claimed: Mapped[int] = mapped_column(default=0)
    estimated_delivery: Mapped[date | None] = mapped_column(Date)
    ships: Mapped[bool] = mapped_column(Boolean, default=False)
    shipping_amount: Mapped[int] = mapped_column(default=0)
    # When the founder marked this tier's rewards sent (crowdfund/credit: backers then confirm receipt).
    shipped_at: Mapped[datetime | None]
    # The description rendered and sanitised at save time (crowdfund/campaigns/derived.py).
    description_html: Mapped[str] = mapped_column(Text, default="", server_default="")

    @property
    def description_markup(self) -> Markup:
        return Markup(self.description_html or "")

    campaign: Mapped[Campaign] = relationship(back_populates="reward_tiers")

    @property
    def remaining(self) -> int | None:
        if self.quantity is None:
            return None
        return max(self.quantity - self.claimed, 0)

    @property
    def sold_out(self) -> bool:
        return self.quantity is not None and self.claimed >= self.quantity


class Milestone(db.Model):
    __table_args__ = (CheckConstraint("release_bp BETWEEN 0 AND 10000", name="release_share_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    due_date: Mapped[date] = mapped_column(Date)
    # Share of the collected funds this milestone releases, in basis points (10000 = 100 %).
    release_bp: Mapped[int]
    # What the founder last reported (crowdfund/updates): planned -> on_track | delayed | completed.
    status: Mapped[str] = mapped_column(String(16), default="planned", server_default="planned")
    revised_due_date: Mapped[date | None] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)
    # The description rendered and sanitised at save time (crowdfund/campaigns/derived.py).
    description_html: Mapped[str] = mapped_column(Text, default="", server_default="")

    campaign: Mapped[Campaign] = relationship(back_populates="milestones")

    @property
    def description_markup(self) -> Markup:
        return Markup(self.description_html or "")

    @property
    def expected_date(self) -> date:
        """When it is now expected: done, re-planned, or as first planned."""
        return self.completed_on or self.revised_due_date or self.due_date
