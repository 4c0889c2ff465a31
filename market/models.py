"""Every mapped table, imported in one place so Alembic and tests see the whole schema."""

from market.audit import AuditEntry, AuditHead
from market.db import Base
from market.idempotency import IdempotencyRecord
from market.outbox import OutboxMessage
from market.participants.models import ApiKey, Organisation, OrganisationRole, StatusChange, User

metadata = Base.metadata

__all__ = [
    "ApiKey", "AuditEntry", "AuditHead", "IdempotencyRecord", "Organisation",
    "OrganisationRole", "OutboxMessage", "StatusChange", "User", "metadata",
]
