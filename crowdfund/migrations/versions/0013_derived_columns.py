"""Derived columns (issue 17): campaign totals kept by triggers on pledge, Markdown rendered and
sanitised at save time, and the trending score the periodic job refreshes; all backfilled here.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_HTML_COLUMNS = (("campaign", "story_html"), ("campaign", "risks_html"), ("reward_tier", "description_html"),
                 ("milestone", "description_html"), ("user", "bio_html"), ("campaign_update", "body_html"),
                 ("campaign_update", "milestone_note_html"))


def upgrade():
    from crowdfund.clock import utcnow
    from crowdfund.campaigns.derived import refresh_html, refresh_totals, refresh_trending
    from crowdfund.database import PG_TOTALS_DDL, SQLITE_TOTALS_DDL

    # Plain ALTER TABLE ADD COLUMN (no batch): on SQLite a batch rebuild of campaign would drop its
    # search-index triggers.
    op.add_column('campaign', sa.Column('pledged_amount', sa.BigInteger(), server_default=sa.text('0'),
                                        nullable=False))
    op.add_column('campaign', sa.Column('backer_count', sa.Integer(), server_default=sa.text('0'), nullable=False))
    op.add_column('campaign', sa.Column('trending_score', sa.BigInteger(), server_default=sa.text('0'),
                                        nullable=False))
    for table, column in _HTML_COLUMNS:
        op.add_column(table, sa.Column(column, sa.Text(), server_default='', nullable=False))
    op.create_index('ix_campaign_live_trending', 'campaign', ['trending_score', 'launched_at', 'id'], unique=False,
                    sqlite_where=sa.text("state = 'live'"), postgresql_where=sa.text("state = 'live'"))
    op.create_index('ix_pledge_campaign_backer_state', 'pledge', ['campaign_id', 'backer_id', 'state'], unique=False)

    connection = op.get_bind()
    for statement in {"sqlite": SQLITE_TOTALS_DDL, "postgresql": PG_TOTALS_DDL}.get(connection.dialect.name, ()):
        op.execute(statement)
    refresh_totals(connection)
    refresh_trending(utcnow(), executor=connection)
    refresh_html(connection)


def downgrade():
    from crowdfund.database import PG_TOTALS_DROP, SQLITE_FTS_DDL, SQLITE_TOTALS_DROP

    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_TOTALS_DROP, "postgresql": PG_TOTALS_DROP}.get(dialect, ()):
        op.execute(statement)
    op.drop_index('ix_pledge_campaign_backer_state', table_name='pledge')
    op.drop_index('ix_campaign_live_trending', table_name='campaign',
                  sqlite_where=sa.text("state = 'live'"), postgresql_where=sa.text("state = 'live'"))
    for table, column in reversed(_HTML_COLUMNS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column(column)
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('trending_score')
        batch_op.drop_column('backer_count')
        batch_op.drop_column('pledged_amount')
    if dialect == "sqlite":  # rebuilding campaign dropped the search-index triggers
        for statement in SQLITE_FTS_DDL:
            op.execute(statement)
