"""Engine settings per database, and what lives outside the models: the full-text index and the
triggers that keep the campaign totals."""
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

# Campaign totals (campaign.pledged_amount, campaign.backer_count: what pledges.models.pledged_totals
# returns) kept by triggers on `pledge`, in the same transaction as the pledge change, whatever made it
# (ORM flush, bulk UPDATE, raw SQL, delete): no code path can forget. They apply a difference, never
# re-sum a campaign: the amount changes by what the changed rows add or take away; the backer count
# by whether each changed (campaign, backer) has a counting pledge after the change and had one before,
# asked of ix_pledge_campaign_backer_state. `flask crowdfund reconcile` checks them against the pledges.
_COUNTING_SQL = "('active', 'collected', 'errored')"  # pledges.models.COUNTING_STATES


def _sqlite_has_other_counting(row: str) -> str:
    """Whether the backer of `row` has another counting pledge on its campaign (the row itself excluded)."""
    return (f"EXISTS (SELECT 1 FROM pledge p WHERE p.campaign_id = {row}.campaign_id AND p.backer_id = "
            f"{row}.backer_id AND p.state IN {_COUNTING_SQL} AND p.id <> {row}.id)")


def _sqlite_apply(row: str, sign: str) -> str:
    return (f"UPDATE campaign SET pledged_amount = pledged_amount {sign} {row}.amount, backer_count = backer_count "
            f"{sign} (CASE WHEN {_sqlite_has_other_counting(row)} THEN 0 ELSE 1 END) WHERE id = {row}.campaign_id")


# SQLite runs row triggers one row at a time, each seeing the rows changed before it: an update takes
# the old row's part away and adds the new row's.
SQLITE_TOTALS_DDL = (
    f"CREATE TRIGGER IF NOT EXISTS pledge_totals_ai AFTER INSERT ON pledge WHEN new.state IN {_COUNTING_SQL} "
    f"BEGIN {_sqlite_apply('new', '+')}; END",
    f"CREATE TRIGGER IF NOT EXISTS pledge_totals_ad AFTER DELETE ON pledge WHEN old.state IN {_COUNTING_SQL} "
    f"BEGIN {_sqlite_apply('old', '-')}; END",
    "CREATE TRIGGER IF NOT EXISTS pledge_totals_au AFTER UPDATE OF state, amount, campaign_id, backer_id ON pledge "
    f"WHEN old.state IN {_COUNTING_SQL} OR new.state IN {_COUNTING_SQL} BEGIN "
    f"{_sqlite_apply('old', '-')} AND old.state IN {_COUNTING_SQL}; "
    f"{_sqlite_apply('new', '+')} AND new.state IN {_COUNTING_SQL}; END",
)
SQLITE_TOTALS_DROP = (
    "DROP TRIGGER IF EXISTS pledge_totals_au",
    "DROP TRIGGER IF EXISTS pledge_totals_ad",
    "DROP TRIGGER IF EXISTS pledge_totals_ai",
)

_PG_NO_ROWS = ("SELECT CAST(NULL AS integer) AS id, CAST(NULL AS integer) AS campaign_id, "
               "CAST(NULL AS integer) AS backer_id, CAST(NULL AS integer) AS amount, "
               "CAST(NULL AS varchar) AS state WHERE false")
_PG_CHANGED = ("FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE (o.campaign_id, o.backer_id, o.amount, "
               "o.state) IS DISTINCT FROM (n.campaign_id, n.backer_id, n.amount, n.state) "
               f"AND (o.state IN {_COUNTING_SQL} OR n.state IN {_COUNTING_SQL})")


