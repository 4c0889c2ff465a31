"""Rights use cases: resources, registrations, review, grants, disputes, certificates and the
chain check other contexts call before listing, ordering and delivering.

Cascade: when a right stops being usable (revoked, suspended, expired, its grant revoked,
its resource disputed) every registered right resting on it is suspended in the same
transaction, and ``rights.unavailable`` is published so that contexts above (listings,
orders) react in that transaction too. Restoring a right restores what its loss suspended
and publishes ``rights.restored``; listings go back to review rather than silently relisting.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from market.compliance import services as compliance
from market.kernel import events
from market.kernel.actor import Role, require
from market.kernel.errors import InvalidInput, InvalidTransition, RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.pagination import Page
from market.kernel.statemachine import record_move
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.receipts.signing import Signer
from market.rights.domain import (
    LIVE,
    Application,
    Classification,
    EvidenceKind,
    GrantFacts,
    Origin,
    PILevel,
    ResourceFacts,
    RightFacts,
    RightKind,
    RightStatus,
    Scope,
    Term,
    Violation,
    refusals,
)
from market.rights.errors import (
    CertificateNotFound,
    DisputeClosed,
    DisputeNotFound,
    EvidenceMismatch,
    GranteeNotAdmitted,
    GrantNotFound,
    NotTheHolder,
    ProductHeldByOther,
    ResourceNotFound,
    ReviewClaimedByOther,
    ReviewerIsHolder,
    RightNotFound,
    RightRefused,
)
from market.rights.models import (
    Certificate,
    DataResource,
    Evidence,
    Grant,
    ResourceDispute,
    Right,
    RightEvent,
    RightParent,
)
from market.rights.repository import RightsRepository

UNAVAILABLE = "rights.unavailable"
RESTORED = "rights.restored"

REVIEW_STAGES = frozenset({RightStatus.SUBMITTED, RightStatus.UNDER_REVIEW})


# -- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceInput:
    kind: EvidenceKind
    name: str
    media_type: str
    sha256: str
    content: bytes | None = None


@dataclass(frozen=True)
class ResourceInput:
    title: str
    description: str
    origin: Origin
    classification: Classification
    pi_level: PILevel
    collection_method: str
    collection_source: str
    scenarios: Sequence[str]
    update_frequency: str
    evidence: Sequence[EvidenceInput] = ()


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


@dataclass(frozen=True)
class GrantInput:
    holding_right_id: str
    grantee_org_id: str
    scope: Scope
    term: Term
    evidence: Sequence[EvidenceInput] = ()


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


# -- helpers -----------------------------------------------------------------------------



def _store_evidence(
    uow: UnitOfWork, owner_type: str, owner_id: str, items: Sequence[EvidenceInput],
    evidence_dir: Path | None,
) -> list[Evidence]:
    stored: list[Evidence] = []
    for item in items:
        size = None
        if item.content is not None:
            if hashlib.sha256(item.content).hexdigest() != item.sha256:
                raise EvidenceMismatch(errors={"evidence": [f"{item.name}: sha256 mismatch"]})
            size = len(item.content)
            if evidence_dir is not None:
                path = evidence_dir / item.sha256[:2] / item.sha256
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    path.write_bytes(item.content)
        evidence = Evidence(
            id=new_id("evd"), owner_type=owner_type, owner_id=owner_id, kind=item.kind.value,
            name=item.name, media_type=item.media_type, sha256=item.sha256, size=size,
            stored=item.content is not None and evidence_dir is not None,
            added_by_org_id=uow.actor.org_id or uow.actor.label, added_at=uow.clock.now(),
        )
        uow.session.add(evidence)
        stored.append(evidence)
    uow.session.flush()
    for evidence in stored:
        uow.audit.record(uow.actor, "evidence.added", "evidence", evidence.id, evidence.state())
    return stored


def decode_content(content_base64: str | None) -> bytes | None:
    if content_base64 is None:
        return None
    try:
        return base64.b64decode(content_base64, validate=True)
    except ValueError:
        raise InvalidInput(errors={"content_base64": ["not valid base64"]}) from None


def _event(uow: UnitOfWork, right: Right, action: str, previous: str | None,
           reason: str | None) -> None:
    record_move(uow, RightEvent, prefix="rev", subject={"right_id": right.id},
                action=action, previous=previous, status=right.status, reason=reason,
                at=uow.clock.now(), snapshot=_jsonable(right.state()))
    uow.session.flush()
    uow.audit.record(uow.actor, f"right.{action}", "right", right.id, right.state())


def _jsonable(state: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in state.items()}


def _move(uow: UnitOfWork, right: Right, target: RightStatus, action: str,
          reason: str | None) -> None:
    previous = right.move(target, reason=reason, at=uow.clock.now())
    _event(uow, right, action, previous, reason)
    if target in REVIEW_STAGES or previous in REVIEW_STAGES:
        compliance.track_review("right", right.id, right.holder_org_id, target.value, reason,
                                uow=uow)


# -- cascade -----------------------------------------------------------------------------


def _suspend_dependents(uow: UnitOfWork, roots: Sequence[str], reason: str) -> list[str]:
    """Suspend every registered right resting on ``roots``, transitively; announce them all."""
    repo = RightsRepository(uow.session)
    affected: list[str] = []
    frontier = list(roots)
    while frontier:
        children = repo.children_of(frontier, RightStatus.REGISTERED)
        parents = repo.parents_of([c.id for c in children])
        for child in children:
            cause = next(p for p in parents[child.id] if p in frontier)
            child.suspended_by = cause
            _move(uow, child, RightStatus.SUSPENDED, "suspended",
                  f"parent right {cause} is no longer usable: {reason}")
            uow.outbox.enqueue("right.suspended", {"right_id": child.id, "cause": cause})
        affected += [c.id for c in children]
        frontier = [c.id for c in children]
    events.publish(uow, UNAVAILABLE, {"right_ids": [*roots, *affected], "reason": reason})
    return affected


def _restore_dependents(uow: UnitOfWork, roots: Sequence[str]) -> list[str]:
    """Restore what the loss of ``roots`` suspended, where all other parents are usable."""
    repo = RightsRepository(uow.session)
    restored: list[str] = []
    frontier = list(roots)
    while frontier:
        candidates = [r for cause in frontier for r in repo.rights_suspended_by(cause)]
        parents = repo.parents_of([c.id for c in candidates])
        parent_rows = repo.rights_by_id([p for ps in parents.values() for p in ps])
        back: list[str] = []
        for child in candidates:
            blocking = [p for p in parents[child.id]
                        if parent_rows[p].status != RightStatus.REGISTERED.value]
            if blocking:
                child.suspended_by = blocking[0]
                continue
            _move(uow, child, RightStatus.REGISTERED, "restored",
                  "the right it rests on is usable again")
            back.append(child.id)
        restored += back
        frontier = back
    events.publish(uow, RESTORED, {"right_ids": [*roots, *restored]})
    return restored


# -- resources ---------------------------------------------------------------------------


def register_resource(
    data: ResourceInput, *, uow: UnitOfWork, evidence_dir: Path | None = None
) -> DataResource:
    """A merchant registers a data resource it holds, with its source-legality evidence.

    Raises:
        RoleNotAllowed: the caller is not a merchant.
        EvidenceMismatch: uploaded evidence does not match its SHA-256.
    """
    require(uow.actor, Role.MERCHANT)
    with uow:
        now = uow.clock.now()
        resource = DataResource(
            id=new_id("res"), holder_org_id=uow.actor.org_id, title=data.title,
            description=data.description, origin=data.origin.value,
            classification=data.classification.value, pi_level=data.pi_level.value,
            collection_method=data.collection_method, collection_source=data.collection_source,
            scenarios=list(data.scenarios), update_frequency=data.update_frequency,
            created_at=now, updated_at=now,
        )
        uow.session.add(resource)
        uow.session.flush()
        uow.audit.record(uow.actor, "resource.registered", "resource", resource.id,
                         resource.state())
        _store_evidence(uow, "resource", resource.id, data.evidence, evidence_dir)
        uow.commit()
        return resource


def get_resource(resource_id: str, *, uow: UnitOfWork) -> tuple[DataResource, list[Evidence]]:
    """Raises: ResourceNotFound: unknown or not visible."""
    with uow:
        repo = RightsRepository(uow.session)
        resource = repo.get_resource(resource_id, uow.actor)
        if resource is None:
            raise ResourceNotFound()
        return resource, repo.evidence_of("resource", [resource.id])


def list_resources(*, uow: UnitOfWork, holder: str | None = None, after: str | None = None,
                   limit: int = 50) -> Page[DataResource]:
    with uow:
        return RightsRepository(uow.session).list_resources(uow.actor, holder=holder,
                                                            after=after, limit=limit)


def add_evidence(
    owner_type: str, owner_id: str, items: Sequence[EvidenceInput], *, uow: UnitOfWork,
    evidence_dir: Path | None = None,
) -> list[Evidence]:
    """The holder adds evidence to its resource, right or (as grantor) grant.

    Raises:
        ResourceNotFound, RightNotFound, GrantNotFound: not the caller's.
    """
    with uow:
        repo = RightsRepository(uow.session)
        own = uow.actor.org_id
        if owner_type == "resource":
            resource = repo.get_resource(owner_id, uow.actor)
            if resource is None or (resource.holder_org_id != own and not uow.actor.is_system):
                raise ResourceNotFound()
        elif owner_type == "right":
            right = repo.get_right(owner_id, uow.actor)
            if right is None or (right.holder_org_id != own and not uow.actor.is_system):
                raise RightNotFound()
        else:
            grant = repo.get_grant(owner_id, uow.actor)
            if grant is None or (grant.grantor_org_id != own and not uow.actor.is_system):
                raise GrantNotFound()
        stored = _store_evidence(uow, owner_type, owner_id, items, evidence_dir)
        uow.commit()
        return stored


# -- registrations -----------------------------------------------------------------------


def _facts(right: Right) -> RightFacts:
    return RightFacts(right.id, RightKind(right.kind), RightStatus(right.status),
                      right.holder_org_id, right.resource_id, right.scope, right.term)


def _grant_facts(repo: RightsRepository, grant: Grant) -> GrantFacts:
    return GrantFacts(
        id=grant.id, holding_right_id=grant.holding_right_id,
        grantor_org_id=grant.grantor_org_id, grantee_org_id=grant.grantee_org_id,
        resource_id=grant.resource_id, active=grant.status == "active", scope=grant.scope,
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
    data: RightInput, *, uow: UnitOfWork, evidence_dir: Path | None = None
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
        if repo.get_right(right_id, uow.actor) is None:
            raise RightNotFound()
        return repo.history(right_id, after=after, limit=limit)


# -- review ------------------------------------------------------------------------------


def claim_review(right_id: str, *, uow: UnitOfWork) -> Right:
    """The operator or an accredited assessor takes a submitted right into review (产权界定).

    Raises:
        RoleNotAllowed: not the operator or an assessor.
        RightNotFound: unknown right.
        InvalidTransition: the right is not waiting for review.
        ReviewerIsHolder: an organisation may not review its own registration.
    """
    require(uow.actor, Role.OPERATOR, Role.ASSESSOR)
    with uow:
        right = RightsRepository(uow.session).get_right(right_id, uow.actor, for_update=True)
        if right is None:
            raise RightNotFound()
        if right.holder_org_id == uow.actor.org_id:
            raise ReviewerIsHolder()
        right.reviewer_org_id = uow.actor.org_id
        _move(uow, right, RightStatus.UNDER_REVIEW, "review_claimed", None)
        uow.commit()
        return right


def decide_review(
    right_id: str, *, approve: bool, reason: str, uow: UnitOfWork, signer: Signer
) -> Right:
    """The reviewer approves (registering the right and issuing its certificate) or rejects.

    The automatic refusals are checked again at approval: a parent may have lapsed since
    submission.

    Raises:
        RoleNotAllowed: not the operator or an assessor.
        RightNotFound: unknown right.
        ReviewClaimedByOther: another organisation claimed the review.
        ReviewerIsHolder: an organisation may not review its own registration.
        InvalidTransition: the right is not under review.
        RightRefused: approval would register a right that breaks a rule.
    """
    require(uow.actor, Role.OPERATOR, Role.ASSESSOR)
    with uow:
        repo = RightsRepository(uow.session)
        right = repo.get_right(right_id, uow.actor, for_update=True)
        if right is None:
            raise RightNotFound()
        if right.holder_org_id == uow.actor.org_id:
            raise ReviewerIsHolder()
        if (right.status == RightStatus.UNDER_REVIEW.value and not uow.actor.is_system
                and right.reviewer_org_id != uow.actor.org_id):
            raise ReviewClaimedByOther()
        if not approve:
            _move(uow, right, RightStatus.REJECTED, "rejected", reason)
            uow.commit()
            return right
        if right.status != RightStatus.UNDER_REVIEW.value:
            raise InvalidTransition(current=right.status, target=RightStatus.REGISTERED.value)
        application = _application(
            repo, kind=RightKind(right.kind), holder=right.holder_org_id, scope=right.scope,
            term=right.term, resource_id=right.resource_id,
            parent_ids=repo.parent_ids(right.id), grant_id=right.grant_id,
            evidence=repo.evidence_kinds("right", right.id), at=uow.clock.now(),
        )
        violations = refusals(application)
        if violations:
            raise RightRefused(violations)
        _issue_certificate(uow, repo, right, signer)
        _move(uow, right, RightStatus.REGISTERED, "registered", reason)
        uow.outbox.enqueue("right.registered", {"right_id": right.id,
                                                "certificate": right.certificate_number})
        uow.commit()
        return right


def _issue_certificate(uow: UnitOfWork, repo: RightsRepository, right: Right,
                       signer: Signer) -> Certificate:
    now = uow.clock.now()
    number = f"DR-{now.year}-{repo.next_certificate_seq(now.year):06d}"
    holder = participants.organisation_facts(uow.session, [right.holder_org_id])
    document = certificate_document(
        number=number, right=right, holder_name=holder[right.holder_org_id].name, issued_at=now
    )
    signature = signer.sign("certificate", number, document, now)
    certificate = Certificate(
        number=number, right_id=right.id, document=document, digest=signature.digest,
        signer=signature.signer, signature=signature.signature, issued_at=signature.issued_at,
    )
    right.certificate_number = number
    uow.session.add(certificate)
    uow.session.flush()
    uow.audit.record(uow.actor, "certificate.issued", "certificate", number,
                     {"right_id": right.id, "digest": signature.digest})
    return certificate


def certificate_document(*, number: str, right: Right, holder_name: str,
                         issued_at: datetime) -> dict[str, Any]:
    """The signed public content of a certificate; the status is live, so it is not in it."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat(timespec="seconds")

    return {
        "number": number,
        "kind": right.kind,
        "holder_name": holder_name,
        "subject_title": right.subject_title,
        "valid_from": iso(right.valid_from),
        "valid_to": iso(right.valid_to),
        "issued_at": iso(issued_at),
    }


