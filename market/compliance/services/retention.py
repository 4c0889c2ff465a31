"""Retention of records and overdue destruction declarations: the policy the database's
retention triggers read (kept in ``retention_policies``, written from the settings, never
below a kind's floor), what it says, and the alert raised for the regulator when a buyer
does not declare the destruction of a delivered copy in time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from market.compliance import monitoring
from market.compliance.models import RetentionPolicy
from market.compliance.retention import KINDS, RECORD_KINDS, policy_years
from market.compliance.services._common import keep_alerts
from market.kernel.errors import ConfigurationError
from market.kernel.uow import UnitOfWork

OVERDUE_RULE = "DestructionDeclarationOverdue"


def configured_years(raw: str) -> dict[str, int]:
    """Every kind's years from ``MARKET_RETENTION_YEARS`` (``kind=years,…``), defaults for
    the kinds it leaves out.

    Raises:
        ConfigurationError: an unknown kind, or years below the kind's floor.
    """
    configured: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        kind, _, years = part.partition("=")
        try:
            configured[kind.strip()] = int(years)
        except ValueError:
            raise ConfigurationError(
                f"MARKET_RETENTION_YEARS takes kind=years pairs; got {part!r}") from None
    try:
        return policy_years(configured)
    except ValueError as exc:
        raise ConfigurationError(f"MARKET_RETENTION_YEARS: {exc}") from None


@dataclass(frozen=True)
class RetentionTerm:
    """How long one kind of record is kept, and where."""

    kind: str
    description: str
    years: int
    floor_years: int
    append_only: bool  # kept for ever: never updated nor deleted
    tables: list[str]
    updated_at: datetime | None


def apply_retention(raw: str, *, uow: UnitOfWork) -> list[str]:
    """Write the configured years into ``retention_policies`` (what the database's triggers
    read); returns the kinds whose years changed, each change audited.

    Raises:
        ConfigurationError: the setting names an unknown kind or goes below a floor.
    """
    years = configured_years(raw)
    with uow:
        stored = {p.kind: p for p in uow.session.scalars(
            select(RetentionPolicy).with_for_update())}
        now, changed = uow.clock.now(), []
        for kind in RECORD_KINDS:
            policy = stored.get(kind.kind)
            if policy is None:
                policy = RetentionPolicy(kind=kind.kind, years=years[kind.kind],
                                         floor_years=kind.floor_years, updated_at=now)
                uow.session.add(policy)
            elif (policy.years, policy.floor_years) == (years[kind.kind], kind.floor_years):
                continue
            before = policy.state() if policy.kind in stored else None
            policy.years, policy.floor_years = years[kind.kind], kind.floor_years
            policy.updated_at = now
            uow.session.flush()
            uow.audit.record(uow.actor, "retention.applied", "retention_policy", kind.kind,
                             {**policy.state(), "before": before})
            changed.append(kind.kind)
        uow.commit()
        return changed


def retention_policy(*, uow: UnitOfWork) -> list[RetentionTerm]:
    """The retention of every kind of record, as the database enforces it."""
    with uow:
        stored = {p.kind: p for p in uow.session.scalars(select(RetentionPolicy))}
    terms = []
    for kind in RECORD_KINDS:
        policy = stored.get(kind.kind)
        terms.append(RetentionTerm(
            kind.kind, kind.description, policy.years if policy else kind.default_years,
            policy.floor_years if policy else kind.floor_years, kind.append_only,
            [table for table, _ in kind.tables], policy.updated_at if policy else None))
    return terms


def raise_destruction_overdue(*, order_id: str, buyer_org_id: str, seller_org_id: str,
                              due_by: datetime, uow: UnitOfWork) -> str | None:
    """In the caller's transaction: the buyer of an order did not declare the destruction
    of what was delivered by ``due_by``; an alert for the regulator, once per order.
    Returns its id, or None when it was raised before."""
    raised = keep_alerts(uow, [monitoring.Raised(
        OVERDUE_RULE, "medium", "order", order_id, [buyer_org_id, seller_org_id],
        f"the buyer has not declared the destruction of order {order_id}'s delivered data, "
        f"due by {due_by.isoformat()}",
        {"order_id": order_id, "buyer_org_id": buyer_org_id, "due_by": due_by.isoformat()})])
    return raised[0].id if raised else None


__all__ = ["KINDS", "OVERDUE_RULE", "RetentionTerm", "apply_retention", "configured_years",
           "raise_destruction_overdue", "retention_policy"]
