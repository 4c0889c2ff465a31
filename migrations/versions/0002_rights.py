"""rights

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('certificate_counters',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_certificate_counters'))
    )
    op.create_table('rights_evidence',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('owner_type', sa.String(length=16), nullable=False),
    sa.Column('owner_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('stored', sa.Boolean(), nullable=False),
    sa.Column('added_by_org_id', sa.String(length=40), nullable=False),
    sa.Column('added_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('source_legality', 'consent', 'anonymisation', 'security_assessment', 'authorisation', 'contract', 'other')", name=op.f('ck_rights_evidence_kind')),
    sa.CheckConstraint("owner_type IN ('resource', 'right', 'grant')", name=op.f('ck_rights_evidence_owner_type')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rights_evidence'))
    )
    with op.batch_alter_table('rights_evidence', schema=None) as batch_op:
        batch_op.create_index('ix_rights_evidence_owner', ['owner_type', 'owner_id'], unique=False)

    op.create_table('data_resources',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('holder_org_id', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('origin', sa.String(length=24), nullable=False),
    sa.Column('classification', sa.String(length=16), nullable=False),
    sa.Column('pi_level', sa.String(length=24), nullable=False),
    sa.Column('collection_method', sa.String(length=200), nullable=False),
    sa.Column('collection_source', sa.String(length=500), nullable=False),
    sa.Column('scenarios', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('update_frequency', sa.String(length=40), nullable=False),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("classification IN ('general', 'important', 'core')", name=op.f('ck_data_resources_classification')),
    sa.CheckConstraint("origin IN ('public_authorised', 'enterprise', 'personal')", name=op.f('ck_data_resources_origin')),
    sa.CheckConstraint("pi_level IN ('none', 'anonymised', 'deidentified', 'personal', 'sensitive_personal')", name=op.f('ck_data_resources_pi_level')),
    sa.ForeignKeyConstraint(['holder_org_id'], ['organisations.id'], name=op.f('fk_data_resources_holder_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_resources'))
    )
    with op.batch_alter_table('data_resources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_resources_holder_org_id'), ['holder_org_id'], unique=False)

    op.create_table('resource_disputes',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('resource_id', sa.String(length=40), nullable=False),
    sa.Column('claimant_org_id', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('opened_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'upheld', 'dismissed')", name=op.f('ck_resource_disputes_status')),
    sa.ForeignKeyConstraint(['claimant_org_id'], ['organisations.id'], name=op.f('fk_resource_disputes_claimant_org_id_organisations')),
    sa.ForeignKeyConstraint(['resource_id'], ['data_resources.id'], name=op.f('fk_resource_disputes_resource_id_data_resources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resource_disputes'))
    )
    with op.batch_alter_table('resource_disputes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resource_disputes_resource_id'), ['resource_id'], unique=False)

    op.create_table('rights',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('holder_org_id', sa.String(length=40), nullable=False),
    sa.Column('resource_id', sa.String(length=40), nullable=True),
    sa.Column('product_id', sa.String(length=40), nullable=True),
    sa.Column('subject_title', sa.String(length=200), nullable=False),
    sa.Column('grant_id', sa.String(length=40), nullable=True),
    sa.Column('purposes', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('scenarios', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('territory', sa.String(length=16), nullable=False),
    sa.Column('valid_from', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_to', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('suspended_by', sa.String(length=40), nullable=True),
    sa.Column('reviewer_org_id', sa.String(length=40), nullable=True),
    sa.Column('certificate_number', sa.String(length=32), nullable=True),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('registered_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(kind = 'product_operation' AND product_id IS NOT NULL AND resource_id IS NULL) OR (kind <> 'product_operation' AND resource_id IS NOT NULL AND product_id IS NULL)", name=op.f('ck_rights_subject')),
    sa.CheckConstraint("kind IN ('resource_holding', 'processing_use', 'product_operation')", name=op.f('ck_rights_kind')),
    sa.CheckConstraint("status IN ('submitted', 'under_review', 'registered', 'rejected', 'suspended', 'revoked', 'expired')", name=op.f('ck_rights_status')),
    sa.CheckConstraint("territory IN ('domestic', 'cross_border')", name=op.f('ck_rights_territory')),
    sa.ForeignKeyConstraint(['holder_org_id'], ['organisations.id'], name=op.f('fk_rights_holder_org_id_organisations')),
    sa.ForeignKeyConstraint(['resource_id'], ['data_resources.id'], name=op.f('fk_rights_resource_id_data_resources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rights')),
    sa.UniqueConstraint('certificate_number', name=op.f('uq_rights_certificate_number'))
    )
    with op.batch_alter_table('rights', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rights_grant_id'), ['grant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rights_holder_org_id'), ['holder_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rights_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rights_resource_id'), ['resource_id'], unique=False)
        batch_op.create_index('ix_rights_status_valid_to', ['status', 'valid_to'], unique=False)
        batch_op.create_index(batch_op.f('ix_rights_suspended_by'), ['suspended_by'], unique=False)

    op.create_table('certificates',
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('right_id', sa.String(length=40), nullable=False),
    sa.Column('document', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('signer', sa.String(length=42), nullable=False),
    sa.Column('signature', sa.String(length=132), nullable=False),
    sa.Column('issued_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['right_id'], ['rights.id'], name=op.f('fk_certificates_right_id_rights')),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_certificates')),
    sa.UniqueConstraint('right_id', name=op.f('uq_certificates_right_id'))
    )
    op.create_table('grants',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('holding_right_id', sa.String(length=40), nullable=False),
    sa.Column('resource_id', sa.String(length=40), nullable=False),
    sa.Column('grantor_org_id', sa.String(length=40), nullable=False),
    sa.Column('grantee_org_id', sa.String(length=40), nullable=False),
    sa.Column('purposes', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('scenarios', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('territory', sa.String(length=16), nullable=False),
    sa.Column('valid_from', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_to', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('revoked_reason', sa.Text(), nullable=True),
    sa.Column('revoked_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'revoked')", name=op.f('ck_grants_status')),
    sa.CheckConstraint("territory IN ('domestic', 'cross_border')", name=op.f('ck_grants_territory')),
    sa.ForeignKeyConstraint(['grantee_org_id'], ['organisations.id'], name=op.f('fk_grants_grantee_org_id_organisations')),
    sa.ForeignKeyConstraint(['grantor_org_id'], ['organisations.id'], name=op.f('fk_grants_grantor_org_id_organisations')),
    sa.ForeignKeyConstraint(['holding_right_id'], ['rights.id'], name=op.f('fk_grants_holding_right_id_rights')),
    sa.ForeignKeyConstraint(['resource_id'], ['data_resources.id'], name=op.f('fk_grants_resource_id_data_resources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grants'))
    )
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grants_grantee_org_id'), ['grantee_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grants_grantor_org_id'), ['grantor_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grants_holding_right_id'), ['holding_right_id'], unique=False)

    # rights and grants refer to each other: the rights → grants key comes once both exist.
    with op.batch_alter_table('rights', schema=None) as batch_op:
        batch_op.create_foreign_key(op.f('fk_rights_grant_id_grants'), 'grants', ['grant_id'], ['id'])

    op.create_table('right_events',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('right_id', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor_org_id', sa.String(length=40), nullable=True),
    sa.Column('actor_label', sa.String(length=200), nullable=False),
    sa.Column('snapshot', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['right_id'], ['rights.id'], name=op.f('fk_right_events_right_id_rights')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_right_events'))
    )
    with op.batch_alter_table('right_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_right_events_right_id'), ['right_id'], unique=False)

    op.create_table('right_parents',
    sa.Column('right_id', sa.String(length=40), nullable=False),
    sa.Column('parent_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['rights.id'], name=op.f('fk_right_parents_parent_id_rights')),
    sa.ForeignKeyConstraint(['right_id'], ['rights.id'], name=op.f('fk_right_parents_right_id_rights')),
    sa.PrimaryKeyConstraint('right_id', 'parent_id', name=op.f('pk_right_parents'))
    )
    with op.batch_alter_table('right_parents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_right_parents_parent_id'), ['parent_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('right_parents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_right_parents_parent_id'))

    op.drop_table('right_parents')
    with op.batch_alter_table('right_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_right_events_right_id'))

    op.drop_table('right_events')
    with op.batch_alter_table('rights', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_rights_grant_id_grants'), type_='foreignkey')
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grants_holding_right_id'))
        batch_op.drop_index(batch_op.f('ix_grants_grantor_org_id'))
        batch_op.drop_index(batch_op.f('ix_grants_grantee_org_id'))

    op.drop_table('grants')
    op.drop_table('certificates')
    with op.batch_alter_table('rights', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rights_suspended_by'))
        batch_op.drop_index('ix_rights_status_valid_to')
        batch_op.drop_index(batch_op.f('ix_rights_resource_id'))
        batch_op.drop_index(batch_op.f('ix_rights_product_id'))
        batch_op.drop_index(batch_op.f('ix_rights_holder_org_id'))
        batch_op.drop_index(batch_op.f('ix_rights_grant_id'))

    op.drop_table('rights')
    with op.batch_alter_table('resource_disputes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resource_disputes_resource_id'))

    op.drop_table('resource_disputes')
    with op.batch_alter_table('data_resources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_resources_holder_org_id'))

    op.drop_table('data_resources')
    with op.batch_alter_table('rights_evidence', schema=None) as batch_op:
        batch_op.drop_index('ix_rights_evidence_owner')

    op.drop_table('rights_evidence')
    op.drop_table('certificate_counters')
