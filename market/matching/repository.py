"""Matching queries, scoped to the acting principal: a buyer sees its demands, a merchant
the public demands and those it is invited to, a broker those it posted; the parties (and
the broker) of a negotiation see it; operators and regulators see everything. Never
commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from market.kernel.actor import Actor, Role
from market.kernel.pagination import Page, keyset_page, where_given
from market.matching.domain import LIVE_DEMANDS, OPEN_NEGOTIATIONS, NegotiationStatus
from market.matching.errors import (
    CapabilityNotFound,
    DemandNotFound,
    NegotiationNotFound,
    SavedSearchNotFound,
)
from market.matching.models import (
    Capability,
    Demand,
    DemandEvent,
    DemandMatch,
    Negotiation,
    NegotiationEvent,
    SavedSearch,
)

SEE_ALL = (Role.OPERATOR, Role.REGULATOR)


def sees_all(actor: Actor) -> bool:
    return actor.is_system or actor.has_role(*SEE_ALL)


# -- demands -------------------------------------------------------------------------------


def may_see_demand(actor: Actor, demand: Demand) -> bool:
    org = actor.org_id
    if sees_all(actor) or org in (demand.buyer_org_id, demand.posted_by_org_id):
        return True
    return actor.has_role(Role.MERCHANT, Role.BROKER) and demand.open_to(org) and (
        demand.status in {s.value for s in LIVE_DEMANDS})


def get_demand(session: Session, actor: Actor, demand_id: str, *,
               for_update: bool = False) -> Demand:
    stmt = select(Demand).where(Demand.id == demand_id)
    if for_update:
        stmt = stmt.with_for_update()
    demand = session.scalars(stmt).one_or_none()
    if demand is None or not may_see_demand(actor, demand):
        raise DemandNotFound()
    return demand


@dataclass(frozen=True)
class DemandFilters:
    mine: bool = False  # only the caller's own (as buyer or the broker that posted them)
    status: str | None = None
    sector: str | None = None
    region: str | None = None
    product_type: str | None = None
    words: tuple[str, ...] = ()


def _demand_scope(actor: Actor, filters: DemandFilters) -> Select[Any]:
    stmt = select(Demand)
    org = actor.org_id or ""
    own = or_(Demand.buyer_org_id == org, Demand.posted_by_org_id == org)
    if filters.mine or not (sees_all(actor) or actor.has_role(Role.MERCHANT, Role.BROKER)):
        stmt = stmt.where(own)
    elif not sees_all(actor):
        # public and invited demands still open, besides the caller's own
        stmt = stmt.where(or_(own, Demand.status.in_([s.value for s in LIVE_DEMANDS])))
    return where_given(stmt, (Demand.status, filters.status), (Demand.sector, filters.sector),
                       (Demand.region, filters.region))


def demands(session: Session, actor: Actor, filters: DemandFilters, *, after: str | None,
            limit: int) -> tuple[list[Demand], str | None, dict[str, dict[str, int]]]:
    """A page of the demands the caller may see, with facet counts over all of them.

    Visibility of invited demands and the text and type filters are applied to the rows
    (a demand's words and invitations are JSON lists), so a page is filled by reading on."""
    rows = [d for d in session.scalars(_demand_scope(actor, filters).order_by(Demand.id))
            if may_see_demand(actor, d) and _wanted(d, filters)]
    facets: dict[str, dict[str, int]] = {"sector": {}, "region": {}, "status": {},
                                         "product_type": {}}
    for d in rows:
        for name, value in (("sector", d.sector), ("region", d.region or ""),
                            ("status", d.status)):
            facets[name][value] = facets[name].get(value, 0) + 1
        for t in d.product_types:
            facets["product_type"][t] = facets["product_type"].get(t, 0) + 1
    if after is not None:
        rows = [d for d in rows if d.id > after]
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None), {
        k: dict(sorted(v.items())) for k, v in facets.items()}


def _wanted(demand: Demand, filters: DemandFilters) -> bool:
    if filters.product_type and filters.product_type not in demand.product_types:
        return False
    return not filters.words or bool(set(filters.words) & set(demand.words))


def live_demands(session: Session) -> list[Demand]:
    """Demands still open or matched, oldest first."""
    return list(session.scalars(select(Demand).where(
        Demand.status.in_([s.value for s in LIVE_DEMANDS])).order_by(Demand.id)))


def due_demands(session: Session, now: datetime, limit: int) -> list[str]:
    return list(session.scalars(select(Demand.id).where(
        Demand.status.in_([s.value for s in LIVE_DEMANDS]), Demand.deadline <= now)
        .order_by(Demand.deadline, Demand.id).limit(limit)))


