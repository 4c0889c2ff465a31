"""public-data authorised operation: authorisations, buyer classes, cost basis, earmark

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
