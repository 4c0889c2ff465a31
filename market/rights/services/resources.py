"""Data resources and evidence: a merchant registers the resources it holds and backs its
resources, rights and grants with documents identified by their SHA-256."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from market.kernel.actor import Role, require
from market.kernel.errors import InvalidInput
from market.kernel.ids import new_id
from market.kernel.storage import FileStore, file_store, sharded
from market.kernel.uow import UnitOfWork
from market.rights.domain import (
    HOME_COUNTRY,
    Classification,
    EvidenceKind,
    Origin,
    PILevel,
    sensitive_category_problems,
    storage_problems,
)
from market.rights.errors import EvidenceMismatch, GrantNotFound, ResourceNotFound, RightNotFound
from market.rights.models import DataResource, Evidence
from market.rights.repository import RightsRepository
from market.rights.services.public_data import check_public_data


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
    public_category: str | None = None  # public data: its category (交通, 气象 …)
    sensitive_categories: Sequence[str] = ()  # minors, biometrics, health, …
    storage_location: str = HOME_COUNTRY  # ISO country code where the data is stored
    storage_region: str | None = None


def _store_evidence(
    uow: UnitOfWork, owner_type: str, owner_id: str, items: Sequence[EvidenceInput],
    evidence_dir: FileStore | Path | None,
) -> list[Evidence]:
    stored: list[Evidence] = []
    for item in items:
        size = None
        if item.content is not None:
            if hashlib.sha256(item.content).hexdigest() != item.sha256:
                raise EvidenceMismatch(errors={"evidence": [f"{item.name}: sha256 mismatch"]})
            size = len(item.content)
            if evidence_dir is not None:
                file_store(evidence_dir).put(io.BytesIO(item.content), sharded)
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


def register_resource(
    data: ResourceInput, *, uow: UnitOfWork, evidence_dir: FileStore | Path | None = None
) -> DataResource:
    """A merchant registers a data resource it holds, with its source-legality evidence.

    Public data (origin ``public_authorised``) names its category, and is registered only
    under an in-term public-data authorisation covering that category and the scenarios.

    Raises:
        RoleNotAllowed: the caller is not a merchant.
        EvidenceMismatch: uploaded evidence does not match its SHA-256.
        InvalidInput: public data without its category; an unknown or repeated sensitive
            category, or one on data with no personal information; a storage location that
            is not an ISO country code.
        PublicDataNotAuthorised: no in-term authorisation covers the public data.
    """
    require(uow.actor, Role.MERCHANT)
    problems = {**sensitive_category_problems(data.pi_level.value,
                                              list(data.sensitive_categories)),
                **storage_problems(data.storage_location, data.storage_region)}
    if problems:
        raise InvalidInput(errors={k: [v] for k, v in problems.items()})
    public = data.origin is Origin.PUBLIC_AUTHORISED
    if public and not data.public_category:
        raise InvalidInput(errors={"public_category": ["public data names its category"]})
    with uow:
        now = uow.clock.now()
        if public:
            check_public_data(uow, holder=uow.actor.org_id or "",
                              resources=[("", data.public_category or "")],
                              scenarios=data.scenarios, at=now)
        resource = DataResource(
            id=new_id("res"), holder_org_id=uow.actor.org_id, title=data.title,
            description=data.description, origin=data.origin.value,
            classification=data.classification.value, pi_level=data.pi_level.value,
            collection_method=data.collection_method, collection_source=data.collection_source,
            scenarios=list(data.scenarios), update_frequency=data.update_frequency,
            created_at=now, updated_at=now,
            public_category=data.public_category if public else None,
            sensitive_categories=sorted(data.sensitive_categories),
            storage_location=data.storage_location, storage_region=data.storage_region,
        )
        uow.session.add(resource)
        uow.session.flush()
        uow.audit.record(uow.actor, "resource.registered", "resource", resource.id,
                         resource.state())
        _store_evidence(uow, "resource", resource.id, data.evidence, evidence_dir)
        uow.commit()
        return resource


def add_evidence(
    owner_type: str, owner_id: str, items: Sequence[EvidenceInput], *, uow: UnitOfWork,
    evidence_dir: FileStore | Path | None = None,
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
