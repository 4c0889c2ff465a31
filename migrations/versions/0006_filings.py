"""filings (登记备案) and their per-year numbers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db
from market.kernel.migrate import create_append_only, drop_append_only


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('filing_counters',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_filing_counters'))
    )
    op.create_table('filings',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=True),
    sa.Column('product_id', sa.String(length=40), nullable=True),
    sa.Column('version_id', sa.String(length=40), nullable=True),
    sa.Column('product_title', sa.String(length=200), nullable=False),
    sa.Column('sector', sa.String(length=60), nullable=False),
    sa.Column('product_type', sa.String(length=32), nullable=False),
    sa.Column('seller_org_id', sa.String(length=40), nullable=False),
    sa.Column('buyer_org_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('rights_chain', market.kernel.db.JSONType, nullable=False),
    sa.Column('declaration_ids', market.kernel.db.JSONType, nullable=False),
    sa.Column('decision_ids', market.kernel.db.JSONType, nullable=False),
    sa.Column('evidence_sha256', market.kernel.db.JSONType, nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('concluded_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('filed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('filed_by_org_id', sa.String(length=40), nullable=False),
    sa.CheckConstraint("kind IN ('exchange', 'off_exchange')", name=op.f('ck_filings_kind')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_filings_amount_not_negative')),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organisations.id'], name=op.f('fk_filings_buyer_org_id_organisations')),
    sa.ForeignKeyConstraint(['seller_org_id'], ['organisations.id'], name=op.f('fk_filings_seller_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_filings')),
    sa.UniqueConstraint('number', name=op.f('uq_filings_number')),
    sa.UniqueConstraint('order_id', name=op.f('uq_filings_order_id'))
    )
    with op.batch_alter_table('filings', schema=None) as batch_op:
        batch_op.create_index('ix_filings_buyer', ['buyer_org_id', 'id'], unique=False)
        batch_op.create_index('ix_filings_concluded', ['concluded_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_filings_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_filings_sector'), ['sector'], unique=False)
        batch_op.create_index('ix_filings_seller', ['seller_org_id', 'id'], unique=False)

    create_append_only("filings")


def downgrade() -> None:
    drop_append_only("filings")
    op.drop_table('filings')
    op.drop_table('filing_counters')
