"""refunds after settlement: refund records and receivables

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import re

from alembic import op
import sqlalchemy as sa

import market.kernel.db
from market.kernel.migrate import create_append_only, drop_append_only


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

ACCOUNT_KINDS = ('available', 'escrow', 'payable', 'fee_revenue', 'rail_clearing')
JOURNAL_KINDS = ('top_up', 'payment', 'settlement', 'refund', 'payout')
RECORDS = ('refunds', 'refund_lines', 'filing_refunds')


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _widen_check(table: str, name: str, column: str, wider: tuple[str, ...]) -> None:
    """Replace the CHECK ``name`` of ``table`` (``column IN (…)``) by ``column IN wider``. SQLite keeps CHECKs in the table's CREATE statement: the statement is edited
    in place, as SQLite documents for changes that leave the stored rows valid (no table
    rebuild, so the append-only triggers and the rows that refer to the table stay)."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        op.drop_constraint(op.f(name), table, type_='check')
        op.create_check_constraint(op.f(name), table, _in(column, wider))
        return
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar()
    pattern = re.compile(rf"CONSTRAINT {name} CHECK \(\s*{column} IN \([^)]*\)\s*\)")
    if not pattern.search(sql):
        raise RuntimeError(f"{table} has no CHECK {name} over {column}")
    edited = pattern.sub(f"CONSTRAINT {name} CHECK ({_in(column, wider)})", sql)
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                         (edited, table))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _widen_check('ledger_accounts', 'ck_ledger_accounts_kind', 'kind',
                 ACCOUNT_KINDS + ('receivable',))
    _widen_check('ledger_journals', 'ck_ledger_journals_kind', 'kind',
                 JOURNAL_KINDS + ('recovery',))
    op.create_table('refunds',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('cause', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('buyer_org_id', sa.String(length=40), nullable=False),
    sa.Column('journal_id', sa.String(length=40), nullable=False),
    sa.Column('refunded_by_org_id', sa.String(length=40), nullable=True),
    sa.Column('refunded_by', sa.String(length=200), nullable=False),
    sa.Column('refunded_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("cause IN ('dispute', 'arbitration', 'goodwill')", name=op.f('ck_refunds_cause')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_refunds_amount')),
    sa.CheckConstraint('number > 0', name=op.f('ck_refunds_number')),
    sa.ForeignKeyConstraint(['journal_id'], ['ledger_journals.id'], name=op.f('fk_refunds_journal_id_ledger_journals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('order_id', 'number', name='uq_refunds_number')
    )
    op.create_table('refund_lines',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('refund_id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('from_payable', sa.BigInteger(), nullable=False),
    sa.Column('receivable', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.CheckConstraint('amount > 0 AND from_payable >= 0 AND receivable >= 0 AND from_payable + receivable = amount', name=op.f('ck_refund_lines_parts')),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_refund_lines_refund_id_refunds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_lines')),
    sa.UniqueConstraint('refund_id', 'role', 'org_id', name='uq_refund_lines_line')
    )
    with op.batch_alter_table('refund_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_lines_refund_id'), ['refund_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refund_lines_order_id'), ['order_id'], unique=False)

    op.create_table('filing_refunds',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('filing_id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('refund_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('cause', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('refunded_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_filing_refunds_amount')),
    sa.CheckConstraint("cause IN ('dispute', 'arbitration', 'goodwill')", name=op.f('ck_filing_refunds_cause')),
    sa.ForeignKeyConstraint(['filing_id'], ['filings.id'], name=op.f('fk_filing_refunds_filing_id_filings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_filing_refunds')),
    sa.UniqueConstraint('refund_id', name=op.f('uq_filing_refunds_refund_id'))
    )
    with op.batch_alter_table('filing_refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_filing_refunds_filing_id'), ['filing_id'], unique=False)

    for table in RECORDS:
        create_append_only(table)

    op.add_column('orders', sa.Column('refunded_amount', sa.BigInteger(), server_default='0',
                                      nullable=False))
    # What went back to buyers before this revision: a refunded order's whole amount, a
    # settled order's dispute refund (its allocations' refunded parts).
    op.execute("UPDATE orders SET refunded_amount = amount WHERE status = 'refunded'")
    op.execute("UPDATE orders SET refunded_amount = (SELECT COALESCE(SUM(a.refunded), 0) "
               "FROM ledger_allocations a WHERE a.order_id = orders.id) "
               "WHERE status = 'settled'")


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('refunded_amount')
    for table in reversed(RECORDS):
        drop_append_only(table)
    with op.batch_alter_table('filing_refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_filing_refunds_filing_id'))
    op.drop_table('filing_refunds')
    with op.batch_alter_table('refund_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_lines_order_id'))
        batch_op.drop_index(batch_op.f('ix_refund_lines_refund_id'))
    op.drop_table('refund_lines')
    op.drop_table('refunds')
    _widen_check('ledger_journals', 'ck_ledger_journals_kind', 'kind', JOURNAL_KINDS)
    _widen_check('ledger_accounts', 'ck_ledger_accounts_kind', 'kind', ACCOUNT_KINDS)
