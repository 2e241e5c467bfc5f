"""worker heartbeats

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import bridge.store.tables


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('worker_heartbeats',
    sa.Column('worker', sa.String(length=200), nullable=False),
    sa.Column('started_at', bridge.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', bridge.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker')
    )
    with op.batch_alter_table('worker_heartbeats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_worker_heartbeats_last_seen_at'), ['last_seen_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('worker_heartbeats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_worker_heartbeats_last_seen_at'))

    op.drop_table('worker_heartbeats')