def demand_history(session: Session, demand_id: str) -> list[DemandEvent]:
    return list(session.scalars(select(DemandEvent).where(DemandEvent.demand_id == demand_id)
                                .order_by(DemandEvent.id)))


def matches_of(session: Session, demand_ids: Sequence[str]) -> dict[str, list[DemandMatch]]:
    found: dict[str, list[DemandMatch]] = {i: [] for i in demand_ids}
    if not demand_ids:
        return found
    for row in session.scalars(select(DemandMatch).where(
            DemandMatch.demand_id.in_(sorted(set(demand_ids)))).order_by(DemandMatch.id)):
        found[row.demand_id].append(row)
    return found


def demands_with(session: Session, product_id: str) -> set[str]:
    """The demands a listing has matched already."""
    return set(session.scalars(select(DemandMatch.demand_id)
                               .where(DemandMatch.product_id == product_id)))


def active_floor(session: Session, demand_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(active matches, lowest active score) of each demand."""
    if not demand_ids:
        return {}
    rows = session.execute(
        select(DemandMatch.demand_id, func.count(), func.min(DemandMatch.score))
        .where(DemandMatch.demand_id.in_(sorted(set(demand_ids))), DemandMatch.active.is_(True))
        .group_by(DemandMatch.demand_id))
    return {d: (int(n), int(low)) for d, n, low in rows}


# -- negotiations --------------------------------------------------------------------------


def get_negotiation(session: Session, actor: Actor, negotiation_id: str, *,
                    for_update: bool = False) -> Negotiation:
    stmt = select(Negotiation).where(Negotiation.id == negotiation_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = session.scalars(stmt).one_or_none()
    if found is None or not (sees_all(actor) or actor.org_id in (
            found.buyer_org_id, found.merchant_org_id, found.broker_org_id)):
        raise NegotiationNotFound()
    return found


def negotiations(session: Session, actor: Actor, *, status: str | None, demand: str | None,
                 product: str | None, after: str | None, limit: int) -> Page[Negotiation]:
    stmt = select(Negotiation)
    if not sees_all(actor):
        org = actor.org_id or ""
        stmt = stmt.where(or_(Negotiation.buyer_org_id == org,
                              Negotiation.merchant_org_id == org,
                              Negotiation.broker_org_id == org))
    stmt = where_given(stmt, (Negotiation.status, status), (Negotiation.demand_id, demand),
                       (Negotiation.product_id, product))
    return keyset_page(session, stmt, Negotiation.id, after=after, limit=limit)


def negotiation_history(session: Session, negotiation_id: str) -> list[NegotiationEvent]:
    return list(session.scalars(select(NegotiationEvent)
                                .where(NegotiationEvent.negotiation_id == negotiation_id)
                                .order_by(NegotiationEvent.id)))


def negotiation_of_offer(session: Session, offer_id: str) -> Negotiation | None:
    return session.scalars(select(Negotiation).where(Negotiation.private_offer_id == offer_id)
                           .with_for_update()).one_or_none()


def due_negotiations(session: Session, now: datetime, limit: int) -> list[str]:
    live = [s.value for s in OPEN_NEGOTIATIONS] + [NegotiationStatus.AGREED.value]
    return list(session.scalars(select(Negotiation.id).where(
        Negotiation.status.in_(live), Negotiation.expires_at <= now)
        .order_by(Negotiation.expires_at, Negotiation.id).limit(limit)))


# -- saved searches and capabilities -------------------------------------------------------


def saved_searches(session: Session, org_id: str) -> list[SavedSearch]:
    return list(session.scalars(select(SavedSearch).where(SavedSearch.org_id == org_id)
                                .order_by(SavedSearch.id)))


def all_saved_searches(session: Session) -> list[SavedSearch]:
    return list(session.scalars(select(SavedSearch).order_by(SavedSearch.id)))


def own_saved_search(session: Session, actor: Actor, search_id: str) -> SavedSearch:
    found = session.get(SavedSearch, search_id)
    if found is None or found.org_id != actor.org_id:
        raise SavedSearchNotFound()
    return found


def own_capability(session: Session, actor: Actor, capability_id: str) -> Capability:
    found = session.get(Capability, capability_id)
    if found is None or found.merchant_org_id != actor.org_id:
        raise CapabilityNotFound()
    return found


def capabilities(session: Session, *, merchant: str | None, sector: str | None,
                 words: Iterable[str], limit: int) -> list[Capability]:
    """Active capabilities, newest first, narrowed to a merchant and sector and to those
    sharing a word with the query."""
    stmt = where_given(select(Capability).where(Capability.active.is_(True)),
                       (Capability.merchant_org_id, merchant), (Capability.sector, sector))
    wanted = set(words)
    rows = session.scalars(stmt.order_by(Capability.id.desc()))
    found = [c for c in rows if not wanted or wanted & set(c.words)]
    return found[:limit]
