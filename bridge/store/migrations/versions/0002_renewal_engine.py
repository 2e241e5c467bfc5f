"""renewal engine

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import bridge.store.tables


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('card_updates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('gateway_order_id', sa.String(length=80), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('transaction_ref', sa.String(length=64), nullable=False),
    sa.Column('created_at', bridge.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('done_at', bridge.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('gateway_order_id')
    )
    with op.batch_alter_table('card_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_updates_agreement_id'), ['agreement_id'], unique=False)

    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anchor_at', bridge.store.tables.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('anchor_cycle', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('declines_this_cycle', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('suspended_until', bridge.store.tables.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancel_at_period_end', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('card_reminder_for', sa.String(length=4), nullable=False, server_default=''))

    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('decline', sa.String(length=8), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('checks', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_check_at', bridge.store.tables.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('shop_order_id', sa.String(length=64), nullable=False, server_default=''))
        batch_op.create_index('ix_charges_state_check', ['state', 'next_check_at'], unique=False)
        batch_op.create_index('uq_charges_one_open_attempt', ['agreement_id'], unique=True, sqlite_where=sa.text("state IN ('pending', 'unknown')"), postgresql_where=sa.text("state IN ('pending', 'unknown')"))

    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reconciled_until', bridge.store.tables.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reconcile_due_at', bridge.store.tables.UtcDateTime(timezone=True), nullable=True))

    # Agreements activated before this revision are anchored on their start (no trials existed then).
    op.execute("UPDATE agreements SET anchor_at = started_at WHERE anchor_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_column('reconcile_due_at')
        batch_op.drop_column('reconciled_until')

    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.drop_index('uq_charges_one_open_attempt', sqlite_where=sa.text("state IN ('pending', 'unknown')"), postgresql_where=sa.text("state IN ('pending', 'unknown')"))
        batch_op.drop_index('ix_charges_state_check')
        batch_op.drop_column('shop_order_id')
        batch_op.drop_column('next_check_at')
        batch_op.drop_column('checks')
        batch_op.drop_column('decline')
        batch_op.drop_column('attempt')

    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_column('card_reminder_for')
        batch_op.drop_column('cancel_at_period_end')
        batch_op.drop_column('suspended_until')
        batch_op.drop_column('declines_this_cycle')
        batch_op.drop_column('anchor_cycle')
        batch_op.drop_column('anchor_at')

    with op.batch_alter_table('card_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_updates_agreement_id'))

    op.drop_table('card_updates')
