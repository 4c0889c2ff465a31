"""Every mapped table, imported in one place so Alembic and tests see the whole schema."""

from market.compliance.models import (
    Alert,
    AlertNote,
    AssessmentReport,
    Decision,
    Declaration,
    DeclarationBreach,
    Filing,
    FilingCounter,
    ReviewItem,
    SuspensionOrder,
    TradeIncident,
)
from market.kernel.audit import AuditEntry, AuditHead
from market.kernel.db import Base
from market.kernel.idempotency import IdempotencyRecord
from market.kernel.outbox import OutboxMessage
from market.listing.catalog import CatalogEntry, CatalogState, CatalogTerm, CatalogTermCount
from market.listing.models import ListingEvent, Offer, Product, ProductVersion
from market.participants.models import ApiKey, Organisation, OrganisationRole, StatusChange, User
from market.rights.models import (
    Certificate,
    CertificateCounter,
    DataResource,
    Evidence,
    Grant,
    ResourceDispute,
    Right,
    RightEvent,
    RightParent,
)
from market.settlement.models import (
    Account,
    Allocation,
    DistributionRecord,
    Hold,
    Journal,
    Payout,
    Posting,
    TopUp,
)
from market.trading.models import (
    Contract,
    Delivery,
    Dispute,
    DownloadToken,
    Order,
    OrderEvent,
    UsageRecord,
)

metadata = Base.metadata

__all__ = [
    "Account",
    "Alert",
    "AlertNote",
    "Allocation",
    "ApiKey",
    "AssessmentReport",
    "AuditEntry",
    "AuditHead",
    "CatalogEntry",
    "CatalogState",
    "CatalogTerm",
    "CatalogTermCount",
    "Certificate",
    "CertificateCounter",
    "Contract",
    "DataResource",
    "Decision",
    "Declaration",
    "DeclarationBreach",
    "Delivery",
    "Dispute",
    "DistributionRecord",
    "DownloadToken",
    "Evidence",
    "Filing",
    "FilingCounter",
    "Grant",
    "Hold",
    "IdempotencyRecord",
    "Journal",
    "ListingEvent",
    "Offer",
    "Order",
    "OrderEvent",
    "Organisation",
    "OrganisationRole",
    "OutboxMessage",
    "Payout",
    "Posting",
    "Product",
    "ProductVersion",
    "ResourceDispute",
    "ReviewItem",
    "Right",
    "RightEvent",
    "RightParent",
    "StatusChange",
    "SuspensionOrder",
    "TopUp",
    "TradeIncident",
    "UsageRecord",
    "User",
    "metadata",
]
