"""Grants (授权): the holder of a registered resource holding right grants processing use to
another admitted organisation; revoking a grant revokes the rights resting on it and
suspends everything that depends on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from market.kernel.actor import Role, require
from market.kernel.ids import new_id
from market.kernel.storage import FileStore
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.rights.domain import LIVE, PENDING, RightKind, RightStatus, Scope, Term
from market.rights.errors import GranteeNotAdmitted, GrantNotFound, RightNotFound
from market.rights.models import Grant
from market.rights.repository import RightsRepository
from market.rights.services._common import _move
from market.rights.services.lifecycle import _suspend_dependents
from market.rights.services.resources import EvidenceInput, _store_evidence


@dataclass(frozen=True)
class GrantInput:
    holding_right_id: str
    grantee_org_id: str
    scope: Scope
    term: Term
    evidence: Sequence[EvidenceInput] = ()


def create_grant(
    data: GrantInput, *, uow: UnitOfWork, evidence_dir: FileStore | Path | None = None
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
        grantee = participants.organisation_facts([data.grantee_org_id], uow=uow.joined()).get(
            data.grantee_org_id)
        if grantee is None or not grantee.admitted or grantee.id == uow.actor.org_id:
            raise GranteeNotAdmitted(errors={"grantee_org_id": ["must be another admitted "
                                                                 "organisation"]})
        grant = right.grant_to(data.grantee_org_id, data.scope, data.term,
                               at=uow.clock.now(), grant_id=new_id("gnt"))
        uow.session.add(grant)
        uow.session.flush()
        uow.audit.record(uow.actor, "grant.created", "grant", grant.id, grant.state())
        _store_evidence(uow, "grant", grant.id, data.evidence, evidence_dir)
        uow.outbox.enqueue("grant.created", {"grant_id": grant.id})
        uow.commit()
        return grant


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
        operator = uow.actor.is_system or uow.actor.has_role(Role.OPERATOR)
        if not grant.revoke(reason, at=uow.clock.now(), org_id=uow.actor.org_id,
                            operator=operator):
            return grant
        uow.session.flush()
        uow.audit.record(uow.actor, "grant.revoked", "grant", grant.id, grant.state())
        lost: list[str] = []
        for right in repo.rights_on_grant(grant.id):
            status = RightStatus(right.status)
            if status in LIVE:
                _move(uow, right, RightStatus.REVOKED, "revoked", f"grant {grant.id} revoked")
                lost.append(right.id)
            elif status in PENDING:
                if status is RightStatus.SUBMITTED:
                    _move(uow, right, RightStatus.UNDER_REVIEW, "review_claimed", None)
                _move(uow, right, RightStatus.REJECTED, "rejected", f"grant {grant.id} revoked")
        if lost:
            _suspend_dependents(uow, lost, f"grant {grant.id} revoked")
        uow.outbox.enqueue("grant.revoked", {"grant_id": grant.id, "reason": reason})
        uow.commit()
        return grant
