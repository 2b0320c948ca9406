"""Helpers for the campaign tests: reads from the database, dates as the forms send them."""
import re
from datetime import date, timedelta

from sqlalchemy.orm import selectinload

from crowdfund.campaigns.models import Campaign, Category
from crowdfund.extensions import db


def fresh(model, id_):
    """The row as committed in the database (drops anything a request left uncommitted)."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, id_)


def fresh_campaign(campaign_id) -> Campaign:
    db.session.rollback()
    db.session.expire_all()
    return db.session.execute(
        db.select(Campaign).where(Campaign.id == campaign_id).options(
            selectinload(Campaign.budget_lines), selectinload(Campaign.reward_tiers),
            selectinload(Campaign.milestones))).scalar_one()


def category_id(slug="food-drink") -> int:
    return db.session.execute(db.select(Category.id).where(Category.slug == slug)).scalar_one()


def next_month() -> str:
    """A delivery month in the future as the month input sends it (YYYY-MM)."""
    return (date.today().replace(day=1) + timedelta(days=40)).strftime("%Y-%m")


def in_days(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def error_next_to(html: str, field: str) -> str:
    """The error message shown right under a form field (the field macro gives it the id `<field>-error`)."""
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    assert match, f"no error shown next to {field}"
    return match.group(1)
