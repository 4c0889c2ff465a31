"""Supply lists (供给清单) and saved searches: merchants declare the data they can produce or
process on request beside what they list; buyers search both, and keep catalogue searches
to hear (``saved_search.matched``) when a new listing answers them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from market.kernel.actor import Role, require
from market.kernel.db import record
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.matching import repository
from market.matching.models import Capability, SavedSearch, SavedSearchHit

CAPABILITY_FIELDS = ("title", "description", "sector", "region", "product_types",
                     "delivery_modes")


def _capability_words(data: Mapping[str, Any]) -> list[str]:
    return listing.query_terms(str(data["title"]), str(data["sector"]),
                               str(data["description"]))


def declare_capability(data: Mapping[str, Any], *, uow: UnitOfWork) -> Any:
    """A merchant declares data it can produce or process on request.

    Raises:
        RoleNotAllowed.
    """
    require(uow.actor, Role.MERCHANT)
    assert uow.actor.org_id is not None
    with uow:
        now = uow.clock.now()
        capability = Capability(id=new_id("cap"), merchant_org_id=uow.actor.org_id,
                                words=_capability_words(data), active=True, created_at=now,
                                updated_at=now, **{k: data.get(k) for k in CAPABILITY_FIELDS})
        capability.product_types = list(capability.product_types or [])
        capability.delivery_modes = list(capability.delivery_modes or [])
        uow.session.add(capability)
        uow.session.flush()
        uow.audit.record(uow.actor, "capability.declared", "capability", capability.id,
                         {"id": capability.id, "title": capability.title,
                          "sector": capability.sector})
        uow.commit()
        return record(capability)


def withdraw_capability(capability_id: str, *, uow: UnitOfWork) -> Any:
    """The merchant takes a capability off its supply list.

    Raises:
        CapabilityNotFound.
    """
    with uow:
        capability = repository.own_capability(uow.session, uow.actor, capability_id)
        capability.active = False
        capability.updated_at = uow.clock.now()
        uow.audit.record(uow.actor, "capability.withdrawn", "capability", capability.id,
                         {"id": capability.id, "active": False})
        uow.commit()
        return record(capability)


@dataclass(frozen=True)
class SupplyList:
    """What answers a buyer's supply search: listed products (the catalogue's search) and
    declared capabilities."""

    products: list[Any]
    capabilities: list[Any]


def search_supply(q: str | None, *, sector: str | None, merchant: str | None, limit: int,
                  uow: UnitOfWork) -> SupplyList:
    """Listed products and declared capabilities matching ``q``, of a sector and merchant."""
    with uow:
        words = listing.query_terms(q) if q else []
        found = listing.search_catalog(
            q, listing.CatalogFilters(sector=sector, merchant=merchant),
            sort="relevance" if q else "newest", offset=0, limit=limit, facets=False,
            uow=uow.joined())
        capabilities = repository.capabilities(uow.session, merchant=merchant, sector=sector,
                                               words=words, limit=limit)
        return SupplyList([record(e) for e in found.items], [record(c) for c in capabilities])


# -- saved searches ------------------------------------------------------------------------


FILTERS = ("type", "sector", "region", "delivery_mode", "max_price")


def save_search(name: str, q: str | None, filters: Mapping[str, Any], *,
                uow: UnitOfWork) -> Any:
    """A buyer keeps a catalogue search; new listings that answer it are announced.

    Raises:
        RoleNotAllowed.
    """
    require(uow.actor, Role.BUYER)
    assert uow.actor.org_id is not None
    with uow:
        search = SavedSearch(id=new_id("sav"), org_id=uow.actor.org_id, name=name, q=q,
                             words=listing.query_terms(q) if q else [],
                             filters={k: filters.get(k) for k in FILTERS
                                      if filters.get(k) is not None},
                             created_at=uow.clock.now())
        uow.session.add(search)
        uow.session.flush()
        uow.audit.record(uow.actor, "saved_search.created", "saved_search", search.id,
                         {"id": search.id, "q": q, "filters": search.filters})
        uow.commit()
        return record(search)


def list_saved_searches(*, uow: UnitOfWork) -> list[Any]:
    with uow:
        return [record(s) for s in repository.saved_searches(uow.session,
                                                             uow.actor.org_id or "")]


def delete_saved_search(search_id: str, *, uow: UnitOfWork) -> None:
    """Raises SavedSearchNotFound: not one of the caller's."""
    with uow:
        search = repository.own_saved_search(uow.session, uow.actor, search_id)
        uow.audit.record(uow.actor, "saved_search.deleted", "saved_search", search.id,
                         {"id": search.id})
        uow.session.delete(search)
        uow.commit()


def _answers(search: SavedSearch, candidate: listing.Candidate, indexed: Mapping[str, int],
             ) -> bool:
    f = search.filters
    if search.words and not set(search.words) & set(indexed):
        return False
    if f.get("type") and candidate.type != f["type"]:
        return False
    if f.get("sector") and candidate.sector != f["sector"]:
        return False
    if f.get("region") and candidate.region != f["region"]:
        return False
    if f.get("delivery_mode") and f["delivery_mode"] not in candidate.delivery_modes:
        return False
    return not (f.get("max_price") is not None and (
        candidate.min_price is None or candidate.min_price > f["max_price"]))


def announce_listing(product_id: str, *, uow: UnitOfWork) -> int:
    """Tell every saved search a newly listed product answers (once per search and
    product: ``saved_search.matched``). Returns how many were told."""
    with uow:
        candidate = listing.candidate(product_id, (), uow=uow.joined())
        if candidate is None:
            uow.commit()
            return 0
        indexed = listing.indexed_terms(product_id, uow=uow.joined())
        told = 0
        for search in repository.all_saved_searches(uow.session):
            if not _answers(search, candidate, indexed):
                continue
            if uow.session.get(SavedSearchHit, (search.id, product_id)) is not None:
                continue
            uow.session.add(SavedSearchHit(saved_search_id=search.id, product_id=product_id,
                                           at=uow.clock.now()))
            uow.outbox.enqueue("saved_search.matched", {
                "saved_search_id": search.id, "org_id": search.org_id,
                "product_id": product_id, "title": candidate.title})
            told += 1
        uow.commit()
        return told
