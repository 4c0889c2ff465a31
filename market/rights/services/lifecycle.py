"""A registered right's life: suspension, reinstatement, revocation and expiry, and the
cascade to everything resting on it.

When a right stops being usable (revoked, suspended, expired, its grant revoked, its
resource disputed) every registered right resting on it is suspended in the same
transaction, and ``rights.unavailable`` is published so that contexts above (listings,
orders) react in that transaction too. Restoring a right restores what its loss suspended
and publishes ``rights.restored``; listings go back to review rather than silently relisting.
"""

from __future__ import annotations

from collections.abc import Sequence

from market.kernel import events
from market.kernel.actor import Role
from market.kernel.db import present
from market.kernel.errors import RoleNotAllowed
from market.kernel.uow import UnitOfWork
from market.rights.domain import RightStatus
from market.rights.errors import RightNotFound
from market.rights.models import Right
from market.rights.repository import RightsRepository
from market.rights.services._common import _move

UNAVAILABLE = "rights.unavailable"
RESTORED = "rights.restored"


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
        right = present(repo.get_right(right_id, uow.actor, for_update=True), RightNotFound)
        action = right.manual_action(
            target, uow.actor.org_id,
            operator=uow.actor.is_system or uow.actor.has_role(Role.OPERATOR))
        if target is RightStatus.REGISTERED:
            right.check_reinstatable(repo.rights_by_id(repo.parent_ids(right.id)).values())
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
