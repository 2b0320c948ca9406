"""What visitors find: home page sections, browsing by category, full-text search.

Each listing is one query for the campaigns (founder and category loaded alongside), however many
campaigns there are: the totals (pledged_amount, backer_count) and the trending score are columns of
the campaign row (crowdfund/campaigns/derived.py)."""
import re
from datetime import datetime

from sqlalchemy import column, func, literal_column, table

from crowdfund.campaigns.models import Campaign
from crowdfund.campaigns.services import listing_query
from crowdfund.database import PG_RANK_VECTOR, PG_SEARCH_VECTOR, SQLITE_RANK_WEIGHTS, is_sqlite
from crowdfund.extensions import db
SORTS = ("trending", "ending", "newest", "funded")
MAX_QUERY_TERMS = 8
SEARCHABLE_STATES = ("live", "successful", "failed")

_campaign_fts = table("campaign_fts", column("rowid"))


def live_query(now: datetime):
    return listing_query().where(Campaign.state == "live", Campaign.deadline > now)


def sorted_live_query(now: datetime, sort: str, category_id: int | None = None):
    """Live campaigns in the given order: trending (what the last week's pledges add up to, as of the
    periodic job's last run: campaign.trending_score, on the index ix_campaign_live_trending), ending
    soon, newest."""
    query = live_query(now)
    if category_id is not None:
        query = query.where(Campaign.category_id == category_id)
    if sort == "trending":
        query = query.order_by(Campaign.trending_score.desc(), Campaign.launched_at.desc(), Campaign.id.desc())
    elif sort == "ending":
        query = query.order_by(Campaign.deadline, Campaign.id)
    else:
        query = query.order_by(Campaign.launched_at.desc(), Campaign.id.desc())
    return query


def funded_query(category_id: int | None = None):
    query = listing_query().where(Campaign.state == "successful")
    if category_id is not None:
        query = query.where(Campaign.category_id == category_id)
    return query.order_by(Campaign.ended_at.desc(), Campaign.id.desc())


def listing_count(now: datetime, sort: str, category_id: int | None = None) -> int:
    """How many campaigns the discover listing of `sort` holds (one COUNT on the filter alone)."""
    condition = (Campaign.state == "successful") if sort == "funded" else \
        (Campaign.state == "live") & (Campaign.deadline > now)
    if category_id is not None:
        condition = condition & (Campaign.category_id == category_id)
    return db.session.execute(db.select(func.count(Campaign.id)).where(condition)).scalar_one()


def home_sections(now: datetime, size: int = 6) -> dict[str, list[Campaign]]:
    featured = live_query(now).where(Campaign.featured.is_(True)).order_by(Campaign.deadline).limit(size)
    return {
        "featured": list(db.session.execute(featured).scalars()),
        "trending": list(db.session.execute(sorted_live_query(now, "trending").limit(size)).scalars()),
        "ending": list(db.session.execute(sorted_live_query(now, "ending").limit(size)).scalars()),
        "newest": list(db.session.execute(sorted_live_query(now, "newest").limit(size)).scalars()),
    }


def search_terms(text: str) -> list[str]:
    """The words of a search box entry, without any query-language syntax."""
    return re.findall(r"\w+", text or "")[:MAX_QUERY_TERMS]


def search_query(text: str):
    """Public campaigns matching every word (as a prefix) in title, blurb or story, best first;
    None when the text has no words."""
    terms = search_terms(text)
    if not terms:
        return None
    query = listing_query().where(Campaign.state.in_(SEARCHABLE_STATES))
    if is_sqlite():
        match = " ".join(f'"{term}"*' for term in terms)
        return (query.join(_campaign_fts, _campaign_fts.c.rowid == Campaign.id)
                .where(literal_column("campaign_fts").op("MATCH")(match))
                .order_by(func.bm25(literal_column("campaign_fts"), *SQLITE_RANK_WEIGHTS), Campaign.id))
    tsquery = func.to_tsquery("simple", " & ".join(f"{term}:*" for term in terms))
    return (query.where(literal_column(PG_SEARCH_VECTOR).op("@@")(tsquery))
            .order_by(func.ts_rank(literal_column(f"({PG_RANK_VECTOR})"), tsquery).desc(), Campaign.id))
