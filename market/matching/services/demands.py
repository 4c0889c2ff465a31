"""Demands (需求清单): a buyer, or a broker on a buyer's behalf, posts what it needs; the
engine matches it at once and whenever it is edited; merchants search the public demands;
the buyer closes it, an order converts it, the worker expires it at its deadline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from market.kernel.actor import Role, require
from market.kernel.errors import InvalidInput
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.matching import repository
from market.matching.domain import LIVE_DEMANDS, DemandStatus, Visibility
from market.matching.errors import DemandClosed, DemandNotFound
from market.matching.models import Demand, DemandEvent, DemandMatch
from market.matching.services import engine
from market.matching.services._common import MatchPolicy, demand_moved, move_demand
from market.participants import services as participants

EDITABLE = ("title", "description", "sector", "region", "product_types", "delivery_modes",
            "required_fields", "coverage", "freshness", "budget_min", "budget_max",
            "currency", "purpose", "purposes", "scenarios", "cross_border", "deadline",
            "visibility", "invited_org_ids")


@dataclass(frozen=True)
class DemandView:
    demand: Demand
    matches: list[DemandMatch] = field(default_factory=list)


def _words(data: Mapping[str, Any]) -> list[str]:
    return listing.query_terms(str(data["title"]), str(data["sector"]),
                               str(data["description"]))


def _check(data: Mapping[str, Any], now: datetime, uow: UnitOfWork) -> None:
    problems: dict[str, list[str]] = {}
    low, high = data.get("budget_min"), data.get("budget_max")
    if low is not None and high is not None and low > high:
        problems["budget_max"] = ["must not be below budget_min"]
    if data["deadline"] <= now:
        problems["deadline"] = ["must be in the future"]
    if data.get("visibility") == Visibility.INVITED.value:
        invited = list(data.get("invited_org_ids") or [])
        if not invited:
            problems["invited_org_ids"] = ["an invited demand names at least one merchant"]
        else:
            found = participants.organisation_facts(invited, uow=uow.joined())
            unknown = [o for o in invited if o not in found or "merchant" not in found[o].roles]
            if unknown:
                problems["invited_org_ids"] = ["not merchants: " + ", ".join(sorted(unknown))]
    if problems:
        raise InvalidInput("the demand is not valid", errors=problems)


def post_demand(data: Mapping[str, Any], *, policy: MatchPolicy, uow: UnitOfWork,
                buyer_org_id: str | None = None) -> DemandView:
    """A buyer posts a demand (a broker posts one for ``buyer_org_id``); it is matched at
    once.

    Raises:
        RoleNotAllowed: not a buyer (nor a broker posting for an admitted buyer).
        InvalidInput: budget range inverted, deadline past, invitations not merchants.
    """
    actor = uow.actor
    if buyer_org_id is None or buyer_org_id == actor.org_id:
        require(actor, Role.BUYER)
        buyer_org_id = actor.org_id
    else:
        require(actor, Role.BROKER)
    assert buyer_org_id is not None
    assert actor.org_id is not None
    with uow:
        now = uow.clock.now()
        if buyer_org_id != actor.org_id:
            found = participants.organisation_facts([buyer_org_id], uow=uow.joined())
            if buyer_org_id not in found or "buyer" not in found[buyer_org_id].roles or (
                    found[buyer_org_id].status != "admitted"):
                raise InvalidInput("no such admitted buyer",
                                   errors={"buyer_org_id": ["not an admitted buyer"]})
        _check(data, now, uow)
        demand = Demand(
            id=new_id("dmd"), buyer_org_id=buyer_org_id, posted_by_org_id=actor.org_id,
            status=DemandStatus.OPEN.value, words=_words(data), created_at=now,
            updated_at=now, **{k: _stored(k, data.get(k)) for k in EDITABLE})
        uow.session.add(demand)
        uow.session.flush()
        demand_moved(uow, demand, None, "posted")
        engine.refresh(demand, policy=policy, uow=uow)
        uow.commit()
        return DemandView(demand, _matches(uow, demand))


def _stored(name: str, value: Any) -> Any:
    if name in ("product_types", "delivery_modes", "required_fields", "purposes", "scenarios",
                "invited_org_ids"):
        return list(value or [])
    if name == "visibility":
        return value or Visibility.PUBLIC.value
    if name == "cross_border":
        return bool(value)
    if name == "currency":
        return value or "CNY"
    return value


def _own(uow: UnitOfWork, demand_id: str) -> Demand:
    """The caller's own demand (as its buyer or the broker that posted it), locked; to a
    merchant that may see it, it is not there to change."""
    demand = repository.get_demand(uow.session, uow.actor, demand_id, for_update=True)
    if uow.actor.org_id not in (demand.buyer_org_id, demand.posted_by_org_id):
        raise DemandNotFound()
    return demand


def edit_demand(demand_id: str, changes: Mapping[str, Any], *, policy: MatchPolicy,
                uow: UnitOfWork) -> DemandView:
    """The buyer (or the broker that posted it) changes a live demand; it is matched again.

    Raises:
        DemandNotFound, DemandClosed, InvalidInput.
    """
    with uow:
        demand = _own(uow, demand_id)
        if demand.status not in {s.value for s in LIVE_DEMANDS}:
            raise DemandClosed()
        merged = {k: getattr(demand, k) for k in EDITABLE} | {
            k: v for k, v in changes.items() if k in EDITABLE}
        _check(merged, uow.clock.now(), uow)
        for name in EDITABLE:
            setattr(demand, name, _stored(name, merged[name]))
        demand.words = _words(merged)
        demand.updated_at = uow.clock.now()
        demand_moved(uow, demand, demand.status, "edited")
        engine.refresh(demand, policy=policy, uow=uow)
        uow.commit()
        return DemandView(demand, _matches(uow, demand))


def close_demand(demand_id: str, reason: str, *, uow: UnitOfWork) -> DemandView:
    """The buyer (or its broker) closes a live demand.

    Raises:
        DemandNotFound, InvalidTransition (already converted, closed or expired).
    """
    with uow:
        demand = _own(uow, demand_id)
        move_demand(uow, demand, DemandStatus.CLOSED, "closed", reason)
        uow.commit()
        return DemandView(demand, _matches(uow, demand))


def _matches(uow: UnitOfWork, demand: Demand) -> list[DemandMatch]:
    rows = repository.matches_of(uow.session, [demand.id])[demand.id]
    return sorted((m for m in rows if m.active), key=lambda m: (-m.score, m.product_id))


def get_demand(demand_id: str, *, uow: UnitOfWork) -> DemandView:
    """A demand the caller may see; its matches only for the buyer, its broker and staff.

    Raises:
        DemandNotFound.
    """
    with uow:
        demand = repository.get_demand(uow.session, uow.actor, demand_id)
        own = uow.actor.org_id in (demand.buyer_org_id, demand.posted_by_org_id)
        return DemandView(demand, _matches(uow, demand)
                          if own or repository.sees_all(uow.actor) else [])


def match_demand(demand_id: str, *, policy: MatchPolicy, uow: UnitOfWork,
                 explain: bool = False) -> engine.Ranking:
    """The demand's ranking now, with each score's components and, with ``explain``, the
    near misses and why they are excluded (the buyer, its broker and staff).

    Raises:
        DemandNotFound.
    """
    with uow:
        demand = repository.get_demand(uow.session, uow.actor, demand_id)
        if not (uow.actor.org_id in (demand.buyer_org_id, demand.posted_by_org_id)
                or repository.sees_all(uow.actor)):
            raise DemandNotFound()
        return engine.rank(demand.want(), policy=policy, uow=uow, explain=explain,
                           merchants=None if demand.visibility == "public"
                           else list(demand.invited_org_ids))


def list_demands(filters: repository.DemandFilters, *, uow: UnitOfWork,
                 after: str | None = None, limit: int = 50,
                 ) -> tuple[list[Demand], str | None, dict[str, dict[str, int]]]:
    """Demands the caller may see (its own; for merchants and brokers the public and invited
    ones still open), with facets."""
    with uow:
        return repository.demands(uow.session, uow.actor, filters, after=after, limit=limit)


def demand_history(demand_id: str, *, uow: UnitOfWork) -> list[DemandEvent]:
    """Every move of a demand the caller may see.

    Raises:
        DemandNotFound.
    """
    with uow:
        repository.get_demand(uow.session, uow.actor, demand_id)
        return repository.demand_history(uow.session, demand_id)


def convert_demand(demand_id: str, order_id: str, *, uow: UnitOfWork) -> None:
    """An order answered the demand (in the placing transaction): it is converted."""
    demand = uow.session.get(Demand, demand_id, with_for_update=True)
    if demand is not None and demand.status in {s.value for s in LIVE_DEMANDS}:
        move_demand(uow, demand, DemandStatus.CONVERTED, "converted", f"order {order_id}")
        uow.outbox.enqueue("demand.converted", {"demand_id": demand.id, "order_id": order_id,
                                                "buyer_org_id": demand.buyer_org_id})


def expire_demand(demand_id: str, *, uow: UnitOfWork) -> bool:
    """The worker expires a live demand past its deadline; False if it is no longer due."""
    with uow:
        demand = uow.session.get(Demand, demand_id, with_for_update=True)
        if demand is None or demand.status not in {s.value for s in LIVE_DEMANDS} or (
                demand.deadline > uow.clock.now()):
            return False
        move_demand(uow, demand, DemandStatus.EXPIRED, "expired", "deadline passed")
        uow.outbox.enqueue("demand.expired", {"demand_id": demand.id,
                                              "buyer_org_id": demand.buyer_org_id})
        uow.commit()
        return True