def _pg_apply(old_sql: str, new_sql: str) -> str:
    """One statement's difference to the totals: o = the changed rows before, n = after (the table now
    holds n). A (campaign, backer) counts after if it has a counting row in the table; it counted before
    if it had one once n's counting rows are taken away and o's put back. Each pair's rows in the table
    are counted by a LATERAL lookup on ix_pledge_campaign_backer_state: a nested loop over the changed
    pairs, never a scan of the campaign's pledges (a plain EXISTS can be planned as one)."""
    counting = f"state IN {_COUNTING_SQL}"
    return (
        f"WITH o AS ({old_sql}), n AS ({new_sql}), "
        f"amounts AS (SELECT campaign_id, sum(amount) AS delta FROM ("
        f"SELECT campaign_id, amount FROM n WHERE {counting} "
        f"UNION ALL SELECT campaign_id, -amount FROM o WHERE {counting}) d GROUP BY campaign_id), "
        "pairs AS (SELECT campaign_id, backer_id, sum(old_counting) AS old_counting, "
        "sum(new_counting) AS new_counting FROM ("
        f"SELECT campaign_id, backer_id, CAST({counting} AS integer) AS old_counting, 0 AS new_counting FROM o "
        f"UNION ALL SELECT campaign_id, backer_id, 0, CAST({counting} AS integer) FROM n) x "
        "GROUP BY campaign_id, backer_id), "
        "backers AS (SELECT k.campaign_id, sum(CAST(now_.rows > 0 AS integer) "
        "- CAST(now_.rows - k.new_counting + k.old_counting > 0 AS integer)) AS delta "
        "FROM pairs k CROSS JOIN LATERAL (SELECT count(*) AS rows FROM pledge p WHERE p.campaign_id = k.campaign_id "
        f"AND p.backer_id = k.backer_id AND p.{counting}) now_ GROUP BY k.campaign_id), "
        "changes AS (SELECT coalesce(a.campaign_id, b.campaign_id) AS campaign_id, coalesce(a.delta, 0) AS "
        "amount_delta, coalesce(b.delta, 0) AS backer_delta FROM amounts a FULL JOIN backers b "
        "ON b.campaign_id = a.campaign_id) "
        "UPDATE campaign c SET pledged_amount = c.pledged_amount + ch.amount_delta, "
        "backer_count = c.backer_count + ch.backer_delta FROM changes ch "
        "WHERE c.id = ch.campaign_id AND (ch.amount_delta <> 0 OR ch.backer_delta <> 0)")


# PostgreSQL: statement triggers with transition tables, so a bulk UPDATE of 10,000 pledges is one
# pass over the changed rows (a row trigger there would see the whole statement's result, not the
# rows before it, and count a backer's two pledges wrongly).
PG_TOTALS_DDL = (
    "CREATE OR REPLACE FUNCTION pledge_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF TG_OP = 'INSERT' THEN {_pg_apply(_PG_NO_ROWS, 'SELECT id, campaign_id, backer_id, amount, state FROM new_rows')}; "
    f"ELSIF TG_OP = 'DELETE' THEN {_pg_apply('SELECT id, campaign_id, backer_id, amount, state FROM old_rows', _PG_NO_ROWS)}; "
    f"ELSE {_pg_apply('SELECT o.id, o.campaign_id, o.backer_id, o.amount, o.state ' + _PG_CHANGED, 'SELECT n.id, n.campaign_id, n.backer_id, n.amount, n.state ' + _PG_CHANGED)}; "
    "END IF; RETURN NULL; END $$",
    "CREATE TRIGGER pledge_totals_insert AFTER INSERT ON pledge REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION pledge_totals_apply()",
    "CREATE TRIGGER pledge_totals_update AFTER UPDATE ON pledge REFERENCING OLD TABLE AS old_rows "
    "NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pledge_totals_apply()",
    "CREATE TRIGGER pledge_totals_delete AFTER DELETE ON pledge REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION pledge_totals_apply()",
)
PG_TOTALS_DROP = (
    "DROP TRIGGER IF EXISTS pledge_totals_delete ON pledge",
    "DROP TRIGGER IF EXISTS pledge_totals_update ON pledge",
    "DROP TRIGGER IF EXISTS pledge_totals_insert ON pledge",
    "DROP FUNCTION IF EXISTS pledge_totals_apply()",
)

for statement in SQLITE_FTS_DDL:
    event.listen(Campaign.__table__, "after_create", DDL(statement).execute_if(dialect="sqlite"))
for statement in PG_FTS_DDL:
    event.listen(Campaign.__table__, "after_create", DDL(statement).execute_if(dialect="postgresql"))
for statement in SQLITE_TOTALS_DDL:
    event.listen(_pledges.Pledge.__table__, "after_create", DDL(statement).execute_if(dialect="sqlite"))
for statement in PG_TOTALS_DDL:
    event.listen(_pledges.Pledge.__table__, "after_create", DDL(statement).execute_if(dialect="postgresql"))


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
