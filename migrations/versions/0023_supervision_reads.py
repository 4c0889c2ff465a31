"""supervision trace: regulators' reads in readable columns

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db
from market.kernel.migrate import create_append_only, drop_append_only


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('supervision_reads',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('at', market.kernel.db.UTCDateTime(), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=True),
    sa.Column('key_id', sa.String(length=40), nullable=True),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('result_count', sa.Integer(), nullable=True),
    sa.Column('request_id', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_reads'))
    )
    op.create_index('ix_supervision_reads_org_at', 'supervision_reads', ['org_id', 'at'],
                    unique=False)
    op.create_index('ix_supervision_reads_user_at', 'supervision_reads', ['user_id', 'at'],
                    unique=False)
    create_append_only('supervision_reads')


def downgrade() -> None:
    drop_append_only('supervision_reads')
    op.drop_index('ix_supervision_reads_user_at', table_name='supervision_reads')
    op.drop_index('ix_supervision_reads_org_at', table_name='supervision_reads')
    op.drop_table('supervision_reads')
