"""catalog search: postings with listing time, exact-title terms, term counts, state token

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import hashlib
import secrets
import unicodedata

import sqlalchemy as sa
from alembic import op

import market.kernel.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _exact_term(title: str) -> str:
    # market.listing.catalog.exact_term at the time of this revision.
    key = unicodedata.normalize("NFKC", title).casefold().strip()
    return "=" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table('catalog_terms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('listed_at', market.kernel.db.UTCDateTime(timezone=True),
                                      nullable=True))
    bind = op.get_bind()
    bind.execute(sa.text(
        "UPDATE catalog_terms SET listed_at = (SELECT e.listed_at FROM catalog_entries e "
        "WHERE e.product_id = catalog_terms.product_id)"))
    entries = bind.execute(sa.text(
        "SELECT product_id, title, listed_at FROM catalog_entries")).all()
    if entries:
        bind.execute(sa.text(
            "INSERT INTO catalog_terms (term, product_id, weight, listed_at) "
            "VALUES (:term, :product_id, 0, :listed_at)"),
            [{"term": _exact_term(title), "product_id": pid, "listed_at": at}
             for pid, title, at in entries])
    with op.batch_alter_table('catalog_terms', schema=None) as batch_op:
        batch_op.alter_column('listed_at', existing_type=market.kernel.db.UTCDateTime(timezone=True),
                              nullable=False)
        batch_op.create_index('ix_catalog_terms_postings',
                              ['term', 'weight', 'listed_at', 'product_id'], unique=False)

    with op.batch_alter_table('catalog_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_catalog_entries_min_price')
        batch_op.create_index('ix_catalog_entries_price_order',
                              ['min_price', 'listed_at', 'product_id'],
                              unique=False)

    op.create_table('catalog_term_counts',
    sa.Column('term', sa.String(length=64), nullable=False),
    sa.Column('listings', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('term', name=op.f('pk_catalog_term_counts'))
    )
    op.create_table('catalog_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('listings', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_state'))
    )
    bind.execute(sa.text(
        "INSERT INTO catalog_term_counts (term, listings) "
        "SELECT term, COUNT(*) FROM catalog_terms GROUP BY term"))
    bind.execute(sa.text(
        "INSERT INTO catalog_state (id, token, listings) "
        "SELECT 1, :token, COUNT(*) FROM catalog_entries"), {"token": secrets.token_hex(16)})


def downgrade() -> None:
    op.drop_table('catalog_state')
    op.drop_table('catalog_term_counts')
    with op.batch_alter_table('catalog_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_catalog_entries_price_order')
        batch_op.create_index('ix_catalog_entries_min_price', ['min_price', 'product_id'],
                              unique=False)
    op.execute("DELETE FROM catalog_terms WHERE term LIKE '=%'")
    with op.batch_alter_table('catalog_terms', schema=None) as batch_op:
        batch_op.drop_index('ix_catalog_terms_postings')
        batch_op.drop_column('listed_at')
