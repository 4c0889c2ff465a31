"""stripe rail: connect accounts, calls, inbound events

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('card_payments',
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('buyer_org_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('capture_method', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('payment_intent_id', sa.String(length=60), nullable=True),
    sa.Column('client_secret', sa.String(length=200), nullable=True),
    sa.Column('charge_id', sa.String(length=60), nullable=True),
    sa.Column('captured_amount', sa.BigInteger(), nullable=False),
    sa.Column('settled', sa.Boolean(), nullable=False),
    sa.Column('subscription_id', sa.String(length=40), nullable=True),
    sa.Column('customer_id', sa.String(length=60), nullable=True),
    sa.Column('payment_method_id', sa.String(length=60), nullable=True),
    sa.Column('off_session', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', market.kernel.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('requested', 'open', 'authorised', 'captured', 'cancelled', 'returned')", name=op.f('ck_card_payments_status')),
    sa.CheckConstraint("capture_method IN ('manual', 'automatic')", name=op.f('ck_card_payments_capture_method')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_card_payments_amount')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_card_payments')),
    sa.UniqueConstraint('payment_intent_id', name=op.f('uq_card_payments_payment_intent_id'))
    )
    with op.batch_alter_table('card_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_payments_buyer_org_id'), ['buyer_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_card_payments_charge_id'), ['charge_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_card_payments_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('stripe_connect_accounts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('stripe_account_id', sa.String(length=60), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('refresh_url', sa.String(length=500), nullable=False),
    sa.Column('return_url', sa.String(length=500), nullable=False),
    sa.Column('charges_enabled', sa.Boolean(), nullable=False),
    sa.Column('payouts_enabled', sa.Boolean(), nullable=False),
    sa.Column('details_submitted', sa.Boolean(), nullable=False),
    sa.Column('onboarding_url', sa.String(length=500), nullable=True),
    sa.Column('onboarding_expires_at', market.kernel.db.UTCDateTime(), nullable=True),
    sa.Column('links', sa.Integer(), nullable=False),
    sa.Column('created_at', market.kernel.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_connect_accounts')),
    sa.UniqueConstraint('org_id', name=op.f('uq_stripe_connect_accounts_org_id')),
    sa.UniqueConstraint('stripe_account_id', name=op.f('uq_stripe_connect_accounts_stripe_account_id'))
    )

    op.create_table('stripe_calls',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('operation', sa.String(length=40), nullable=False),
    sa.Column('params', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('subject_type', sa.String(length=20), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('result_id', sa.String(length=60), nullable=True),
    sa.Column('result', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', market.kernel.db.UTCDateTime(), nullable=False),
    sa.Column('created_at', market.kernel.db.UTCDateTime(), nullable=False),
    sa.Column('completed_at', market.kernel.db.UTCDateTime(), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name=op.f('ck_stripe_calls_state')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_calls')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_stripe_calls_idempotency_key'))
    )
    with op.batch_alter_table('stripe_calls', schema=None) as batch_op:
        batch_op.create_index('ix_stripe_calls_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_stripe_calls_subject', ['subject_type', 'subject_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stripe_calls_result_id'), ['result_id'], unique=False)

    op.create_table('stripe_events',
    sa.Column('id', sa.String(length=60), nullable=False),
    sa.Column('type', sa.String(length=80), nullable=False),
    sa.Column('object_id', sa.String(length=60), nullable=False),
    sa.Column('account', sa.String(length=60), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('received_at', market.kernel.db.UTCDateTime(), nullable=False),
    sa.Column('applied_at', market.kernel.db.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events'))
    )
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.create_index('ix_stripe_events_pending', ['applied_at', 'received_at'], unique=False)

    op.create_table('stripe_renewal_requests',
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('subscription_id', sa.String(length=40), nullable=False),
    sa.Column('requests', sa.Integer(), nullable=False),
    sa.Column('requested_at', market.kernel.db.UTCDateTime(), nullable=False),
    sa.Column('handled_at', market.kernel.db.UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_stripe_renewal_requests'))
    )
    with op.batch_alter_table('stripe_renewal_requests', schema=None) as batch_op:
        batch_op.create_index('ix_stripe_renewal_requests_pending', ['handled_at', 'requested_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stripe_renewal_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_stripe_renewal_requests_pending')
    op.drop_table('stripe_renewal_requests')
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index('ix_stripe_events_pending')
    op.drop_table('stripe_events')
    with op.batch_alter_table('stripe_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_calls_result_id'))
        batch_op.drop_index('ix_stripe_calls_subject')
        batch_op.drop_index('ix_stripe_calls_due')
    op.drop_table('stripe_calls')
    op.drop_table('stripe_connect_accounts')
    with op.batch_alter_table('card_payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_payments_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_card_payments_charge_id'))
        batch_op.drop_index(batch_op.f('ix_card_payments_buyer_org_id'))
    op.drop_table('card_payments')