# -- lifecycle after registration --------------------------------------------------------


def change_right_status(
    right_id: str, target: RightStatus, reason: str, *, uow: UnitOfWork
) -> Right:
    """Suspend, reinstate or revoke a registered right, cascading to what rests on it.

    The operator may do all three; the holder may only revoke (surrender) its own right.

    Raises:
        RoleNotAllowed: a regulator or other organisation tries.
        RightNotFound: unknown or not visible.
        NotTheHolder: a non-operator acts on another's right or asks for more than revoking.
        InvalidTransition: the lifecycle does not allow it.
        RightRefused: reinstating a right whose parent is not registered.
    """
    if uow.actor.has_role(Role.REGULATOR) and not uow.actor.has_role(Role.OPERATOR):
        raise RoleNotAllowed()
    with uow:
        repo = RightsRepository(uow.session)
        right = repo.get_right(right_id, uow.actor, for_update=True)
        if right is None:
            raise RightNotFound()
        is_operator = uow.actor.is_system or uow.actor.has_role(Role.OPERATOR)
        if not is_operator and (right.holder_org_id != uow.actor.org_id
                                or target is not RightStatus.REVOKED):
            raise NotTheHolder()
        if target not in (RightStatus.SUSPENDED, RightStatus.REGISTERED, RightStatus.REVOKED):
            raise InvalidInput(errors={"status": ["must be suspended, registered or revoked"]})
        action = {RightStatus.SUSPENDED: "suspended", RightStatus.REGISTERED: "reinstated",
                  RightStatus.REVOKED: "revoked"}[target]
        if target is RightStatus.REGISTERED:
            parents = repo.rights_by_id(repo.parent_ids(right.id))
            broken = [Violation("parent_not_registered", f"parent right {p.id} is {p.status}",
                                p.id)
                      for p in parents.values() if p.status != RightStatus.REGISTERED.value]
            if broken:
                raise RightRefused(broken)
            right.suspended_by = None
        _move(uow, right, target, action, reason)
        if target is RightStatus.REGISTERED:
            _restore_dependents(uow, [right.id])
        else:
            _suspend_dependents(uow, [right.id], reason)
        uow.outbox.enqueue(f"right.{action}", {"right_id": right.id, "reason": reason})
        uow.commit()
        return right


