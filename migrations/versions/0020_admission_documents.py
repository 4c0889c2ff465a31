"""admission documents, related parties, credit marks

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('credit_marks',
    sa.Column('organisation_id', sa.String(length=40), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=False),
    sa.Column('components', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('inputs', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('computed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("grade IN ('A', 'B', 'C', 'D')", name=op.f('ck_credit_marks_grade')),
    sa.CheckConstraint('score >= 0 AND score <= 100', name=op.f('ck_credit_marks_score')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_credit_marks_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('organisation_id', name=op.f('pk_credit_marks'))
    )
    op.create_table('organisation_documents',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('organisation_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('stored', sa.Boolean(), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('replaces_id', sa.String(length=40), nullable=True),
    sa.Column('submitted_by_org_id', sa.String(length=40), nullable=False),
    sa.Column('submitted_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reviewed_by_user_id', sa.String(length=40), nullable=True),
    sa.Column('reviewed_by_label', sa.String(length=200), nullable=True),
    sa.Column('reviewed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.CheckConstraint("kind IN ('business_licence', 'legal_representative', 'data_security_officer')", name=op.f('ck_organisation_documents_kind')),
    sa.CheckConstraint("status IN ('submitted', 'verified', 'rejected', 'superseded')", name=op.f('ck_organisation_documents_status')),
    sa.CheckConstraint('expires_on IS NULL OR issued_on IS NULL OR expires_on >= issued_on', name=op.f('ck_organisation_documents_dates')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_organisation_documents_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisation_documents'))
    )
    op.create_index(op.f('ix_organisation_documents_organisation_id'), 'organisation_documents', ['organisation_id'], unique=False)
    op.create_table('organisation_identities',
    sa.Column('organisation_id', sa.String(length=40), nullable=False),
    sa.Column('legal_representative_name', sa.String(length=100), nullable=True),
    sa.Column('legal_representative_digest', sa.String(length=64), nullable=True),
    sa.Column('legal_representative_hint', sa.String(length=40), nullable=True),
    sa.Column('controller_name', sa.String(length=200), nullable=True),
    sa.Column('controller_kind', sa.String(length=16), nullable=True),
    sa.Column('controller_digest', sa.String(length=64), nullable=True),
    sa.Column('controller_hint', sa.String(length=40), nullable=True),
    sa.Column('controller_credit_code', sa.String(length=18), nullable=True),
    sa.Column('security_officer_name', sa.String(length=100), nullable=True),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("controller_kind IS NULL OR controller_kind IN ('person', 'organisation')", name=op.f('ck_organisation_identities_controller_kind')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_organisation_identities_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('organisation_id', name=op.f('pk_organisation_identities'))
    )
    op.create_index(op.f('ix_organisation_identities_controller_credit_code'), 'organisation_identities', ['controller_credit_code'], unique=False)
    op.create_index(op.f('ix_organisation_identities_controller_digest'), 'organisation_identities', ['controller_digest'], unique=False)
    op.create_index(op.f('ix_organisation_identities_legal_representative_digest'), 'organisation_identities', ['legal_representative_digest'], unique=False)
    op.create_table('organisation_document_reminders',
    sa.Column('document_id', sa.String(length=40), nullable=False),
    sa.Column('threshold_days', sa.Integer(), nullable=False),
    sa.Column('sent_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['organisation_documents.id'], name=op.f('fk_organisation_document_reminders_document_id_organisation_documents')),
    sa.PrimaryKeyConstraint('document_id', 'threshold_days', name=op.f('pk_organisation_document_reminders'))
    )


def downgrade() -> None:
    op.drop_table('organisation_document_reminders')
    op.drop_index(op.f('ix_organisation_identities_legal_representative_digest'), table_name='organisation_identities')
    op.drop_index(op.f('ix_organisation_identities_controller_digest'), table_name='organisation_identities')
    op.drop_index(op.f('ix_organisation_identities_controller_credit_code'), table_name='organisation_identities')
    op.drop_table('organisation_identities')
    op.drop_index(op.f('ix_organisation_documents_organisation_id'), table_name='organisation_documents')
    op.drop_table('organisation_documents')
    op.drop_table('credit_marks')
