"""classification-driven delivery, storage location, double review

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql')


def upgrade() -> None:
    # Where the data is stored (数据境内存储) and the sensitive categories of a resource.
    op.add_column('data_resources', sa.Column('sensitive_categories', JSON, nullable=True))
    op.add_column('data_resources', sa.Column('storage_location', sa.String(length=2), server_default='CN', nullable=False))
    op.add_column('data_resources', sa.Column('storage_region', sa.String(length=100), nullable=True))
    op.add_column('product_versions', sa.Column('storage_location', sa.String(length=2), server_default='CN', nullable=False))
    op.add_column('product_versions', sa.Column('storage_region', sa.String(length=100), nullable=True))
    # The rules that sent a subject to review, and its approvals (双重审核).
    op.add_column('review_items', sa.Column('rules', JSON, nullable=True))
    op.add_column('review_items', sa.Column('required_approvals', sa.Integer(), server_default='1', nullable=False))
    op.add_column('review_items', sa.Column('approvals', JSON, nullable=True))
    op.execute("UPDATE data_resources SET sensitive_categories = '[]'")
    op.execute("UPDATE review_items SET rules = '[]', approvals = '[]'")
    with op.batch_alter_table('data_resources', schema=None) as batch_op:
        batch_op.alter_column('sensitive_categories', existing_type=JSON, nullable=False)
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.alter_column('rules', existing_type=JSON, nullable=False)
        batch_op.alter_column('approvals', existing_type=JSON, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.drop_column('approvals')
        batch_op.drop_column('required_approvals')
        batch_op.drop_column('rules')
    with op.batch_alter_table('product_versions', schema=None) as batch_op:
        batch_op.drop_column('storage_region')
        batch_op.drop_column('storage_location')
    with op.batch_alter_table('data_resources', schema=None) as batch_op:
        batch_op.drop_column('storage_region')
        batch_op.drop_column('storage_location')
        batch_op.drop_column('sensitive_categories')
