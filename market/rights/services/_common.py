"""How a right's status moves inside a use case: the lifecycle step, its history row and
audit entry, and the review queue kept by compliance while a right waits for review."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from market.compliance import services as compliance
from market.kernel.statemachine import record_move
from market.kernel.uow import UnitOfWork
from market.rights.domain import PENDING, RightStatus
from market.rights.models import Right, RightEvent


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
    if target in PENDING or previous in PENDING:
        compliance.track_review("right", right.id, right.holder_org_id, target.value, reason,
                                uow=uow)