def expire_due_rights(*, uow: UnitOfWork) -> list[str]:
    """Mark rights whose term has ended as expired and suspend what rests on them."""
    with uow:
        repo = RightsRepository(uow.session)
        due = repo.due_to_expire(uow.clock.now())
        for right in due:
            _move(uow, right, RightStatus.EXPIRED, "expired", "term ended")
        if due:
            _suspend_dependents(uow, [r.id for r in due], "term ended")
        uow.commit()
        return [r.id for r in due]


# -- grants ------------------------------------------------------------------------------


def create_grant(
    data: GrantInput, *, uow: UnitOfWork, evidence_dir: Path | None = None
) -> Grant:
    """The holder of a registered resource holding right grants processing use (授权).

    Raises:
        RoleNotAllowed: the caller is not a merchant.
        RightNotFound: not the caller's resource holding right.
        GranteeNotAdmitted: the grantee is unknown, not admitted, or the grantor itself.
        RightRefused: the holding right is not usable, or the grant exceeds its scope or term.
    """
    require(uow.actor, Role.MERCHANT)
    with uow:
        repo = RightsRepository(uow.session)
        right = repo.get_right(data.holding_right_id, uow.actor)
        if (right is None or right.holder_org_id != uow.actor.org_id
                or right.kind != RightKind.RESOURCE_HOLDING.value):
            raise RightNotFound(errors={"holding_right_id": ["not your resource holding right"]})
        grantee = participants.organisation_facts(uow.session, [data.grantee_org_id]).get(
            data.grantee_org_id)
        if grantee is None or not grantee.admitted or grantee.id == uow.actor.org_id:
            raise GranteeNotAdmitted(errors={"grantee_org_id": ["must be another admitted "
                                                                 "organisation"]})
        now = uow.clock.now()
        problems: list[Violation] = []
        if right.status != RightStatus.REGISTERED.value or not right.term.contains(now):
            problems.append(Violation("parent_not_registered",
                                      f"right {right.id} is not registered and in term", right.id))
        gaps = right.scope.uncovered(data.scope)
        if gaps:
            problems.append(Violation("scope_exceeded",
                                      f"right {right.id} does not cover " + ", ".join(gaps),
                                      right.id))
        if not right.term.covers(data.term):
            problems.append(Violation("term_exceeded",
                                      f"the term goes beyond right {right.id}'s term", right.id))
        if problems:
            raise RightRefused(problems)
        assert right.resource_id is not None
        grant = Grant(
            id=new_id("gnt"), holding_right_id=right.id, resource_id=right.resource_id,
            grantor_org_id=right.holder_org_id, grantee_org_id=data.grantee_org_id,
            purposes=sorted(data.scope.purposes), scenarios=sorted(data.scope.scenarios),
            territory=data.scope.territory.value, valid_from=data.term.valid_from,
            valid_to=data.term.valid_to, status="active", created_at=now,
        )
        uow.session.add(grant)
        uow.session.flush()
        uow.audit.record(uow.actor, "grant.created", "grant", grant.id, grant.state())
        _store_evidence(uow, "grant", grant.id, data.evidence, evidence_dir)
        uow.outbox.enqueue("grant.created", {"grant_id": grant.id})
        uow.commit()
        return grant


