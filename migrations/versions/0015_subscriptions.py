"""subscriptions: periods, renewal and lapse

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db
from market.kernel.migrate import create_append_only, drop_append_only


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql')


def upgrade() -> None:
    op.add_column('orders', sa.Column('subscription_id', sa.String(length=40), nullable=True))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_subscription_id'), ['subscription_id'],
                              unique=False)

    op.create_table('subscriptions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('buyer_org_id', sa.String(length=40), nullable=False),
    sa.Column('seller_org_id', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('offer_id', sa.String(length=40), nullable=False),
    sa.Column('first_order_id', sa.String(length=40), nullable=False),
    sa.Column('contract_id', sa.String(length=40), nullable=False),
    sa.Column('terms_id', sa.String(length=40), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('renew', sa.Boolean(), nullable=False),
    sa.Column('periods', sa.Integer(), nullable=False),
    sa.Column('current_order_id', sa.String(length=40), nullable=False),
    sa.Column('current_period_start', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('current_period_end', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('renewal_order_id', sa.String(length=40), nullable=True),
    sa.Column('retry_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('grace_until', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure', sa.Text(), nullable=True),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'active', 'past_due', 'lapsed', 'cancelled')", name=op.f('ck_subscriptions_status')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_subscriptions_amount')),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_subscriptions_contract_id_contracts')),
    sa.ForeignKeyConstraint(['first_order_id'], ['orders.id'], name=op.f('fk_subscriptions_first_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions')),
    sa.UniqueConstraint('first_order_id', name=op.f('uq_subscriptions_first_order_id'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_subscriptions_buyer', ['buyer_org_id', 'id'], unique=False)
        batch_op.create_index('ix_subscriptions_seller', ['seller_org_id', 'id'], unique=False)
        batch_op.create_index('ix_subscriptions_due', ['status', 'current_period_end'], unique=False)

    op.create_table('subscription_terms',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('subscription_id', sa.String(length=40), nullable=False),
    sa.Column('version_id', sa.String(length=40), nullable=False),
    sa.Column('offer_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('commitment_id', sa.String(length=40), nullable=False),
    sa.Column('decision_id', sa.String(length=40), nullable=False),
    sa.Column('document', JSON, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('accepted_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_subscription_terms_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_terms'))
    )
    with op.batch_alter_table('subscription_terms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_terms_subscription_id'), ['subscription_id'], unique=False)
    create_append_only('subscription_terms')

    op.create_table('subscription_events',
    sa.Column('subscription_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor_org_id', sa.String(length=40), nullable=True),
    sa.Column('actor_label', sa.String(length=200), nullable=False),
    sa.Column('at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_subscription_events_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_events'))
    )
    with op.batch_alter_table('subscription_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_events_subscription_id'), ['subscription_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('subscription_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscription_events_subscription_id'))
    op.drop_table('subscription_events')
    drop_append_only('subscription_terms')
    with op.batch_alter_table('subscription_terms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscription_terms_subscription_id'))
    op.drop_table('subscription_terms')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_subscriptions_due')
        batch_op.drop_index('ix_subscriptions_seller')
        batch_op.drop_index('ix_subscriptions_buyer')
    op.drop_table('subscriptions')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_subscription_id'))
        batch_op.drop_column('subscription_id')
