"""matching: demands, negotiations, private offers, saved searches, capabilities; filings record their channel

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db
from market.kernel.migrate import create_append_only, drop_append_only


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('capabilities',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_org_id', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('sector', sa.String(length=60), nullable=False),
    sa.Column('region', sa.String(length=60), nullable=True),
    sa.Column('product_types', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('delivery_modes', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('words', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_org_id'], ['organisations.id'], name=op.f('fk_capabilities_merchant_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_capabilities'))
    )
    with op.batch_alter_table('capabilities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capabilities_merchant_org_id'), ['merchant_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_capabilities_sector'), ['sector'], unique=False)

    op.create_table('demands',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('buyer_org_id', sa.String(length=40), nullable=False),
    sa.Column('posted_by_org_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('sector', sa.String(length=60), nullable=False),
    sa.Column('region', sa.String(length=60), nullable=True),
    sa.Column('product_types', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('delivery_modes', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('required_fields', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('coverage', sa.String(length=200), nullable=True),
    sa.Column('freshness', sa.String(length=16), nullable=True),
    sa.Column('budget_min', sa.BigInteger(), nullable=True),
    sa.Column('budget_max', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('purposes', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('scenarios', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('cross_border', sa.Boolean(), nullable=False),
    sa.Column('deadline', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('invited_org_ids', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('words', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('matched_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'matched', 'converted', 'closed', 'expired')", name=op.f('ck_demands_status')),
    sa.CheckConstraint("visibility IN ('public', 'invited')", name=op.f('ck_demands_visibility')),
    sa.CheckConstraint('budget_max IS NULL OR budget_min IS NULL OR budget_max >= budget_min', name=op.f('ck_demands_budget_range')),
    sa.CheckConstraint('budget_min IS NULL OR budget_min >= 0', name=op.f('ck_demands_budget_min')),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organisations.id'], name=op.f('fk_demands_buyer_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demands'))
    )
    with op.batch_alter_table('demands', schema=None) as batch_op:
        batch_op.create_index('ix_demands_buyer', ['buyer_org_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_demands_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_demands_sector'), ['sector'], unique=False)
        batch_op.create_index('ix_demands_status', ['status', 'deadline'], unique=False)

    op.create_table('saved_searches',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('q', sa.String(length=200), nullable=True),
    sa.Column('words', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('filters', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_saved_searches_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_searches'))
    )
    with op.batch_alter_table('saved_searches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_searches_org_id'), ['org_id'], unique=False)

    op.create_table('demand_events',
    sa.Column('demand_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor_org_id', sa.String(length=40), nullable=True),
    sa.Column('actor_label', sa.String(length=200), nullable=False),
    sa.Column('at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['demand_id'], ['demands.id'], name=op.f('fk_demand_events_demand_id_demands')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demand_events'))
    )
    with op.batch_alter_table('demand_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_demand_events_demand_id'), ['demand_id'], unique=False)

    op.create_table('demand_matches',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('demand_id', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('merchant_org_id', sa.String(length=40), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('components', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('first_matched_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('scored_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['demand_id'], ['demands.id'], name=op.f('fk_demand_matches_demand_id_demands')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demand_matches')),
    sa.UniqueConstraint('demand_id', 'product_id', name='demand_product')
    )
    with op.batch_alter_table('demand_matches', schema=None) as batch_op:
        batch_op.create_index('ix_demand_matches_merchant', ['merchant_org_id', 'demand_id'], unique=False)
        batch_op.create_index('ix_demand_matches_product', ['product_id'], unique=False)

    op.create_table('negotiations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('offer_id', sa.String(length=40), nullable=True),
    sa.Column('demand_id', sa.String(length=40), nullable=True),
    sa.Column('buyer_org_id', sa.String(length=40), nullable=False),
    sa.Column('merchant_org_id', sa.String(length=40), nullable=False),
    sa.Column('broker_org_id', sa.String(length=40), nullable=True),
    sa.Column('commission_bps', sa.Integer(), nullable=True),
    sa.Column('buyer_accepted', sa.Boolean(), nullable=False),
    sa.Column('merchant_accepted', sa.Boolean(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('terms', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('proposed_by', sa.String(length=16), nullable=True),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('expires_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('private_offer_id', sa.String(length=40), nullable=True),
    sa.Column('decision_id', sa.String(length=40), nullable=True),
    sa.Column('order_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('proposed', 'requested', 'offered', 'countered', 'agreed', 'ordered', 'declined', 'withdrawn', 'expired')", name=op.f('ck_negotiations_status')),
    sa.CheckConstraint('commission_bps IS NULL OR (commission_bps >= 0 AND commission_bps <= 10000 AND broker_org_id IS NOT NULL)', name=op.f('ck_negotiations_commission')),
    sa.ForeignKeyConstraint(['demand_id'], ['demands.id'], name=op.f('fk_negotiations_demand_id_demands')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_negotiations'))
    )
    with op.batch_alter_table('negotiations', schema=None) as batch_op:
        batch_op.create_index('ix_negotiations_broker', ['broker_org_id', 'id'], unique=False)
        batch_op.create_index('ix_negotiations_buyer', ['buyer_org_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_negotiations_demand_id'), ['demand_id'], unique=False)
        batch_op.create_index('ix_negotiations_merchant', ['merchant_org_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_negotiations_product_id'), ['product_id'], unique=False)
        batch_op.create_index('ix_negotiations_status', ['status', 'expires_at'], unique=False)

    op.create_table('saved_search_hits',
    sa.Column('saved_search_id', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['saved_search_id'], ['saved_searches.id'], name=op.f('fk_saved_search_hits_saved_search_id_saved_searches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('saved_search_id', 'product_id', name=op.f('pk_saved_search_hits'))
    )
    op.create_table('negotiation_events',
    sa.Column('negotiation_id', sa.String(length=40), nullable=False),
    sa.Column('terms', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor_org_id', sa.String(length=40), nullable=True),
    sa.Column('actor_label', sa.String(length=200), nullable=False),
    sa.Column('at', market.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['negotiation_id'], ['negotiations.id'], name=op.f('fk_negotiation_events_negotiation_id_negotiations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_negotiation_events'))
    )
    with op.batch_alter_table('negotiation_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_negotiation_events_negotiation_id'), ['negotiation_id'], unique=False)

    # SQLite rebuilds the table to change a constraint, which drops its triggers.
    drop_append_only('decisions')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_constraint('stage', type_='check')
        batch_op.create_check_constraint(
            'stage', "stage IN ('listing', 'order', 'delivery', 'match')")
    create_append_only('decisions')

    with op.batch_alter_table('filings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), server_default='catalogue', nullable=False))
        batch_op.add_column(sa.Column('origin', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=True))

    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('buyer_org_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('expires_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('terms', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('delivery_modes', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('negotiation_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('demand_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('channel', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('broker_org_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('commission_bps', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('created_at', market.kernel.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_offers_buyer', ['buyer_org_id'], unique=False)
        batch_op.create_check_constraint(
            'commission', 'commission_bps IS NULL OR (commission_bps >= 0 AND '
            'commission_bps <= 10000 AND broker_org_id IS NOT NULL)')
        batch_op.create_check_constraint(
            'private', 'buyer_org_id IS NOT NULL OR (negotiation_id IS NULL AND '
            'expires_at IS NULL)')

    with op.batch_alter_table('product_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('product_facts', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=True))



def downgrade() -> None:
    drop_append_only('decisions')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_constraint('stage', type_='check')
        batch_op.create_check_constraint('stage', "stage IN ('listing', 'order', 'delivery')")
    create_append_only('decisions')

    with op.batch_alter_table('product_versions', schema=None) as batch_op:
        batch_op.drop_column('product_facts')

    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_constraint('private', type_='check')
        batch_op.drop_constraint('commission', type_='check')
        batch_op.drop_index('ix_offers_buyer')
        batch_op.drop_column('created_at')
        batch_op.drop_column('commission_bps')
        batch_op.drop_column('broker_org_id')
        batch_op.drop_column('channel')
        batch_op.drop_column('demand_id')
        batch_op.drop_column('negotiation_id')
        batch_op.drop_column('delivery_modes')
        batch_op.drop_column('terms')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('buyer_org_id')

    with op.batch_alter_table('filings', schema=None) as batch_op:
        batch_op.drop_column('origin')
        batch_op.drop_column('channel')

    with op.batch_alter_table('negotiation_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_negotiation_events_negotiation_id'))

    op.drop_table('negotiation_events')
    op.drop_table('saved_search_hits')
    with op.batch_alter_table('negotiations', schema=None) as batch_op:
        batch_op.drop_index('ix_negotiations_status')
        batch_op.drop_index(batch_op.f('ix_negotiations_product_id'))
        batch_op.drop_index('ix_negotiations_merchant')
        batch_op.drop_index(batch_op.f('ix_negotiations_demand_id'))
        batch_op.drop_index('ix_negotiations_buyer')
        batch_op.drop_index('ix_negotiations_broker')

    op.drop_table('negotiations')
    with op.batch_alter_table('demand_matches', schema=None) as batch_op:
        batch_op.drop_index('ix_demand_matches_product')
        batch_op.drop_index('ix_demand_matches_merchant')

    op.drop_table('demand_matches')
    with op.batch_alter_table('demand_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_demand_events_demand_id'))

    op.drop_table('demand_events')
    with op.batch_alter_table('saved_searches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_searches_org_id'))

    op.drop_table('saved_searches')
    with op.batch_alter_table('demands', schema=None) as batch_op:
        batch_op.drop_index('ix_demands_status')
        batch_op.drop_index(batch_op.f('ix_demands_sector'))
        batch_op.drop_index(batch_op.f('ix_demands_region'))
        batch_op.drop_index('ix_demands_buyer')

    op.drop_table('demands')
    with op.batch_alter_table('capabilities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_capabilities_sector'))
        batch_op.drop_index(batch_op.f('ix_capabilities_merchant_org_id'))

    op.drop_table('capabilities')
