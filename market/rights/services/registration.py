"""Right registrations: a merchant submits a right for review, and the automatic refusals
judge the application (here and again at approval) before any reviewer sees it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from market.compliance import services as compliance
from market.kernel.actor import Role, require
from market.kernel.ids import new_id
from market.kernel.storage import FileStore
from market.kernel.uow import UnitOfWork
from market.rights.domain import (
    Application,
    Classification,
    EvidenceKind,
    GrantFacts,
    PILevel,
    ResourceFacts,
    RightFacts,
    RightKind,
    RightStatus,
    Scope,
    Term,
    refusals,
)
from market.rights.errors import ProductHeldByOther, ResourceNotFound, RightRefused
from market.rights.models import Grant, Right, RightParent
from market.rights.repository import RightsRepository
from market.rights.services._common import _event
from market.rights.services.public_data import check_public_data, public_resources
from market.rights.services.resources import EvidenceInput, _store_evidence


@dataclass(frozen=True)
class RightInput:
    kind: RightKind
    scope: Scope
    term: Term
    resource_id: str | None = None
    product_id: str | None = None
    product_title: str | None = None
    parent_ids: Sequence[str] = ()
    grant_id: str | None = None
    evidence: Sequence[EvidenceInput] = ()


def _facts(right: Right) -> RightFacts:
    return RightFacts(right.id, RightKind(right.kind), RightStatus(right.status),
                      right.holder_org_id, right.resource_id, right.scope, right.term)


def _grant_facts(repo: RightsRepository, grant: Grant) -> GrantFacts:
    return GrantFacts(
        id=grant.id, holding_right_id=grant.holding_right_id,
        grantor_org_id=grant.grantor_org_id, grantee_org_id=grant.grantee_org_id,
        resource_id=grant.resource_id, active=grant.active, scope=grant.scope,
        term=grant.term, evidence=repo.evidence_kinds("grant", grant.id),
    )


def _application(
    repo: RightsRepository, *, kind: RightKind, holder: str, scope: Scope, term: Term,
    resource_id: str | None, parent_ids: Sequence[str], grant_id: str | None,
    evidence: frozenset[EvidenceKind], at: datetime,
) -> Application:
    found = repo.rights_by_id(parent_ids)
    missing = [p for p in parent_ids if p not in found]
    grant = repo.grant_by_id(grant_id) if grant_id else None
    granted = grant.holding_right_id if grant and grant.grantee_org_id == holder else None
    parents = {i: r for i, r in found.items() if r.holder_org_id == holder or i == granted}
    foreign = [p for p in parent_ids if p in found and p not in parents]
    if kind is RightKind.PRODUCT_OPERATION:
        resource_ids = {p.resource_id for p in parents.values() if p.resource_id}
    else:
        resource_ids = {resource_id} if resource_id else set()
    resources = repo.resources_by_id(resource_ids)
    disputed = repo.open_disputes(resource_ids)
    facts = [
        ResourceFacts(r.id, r.holder_org_id, Classification(r.classification),
                      PILevel(r.pi_level), repo.evidence_kinds("resource", r.id),
                      r.id in disputed)
        for r in resources.values()
    ]
    return Application(
        kind=kind, holder_org_id=holder, scope=scope, term=term, resources=facts,
        parents=[_facts(parents[p]) for p in parent_ids if p in parents],
        missing_parents=missing,
        grant=_grant_facts(repo, grant) if grant is not None else None,
        evidence=evidence, at=at, foreign_parents=foreign,
    )


def submit_right(
    data: RightInput, *, uow: UnitOfWork, evidence_dir: FileStore | Path | None = None
) -> Right:
    """A merchant submits a right registration for review.

    Automatic refusals come first and write nothing: core data, an open dispute, personal
    information without a lawful basis, and any parent right that is missing, not
    registered, out of term, of the wrong kind or holder, or that does not cover the
    requested scope and term.

    Raises:
        RoleNotAllowed: the caller is not a merchant.
        ResourceNotFound: the subject resource does not exist, or is neither the caller's
            nor granted to it.
        ProductHeldByOther: another organisation holds or seeks the product operation right.
        RightRefused: automatic refusal, naming every violation and broken link.
        PublicDataNotAuthorised: the right is over public data no in-term public-data
            authorisation of the caller covers, with its scenarios.
    """
    require(uow.actor, Role.MERCHANT)
    holder = uow.actor.org_id or ""
    with uow:
        repo = RightsRepository(uow.session)
        now = uow.clock.now()
        resource = None
        if data.kind is not RightKind.PRODUCT_OPERATION:
            resource = repo.resources_by_id([data.resource_id or ""]).get(data.resource_id or "")
            grant = repo.grant_by_id(data.grant_id) if data.grant_id else None
            granted = (grant is not None and resource is not None
                       and grant.grantee_org_id == holder and grant.resource_id == resource.id)
            if resource is None or (resource.holder_org_id != holder and not granted):
                raise ResourceNotFound(errors={"resource_id": ["no such resource"]})
        elif data.product_id and repo.product_held_by_other(data.product_id, holder):
            raise ProductHeldByOther(errors={"product_id": ["operated by another organisation"]})
        application = _application(
            repo, kind=data.kind, holder=holder, scope=data.scope, term=data.term,
            resource_id=data.resource_id, parent_ids=list(dict.fromkeys(data.parent_ids)),
            grant_id=data.grant_id,
            evidence=frozenset(e.kind for e in data.evidence), at=now,
        )
        violations = refusals(application)
        if violations:
            raise RightRefused(violations)
        check_public_data(uow, holder=holder, at=now, scenarios=data.scope.scenarios,
                          resources=public_resources([r.id for r in application.resources],
                                                     uow=uow))
        if data.kind is RightKind.PRODUCT_OPERATION:
            subject_title = data.product_title or ""
            product_id = data.product_id or new_id("prd")
        else:
            assert resource is not None
            subject_title, product_id = resource.title, None
        right = Right(
            id=new_id("rgt"), kind=data.kind.value, holder_org_id=holder,
            resource_id=None if product_id else data.resource_id, product_id=product_id,
            subject_title=subject_title, grant_id=data.grant_id,
            purposes=sorted(data.scope.purposes), scenarios=sorted(data.scope.scenarios),
            territory=data.scope.territory.value, valid_from=data.term.valid_from,
            valid_to=data.term.valid_to, status=RightStatus.SUBMITTED.value,
            created_at=now, updated_at=now,
        )
        uow.session.add(right)
        uow.session.flush()
        for parent_id in dict.fromkeys(data.parent_ids):
            uow.session.add(RightParent(right_id=right.id, parent_id=parent_id))
        _event(uow, right, "submitted", None, None)
        compliance.track_review("right", right.id, holder, RightStatus.SUBMITTED.value, None,
                                uow=uow)
        _store_evidence(uow, "right", right.id, data.evidence, evidence_dir)
        uow.commit()
        return right
