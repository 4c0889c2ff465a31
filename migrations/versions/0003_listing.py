"""listing

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('products',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_org_id', sa.String(length=40), nullable=False),
    sa.Column('listed_version_id', sa.String(length=40), nullable=True),
    sa.Column('latest_version_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_org_id'], ['organisations.id'], name=op.f('fk_products_merchant_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_merchant_org_id'), ['merchant_org_id'], unique=False)

    op.create_table('catalog_entries',
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('version_id', sa.String(length=40), nullable=False),
    sa.Column('merchant_org_id', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('title_key', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('sector', sa.String(length=60), nullable=False),
    sa.Column('region', sa.String(length=60), nullable=False),
    sa.Column('development_level', sa.String(length=16), nullable=False),
    sa.Column('classification', sa.String(length=16), nullable=False),
    sa.Column('delivery_modes', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('delivers_file', sa.Boolean(), nullable=False),
    sa.Column('delivers_api', sa.Boolean(), nullable=False),
    sa.Column('delivers_sandbox', sa.Boolean(), nullable=False),
    sa.Column('min_price', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('has_free', sa.Boolean(), nullable=False),
    sa.Column('listed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_catalog_entries_product_id_products')),
    sa.PrimaryKeyConstraint('product_id', name=op.f('pk_catalog_entries'))
    )
    with op.batch_alter_table('catalog_entries', schema=None) as batch_op:
        batch_op.create_index('ix_catalog_entries_listed_at', ['listed_at', 'product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_entries_merchant_org_id'), ['merchant_org_id'], unique=False)
        batch_op.create_index('ix_catalog_entries_min_price', ['min_price', 'product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_entries_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_entries_sector'), ['sector'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_entries_title_key'), ['title_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_entries_type'), ['type'], unique=False)

    op.create_table('product_versions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('merchant_org_id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('suspended_by_rights', sa.Boolean(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('development_level', sa.String(length=16), nullable=False),
    sa.Column('sector', sa.String(length=60), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('region', sa.String(length=60), nullable=False),
    sa.Column('spatial_coverage', sa.String(length=200), nullable=True),
    sa.Column('temporal_from', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('temporal_to', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('update_frequency', sa.String(length=40), nullable=False),
    sa.Column('formats', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('field_schema', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('scenarios', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('delivery_modes', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('derived_from', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('quality_reports', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('assessment_reports', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('terms', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('sample_sha256', sa.String(length=64), nullable=True),
    sa.Column('sample_name', sa.String(length=200), nullable=True),
    sa.Column('sample_media_type', sa.String(length=100), nullable=True),
    sa.Column('sample_size', sa.Integer(), nullable=True),
    sa.Column('declaration', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=True),
    sa.Column('declaration_sha256', sa.String(length=64), nullable=True),
    sa.Column('declared_by_user_id', sa.String(length=40), nullable=True),
    sa.Column('declared_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('classification', sa.String(length=16), nullable=True),
    sa.Column('reviewer_org_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('listed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("development_level IN ('raw', 'desensitised', 'modelled', 'ai_processed')", name=op.f('ck_product_versions_development_level')),
    sa.CheckConstraint("status IN ('draft', 'submitted', 'under_review', 'listed', 'returned', 'rejected', 'suspended', 'delisted', 'superseded')", name=op.f('ck_product_versions_status')),
    sa.CheckConstraint("type IN ('dataset', 'api_service', 'report', 'model', 'sandbox')", name=op.f('ck_product_versions_type')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_versions_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_versions')),
    sa.UniqueConstraint('product_id', 'number', name='number')
    )
    with op.batch_alter_table('product_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_versions_product_id'), ['product_id'], unique=False)
        batch_op.create_index('ix_product_versions_status', ['status'], unique=False)

    op.create_table('catalog_terms',
    sa.Column('term', sa.String(length=64), nullable=False),
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['catalog_entries.product_id'], name=op.f('fk_catalog_terms_product_id_catalog_entries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('term', 'product_id', name=op.f('pk_catalog_terms'))
    )
    with op.batch_alter_table('catalog_terms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_terms_product_id'), ['product_id'], unique=False)

    op.create_table('listing_events',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('version_id', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor_org_id', sa.String(length=40), nullable=True),
    sa.Column('actor_label', sa.String(length=200), nullable=False),
    sa.Column('at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['product_versions.id'], name=op.f('fk_listing_events_version_id_product_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_listing_events'))
    )
    with op.batch_alter_table('listing_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_listing_events_version_id'), ['version_id'], unique=False)

    op.create_table('offers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('version_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('period', sa.String(length=16), nullable=True),
    sa.Column('unit', sa.String(length=8), nullable=True),
    sa.Column('cap_amount', sa.BigInteger(), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=True),
    sa.Column('sold', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind IN ('one_time', 'subscription', 'pay_per_use', 'free', 'negotiable')", name=op.f('ck_offers_kind')),
    sa.CheckConstraint('amount IS NULL OR amount >= 0', name=op.f('ck_offers_amount')),
    sa.CheckConstraint('quantity IS NULL OR (quantity >= 1 AND sold <= quantity)', name=op.f('ck_offers_quantity')),
    sa.ForeignKeyConstraint(['version_id'], ['product_versions.id'], name=op.f('fk_offers_version_id_product_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offers_version_id'), ['version_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offers_version_id'))

    op.drop_table('offers')
    with op.batch_alter_table('listing_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_listing_events_version_id'))

    op.drop_table('listing_events')
    with op.batch_alter_table('catalog_terms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_terms_product_id'))

    op.drop_table('catalog_terms')
    with op.batch_alter_table('product_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_product_versions_status')
        batch_op.drop_index(batch_op.f('ix_product_versions_product_id'))

    op.drop_table('product_versions')
    with op.batch_alter_table('catalog_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_entries_type'))
        batch_op.drop_index(batch_op.f('ix_catalog_entries_title_key'))
        batch_op.drop_index(batch_op.f('ix_catalog_entries_sector'))
        batch_op.drop_index(batch_op.f('ix_catalog_entries_region'))
        batch_op.drop_index('ix_catalog_entries_min_price')
        batch_op.drop_index(batch_op.f('ix_catalog_entries_merchant_org_id'))
        batch_op.drop_index('ix_catalog_entries_listed_at')

    op.drop_table('catalog_entries')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_merchant_org_id'))

    op.drop_table('products')
