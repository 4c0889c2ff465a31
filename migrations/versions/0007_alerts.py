"""risk alerts, their disposition notes, and regulators' suspension orders

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db
from market.kernel.migrate import create_append_only, drop_append_only


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

APPEND_ONLY = ("alert_notes", "suspension_orders")


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('rule', sa.String(length=80), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('org_ids', market.kernel.db.JSONType, nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('evidence', market.kernel.db.JSONType, nullable=False),
    sa.Column('opened_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("severity IN ('low', 'medium', 'high')", name=op.f('ck_alerts_severity')),
    sa.CheckConstraint("status IN ('open', 'investigating', 'closed')", name=op.f('ck_alerts_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_status', ['status', 'id'], unique=False)
        batch_op.create_index('uq_alerts_rule_subject', ['rule', 'subject_id'], unique=True)

    op.create_table('alert_notes',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('alert_id', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('by_org_id', sa.String(length=40), nullable=False),
    sa.Column('by_user_id', sa.String(length=40), nullable=True),
    sa.Column('at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_notes_alert_id_alerts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_notes'))
    )
    with op.batch_alter_table('alert_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_notes_alert_id'), ['alert_id'], unique=False)

    op.create_table('suspension_orders',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('alert_id', sa.String(length=40), nullable=True),
    sa.Column('ordered_by_org_id', sa.String(length=40), nullable=False),
    sa.Column('ordered_by_user_id', sa.String(length=40), nullable=True),
    sa.Column('ordered_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("subject_type IN ('participant', 'listing')", name=op.f('ck_suspension_orders_subject_type')),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_suspension_orders_alert_id_alerts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suspension_orders'))
    )
    with op.batch_alter_table('suspension_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suspension_orders_subject_id'), ['subject_id'], unique=False)

    for table in APPEND_ONLY:
        create_append_only(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(table)
    op.drop_table('suspension_orders')
    op.drop_table('alert_notes')
    op.drop_table('alerts')
