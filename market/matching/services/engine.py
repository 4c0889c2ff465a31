"""The matching engine: rank the listings that can answer a demand, explain each score and
each exclusion, and keep a demand's matches current as demands and listings change.

Candidates come from the catalogue's own index and ranking (:func:`listing.candidates`):
the ``pool`` listings it ranks highest for the demand's words, of the wanted types and
delivery modes. Each candidate then passes the hard constraints (product type, delivery
mode, and the compliance rules on the data and the use: :func:`compliance.screen` with the
listing's published policy, the same rules and policy ordering applies) and is scored by the
soft components (:func:`market.matching.domain.components`). The order is the score, then
the catalogue's own rank, then the product id: the same data give the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from market.compliance import services as compliance
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.matching import repository
from market.matching.domain import (
    DemandStatus,
    Exclusion,
    Offered,
    Want,
    components,
    kind_exclusions,
    rule_exclusions,
)
from market.matching.models import Demand, DemandMatch
from market.matching.services._common import MatchPolicy, move_demand
from market.participants import services as participants
from market.trading import services as trading

NEAR_MISSES = 20  # excluded listings explained on request


@dataclass(frozen=True)
class Scored:
    """A listing that can answer the demand: its score, the components that sum to it,
    and the conditions the rules attach (a review, an assessment) short of excluding it."""

    product_id: str
    version_id: str
    merchant_org_id: str
    title: str
    type: str
    sector: str
    region: str
    delivery_modes: tuple[str, ...]
    min_price: int | None
    currency: str | None
    negotiable: bool
    score: int
    components: dict[str, int]
    conditions: tuple[dict[str, str], ...]
    catalogue_rank: int
    # The merchant's public credit mark (信用标识) the credit component weighed: its score,
    # grade and when it was computed; None: not rated yet (weighed as full credit).
    credit_mark: dict[str, Any] | None = None


@dataclass(frozen=True)
class NearMiss:
    """A listing the demand's words found that a hard constraint excludes, and why."""

    product_id: str
    title: str
    merchant_org_id: str
    reasons: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class Ranking:
    candidates: list[Scored]
    excluded: list[NearMiss] = field(default_factory=list)


def _standing(merchants: Sequence[str], uow: UnitOfWork,
              ) -> tuple[dict[str, participants.CreditMarkView], dict[str, trading.Fulfilment]]:
    """Each merchant's public credit mark (participants keep it; the worker recomputes it
    from fulfilment, disputes, breaches and sanctions) and its fulfilment record."""
    ids = sorted(set(merchants))
    return (participants.credit_marks(ids, uow=uow.joined()),
            trading.fulfilment(ids, uow=uow.joined()))


def _credit(marks: dict[str, participants.CreditMarkView], org_id: str) -> int:
    """The credit a merchant is weighed by: its mark's score; full credit while unrated."""
    mark = marks.get(org_id)
    return mark.score if mark is not None else 100


def _mark(marks: dict[str, participants.CreditMarkView], org_id: str,
          ) -> dict[str, Any] | None:
    mark = marks.get(org_id)
    return None if mark is None else {"score": mark.score, "grade": mark.grade,
                                      "computed_at": mark.computed_at.isoformat()}


