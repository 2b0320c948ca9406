"""Refund attempts: a refund is claimed (committed) before Stripe is called, never under a row lock.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 11:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('refund_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pledge_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('stripe_refund_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['pledge_id'], ['pledge.id'], name=op.f('fk_refund_attempt_pledge_id_pledge')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_attempt')),
    sa.UniqueConstraint('pledge_id', 'number', name='one_refund_per_number')
    )
    with op.batch_alter_table('refund_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_attempt_pledge_id'), ['pledge_id'], unique=False)


def downgrade():
    with op.batch_alter_table('refund_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_attempt_pledge_id'))
    op.drop_table('refund_attempt')
