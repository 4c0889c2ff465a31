"""Resource disputes (登记异议): the operator records a claimant's objection to who holds a
resource, which suspends the rights on it, and resolves it: dismissed restores them,
upheld revokes them."""

from __future__ import annotations

from market.kernel.actor import Role, require
from market.kernel.errors import InvalidInput
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.rights.domain import RightStatus
from market.rights.errors import DisputeNotFound, ResourceNotFound
from market.rights.models import ResourceDispute
from market.rights.repository import RightsRepository
from market.rights.services._common import _move
from market.rights.services.lifecycle import _restore_dependents, _suspend_dependents


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
        claimant = participants.organisation_facts([claimant_org_id], uow=uow.joined()).get(
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
        dispute.resolve(upheld, resolution, at=uow.clock.now())
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