def get_grant(grant_id: str, *, uow: UnitOfWork) -> tuple[Grant, list[Evidence]]:
    """Raises: GrantNotFound: not the grantor's, the grantee's, or visible by duty."""
    with uow:
        repo = RightsRepository(uow.session)
        grant = repo.get_grant(grant_id, uow.actor)
        if grant is None:
            raise GrantNotFound()
        return grant, repo.evidence_of("grant", [grant.id])


def list_grants(*, uow: UnitOfWork, status: str | None = None, after: str | None = None,
                limit: int = 50) -> Page[Grant]:
    with uow:
        return RightsRepository(uow.session).list_grants(uow.actor, status=status, after=after,
                                                         limit=limit)


def revoke_grant(grant_id: str, reason: str, *, uow: UnitOfWork) -> Grant:
    """The grantor (or the operator) revokes a grant; rights resting on it are revoked and
    everything that depends on them is suspended.

    Raises:
        GrantNotFound: not visible.
        NotTheHolder: the caller is neither the grantor nor the operator.
    """
    with uow:
        repo = RightsRepository(uow.session)
        grant = repo.get_grant(grant_id, uow.actor, for_update=True)
        if grant is None:
            raise GrantNotFound()
        if not (uow.actor.is_system or uow.actor.has_role(Role.OPERATOR)
                or grant.grantor_org_id == uow.actor.org_id):
            raise NotTheHolder()
        if grant.status == "revoked":
            return grant
        grant.status = "revoked"
        grant.revoked_reason = reason
        grant.revoked_at = uow.clock.now()
        uow.session.flush()
        uow.audit.record(uow.actor, "grant.revoked", "grant", grant.id, grant.state())
        lost: list[str] = []
        for right in repo.rights_on_grant(grant.id):
            if RightStatus(right.status) in LIVE:
                _move(uow, right, RightStatus.REVOKED, "revoked", f"grant {grant.id} revoked")
                lost.append(right.id)
            elif right.status in (RightStatus.SUBMITTED.value, RightStatus.UNDER_REVIEW.value):
                if right.status == RightStatus.SUBMITTED.value:
                    _move(uow, right, RightStatus.UNDER_REVIEW, "review_claimed", None)
                _move(uow, right, RightStatus.REJECTED, "rejected", f"grant {grant.id} revoked")
        if lost:
            _suspend_dependents(uow, lost, f"grant {grant.id} revoked")
        uow.outbox.enqueue("grant.revoked", {"grant_id": grant.id, "reason": reason})
        uow.commit()
        return grant


