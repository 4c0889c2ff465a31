"""review queue and assessment reports

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db
from market.kernel.migrate import create_append_only, drop_append_only


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_items',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decision_id', sa.String(length=40), nullable=True),
    sa.Column('needs', sa.String(length=20), nullable=False),
    sa.Column('claimed_by_org_id', sa.String(length=40), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('outcome_reason', sa.Text(), nullable=True),
    sa.Column('opened_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('listing', 'right', 'order')", name=op.f('ck_review_items_kind')),
    sa.CheckConstraint("status IN ('open', 'claimed', 'closed')", name=op.f('ck_review_items_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_items'))
    )
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.create_index('ix_review_items_status', ['status', 'id'], unique=False)
        batch_op.create_index('ix_review_items_subject', ['subject_id', 'id'], unique=False)

    op.create_table('assessment_reports',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('review_item_id', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('issuer_org_id', sa.String(length=40), nullable=False),
    sa.Column('attached_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('compliance', 'security', 'quality', 'valuation')", name=op.f('ck_assessment_reports_kind')),
    sa.ForeignKeyConstraint(['review_item_id'], ['review_items.id'], name=op.f('fk_assessment_reports_review_item_id_review_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_reports'))
    )
    with op.batch_alter_table('assessment_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessment_reports_review_item_id'), ['review_item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assessment_reports_subject_id'), ['subject_id'], unique=False)

    create_append_only("assessment_reports")


def downgrade() -> None:
    drop_append_only("assessment_reports")
    op.drop_table('assessment_reports')
    op.drop_table('review_items')
