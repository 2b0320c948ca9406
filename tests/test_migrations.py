"""The migrations build exactly the models' schema, and can be undone and redone, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from crowdfund.database import include_object
from crowdfund.discovery.services import search_query
from crowdfund.extensions import db


def _differences():
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True})
        return compare_metadata(context, db.metadata)


def _tables(include_search_index=False):
    """Tables in the database, without Alembic's own; the SQLite full-text tables only when asked."""
    names = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    if include_search_index:
        return names
    return {name for name in names if include_object(None, name, "table", True, None)}


def test_migrations_build_exactly_the_models_schema(app):
    assert _differences() == []


def test_every_model_table_is_created_by_the_migrations(app):
    assert _tables() >= set(db.metadata.tables)


def _new_campaign_is_found_by_search(make_campaign):
    """Whether a campaign saved now is found by full-text search (the search index objects work)."""
    make_campaign(state="live", title="Lantern workshop")
    found = [c.title for c in db.session.execute(search_query("lantern")).scalars()]
    db.session.remove()  # end the transaction: on PostgreSQL it would block the migration's DDL
    return found == ["Lantern workshop"]


def test_downgrade_to_base_and_upgrade_again(fresh_app, make_campaign):
    upgrade()
    assert _tables() == set(db.metadata.tables)
    assert _new_campaign_is_found_by_search(make_campaign)

    downgrade(revision="base")
    assert _tables(include_search_index=True) == set()

    upgrade()
    assert _tables() == set(db.metadata.tables)
    assert _differences() == []
    assert _new_campaign_is_found_by_search(make_campaign)
    categories = db.session.execute(text("SELECT count(*) FROM category")).scalar_one()
    assert categories > 0  # the seeded categories are back


def _insert_user(email: str) -> int:
    return db.session.execute(text(
        "INSERT INTO \"user\" (email, display_name, password_hash, role, bio, email_updates, email_follows,"
        " created_at, login_id) VALUES (:e, :e, 'x', 'backer', '', true, true, CURRENT_TIMESTAMP, :e)"
        " RETURNING id"), {"e": email}).scalar_one()


def test_one_open_pledge_migration_keeps_the_pledge_furthest_along_and_frees_the_others_units(
        fresh_app):
    """Duplicates made before the index (a double click) are resolved safely: none was charged; the
    errored or active one is kept over the pending ones, the rest are cancelled and their units given back."""
    upgrade(revision="0008")
    # Rows written in SQL: the models describe the newest schema, which has columns 0008 lacks.
    founder_id = _insert_user("founder@example.com")
    campaign_id = db.session.execute(text(
        "INSERT INTO campaign (founder_id, title, slug, blurb, story, risks, goal, currency, funding_model,"
        " duration_days, state, cover_alt, featured, created_at, updated_at)"
        " VALUES (:f, 'Old', 'old', '', '', '', 100000, 'USD', 'all_or_nothing', 30, 'live', '', false,"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"), {"f": founder_id}).scalar_one()
    tier_id = db.session.execute(text(
        "INSERT INTO reward_tier (campaign_id, title, description, minimum_amount, quantity, claimed, ships,"
        " shipping_amount) VALUES (:c, 'Tier', '', 1000, 10, 0, false, 0) RETURNING id"),
        {"c": campaign_id}).scalar_one()
    twice, thrice, alone = (_insert_user(f"backer{n}@example.com") for n in range(3))
    rows = [(twice, "pending"), (twice, "active"), (thrice, "pending"), (thrice, "pending"), (thrice, "pending"),
            (alone, "active"), (alone, "cancelled")]
    for backer, state in rows:
        db.session.execute(text(
            "INSERT INTO pledge (campaign_id, backer_id, reward_tier_id, amount, shipping_amount, state, created_at, "
            "updated_at, charge_attempts, disputed) VALUES (:c, :b, :t, 1000, 0, :s, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP, 0, false)"), {"c": campaign_id, "b": backer, "t": tier_id, "s": state})
    db.session.execute(text("UPDATE reward_tier SET claimed = 6 WHERE id = :t"), {"t": tier_id})  # all but the cancelled
    db.session.commit()
    db.session.remove()

    upgrade()

    open_rows = db.session.execute(text(
        "SELECT backer_id, state, id FROM pledge WHERE state IN ('pending', 'active', 'errored') ORDER BY backer_id"
    )).all()
    assert [(row.backer_id, row.state) for row in open_rows] == sorted(
        [(twice, "active"), (thrice, "pending"), (alone, "active")])
    newest_of_thrice = db.session.execute(text("SELECT max(id) FROM pledge WHERE backer_id = :b"),
                                          {"b": thrice}).scalar_one()
    assert [row.id for row in open_rows if row.backer_id == thrice] == [newest_of_thrice]
    assert db.session.execute(text("SELECT claimed FROM reward_tier WHERE id = :t"), {"t": tier_id}).scalar_one() == 3