# -- disputes ----------------------------------------------------------------------------


def open_dispute(
    resource_id: str, reason: str, *, uow: UnitOfWork, claimant_org_id: str
) -> ResourceDispute:
    """The operator records an objection (登记异议) lodged by a claimant against who holds a
    resource; the rights on it are suspended until the operator resolves it.

    Filing goes through the venue so that a stranger cannot suspend a holder's rights, or
    learn which resources exist, by posting a dispute.

    Raises:
        RoleNotAllowed: not the operator.
        ResourceNotFound: unknown resource.
        InvalidInput: the claimant is not an admitted organisation, or is the holder.
    """
    require(uow.actor, Role.OPERATOR)
    with uow:
        repo = RightsRepository(uow.session)
        resource = repo.resources_by_id([resource_id]).get(resource_id)
        if resource is None:
            raise ResourceNotFound()
        claimant = participants.organisation_facts(uow.session, [claimant_org_id]).get(
            claimant_org_id)
        if claimant is None or not claimant.admitted or claimant.id == resource.holder_org_id:
            raise InvalidInput(errors={"claimant_org_id": [
                "must be an admitted organisation other than the holder"]})
        dispute = ResourceDispute(
            id=new_id("dsp"), resource_id=resource_id, claimant_org_id=claimant_org_id,
            reason=reason, status="open", opened_at=uow.clock.now(),
        )
        uow.session.add(dispute)
        uow.session.flush()
        uow.audit.record(uow.actor, "dispute.opened", "resource_dispute", dispute.id,
                         dispute.state())
        suspended: list[str] = []
        for right in repo.live_rights_on_resource(resource_id, RightStatus.REGISTERED):
            right.suspended_by = dispute.id
            _move(uow, right, RightStatus.SUSPENDED, "suspended", f"dispute {dispute.id}")
            suspended.append(right.id)
        if suspended:
            _suspend_dependents(uow, suspended, f"dispute {dispute.id} over {resource_id}")
        uow.commit()
        return dispute


