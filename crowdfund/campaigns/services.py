"""Drafting a campaign: basics, budget lines, reward tiers, milestones, the checklist.

Every function checks that the user may edit the campaign (founder, editable state),
flushes, and leaves the commit to the caller.
"""
import re
import unicodedata
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer, joinedload, selectinload
from werkzeug.exceptions import NotFound

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import (
    FUNDING_MODELS, MAX_DURATION_DAYS, MIN_DURATION_DAYS, PUBLIC_STATES, BudgetLine, Campaign, Category, Milestone,
    RewardTier,
)
from crowdfund.errors import NotAllowed, ValidationFailed
from crowdfund.extensions import db
from crowdfund.money import CURRENCIES

BASIC_FIELDS = ("title", "blurb", "category_id", "story", "risks", "goal", "currency", "funding_model",
                "duration_days")
MIN_STORY_LENGTH = 200


def slugify(text: str) -> str:
    """A readable URL part: ASCII letters, digits and dashes ("Café Crème!" -> "cafe-creme")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:80].rstrip("-") or "campaign"


def unique_slug(title: str) -> str:
    """slugify(title), with -2, -3 … appended when taken."""
    base = slugify(title)
    taken = set(db.session.execute(
        db.select(Campaign.slug).where((Campaign.slug == base) | Campaign.slug.like(f"{base}-%"))).scalars())
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def categories() -> list[Category]:
    return list(db.session.execute(db.select(Category).order_by(Category.position, Category.name)).scalars())


def category_by_slug(slug: str) -> Category | None:
    return db.session.execute(db.select(Category).where(Category.slug == slug)).scalar_one_or_none()


# What a card never shows: the long texts, not read for a listing of 12 (loaded if something asks).
_NOT_ON_CARDS = (Campaign.story, Campaign.story_html, Campaign.risks, Campaign.risks_html, Campaign.review_reason)


def listing_query():
    """Campaigns with what a card shows (founder, category; the totals are on the row) loaded in the
    same round trip count; the long texts a card never shows are left out."""
    return db.select(Campaign).options(
        selectinload(Campaign.founder).defer(User.bio).defer(User.bio_html), selectinload(Campaign.category),
        *(defer(column) for column in _NOT_ON_CARDS))


def public_campaigns_of(founder_id: int) -> list[Campaign]:
    """A founder's campaigns that anyone may see, newest launch first."""
    return list(db.session.execute(
        listing_query().where(Campaign.founder_id == founder_id, Campaign.state.in_(PUBLIC_STATES))
        .order_by(Campaign.launched_at.desc(), Campaign.id.desc())).scalars())


def can_view(user, campaign: Campaign) -> bool:
    if campaign.is_public:
        return True
    if user is None or not user.is_authenticated:
        return False
    return user.id == campaign.founder_id or user.is_moderator


def campaign_for_viewer(slug: str, user, with_details: bool = False, fresh: bool = False,
                        related: bool = True) -> Campaign:
    """The campaign at slug if this user may see it; NotFound otherwise (a draft is not
    even admitted to exist for anyone but its founder and moderators). fresh: read again even if
    the session holds it already; related=False: without its founder and category (one query)."""
    query = db.select(Campaign).where(Campaign.slug == slug)
    if related:
        query = query.options(joinedload(Campaign.founder), joinedload(Campaign.category))  # many-to-one: one query
    if with_details:
        query = query.options(*(selectinload(getattr(Campaign, name)) for name in DETAIL_COLLECTIONS))
    if fresh:
        query = query.execution_options(populate_existing=True)
    campaign = db.session.execute(query).scalar_one_or_none()
    if campaign is None or not can_view(user, campaign):
        raise NotFound()
    return campaign


def campaign_for_founder(slug: str, user, with_details: bool = True) -> Campaign:
    """The campaign at slug if user is its founder; NotFound for anyone else."""
    campaign = campaign_for_viewer(slug, user, with_details=with_details)
    if not user.is_authenticated or campaign.founder_id != user.id:
        raise NotFound()
    return campaign


def _require_editable(campaign: Campaign) -> None:
    if not campaign.is_editable:
        raise NotAllowed(_("This campaign can no longer be edited: it has been submitted or launched."))


def create_draft(founder, title: str, category_id: int | None = None, currency: str = "USD",
                 funding_model: str = "all_or_nothing") -> Campaign:
    """A new draft owned by founder, with a unique slug made from the title (retried when
    another request took the same slug between our check and our insert)."""
    for _attempt in range(5):
        campaign = Campaign(founder_id=founder.id, title=title.strip(), slug=unique_slug(title),
                            category_id=category_id, currency=currency, funding_model=funding_model)
        try:
            with db.session.begin_nested():
                db.session.add(campaign)
                db.session.flush()
        except IntegrityError:
            continue
        return campaign
    raise ValidationFailed(_("Could not find a free web address for this title; try another title."))


