"""compliance: declarations, breaches and rule decisions (append-only)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db
from market.kernel.migrate import create_append_only, drop_append_only


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

APPEND_ONLY = ("declarations", "declaration_breaches", "decisions")


def upgrade() -> None:
    op.create_table('declarations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('template', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=True),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('answers', market.kernel.db.JSONType, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('signer_address', sa.String(length=42), nullable=True),
    sa.Column('signature', sa.String(length=132), nullable=True),
    sa.Column('signed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('listing', 'purchase', 'admission')", name=op.f('ck_declarations_kind')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_declarations_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_declarations'))
    )
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.create_index('ix_declarations_org', ['org_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_declarations_sha256'), ['sha256'], unique=False)
        batch_op.create_index('ix_declarations_subject', ['subject_type', 'subject_id'], unique=False)

    op.create_table('declaration_breaches',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('declaration_id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('evidence_sha256', market.kernel.db.JSONType, nullable=False),
    sa.Column('recorded_by_org_id', sa.String(length=40), nullable=False),
    sa.Column('recorded_by_user_id', sa.String(length=40), nullable=True),
    sa.Column('recorded_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("severity IN ('minor', 'serious', 'grave')", name=op.f('ck_declaration_breaches_severity')),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'], name=op.f('fk_declaration_breaches_declaration_id_declarations')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_declaration_breaches_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_declaration_breaches'))
    )
    with op.batch_alter_table('declaration_breaches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_declaration_breaches_declaration_id'), ['declaration_id'], unique=False)
        batch_op.create_index('ix_declaration_breaches_org', ['org_id', 'id'], unique=False)

    op.create_table('decisions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('counterparty_org_id', sa.String(length=40), nullable=True),
    sa.Column('declaration_id', sa.String(length=40), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('ruleset_version', sa.String(length=20), nullable=False),
    sa.Column('verdicts', market.kernel.db.JSONType, nullable=False),
    sa.Column('facts', market.kernel.db.JSONType, nullable=False),
    sa.Column('decided_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('pass', 'needs_review', 'needs_assessment', 'block')", name=op.f('ck_decisions_outcome')),
    sa.CheckConstraint("stage IN ('listing', 'order', 'delivery')", name=op.f('ck_decisions_stage')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_decisions_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decisions'))
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index('ix_decisions_org', ['org_id', 'id'], unique=False)
        batch_op.create_index('ix_decisions_subject', ['subject_type', 'subject_id', 'id'], unique=False)

    for table in APPEND_ONLY:
        create_append_only(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(table)
    op.drop_table('decisions')
    op.drop_table('declaration_breaches')
    op.drop_table('declarations')