def resolve_dispute(dispute_id: str, upheld: bool, resolution: str, *,
                    uow: UnitOfWork, resource_id: str | None = None) -> ResourceDispute:
    """The operator resolves a dispute: dismissed restores the suspended rights, upheld
    revokes them (what rests on them stays suspended).

    Raises:
        RoleNotAllowed: not the operator.
        DisputeNotFound: unknown dispute.
        DisputeClosed: already resolved.
    """
    require(uow.actor, Role.OPERATOR)
    with uow:
        repo = RightsRepository(uow.session)
        dispute = repo.get_dispute(dispute_id, for_update=True)
        if dispute is None or (resource_id is not None and dispute.resource_id != resource_id):
            raise DisputeNotFound()
        if dispute.status != "open":
            raise DisputeClosed()
        dispute.status = "upheld" if upheld else "dismissed"
        dispute.resolution = resolution
        dispute.resolved_at = uow.clock.now()
        uow.session.flush()
        uow.audit.record(uow.actor, f"dispute.{dispute.status}", "resource_dispute", dispute.id,
                         dispute.state())
        held = repo.rights_suspended_by(dispute.id)
        other = repo.other_open_dispute(dispute.resource_id, dispute.id)
        for right in held:
            if upheld:
                _move(uow, right, RightStatus.REVOKED, "revoked",
                      f"dispute {dispute.id} upheld: {resolution}")
            elif other is not None:
                right.suspended_by = other  # the other open dispute now holds it
            else:
                _move(uow, right, RightStatus.REGISTERED, "restored",
                      f"dispute {dispute.id} dismissed")
        if not upheld and other is None:
            _restore_dependents(uow, [r.id for r in held])
        uow.commit()
        return dispute


