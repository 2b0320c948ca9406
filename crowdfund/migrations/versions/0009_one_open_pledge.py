"""One open pledge per backer and campaign, enforced by a partial unique index.

Existing duplicates (a double click before this index) are resolved first, safely: none of them was
charged (open states only), so for each backer and campaign the pledge furthest along is kept — an
errored one, else an active one (a saved card), else the newest pending one — and the others are
cancelled, their reward units given back.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 11:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

OPEN = "state IN ('pending', 'active', 'errored')"
RANK = {"errored": 0, "active": 1, "pending": 2}


def _resolve_duplicates(connection):
    rows = connection.execute(sa.text(
        f"SELECT id, campaign_id, backer_id, state, reward_tier_id FROM pledge WHERE {OPEN} "
        "AND (campaign_id, backer_id) IN (SELECT campaign_id, backer_id FROM pledge WHERE "
        f"{OPEN} GROUP BY campaign_id, backer_id HAVING COUNT(*) > 1)")).all()
    groups = {}
    for row in rows:
        groups.setdefault((row.campaign_id, row.backer_id), []).append(row)
    for pledges in groups.values():
        pledges.sort(key=lambda row: (RANK[row.state], -row.id))
        for row in pledges[1:]:
            connection.execute(sa.text("UPDATE pledge SET state = 'cancelled' WHERE id = :id"), {"id": row.id})
            if row.reward_tier_id is not None:
                connection.execute(sa.text(
                    "UPDATE reward_tier SET claimed = claimed - 1 WHERE id = :id AND claimed > 0"),
                    {"id": row.reward_tier_id})


def upgrade():
    _resolve_duplicates(op.get_bind())
    with op.batch_alter_table('pledge', schema=None) as batch_op:
        batch_op.create_index('uq_pledge_one_open_per_backer', ['campaign_id', 'backer_id'], unique=True,
                              sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def downgrade():
    with op.batch_alter_table('pledge', schema=None) as batch_op:
        batch_op.drop_index('uq_pledge_one_open_per_backer', sqlite_where=sa.text(OPEN),
                            postgresql_where=sa.text(OPEN))
