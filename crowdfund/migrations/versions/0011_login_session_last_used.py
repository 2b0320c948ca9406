"""Login sessions record when they were last used (to the day), for the idle timeout (LOGIN_IDLE_DAYS).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:00:00

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(), nullable=True))
    # Existing sessions count as used at the upgrade (nothing recorded their use before): every
    # browser signed in then gets the whole idle window, none is signed out by the upgrade itself.
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, as crowdfund.clock.utcnow()
    op.execute(sa.text("UPDATE login_session SET last_used_at = :now").bindparams(now=now))
    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.alter_column('last_used_at', existing_type=sa.DateTime(), nullable=False)


def downgrade():
    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
