"""webhooks: endpoints, signing secrets, events, deliveries and attempts

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db
from market.kernel.migrate import create_append_only, drop_append_only


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_endpoints',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('event_types', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('disabled_reason', sa.String(length=500), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('failing_since', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('enabled', 'disabled')", name=op.f('ck_webhook_endpoints_status')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_webhook_endpoints_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    op.create_index('ix_webhook_endpoints_org', 'webhook_endpoints', ['org_id', 'id'], unique=False)
    op.create_table('webhook_events',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('subject_type', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.String(length=100), nullable=False),
    sa.Column('message_id', sa.String(length=40), nullable=False),
    sa.Column('data', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_webhook_events_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events')),
    sa.UniqueConstraint('message_id', 'org_id', 'type', name='uq_webhook_events_message')
    )
    op.create_index('ix_webhook_events_org', 'webhook_events', ['org_id', 'id'], unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('endpoint_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('replay', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deadline_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_until', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=200), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name=op.f('ck_webhook_deliveries_status')),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_deliveries_endpoint_id_webhook_endpoints')),
    sa.ForeignKeyConstraint(['event_id'], ['webhook_events.id'], name=op.f('fk_webhook_deliveries_event_id_webhook_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_index('ix_webhook_deliveries_endpoint', 'webhook_deliveries', ['endpoint_id', 'id'], unique=False)
    op.create_index('ix_webhook_deliveries_event', 'webhook_deliveries', ['event_id'], unique=False)
    op.create_table('webhook_secrets',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('endpoint_id', sa.String(length=40), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_secrets_endpoint_id_webhook_endpoints')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_secrets'))
    )
    op.create_index('ix_webhook_secrets_endpoint', 'webhook_secrets', ['endpoint_id', 'created_at'], unique=False)
    op.create_table('webhook_attempts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('delivery_id', sa.String(length=40), nullable=False),
    sa.Column('attempted_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=False),
    sa.Column('response_excerpt', sa.Text(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'], name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts'))
    )
    op.create_index('ix_webhook_attempts_delivery', 'webhook_attempts', ['delivery_id', 'id'], unique=False)
    create_append_only("webhook_attempts")


def downgrade() -> None:
    drop_append_only("webhook_attempts")
    op.drop_index('ix_webhook_attempts_delivery', table_name='webhook_attempts')
    op.drop_table('webhook_attempts')
    op.drop_index('ix_webhook_secrets_endpoint', table_name='webhook_secrets')
    op.drop_table('webhook_secrets')
    op.drop_index('ix_webhook_deliveries_event', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_endpoint', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_index('ix_webhook_events_org', table_name='webhook_events')
    op.drop_table('webhook_events')
    op.drop_index('ix_webhook_endpoints_org', table_name='webhook_endpoints')
    op.drop_table('webhook_endpoints')
