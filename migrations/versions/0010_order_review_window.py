"""orders waiting for review get a deadline (review_by)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from datetime import UTC, datetime, timedelta

from alembic import op
import sqlalchemy as sa

import market.kernel.db


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# Orders already waiting for review get the default window from the upgrade on.
REVIEW_WINDOW = timedelta(hours=72)


def upgrade() -> None:
    op.add_column('orders', sa.Column('review_by', market.kernel.db.UTCDateTime(timezone=True),
                                      nullable=True))
    orders = sa.table('orders', sa.column('status', sa.String),
                      sa.column('review_by', market.kernel.db.UTCDateTime(timezone=True)))
    op.execute(orders.update().where(orders.c.status == 'created')
               .values(review_by=datetime.now(UTC) + REVIEW_WINDOW))


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('review_by')
