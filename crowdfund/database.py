"""Engine settings per database, and the full-text index that lives outside the models."""
import sqlite3

from sqlalchemy import DDL, event
from sqlalchemy.engine import Engine

from crowdfund.accounts import models as _accounts  # noqa: F401  (every model on the metadata)
from crowdfund.campaigns.models import Campaign
from crowdfund.moderation import models as _moderation  # noqa: F401
from crowdfund.payments import models as _payments  # noqa: F401
from crowdfund.pledges import models as _pledges  # noqa: F401
from crowdfund.updates import models as _updates  # noqa: F401
from crowdfund.comments import models as _comments  # noqa: F401
from crowdfund.notifications import models as _notifications  # noqa: F401
from crowdfund.payouts import models as _payouts  # noqa: F401
from crowdfund import outbox as _outbox  # noqa: F401
from crowdfund.credit import models as _credit  # noqa: F401
from crowdfund.risk import models as _risk  # noqa: F401

# SQLite full-text search: an external-content FTS5 table over campaign title, blurb and
# story, kept in step by triggers, so no code path can forget to index a change.
SQLITE_FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS campaign_fts USING fts5("
    "title, blurb, story, content='campaign', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS campaign_fts_ai AFTER INSERT ON campaign BEGIN "
    "INSERT INTO campaign_fts(rowid, title, blurb, story) VALUES (new.id, new.title, new.blurb, new.story); END",
    "CREATE TRIGGER IF NOT EXISTS campaign_fts_ad AFTER DELETE ON campaign BEGIN "
    "INSERT INTO campaign_fts(campaign_fts, rowid, title, blurb, story) "
    "VALUES ('delete', old.id, old.title, old.blurb, old.story); END",
    "CREATE TRIGGER IF NOT EXISTS campaign_fts_au AFTER UPDATE OF title, blurb, story ON campaign BEGIN "
    "INSERT INTO campaign_fts(campaign_fts, rowid, title, blurb, story) "
    "VALUES ('delete', old.id, old.title, old.blurb, old.story); "
    "INSERT INTO campaign_fts(rowid, title, blurb, story) VALUES (new.id, new.title, new.blurb, new.story); END",
)
SQLITE_FTS_DROP = (
    "DROP TRIGGER IF EXISTS campaign_fts_au",
    "DROP TRIGGER IF EXISTS campaign_fts_ad",
    "DROP TRIGGER IF EXISTS campaign_fts_ai",
    "DROP TABLE IF EXISTS campaign_fts",
)
# PostgreSQL full-text search: a GIN index over the same expression the search query uses.
PG_SEARCH_VECTOR = (
    "to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(blurb, '') || ' ' || coalesce(story, ''))"
)
# Ranking weighs a word in the title over one in the blurb over one in the story. It is only
# computed for rows the indexed expression above matched, so it needs no index of its own.
PG_RANK_VECTOR = (
    "setweight(to_tsvector('simple', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('simple', coalesce(blurb, '')), 'B') || "
    "setweight(to_tsvector('simple', coalesce(story, '')), 'D')"
)
# SQLite bm25() column weights for title, blurb and story, in the same spirit.
SQLITE_RANK_WEIGHTS = (10.0, 4.0, 1.0)
PG_FTS_DDL = (f"CREATE INDEX IF NOT EXISTS ix_campaign_search ON campaign USING gin ({PG_SEARCH_VECTOR})",)
PG_FTS_DROP = ("DROP INDEX IF EXISTS ix_campaign_search",)

# Objects created by raw DDL above; the schema comparison with the models ignores them.
NON_MODEL_OBJECTS = {"campaign_fts", "campaign_fts_data", "campaign_fts_idx", "campaign_fts_docsize",
                     "campaign_fts_config", "campaign_fts_content", "ix_campaign_search"}

for statement in SQLITE_FTS_DDL:
    event.listen(Campaign.__table__, "after_create", DDL(statement).execute_if(dialect="sqlite"))
for statement in PG_FTS_DDL:
    event.listen(Campaign.__table__, "after_create", DDL(statement).execute_if(dialect="postgresql"))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


# Far past any real listing, and small enough that LIMIT/OFFSET stay within a 64-bit integer.
MAX_PAGE = 100_000


def requested_page(args) -> int:
    """The page number in ?page=, from 1 to MAX_PAGE; anything that is not a number is page 1."""
    page = args.get("page", 1, type=int)
    return min(max(page, 1), MAX_PAGE)


def is_sqlite() -> bool:
    from crowdfund.extensions import db

    return db.session.get_bind().dialect.name == "sqlite"


def include_object(obj, name, type_, reflected, compare_to):
    """Alembic filter: leave the full-text objects made by raw DDL out of autogenerate."""
    return name not in NON_MODEL_OBJECTS and not (name or "").startswith("campaign_fts")