def list_disputes(resource_id: str, *, uow: UnitOfWork, after: str | None = None,
                  limit: int = 50) -> Page[ResourceDispute]:
    """Raises: ResourceNotFound: not visible (holders, the operator, assessors, regulators)."""
    with uow:
        repo = RightsRepository(uow.session)
        if repo.get_resource(resource_id, uow.actor) is None:
            raise ResourceNotFound()
        return repo.disputes_of(resource_id, after=after, limit=limit)


# -- certificates and the chain ----------------------------------------------------------


@dataclass(frozen=True)
class PublicCertificate:
    number: str
    kind: str
    holder_name: str
    subject_title: str
    valid_from: str
    valid_to: str | None
    issued_at: str
    status: str
    document: dict[str, Any]
    signature: dict[str, Any]


def get_certificate(number: str, *, uow: UnitOfWork) -> PublicCertificate:
    """Public: what a certificate shows anyone, with the signature to check it.

    Raises:
        CertificateNotFound: no such number.
    """
    with uow:
        repo = RightsRepository(uow.session)
        certificate = repo.certificate(number)
        if certificate is None:
            raise CertificateNotFound()
        right = repo.rights_by_id([certificate.right_id])[certificate.right_id]
        doc = certificate.document
        return PublicCertificate(
            number=number, kind=doc["kind"], holder_name=doc["holder_name"],
            subject_title=doc["subject_title"], valid_from=doc["valid_from"],
            valid_to=doc["valid_to"], issued_at=doc["issued_at"], status=right.status,
            document=doc,
            signature={
                "scheme": "eip712", "kind": "certificate", "subject": number,
                "digest": certificate.digest, "issued_at": certificate.issued_at,
                "signer": certificate.signer, "signature": certificate.signature,
            },
        )


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
        names = participants.organisation_facts(uow.session, {x.holder_org_id for x in links})
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
        if grant is None or grant.status != "active" or not grant.term.contains(at):
            return Violation("grant_invalid", f"right {right.id} rests on a lapsed grant",
                             right.id)
    if right.status != RightStatus.REGISTERED.value:
        return Violation("right_not_registered", f"right {right.id} is {right.status}", right.id)
    if not right.term.contains(at):
        return Violation("right_not_in_term", f"right {right.id} is not in term", right.id)
    return None



