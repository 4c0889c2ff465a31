"""retention policy, destruction declarations, supervision trace

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03
"""

import re
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa

import market.kernel.db


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

FLOOR = 5
KINDS = ('contract', 'declaration', 'filing', 'decision', 'audit', 'ledger', 'order', 'alert')
# The record tables that are not append-only: a row younger than its kind's years may not be
# deleted (the column dates the row).
GUARDED = (
    ('top_ups', 'recorded_at', 'ledger'), ('payouts', 'requested_at', 'ledger'),
    ('ledger_allocations', 'allocated_at', 'ledger'),
    ('orders', 'created_at', 'order'), ('order_events', 'at', 'order'),
    ('deliveries', 'delivered_at', 'order'), ('disputes', 'opened_at', 'order'),
    ('subscriptions', 'created_at', 'order'), ('subscription_events', 'at', 'order'),
    ('destruction_requests', 'requested_at', 'order'),
    ('alerts', 'opened_at', 'alert'),
)


def _kinds_check(add: str | None, remove: str | None) -> None:
    """Add a value to (or remove one from) the CHECK over ``declarations.kind``, keeping the
    values other revisions put there. SQLite keeps CHECKs in the table's CREATE statement:
    the statement is edited in place (no table rebuild, so the append-only triggers and the
    rows referring to the table stay)."""
    bind = op.get_bind()
    name = 'ck_declarations_kind'
    if bind.dialect.name == 'sqlite':
        sql = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'declarations'").scalar()
        pattern = re.compile(rf"CONSTRAINT {name} CHECK \(\s*kind IN \(([^)]*)\)\s*\)")
        found = pattern.search(sql)
        if found is None:
            raise RuntimeError(f"declarations has no CHECK {name} over kind")
        values = re.findall(r"'([^']+)'", found.group(1))
    else:
        definition = bind.exec_driver_sql(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s "
            "AND conrelid = 'declarations'::regclass",
            (name,)).scalar()
        values = re.findall(r"'([^']+)'", definition)
    values = [v for v in values if v != remove] + ([add] if add and add not in values else [])
    check = f"kind IN ({', '.join(repr(v) for v in values)})"
    if bind.dialect.name != 'sqlite':
        op.drop_constraint(op.f(name), 'declarations', type_='check')
        op.create_check_constraint(op.f(name), 'declarations', check)
        return
    edited = pattern.sub(f"CONSTRAINT {name} CHECK ({check})", sql)
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' "
                         "AND name = 'declarations'", (edited,))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def _create_guards() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"""
            CREATE FUNCTION retention_guard() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                kept integer;
                made timestamptz;
            BEGIN
                SELECT years INTO kept FROM retention_policies WHERE kind = TG_ARGV[0];
                kept := COALESCE(kept, {FLOOR});
                made := (to_jsonb(OLD) ->> TG_ARGV[1])::timestamptz;
                IF made IS NULL OR made > now() - make_interval(years => kept) THEN
                    RAISE EXCEPTION '% rows are kept % years (retention of %)',
                        TG_TABLE_NAME, kept, TG_ARGV[0]
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN OLD;
            END $$;
        """)
        for table, column, kind in GUARDED:
            op.execute(f"CREATE TRIGGER {table}_retention BEFORE DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION retention_guard('{kind}', '{column}')")
        return
    for table, column, kind in GUARDED:
        op.execute(
            f"CREATE TRIGGER {table}_retention_no_delete BEFORE DELETE ON {table} "
            f"WHEN OLD.{column} IS NULL OR OLD.{column} > strftime('%Y-%m-%d %H:%M:%f', 'now', "
            f"'-' || COALESCE((SELECT years FROM retention_policies WHERE kind = '{kind}'), "
            f"{FLOOR}) || ' years') "
            f"BEGIN SELECT RAISE(ABORT, '{table} rows are kept for the retention of {kind}'); "
            f"END")


def _drop_guards() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    for table, _, _ in GUARDED:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_retention ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_retention_no_delete")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS retention_guard()")


def upgrade() -> None:
    policies = op.create_table('retention_policies',
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('years', sa.Integer(), nullable=False),
    sa.Column('floor_years', sa.Integer(), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('floor_years >= 1 AND years >= floor_years', name=op.f('ck_retention_policies_years')),
    sa.PrimaryKeyConstraint('kind', name=op.f('pk_retention_policies'))
    )
    op.bulk_insert(policies, [{'kind': kind, 'years': FLOOR, 'floor_years': FLOOR,
                               'updated_at': datetime.now(UTC)} for kind in KINDS])
    op.create_table('destruction_requests',
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('buyer_org_id', sa.String(length=40), nullable=False),
    sa.Column('seller_org_id', sa.String(length=40), nullable=False),
    sa.Column('term_ended_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requested_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_by', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('declaration_id', sa.String(length=40), nullable=True),
    sa.Column('declared_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('alert_id', sa.String(length=40), nullable=True),
    sa.Column('alerted_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_destruction_requests_order_id_orders')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_destruction_requests'))
    )
    op.create_index('ix_destruction_requests_buyer', 'destruction_requests', ['buyer_org_id', 'order_id'], unique=False)
    op.create_index('ix_destruction_requests_due', 'destruction_requests', ['declared_at', 'due_by'], unique=False)
    op.add_column('deliveries', sa.Column('file_deleted_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('product_versions', sa.Column('sample_deleted_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True))
    _kinds_check(add='destruction', remove=None)
    _create_guards()


def downgrade() -> None:
    _drop_guards()
    _kinds_check(add=None, remove='destruction')
    with op.batch_alter_table('product_versions', schema=None) as batch_op:
        batch_op.drop_column('sample_deleted_at')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('file_deleted_at')
    op.drop_index('ix_destruction_requests_due', table_name='destruction_requests')
    op.drop_index('ix_destruction_requests_buyer', table_name='destruction_requests')
    op.drop_table('destruction_requests')
    op.drop_table('retention_policies')
