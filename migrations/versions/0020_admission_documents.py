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
    pass


def downgrade() -> None:
    pass