def operated_products(right_ids: Sequence[str], *, session: Any) -> dict[str, str]:
    """Product id → product operation right id, for the product operation rights among
    ``right_ids`` (how contexts above find the products a rights event touches)."""
    rows = RightsRepository(session).rights_by_id(right_ids)
    return {r.product_id: r.id for r in rows.values()
            if r.kind == RightKind.PRODUCT_OPERATION.value and r.product_id}


def holds_product_operation(product_id: str, org_id: str, *, session: Any) -> bool:
    """Whether ``org_id`` holds or seeks the product operation right over ``product_id``."""
    ended = {RightStatus.REJECTED.value, RightStatus.REVOKED.value, RightStatus.EXPIRED.value}
    return any(r.holder_org_id == org_id and r.status not in ended
               for r in RightsRepository(session).product_operation_rights(product_id))


def resource_classifications(resource_ids: Sequence[str], *, session: Any) -> dict[str, str]:
    """Classification (general / important / core) of each resource."""
    return {r.id: r.classification
            for r in RightsRepository(session).resources_by_id(resource_ids).values()}



@dataclass(frozen=True)
class ResourceProfile:
    """What compliance rules need to know of a registered resource."""

    classification: str
    pi_level: str
    evidence_kinds: frozenset[str]


def resource_profiles(resource_ids: Sequence[str], *, session: Any) -> dict[str, ResourceProfile]:
    """Classification, personal-information level and evidence kinds of each resource."""
    repo = RightsRepository(session)
    resources = repo.resources_by_id(resource_ids)
    kinds: dict[str, set[str]] = {rid: set() for rid in resources}
    for evidence in repo.evidence_of("resource", sorted(resources)):
        kinds[evidence.owner_id].add(evidence.kind)
    return {rid: ResourceProfile(r.classification, r.pi_level, frozenset(kinds[rid]))
            for rid, r in resources.items()}