def judge(want: Want, candidate: listing.Candidate, *, credit: int,
          fulfilment: trading.Fulfilment, policy: MatchPolicy,
          ) -> tuple[list[Exclusion], dict[str, int], list[dict[str, str]]]:
    """The exclusions of one candidate, its components and the rules' conditions."""
    excluded = kind_exclusions(want, candidate.type, candidate.delivery_modes)
    facts = compliance.ProductFacts.of(candidate.product_facts or {
        "classification": candidate.classification, "scenarios": candidate.terms.get(
            "scenarios", [])})
    seller = compliance.PartyFacts(candidate.merchant_org_id, "admitted", frozenset())
    _, verdicts = compliance.screen(facts, seller=seller, declaration=candidate.declaration,
                                    use=want.use(), policy=candidate.policy)
    found = [v.as_dict() for v in verdicts]
    excluded += rule_exclusions(found)
    conditions = [{"rule": v["rule"], "outcome": v["outcome"], "reason": v["reason"]}
                  for v in found if v["outcome"] not in ("pass", "block")]
    offered = Offered(matched=candidate.matched, min_price=candidate.min_price,
                      currency=candidate.currency, has_free=candidate.has_free,
                      negotiable=candidate.negotiable, region=candidate.region,
                      update_frequency=candidate.update_frequency, credit=credit,
                      completed=fulfilment.completed, disputed=fulfilment.disputed)
    return excluded, components(want, offered, policy.weights), conditions


def _scored(candidate: listing.Candidate, parts: dict[str, int],
            conditions: list[dict[str, str]], rank: int,
            credit_mark: dict[str, Any] | None = None) -> Scored:
    return Scored(
        product_id=candidate.product_id, version_id=candidate.version_id,
        merchant_org_id=candidate.merchant_org_id, title=candidate.title, type=candidate.type,
        sector=candidate.sector, region=candidate.region,
        delivery_modes=candidate.delivery_modes, min_price=candidate.min_price,
        currency=candidate.currency, negotiable=candidate.negotiable,
        score=sum(parts.values()), components=parts, conditions=tuple(conditions),
        catalogue_rank=rank, credit_mark=credit_mark)


def rank(want: Want, *, policy: MatchPolicy, uow: UnitOfWork, explain: bool = False,
         merchants: Sequence[str] | None = None) -> Ranking:
    """The top listings for ``want`` (at most ``policy.top``), best first; with ``explain``,
    also the listings its words found that a hard constraint excludes. ``merchants``
    narrows the candidates to listings of those merchants (an invited demand)."""
    pool = listing.candidates(want.words, types=want.product_types,
                              modes=want.delivery_modes, limit=policy.pool, uow=uow.joined())
    if merchants is not None:
        pool = [c for c in pool if c.merchant_org_id in merchants]
    others: list[listing.Candidate] = []
    if explain:
        seen = {c.product_id for c in pool}
        others = [c for c in listing.candidates(want.words, limit=NEAR_MISSES,
                                                uow=uow.joined())
                  if c.product_id not in seen and c.matched]
    credit, record = _standing([c.merchant_org_id for c in [*pool, *others]], uow)
    found: list[Scored] = []
    missed: list[NearMiss] = []
    for index, candidate in enumerate([*pool, *others]):
        excluded, parts, conditions = judge(
            want, candidate, credit=_credit(credit, candidate.merchant_org_id),
            fulfilment=record[candidate.merchant_org_id], policy=policy)
        if excluded:
            if explain and candidate.matched:
                missed.append(NearMiss(candidate.product_id, candidate.title,
                                       candidate.merchant_org_id,
                                       tuple(e.as_dict() for e in excluded)))
            continue
        if index < len(pool):
            found.append(_scored(candidate, parts, conditions, index,
                                 _mark(credit, candidate.merchant_org_id)))
    found.sort(key=lambda s: (-s.score, s.catalogue_rank, s.product_id))
    return Ranking(found[:policy.top], missed[:NEAR_MISSES])


def _merchants(demand: Demand) -> list[str] | None:
    return None if demand.visibility == "public" else list(demand.invited_org_ids)


def refresh(demand: Demand, *, policy: MatchPolicy, uow: UnitOfWork) -> list[str]:
    """Rank the listings for a live demand and keep its matches: a listing entering the top
    is recorded (and announced once, ``demand.candidate_added``), one leaving it is kept
    inactive; the first match moves the demand to ``matched`` (``demand.matched``).
    Returns the product ids added."""
    ranking = rank(demand.want(), policy=policy, uow=uow, merchants=_merchants(demand))
    return _keep(demand, ranking.candidates, uow=uow, replace=True)


