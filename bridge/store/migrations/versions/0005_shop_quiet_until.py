"""shops: quiet_until (a shop's Retry-After)

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa
import bridge.store.tables


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shops') as batch:
        batch.add_column(sa.Column('quiet_until', bridge.store.tables.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('shops') as batch:
        batch.drop_column('quiet_until')
