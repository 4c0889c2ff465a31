"""Persisting a Stripe call in the business transaction: the worker performs it later, with
its idempotency key, outside any transaction (:mod:`market.settlement.rails.stripe_rail`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.settlement.rails.models import CallState, StripeCall


def queue_call(uow: UnitOfWork, *, key: str, operation: str, params: Mapping[str, Any],
               subject: tuple[str, str]) -> StripeCall:
    """Persist a Stripe call for the worker; a call with this key already queued is
    returned as it is (its key names one effect)."""
    existing = call_of(uow, key)
    if existing is not None:
        return existing
    now = uow.clock.now()
    call = StripeCall(id=new_id("scl"), idempotency_key=key, operation=operation,
                      params=dict(params), subject_type=subject[0], subject_id=subject[1],
                      state=CallState.PENDING.value, attempts=0, next_attempt_at=now,
                      created_at=now)
    uow.session.add(call)
    uow.session.flush()
    uow.audit.record(uow.actor, "stripe_call.queued", "stripe_call", call.id,
                     call.state_dict())
    return call


def call_of(uow: UnitOfWork, key: str) -> StripeCall | None:
    """The call persisted with this idempotency key, if any."""
    found: StripeCall | None = uow.session.scalars(select(StripeCall).where(
        StripeCall.idempotency_key == key)).one_or_none()
    return found
