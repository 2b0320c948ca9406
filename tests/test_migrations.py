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
