"""What the matching use cases share: the policy the settings configure and the recording of
a demand's or a negotiation's moves (history row, audit entry)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from market.kernel.statemachine import record_move
from market.kernel.uow import UnitOfWork
from market.matching.domain import DemandStatus, NegotiationStatus, Weights
from market.matching.models import Demand, DemandEvent, Negotiation, NegotiationEvent
from market.settlement import services as settlement


@dataclass(frozen=True)
class MatchPolicy:
    """How matching scores and how long negotiations and agreements stay open."""

    weights: Weights = field(default_factory=Weights)
    top: int = 20  # matches kept (and notified) per demand
    pool: int = 200  # listings the catalogue ranks for a demand before they are scored
    negotiation_window: timedelta = timedelta(hours=72)  # to answer the terms on the table
    private_offer_ttl: timedelta = timedelta(days=7)  # to order an agreement
    split: settlement.SplitPolicy = field(
        default_factory=lambda: settlement.SplitPolicy(100, 1000, 1000))


def match_policy_of(settings: Any) -> MatchPolicy:
    """The matching policy the settings configure."""
    return MatchPolicy(weights=Weights.parse(settings.match_weights), top=settings.match_top,
                       pool=settings.match_pool,
                       negotiation_window=timedelta(hours=settings.negotiation_window_hours),
                       private_offer_ttl=timedelta(hours=settings.private_offer_hours),
                       split=settlement.split_policy_of(settings))


def move_demand(uow: UnitOfWork, demand: Demand, target: DemandStatus, action: str,
                reason: str | None = None) -> None:
    now = uow.clock.now()
    previous = demand.move(target, at=now, reason=reason)
    demand_moved(uow, demand, previous, action, reason)


def demand_moved(uow: UnitOfWork, demand: Demand, previous: str | None, action: str,
                 reason: str | None = None) -> None:
    record_move(uow, DemandEvent, prefix="dev", subject={"demand_id": demand.id},
                action=action, previous=previous, status=demand.status, reason=reason,
                at=demand.updated_at)
    uow.audit.record(uow.actor, f"demand.{action}", "demand", demand.id, demand.state())


def move_negotiation(uow: UnitOfWork, negotiation: Negotiation, target: NegotiationStatus,
                     action: str, reason: str | None = None, *,
                     terms: dict[str, Any] | None = None) -> None:
    previous = negotiation.move(target, at=uow.clock.now(), reason=reason)
    negotiation_moved(uow, negotiation, previous, action, reason, terms=terms)


def negotiation_moved(uow: UnitOfWork, negotiation: Negotiation, previous: str | None,
                      action: str, reason: str | None = None, *,
                      terms: dict[str, Any] | None = None) -> None:
    record_move(uow, NegotiationEvent, prefix="nev",
                subject={"negotiation_id": negotiation.id}, action=action, previous=previous,
                status=negotiation.status, reason=reason, at=negotiation.updated_at,
                terms=terms)
    uow.audit.record(uow.actor, f"negotiation.{action}", "negotiation", negotiation.id,
                     negotiation.state())
    uow.outbox.enqueue(f"negotiation.{action}", {
        "negotiation_id": negotiation.id, "status": negotiation.status,
        "buyer_org_id": negotiation.buyer_org_id,
        "merchant_org_id": negotiation.merchant_org_id,
        "broker_org_id": negotiation.broker_org_id})
