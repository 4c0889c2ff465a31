"""What other contexts and the API read of rights: resources, rights, grants and disputes as
the caller may see them, the rights chain of a product, and the facts of resources and
product operation rights that listings and compliance rules need."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from market.kernel.db import present
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.rights.domain import Classification, RightKind, RightStatus, Violation
from market.rights.errors import GrantNotFound, ResourceNotFound, RightNotFound
from market.rights.models import DataResource, Evidence, Grant, ResourceDispute, Right, RightEvent
from market.rights.repository import RightsRepository


@dataclass(frozen=True)
class ChainLink:
    right_id: str
    kind: str
    holder_org_id: str
    status: str
    resource_id: str | None
    product_id: str | None
    grant_id: str | None
    certificate_number: str | None
    valid_from: datetime
    valid_to: datetime | None
    parent_ids: list[str]
    holder_name: str = ""


@dataclass(frozen=True)
class ChainCheck:
    """The result of :func:`check_chain`: the chain, or the precise broken link."""

    product_id: str
    at: datetime
    ok: bool
    links: list[ChainLink] = field(default_factory=list)
    broken: Violation | None = None


def _with_evidence(repo: RightsRepository, kind: str, found: Any,
                   missing: type[Exception]) -> tuple[Any, list[Evidence]]:
    return present(found, missing), repo.evidence_of(kind, [found.id])


def get_resource(resource_id: str, *, uow: UnitOfWork) -> tuple[DataResource, list[Evidence]]:
    """Raises: ResourceNotFound: unknown or not visible."""
    with uow:
        repo = RightsRepository(uow.session)
        return _with_evidence(repo, "resource", repo.get_resource(resource_id, uow.actor),
                              ResourceNotFound)


def list_resources(*, uow: UnitOfWork, holder: str | None = None, after: str | None = None,
                   limit: int = 50) -> Page[DataResource]:
    with uow:
        return RightsRepository(uow.session).list_resources(uow.actor, holder=holder,
                                                            after=after, limit=limit)


def get_right(right_id: str, *, uow: UnitOfWork) -> tuple[Right, list[str], list[Evidence]]:
    """The right, its parent ids and its evidence. Raises: RightNotFound."""
    with uow:
        repo = RightsRepository(uow.session)
        right = repo.get_right(right_id, uow.actor)
        if right is None:
            raise RightNotFound()
        return right, repo.parent_ids(right.id), repo.evidence_of("right", [right.id])


def list_rights(
    *, uow: UnitOfWork, kind: str | None = None, status: str | None = None,
    resource_id: str | None = None, product_id: str | None = None, holder: str | None = None,
    after: str | None = None, limit: int = 50,
) -> Page[Right]:
    with uow:
        return RightsRepository(uow.session).list_rights(
            uow.actor, kind=kind, status=status, resource_id=resource_id,
            product_id=product_id, holder=holder, after=after, limit=limit,
        )


def right_history(right_id: str, *, uow: UnitOfWork, after: str | None = None,
                  limit: int = 50) -> Page[RightEvent]:
    """Every status change of a right, oldest first. Raises: RightNotFound."""
    with uow:
        repo = RightsRepository(uow.session)
        present(repo.get_right(right_id, uow.actor), RightNotFound)
        return repo.history(right_id, after=after, limit=limit)


def get_grant(grant_id: str, *, uow: UnitOfWork) -> tuple[Grant, list[Evidence]]:
    """Raises: GrantNotFound: not the grantor's, the grantee's, or visible by duty."""
    with uow:
        repo = RightsRepository(uow.session)
        return _with_evidence(repo, "grant", repo.get_grant(grant_id, uow.actor), GrantNotFound)


def list_grants(*, uow: UnitOfWork, status: str | None = None, after: str | None = None,
                limit: int = 50) -> Page[Grant]:
    with uow:
        return RightsRepository(uow.session).list_grants(uow.actor, status=status, after=after,
                                                         limit=limit)


def list_disputes(resource_id: str, *, uow: UnitOfWork, after: str | None = None,
                  limit: int = 50) -> Page[ResourceDispute]:
    """Raises: ResourceNotFound: not visible (holders, the operator, assessors, regulators)."""
    with uow:
        repo = RightsRepository(uow.session)
        return repo.disputes_of(present(repo.get_resource(resource_id, uow.actor),
                                        ResourceNotFound).id, after=after, limit=limit)


def check_chain(product_id: str, at: datetime, *, uow: UnitOfWork) -> ChainCheck:
    """The product's rights chain at ``at``, or the precise broken link.

    The chain is product_operation ← processing_use (or resource_holding) ← resource_holding
    for every resource the product derives from. Every link must be registered, in term at
    ``at``, rest on a live grant where it has one, and its resources must be neither core
    data nor under dispute.
    """
    with uow:
        repo = RightsRepository(uow.session)
        candidates = repo.product_operation_rights(product_id)
        usable = [r for r in candidates if r.status == RightStatus.REGISTERED.value]
        if not candidates:
            return ChainCheck(product_id, at, False, broken=Violation(
                "chain_missing", f"product {product_id} has no product operation right"))
        root = usable[0] if usable else candidates[0]
        links: list[ChainLink] = []
        seen: set[str] = set()
        frontier = [root]
        problems: list[tuple[Right, list[str], Violation]] = []
        while frontier:
            parents = repo.parents_of([r.id for r in frontier])
            rows = repo.rights_by_id([p for ps in parents.values() for p in ps])
            next_frontier: list[Right] = []
            for right in frontier:
                links.append(_link(right, parents[right.id]))
                seen.add(right.id)
                problem = _link_problem(repo, right, at)
                if problem is not None:
                    problems.append((right, parents[right.id], problem))
                next_frontier += [rows[p] for p in parents[right.id] if p not in seen]
                seen.update(parents[right.id])
            frontier = next_frontier
        # Name the cause, not its echoes: a right suspended because its parent broke is
        # skipped in favour of the link that broke first.
        causes = [v for right, parent_ids, v in problems
                  if not (right.status == RightStatus.SUSPENDED.value
                          and right.suspended_by in parent_ids)]
        names = participants.organisation_facts({x.holder_org_id for x in links},
                                                uow=uow.joined())
        links = [replace(x, holder_name=names[x.holder_org_id].name) if x.holder_org_id in names
                 else x for x in links]
        ranked = causes or [v for _, _, v in problems]
        broken: Violation | None = ranked[0] if ranked else None
        if broken is None:
            kinds = {link.kind for link in links}
            if RightKind.RESOURCE_HOLDING.value not in kinds:
                broken = Violation("chain_incomplete",
                                   "the chain does not reach a resource holding right", root.id)
        return ChainCheck(product_id, at, broken is None, links, broken)


def _link(right: Right, parent_ids: list[str]) -> ChainLink:
    return ChainLink(right.id, right.kind, right.holder_org_id, right.status, right.resource_id,
                     right.product_id, right.grant_id, right.certificate_number,
                     right.valid_from, right.valid_to, sorted(parent_ids))


def _link_problem(repo: RightsRepository, right: Right, at: datetime) -> Violation | None:
    """What is wrong with one link, most specific reason first."""
    if right.resource_id:
        resource = repo.resources_by_id([right.resource_id])[right.resource_id]
        if resource.classification == Classification.CORE.value:
            return Violation("core_data", f"resource {resource.id} is core data", right.id)
        if repo.open_disputes([resource.id]):
            return Violation("subject_disputed", f"resource {resource.id} is disputed", right.id)
    if right.grant_id:
        grant = repo.grant_by_id(right.grant_id)
        if grant is None or not grant.usable_at(at):
            return Violation("grant_invalid", f"right {right.id} rests on a lapsed grant",
                             right.id)
    if right.status != RightStatus.REGISTERED.value:
        return Violation("right_not_registered", f"right {right.id} is {right.status}", right.id)
    if not right.term.contains(at):
        return Violation("right_not_in_term", f"right {right.id} is not in term", right.id)
    return None


def operated_products(right_ids: Sequence[str], *, uow: UnitOfWork) -> dict[str, str]:
    """Product id → product operation right id, for the product operation rights among
    ``right_ids`` (how contexts above find the products a rights event touches)."""
    rows = RightsRepository(uow.session).rights_by_id(right_ids)
    return {r.product_id: r.id for r in rows.values()
            if r.kind == RightKind.PRODUCT_OPERATION.value and r.product_id}


def holds_product_operation(product_id: str, org_id: str, *, uow: UnitOfWork) -> bool:
    """Whether ``org_id`` holds or seeks the product operation right over ``product_id``."""
    return RightsRepository(uow.session).product_held_by(product_id, org_id)


def resource_classifications(resource_ids: Sequence[str], *, uow: UnitOfWork
                             ) -> dict[str, str]:
    """Classification (general / important / core) of each resource."""
    return {r.id: r.classification
            for r in RightsRepository(uow.session).resources_by_id(resource_ids).values()}


@dataclass(frozen=True)
class ResourceProfile:
    """What compliance rules need to know of a registered resource."""

    classification: str
    pi_level: str
    evidence_kinds: frozenset[str]
    sensitive_categories: tuple[str, ...] = ()
    storage_location: str = "CN"


def resource_profiles(resource_ids: Sequence[str], *, uow: UnitOfWork
                      ) -> dict[str, ResourceProfile]:
    """Classification, personal-information level and evidence kinds of each resource."""
    repo = RightsRepository(uow.session)
    resources = repo.resources_by_id(resource_ids)
    kinds: dict[str, set[str]] = {rid: set() for rid in resources}
    for evidence in repo.evidence_of("resource", sorted(resources)):
        kinds[evidence.owner_id].add(evidence.kind)
    return {rid: ResourceProfile(r.classification, r.pi_level, frozenset(kinds[rid]),
                                 tuple(r.sensitive_categories or ()), r.storage_location)
            for rid, r in resources.items()}



@dataclass(frozen=True)
class ProductChain:
    """A product's rights chain as the rules see it: the chain checked now, its broken
    link (None: unbroken, held by the merchant, covering every resource the product
    derives from) and the profiles of the resources behind the product."""

    chain: ChainCheck
    broken: dict[str, Any] | None
    resources: dict[str, ResourceProfile]


def product_chain(product_id: str, *, derived_from: Sequence[str], merchant_org_id: str,
                  at: datetime, uow: UnitOfWork) -> ProductChain:
    """The product's chain at ``at`` (see :func:`check_chain`), and whether it covers what
    the product derives from and is held by its merchant, in the caller's transaction."""
    chain = check_chain(product_id, at, uow=uow.joined())
    covered = {link.resource_id for link in chain.links if link.resource_id}
    broken: dict[str, Any] | None = chain.broken.as_dict() if chain.broken else None
    if broken is None:
        missing = sorted(set(derived_from) - covered)
        if missing:
            broken = {"code": "derivation_not_covered", "right_id": None,
                      "message": "the rights chain does not cover resources "
                                 + ", ".join(missing)}
        elif chain.links[0].holder_org_id != merchant_org_id:
            broken = {"code": "wrong_holder", "right_id": chain.links[0].right_id,
                      "message": "the product operation right is held by another "
                                 "organisation"}
    resources = resource_profiles(sorted(covered | set(derived_from)), uow=uow)
    return ProductChain(chain, broken, resources)
