"""public-data authorised operation: authorisations, buyer classes, cost basis, earmark

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

import re

from alembic import op
import sqlalchemy as sa

import market.kernel.db


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql')
ACCOUNT_KINDS = ('available', 'escrow', 'payable', 'fee_revenue', 'rail_clearing',
                 'receivable')


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _set_check(table: str, name: str, column: str, values: tuple[str, ...]) -> None:
    """Replace the CHECK ``name`` of ``table`` (``column IN (…)``) by ``column IN values``.
    SQLite keeps CHECKs in the table's CREATE statement: the statement is edited in place, as
    SQLite documents for changes that leave the stored rows valid (no table rebuild, so the
    triggers and the rows that refer to the table stay)."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        op.drop_constraint(op.f(name), table, type_='check')
        op.create_check_constraint(op.f(name), table, _in(column, values))
        return
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar()
    pattern = re.compile(rf"CONSTRAINT {name} CHECK \(\s*{column} IN \([^)]*\)\s*\)")
    if not pattern.search(sql):
        raise RuntimeError(f"{table} has no CHECK {name} over {column}")
    edited = pattern.sub(f"CONSTRAINT {name} CHECK ({_in(column, values)})", sql)
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                         (edited, table))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _set_check('ledger_accounts', 'ck_ledger_accounts_kind', 'kind',
               ACCOUNT_KINDS + ('public_fund',))
    op.create_table('public_data_authorisations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('categories', JSON, nullable=False),
    sa.Column('resource_ids', JSON, nullable=False),
    sa.Column('scenarios', JSON, nullable=False),
    sa.Column('valid_from', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_to', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('qualification', sa.Text(), nullable=False),
    sa.Column('reputation', sa.Text(), nullable=False),
    sa.Column('evidence', JSON, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('granted_by_org_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_reason', sa.Text(), nullable=True),
    sa.Column('revoked_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('active', 'revoked')", name=op.f('ck_public_data_authorisations_status')),
    sa.CheckConstraint('valid_to > valid_from', name=op.f('ck_public_data_authorisations_term')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_public_data_authorisations_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_data_authorisations'))
    )
    op.create_index('ix_public_data_authorisations_org', 'public_data_authorisations', ['org_id', 'status'], unique=False)
    op.add_column('data_resources', sa.Column('public_category', sa.String(length=60), nullable=True))
    op.add_column('offers', sa.Column('buyer_class', sa.String(length=16), nullable=True))
    op.add_column('orders', sa.Column('purpose_class', sa.String(length=16), nullable=True))
    op.add_column('product_versions', sa.Column('cost_basis', JSON, nullable=True))


def downgrade() -> None:
    # Plain drops: SQLite (3.35+) drops a column without rebuilding the table, so the
    # tables' triggers stay.
    op.drop_column('product_versions', 'cost_basis')
    op.drop_column('orders', 'purpose_class')
    op.drop_column('offers', 'buyer_class')
    op.drop_column('data_resources', 'public_category')
    op.drop_index('ix_public_data_authorisations_org', table_name='public_data_authorisations')
    op.drop_table('public_data_authorisations')
    _set_check('ledger_accounts', 'ck_ledger_accounts_kind', 'kind', ACCOUNT_KINDS)