def update_basics(campaign: Campaign, **fields) -> None:
    """Set the campaign's basic fields; currency cannot change once amounts are entered."""
    _require_editable(campaign)
    unknown = set(fields) - set(BASIC_FIELDS)
    if unknown:
        raise ValueError(f"Not a basic field: {', '.join(sorted(unknown))}")
    if fields.get("currency", campaign.currency) not in CURRENCIES:
        raise ValidationFailed(_("Choose one of the listed currencies."))
    if fields.get("currency", campaign.currency) != campaign.currency and _has_amounts(campaign):
        # Budget lines and tiers are stored in minor units of the old currency.
        raise ValidationFailed(_("You cannot change the currency once budget lines or reward tiers are entered; "
                                 "remove them first."))
    if fields.get("funding_model", campaign.funding_model) not in FUNDING_MODELS:
        raise ValidationFailed(_("Choose all-or-nothing or flexible funding."))
    duration = fields.get("duration_days", campaign.duration_days)
    if not MIN_DURATION_DAYS <= duration <= MAX_DURATION_DAYS:
        raise ValidationFailed(_("The duration must be %(min)d to %(max)d days.", min=MIN_DURATION_DAYS,
                                 max=MAX_DURATION_DAYS))
    for name, value in fields.items():
        setattr(campaign, name, value.strip() if isinstance(value, str) else value)
    db.session.flush()


def _has_amounts(campaign: Campaign) -> bool:
    return any(db.session.execute(db.select(model.id).where(model.campaign_id == campaign.id).limit(1)).first()
               for model in (BudgetLine, RewardTier))


ITEM_MODELS = {"budget": BudgetLine, "rewards": RewardTier, "milestones": Milestone}


def item_for_founder(campaign: Campaign, kind: str, item_id: int):
    """One budget line, reward tier or milestone of this campaign; NotFound otherwise."""
    model = ITEM_MODELS[kind]
    item = db.session.get(model, item_id)
    if item is None or item.campaign_id != campaign.id:
        raise NotFound()
    return item


def save_item(campaign: Campaign, kind: str, fields: dict, item=None):
    """Add (item None) or change a budget line, reward tier or milestone of an editable campaign."""
    _require_editable(campaign)
    if item is None:
        item = ITEM_MODELS[kind](campaign_id=campaign.id)
        db.session.add(item)
    for name, value in fields.items():
        setattr(item, name, value.strip() if isinstance(value, str) else value)
    db.session.flush()
    db.session.expire(campaign, [{"budget": "budget_lines", "rewards": "reward_tiers",
                                  "milestones": "milestones"}[kind]])
    return item


def delete_item(campaign: Campaign, item) -> None:
    _require_editable(campaign)
    db.session.delete(item)
    db.session.flush()
    db.session.expire(campaign)


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str  # lazily translated
    done: bool
    hint: str = ""


def checklist(campaign: Campaign) -> list[ChecklistItem]:
    """What a draft needs before review; needs budget_lines, reward_tiers and milestones loaded."""
    budget_total = sum(line.amount for line in campaign.budget_lines)
    share_total = sum(m.release_bp for m in campaign.milestones)
    return [
        ChecklistItem("title", _l("A title"), bool(campaign.title.strip())),
        ChecklistItem("blurb", _l("A one-line blurb"), bool(campaign.blurb.strip())),
        ChecklistItem("category", _l("A category"), campaign.category_id is not None),
        ChecklistItem("story", _l("A story"), len(campaign.story.strip()) >= MIN_STORY_LENGTH,
                      _l("at least %(n)d characters", n=MIN_STORY_LENGTH)),
        ChecklistItem("risks", _l("Risks and challenges"), bool(campaign.risks.strip())),
        ChecklistItem("cover", _l("A cover image, described for people who cannot see it"),
                      campaign.cover_image_id is not None and bool(campaign.cover_alt.strip())),
        ChecklistItem("goal", _l("A funding goal"), campaign.goal > 0),
        ChecklistItem("budget", _l("Budget lines that add up to the goal"),
                      bool(campaign.budget_lines) and budget_total == campaign.goal),
        ChecklistItem("rewards", _l("At least one reward tier"), bool(campaign.reward_tiers)),
        ChecklistItem("milestones", _l("Milestones whose shares add up to 100 %"),
                      bool(campaign.milestones) and share_total == 10000),
    ]


DETAIL_COLLECTIONS = ("budget_lines", "reward_tiers", "milestones", "gallery")


def load_details(campaign: Campaign) -> None:
    """Load whichever of budget lines, reward tiers and milestones the campaign has not loaded yet."""
    unloaded = [name for name in DETAIL_COLLECTIONS if name in inspect(campaign).unloaded]
    if unloaded:
        db.session.execute(
            db.select(Campaign).where(Campaign.id == campaign.id)
            .options(*(selectinload(getattr(Campaign, name)) for name in unloaded))
            .execution_options(populate_existing=True)).scalar_one()


def missing_items(campaign: Campaign) -> list[ChecklistItem]:
    """The checklist items not done yet (loads the campaign's details when needed)."""
    load_details(campaign)
    return [item for item in checklist(campaign) if not item.done]
