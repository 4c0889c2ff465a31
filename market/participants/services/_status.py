"""Moving an organisation along the admission state machine inside a use case: the move,
its history row, the audit entry and the announcement, shared by the operator's decisions
and by the documents' duties (suspension on expiry, restoration on renewal)."""

from __future__ import annotations

from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.participants.domain import Status
from market.participants.models import Organisation, StatusChange


def move_status(uow: UnitOfWork, org: Organisation, target: Status, reason: str) -> str:
    """Move ``org`` to ``target`` in ``uow``'s transaction; returns the previous status.

    Raises:
        OperatorStatusFixed, InvalidTransition: as :meth:`Organisation.change_status`.
    """
    now = uow.clock.now()
    previous = org.change_status(target, reason=reason, at=now)
    uow.session.add(StatusChange(
        id=new_id("stc"), organisation_id=org.id, from_status=previous,
        to_status=target.value, reason=reason, decided_by_user_id=uow.actor.user_id,
        decided_by_label=uow.actor.label, at=now,
    ))
    uow.session.flush()
    uow.audit.record(uow.actor, f"organisation.{target.value}", "organisation", org.id,
                     org.state())
    uow.outbox.enqueue(f"participant.{target.value}",
                       {"organisation_id": org.id, "from": previous, "reason": reason})
    return previous
