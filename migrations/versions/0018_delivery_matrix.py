"""classification-driven delivery, storage location, double review

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa

import market.kernel.db


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
