"""organisation signing keys and signed contracts

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db
from market.kernel.migrate import create_append_only, drop_append_only


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signing_keys',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('organisation_id', sa.String(length=40), nullable=False),
    sa.Column('suite', sa.String(length=16), nullable=False),
    sa.Column('public_key', sa.String(length=130), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('challenge', sa.Text(), nullable=False),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_user_id', sa.String(length=40), nullable=True),
    sa.Column('verified_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_user_id', sa.String(length=40), nullable=True),
    sa.Column('revocation_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'verified', 'revoked')", name=op.f('ck_signing_keys_status')),
    sa.CheckConstraint("suite IN ('secp256k1', 'sm2')", name=op.f('ck_signing_keys_suite')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_signing_keys_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_keys'))
    )
    op.create_index('ix_signing_keys_org', 'signing_keys', ['organisation_id', 'id'], unique=False)
    op.create_index('ix_signing_keys_public_key', 'signing_keys', ['public_key'], unique=False)
    op.create_table('contract_signatures',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('contract_id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('party', sa.String(length=8), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('act', sa.String(length=8), nullable=False),
    sa.Column('contract_sha256', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=True),
    sa.Column('suite', sa.String(length=16), nullable=True),
    sa.Column('public_key', sa.String(length=130), nullable=True),
    sa.Column('signature', sa.String(length=132), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('user_id', sa.String(length=40), nullable=True),
    sa.Column('at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("act = 'declined' OR (key_id IS NOT NULL AND signature IS NOT NULL)", name=op.f('ck_contract_signatures_signed_with_key')),
    sa.CheckConstraint("act IN ('signed', 'declined')", name=op.f('ck_contract_signatures_act')),
    sa.CheckConstraint("party IN ('buyer', 'seller')", name=op.f('ck_contract_signatures_party')),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_contract_signatures_contract_id_contracts')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_contract_signatures_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_signatures')),
    sa.UniqueConstraint('contract_id', 'party', name='uq_contract_signatures_party')
    )
    op.create_index(op.f('ix_contract_signatures_order_id'), 'contract_signatures', ['order_id'], unique=False)
    create_append_only('contract_signatures')
    op.add_column('declarations', sa.Column('vouched', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('declarations', sa.Column('signing_key_id', sa.String(length=40), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table, which would lose the append-only triggers.
    drop_append_only('declarations')
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_column('signing_key_id')
        batch_op.drop_column('vouched')
    create_append_only('declarations')
    drop_append_only('contract_signatures')
    op.drop_index(op.f('ix_contract_signatures_order_id'), table_name='contract_signatures')
    op.drop_table('contract_signatures')
    op.drop_index('ix_signing_keys_public_key', table_name='signing_keys')
    op.drop_index('ix_signing_keys_org', table_name='signing_keys')
    op.drop_table('signing_keys')
