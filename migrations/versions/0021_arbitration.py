"""dispute rules and arbitration

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

OUTCOMES = "'release', 'partial_refund', 'full_refund'"
STATUSES = "'open', 'answered', 'unanswered', 'decided'"
WIDER = STATUSES + ", 'escalated', 'awarded'"
WHEN = market.kernel.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Disputes opened before keep the rules they opened under (version 1: no escalation
    # window), and a decision made before was carried out when it was made.
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rules_version', sa.String(length=16), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('rules_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('escalation_window_seconds', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('escalate_by', WHEN, nullable=True))
        batch_op.add_column(sa.Column('buyer_waived_at', WHEN, nullable=True))
        batch_op.add_column(sa.Column('seller_waived_at', WHEN, nullable=True))
        batch_op.add_column(sa.Column('carried_out_at', WHEN, nullable=True))
        batch_op.add_column(sa.Column('arbitration_institution', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('escalated_by_org_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('escalation_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', WHEN, nullable=True))
        batch_op.add_column(sa.Column('award_reference', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('award_document_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('award_outcome', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('award_refund_amount', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('award_decided_at', WHEN, nullable=True))
        batch_op.add_column(sa.Column('awarded_at', WHEN, nullable=True))
        batch_op.drop_constraint('status', type_='check')
        batch_op.create_check_constraint('status', f"status IN ({WIDER})")
        batch_op.create_check_constraint(
            'award_outcome', f"award_outcome IS NULL OR award_outcome IN ({OUTCOMES})")
        batch_op.create_index('ix_disputes_escalate_by', ['status', 'escalate_by'], unique=False)
    disputes = sa.table('disputes', sa.column('status', sa.String),
                        sa.column('decided_at', WHEN), sa.column('escalate_by', WHEN),
                        sa.column('carried_out_at', WHEN))
    op.execute(disputes.update().where(disputes.c.status == 'decided')
               .values(escalate_by=disputes.c.decided_at, carried_out_at=disputes.c.decided_at))


def downgrade() -> None:
    disputes = sa.table('disputes', sa.column('status', sa.String))
    op.execute(disputes.update().where(disputes.c.status.in_(('escalated', 'awarded')))
               .values(status='decided'))
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.drop_index('ix_disputes_escalate_by')
        batch_op.drop_constraint('award_outcome', type_='check')
        batch_op.drop_constraint('status', type_='check')
        batch_op.create_check_constraint('status', f"status IN ({STATUSES})")
        for column in ('awarded_at', 'award_decided_at', 'award_refund_amount', 'award_outcome',
                       'award_document_sha256', 'award_reference', 'escalated_at',
                       'escalation_reason', 'escalated_by_org_id', 'arbitration_institution',
                       'carried_out_at', 'seller_waived_at', 'buyer_waived_at', 'escalate_by',
                       'escalation_window_seconds', 'rules_sha256', 'rules_version'):
            batch_op.drop_column(column)
