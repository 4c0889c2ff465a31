"""catalogue search: indexes in each page order, facet counts for browsing

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

FACETS = ('type', 'sector', 'region', 'development_level', 'classification',
          'delivers_file', 'delivers_api', 'delivers_sandbox', 'has_free')


def upgrade() -> None:
    op.create_table('catalog_facet_counts',
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('sector', sa.String(length=60), nullable=False),
    sa.Column('region', sa.String(length=60), nullable=False),
    sa.Column('development_level', sa.String(length=16), nullable=False),
    sa.Column('classification', sa.String(length=16), nullable=False),
    sa.Column('delivers_file', sa.Boolean(), nullable=False),
    sa.Column('delivers_api', sa.Boolean(), nullable=False),
    sa.Column('delivers_sandbox', sa.Boolean(), nullable=False),
    sa.Column('has_free', sa.Boolean(), nullable=False),
    sa.Column('listings', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('type', 'sector', 'region', 'development_level', 'classification',
                            'delivers_file', 'delivers_api', 'delivers_sandbox', 'has_free',
                            name=op.f('pk_catalog_facet_counts'))
    )
    columns = ", ".join(FACETS)
    op.execute(f"INSERT INTO catalog_facet_counts ({columns}, listings) "
               f"SELECT {columns}, COUNT(*) FROM catalog_entries GROUP BY {columns}")
    # The new indexes are built before the old ones go, so searches keep an index meanwhile.
    op.create_index('ix_catalog_entries_cheapest', 'catalog_entries',
                    ['min_price', sa.literal_column('listed_at DESC'), 'product_id'],
                    unique=False)
    op.create_index('ix_catalog_entries_newest', 'catalog_entries',
                    [sa.literal_column('listed_at DESC'), 'product_id'], unique=False)
    op.create_index('ix_catalog_terms_ranked', 'catalog_terms',
                    ['term', sa.literal_column('weight DESC'), sa.literal_column('listed_at DESC'),
                     'product_id'], unique=False)
    op.drop_index(op.f('ix_catalog_entries_listed_at'), table_name='catalog_entries')
    op.drop_index(op.f('ix_catalog_entries_price_order'), table_name='catalog_entries')
    op.drop_index(op.f('ix_catalog_terms_postings'), table_name='catalog_terms')
    if op.get_bind().dialect.name == 'postgresql':
        # A few words are in a large share of listings and most in very few; the default
        # sample sees too few terms to tell them apart, and the planner then misjudges how
        # many listings a word matches.
        op.execute("ALTER TABLE catalog_terms ALTER COLUMN term SET STATISTICS 1000")
        # A page is a few index probes; starting parallel workers for it costs more than the
        # page (10-20 ms), and a search's totals are cached. No parallel scans of these.
        op.execute("ALTER TABLE catalog_entries SET (parallel_workers = 0)")
        op.execute("ALTER TABLE catalog_terms SET (parallel_workers = 0)")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE catalog_terms ALTER COLUMN term SET STATISTICS -1")
        op.execute("ALTER TABLE catalog_entries RESET (parallel_workers)")
        op.execute("ALTER TABLE catalog_terms RESET (parallel_workers)")
    op.create_index('ix_catalog_terms_postings', 'catalog_terms',
                    ['term', 'weight', 'listed_at', 'product_id'], unique=False)
    op.create_index('ix_catalog_entries_price_order', 'catalog_entries',
                    ['min_price', 'listed_at', 'product_id'], unique=False)
    op.create_index('ix_catalog_entries_listed_at', 'catalog_entries',
                    ['listed_at', 'product_id'], unique=False)
    op.drop_index('ix_catalog_terms_ranked', table_name='catalog_terms')
    op.drop_index('ix_catalog_entries_newest', table_name='catalog_entries')
    op.drop_index('ix_catalog_entries_cheapest', table_name='catalog_entries')
    op.drop_table('catalog_facet_counts')
