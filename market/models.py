"""Every mapped table, imported in one place so Alembic and tests see the whole schema.

Importing a module that defines tables maps all of them on ``Base.metadata``; a new table
in one of these modules is seen without touching this file, a new module is added here.
"""

from market.compliance import models as compliance
from market.kernel import audit, idempotency, outbox
from market.kernel.db import Base
from market.listing import catalog
from market.listing import models as listing
from market.matching import models as matching
from market.participants import models as participants
from market.receipts import models as receipts
from market.regulator import models as regulator
from market.rights import models as rights
from market.settlement import models as settlement
from market.settlement.rails import models as stripe_rail
from market.trading import contract_signatures
from market.trading import models as trading
from market.webhooks import models as webhooks

TABLE_MODULES = (audit, idempotency, outbox, participants, rights, listing, catalog, trading,
                 contract_signatures,
                 settlement, stripe_rail, compliance, matching, receipts, regulator, webhooks)

metadata = Base.metadata

__all__ = ["TABLE_MODULES", "metadata"]