def _keep(demand: Demand, scored: Sequence[Scored], *, uow: UnitOfWork,
          replace: bool) -> list[str]:
    now = uow.clock.now()
    existing = {m.product_id: m for m in repository.matches_of(uow.session,
                                                              [demand.id])[demand.id]}
    top = {s.product_id for s in scored}
    added: list[str] = []
    for s in scored:
        row = existing.get(s.product_id)
        if row is None:
            uow.session.add(DemandMatch(
                id=new_id("dmt"), demand_id=demand.id, product_id=s.product_id,
                merchant_org_id=s.merchant_org_id, score=s.score, components=s.components,
                active=True, first_matched_at=now, scored_at=now))
            added.append(s.product_id)
            uow.outbox.enqueue("demand.candidate_added", {
                "demand_id": demand.id, "product_id": s.product_id,
                "buyer_org_id": demand.buyer_org_id, "merchant_org_id": s.merchant_org_id,
                "score": s.score})
        else:
            row.score, row.components, row.active, row.scored_at = (
                s.score, s.components, True, now)
    if replace:
        for product_id, row in existing.items():
            if product_id not in top and row.active:
                row.active = False
    if added and demand.status == DemandStatus.OPEN.value:
        move_demand(uow, demand, DemandStatus.MATCHED, "matched")
        uow.outbox.enqueue("demand.matched", {
            "demand_id": demand.id, "buyer_org_id": demand.buyer_org_id,
            "product_ids": added})
    return added


def rematch_product(product_id: str, *, policy: MatchPolicy, uow: UnitOfWork) -> int:
    """Offer a newly listed or changed product to every live demand it answers: a demand
    takes it when it passes the hard constraints and scores above the demand's lowest
    current match (or the demand has room). Returns how many demands took it."""
    with uow:
        found = listing.candidate(product_id, (), uow=uow.joined())
        if found is None:
            uow.commit()
            return 0
        indexed = listing.indexed_terms(product_id, uow=uow.joined())
        demands = repository.live_demands(uow.session)
        floors = repository.active_floor(uow.session, [d.id for d in demands])
        credit, record = _standing([found.merchant_org_id], uow)
        taken = repository.demands_with(uow.session, product_id)
        took = 0
        for demand in demands:
            hits = [indexed[w] for w in set(demand.words) if w in indexed]
            if not hits or demand.id in taken or not demand.open_to(found.merchant_org_id):
                continue
            want = demand.want()
            candidate = replace(found, matched=len(hits), weight=sum(hits))
            excluded, parts, conditions = judge(
                want, candidate, credit=_credit(credit, found.merchant_org_id),
                fulfilment=record[found.merchant_org_id], policy=policy)
            if excluded:
                continue
            count, lowest = floors.get(demand.id, (0, 0))
            scored = _scored(candidate, parts, conditions, 0,
                             _mark(credit, found.merchant_org_id))
            if count >= policy.top and scored.score <= lowest:
                continue
            if _keep(demand, [scored], uow=uow, replace=False):
                took += 1
                if count >= policy.top:  # it displaces the lowest of a full top
                    _trim(demand.id, policy.top, uow)
        uow.commit()
        return took


def _trim(demand_id: str, top: int, uow: UnitOfWork) -> None:
    """Keep only the ``top`` best active matches of a demand active."""
    uow.session.flush()
    active = [m for m in repository.matches_of(uow.session, [demand_id])[demand_id]
              if m.active]
    active.sort(key=lambda m: (-m.score, m.product_id))
    for row in active[top:]:
        row.active = False


def party_facts(org_ids: Sequence[str], *, uow: UnitOfWork) -> dict[str, Any]:
    """Both parties of a negotiation as the compliance rules read them."""
    found = participants.organisation_facts(org_ids, uow=uow.joined())
    return {org: compliance.PartyFacts(f.id, f.status, f.roles) for org, f in found.items()}
