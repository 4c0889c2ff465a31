"""trading and settlement

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db
from market.kernel.migrate import create_append_only, drop_append_only


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

APPEND_ONLY = ("ledger_journals", "ledger_postings", "contracts", "trade_incidents",
               "usage_records")


def upgrade() -> None:
    op.create_table('trade_incidents',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('seller_org_id', sa.String(length=40), nullable=False),
    sa.Column('buyer_org_id', sa.String(length=40), nullable=False),
    sa.Column('at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('dispute', 'refund')", name=op.f('ck_trade_incidents_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trade_incidents'))
    )
    with op.batch_alter_table('trade_incidents', schema=None) as batch_op:
        batch_op.create_index('ix_trade_incidents_buyer', ['buyer_org_id', 'at'], unique=False)
        batch_op.create_index('ix_trade_incidents_seller', ['seller_org_id', 'at'], unique=False)

    op.create_table('distribution_rules',
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('rule', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('set_by_org_id', sa.String(length=40), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('product_id', name=op.f('pk_distribution_rules'))
    )
    op.create_table('ledger_accounts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.String(length=40), nullable=False),
    sa.Column('ref', sa.String(length=40), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('pending_out', sa.BigInteger(), nullable=False),
    sa.Column('non_negative', sa.Boolean(), nullable=False),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('available', 'escrow', 'payable', 'fee_revenue', 'rail_clearing')", name=op.f('ck_ledger_accounts_kind')),
    sa.CheckConstraint('NOT non_negative OR balance - pending_out >= 0', name=op.f('ck_ledger_accounts_non_negative')),
    sa.CheckConstraint('pending_out >= 0', name=op.f('ck_ledger_accounts_pending_out')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_accounts')),
    sa.UniqueConstraint('kind', 'owner', 'ref', 'currency', name='uq_ledger_accounts_identity')
    )
    with op.batch_alter_table('ledger_accounts', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_accounts_owner', ['owner', 'id'], unique=False)

    op.create_table('ledger_journals',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=True),
    sa.Column('memo', sa.Text(), nullable=True),
    sa.Column('actor_label', sa.String(length=200), nullable=False),
    sa.Column('posted_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('top_up', 'payment', 'settlement', 'refund', 'payout')", name=op.f('ck_ledger_journals_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_journals')),
    sa.UniqueConstraint('key', name=op.f('uq_ledger_journals_key'))
    )
    with op.batch_alter_table('ledger_journals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_journals_order_id'), ['order_id'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('buyer_org_id', sa.String(length=40), nullable=False),
    sa.Column('seller_org_id', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('version_id', sa.String(length=40), nullable=False),
    sa.Column('offer_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('commitment_id', sa.String(length=40), nullable=False),
    sa.Column('decision_id', sa.String(length=40), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('cross_border', sa.Boolean(), nullable=False),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('flag_reason', sa.Text(), nullable=True),
    sa.Column('placed_by_user_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('pay_by', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paid_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deliver_by', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accept_by', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('auto_accepted', sa.Boolean(), nullable=False),
    sa.Column('settled_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('created', 'awaiting_payment', 'paid', 'delivered', 'accepted', 'settled', 'cancelled', 'disputed', 'resolved', 'refunded')", name=op.f('ck_orders_status')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_orders_amount')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_buyer', ['buyer_org_id', 'id'], unique=False)
        batch_op.create_index('ix_orders_product', ['product_id', 'status'], unique=False)
        batch_op.create_index('ix_orders_seller', ['seller_org_id', 'id'], unique=False)
        batch_op.create_index('ix_orders_status', ['status', 'id'], unique=False)

    op.create_table('contracts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('document', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_contracts_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contracts')),
    sa.UniqueConstraint('order_id', name=op.f('uq_contracts_order_id'))
    )
    op.create_table('deliveries',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('decision_id', sa.String(length=40), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=True),
    sa.Column('media_type', sa.String(length=100), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('credential_hash', sa.String(length=64), nullable=True),
    sa.Column('endpoint', sa.String(length=500), nullable=True),
    sa.Column('purpose', sa.Text(), nullable=True),
    sa.Column('access_from', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('access_to', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('delivered_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("mode IN ('file', 'api', 'sandbox')", name=op.f('ck_deliveries_mode')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_deliveries_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('credential_hash', name=op.f('uq_deliveries_credential_hash'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveries_order_id'), ['order_id'], unique=False)

    op.create_table('disputes',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('buyer_org_id', sa.String(length=40), nullable=False),
    sa.Column('seller_org_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('evidence_sha256', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('opened_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answer_by', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answer_evidence_sha256', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=True),
    sa.Column('answered_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('refund_amount', sa.BigInteger(), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('decided_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('release', 'partial_refund', 'full_refund')", name=op.f('ck_disputes_outcome')),
    sa.CheckConstraint("status IN ('open', 'answered', 'unanswered', 'decided')", name=op.f('ck_disputes_status')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_disputes_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disputes'))
    )
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disputes_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_disputes_status', ['status', 'answer_by'], unique=False)

    op.create_table('ledger_allocations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('refunded', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('allocated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('refunded >= 0 AND refunded <= amount', name=op.f('ck_ledger_allocations_refunded')),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_accounts.id'], name=op.f('fk_ledger_allocations_account_id_ledger_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_allocations')),
    sa.UniqueConstraint('order_id', 'role', 'org_id', name='uq_ledger_allocations_line')
    )
    with op.batch_alter_table('ledger_allocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_allocations_order_id'), ['order_id'], unique=False)

    op.create_table('ledger_holds',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('debit_account_id', sa.String(length=40), nullable=False),
    sa.Column('credit_account_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('expires_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('journal_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'posted', 'voided', 'expired')", name=op.f('ck_ledger_holds_status')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_ledger_holds_amount')),
    sa.ForeignKeyConstraint(['credit_account_id'], ['ledger_accounts.id'], name=op.f('fk_ledger_holds_credit_account_id_ledger_accounts')),
    sa.ForeignKeyConstraint(['debit_account_id'], ['ledger_accounts.id'], name=op.f('fk_ledger_holds_debit_account_id_ledger_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_holds')),
    sa.UniqueConstraint('key', name=op.f('uq_ledger_holds_key'))
    )
    with op.batch_alter_table('ledger_holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_holds_debit_account_id'), ['debit_account_id'], unique=False)
        batch_op.create_index('ix_ledger_holds_pending', ['status', 'expires_at'], unique=False)

    op.create_table('ledger_postings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('journal_id', sa.String(length=40), nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('posted_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount <> 0', name=op.f('ck_ledger_postings_amount')),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_accounts.id'], name=op.f('fk_ledger_postings_account_id_ledger_accounts')),
    sa.ForeignKeyConstraint(['journal_id'], ['ledger_journals.id'], name=op.f('fk_ledger_postings_journal_id_ledger_journals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_postings'))
    )
    with op.batch_alter_table('ledger_postings', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_postings_account', ['account_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_postings_journal_id'), ['journal_id'], unique=False)

    op.create_table('order_events',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor_org_id', sa.String(length=40), nullable=True),
    sa.Column('actor_label', sa.String(length=200), nullable=False),
    sa.Column('at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_events_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_events'))
    )
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_events_order_id'), ['order_id'], unique=False)

    op.create_table('top_ups',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('rail', sa.String(length=16), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('journal_id', sa.String(length=40), nullable=False),
    sa.Column('recorded_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_top_ups_amount')),
    sa.ForeignKeyConstraint(['journal_id'], ['ledger_journals.id'], name=op.f('fk_top_ups_journal_id_ledger_journals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_top_ups')),
    sa.UniqueConstraint('rail', 'reference', name='uq_top_ups_reference')
    )
    with op.batch_alter_table('top_ups', schema=None) as batch_op:
        batch_op.create_index('ix_top_ups_org', ['org_id', 'id'], unique=False)

    op.create_table('download_tokens',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('delivery_id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('uses >= 0 AND uses <= max_uses', name=op.f('ck_download_tokens_uses')),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_download_tokens_delivery_id_deliveries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_download_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_download_tokens_token_hash'))
    )
    with op.batch_alter_table('download_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_download_tokens_delivery_id'), ['delivery_id'], unique=False)

    op.create_table('payouts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('hold_id', sa.String(length=40), nullable=False),
    sa.Column('bank_account', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('bank_reference', sa.String(length=100), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('requested_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('requested', 'paid', 'rejected', 'expired')", name=op.f('ck_payouts_status')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payouts_amount')),
    sa.ForeignKeyConstraint(['hold_id'], ['ledger_holds.id'], name=op.f('fk_payouts_hold_id_ledger_holds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payouts'))
    )
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.create_index('ix_payouts_org', ['org_id', 'id'], unique=False)

    op.create_table('usage_records',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('recorded_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('units > 0', name=op.f('ck_usage_records_units')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_usage_records_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_records')),
    sa.UniqueConstraint('order_id', 'key', name='uq_usage_records_key')
    )
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_usage_records_order_id'), ['order_id'], unique=False)

    for table in APPEND_ONLY:
        create_append_only(table)
    if op.get_bind().dialect.name == "postgresql":
        # Checked at commit, when every posting of the transaction's journals is in.
        op.execute(
            """
            CREATE FUNCTION ledger_journal_balances() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                off record;
            BEGIN
                SELECT currency, sum(amount) AS total INTO off FROM ledger_postings
                 WHERE journal_id = NEW.journal_id GROUP BY currency
                HAVING sum(amount) <> 0 LIMIT 1;
                IF FOUND THEN
                    RAISE EXCEPTION 'journal % does not balance: off by % %',
                        NEW.journal_id, off.total, off.currency
                        USING ERRCODE = 'check_violation';
                END IF;
                RETURN NULL;
            END $$;
            """
        )
        op.execute("CREATE CONSTRAINT TRIGGER ledger_postings_balance AFTER INSERT ON "
                   "ledger_postings DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                   "EXECUTE FUNCTION ledger_journal_balances()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_postings_balance ON ledger_postings")
        op.execute("DROP FUNCTION IF EXISTS ledger_journal_balances()")
    for table in APPEND_ONLY:
        drop_append_only(table)
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_usage_records_order_id'))
    op.drop_table('usage_records')
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.drop_index('ix_payouts_org')

    op.drop_table('payouts')
    with op.batch_alter_table('download_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_download_tokens_delivery_id'))

    op.drop_table('download_tokens')
    with op.batch_alter_table('top_ups', schema=None) as batch_op:
        batch_op.drop_index('ix_top_ups_org')

    op.drop_table('top_ups')
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_events_order_id'))

    op.drop_table('order_events')
    with op.batch_alter_table('ledger_postings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_postings_journal_id'))
        batch_op.drop_index('ix_ledger_postings_account')

    op.drop_table('ledger_postings')
    with op.batch_alter_table('ledger_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_holds_pending')
        batch_op.drop_index(batch_op.f('ix_ledger_holds_debit_account_id'))

    op.drop_table('ledger_holds')
    with op.batch_alter_table('ledger_allocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_allocations_order_id'))

    op.drop_table('ledger_allocations')
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.drop_index('ix_disputes_status')
        batch_op.drop_index(batch_op.f('ix_disputes_order_id'))

    op.drop_table('disputes')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_order_id'))

    op.drop_table('deliveries')
    op.drop_table('contracts')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_status')
        batch_op.drop_index('ix_orders_seller')
        batch_op.drop_index('ix_orders_product')
        batch_op.drop_index('ix_orders_buyer')

    op.drop_table('orders')
    with op.batch_alter_table('ledger_journals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_journals_order_id'))

    op.drop_table('ledger_journals')
    with op.batch_alter_table('ledger_accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_accounts_owner')

    op.drop_table('ledger_accounts')
    op.drop_table('distribution_rules')
    with op.batch_alter_table('trade_incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_trade_incidents_seller')
        batch_op.drop_index('ix_trade_incidents_buyer')
    op.drop_table('trade_incidents')
