"""The matching deadlines the worker enforces: demands past their deadline, negotiations
nobody answered in time and agreements not ordered before their private offer expired.
Each is expired in a transaction of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from market.kernel.uow import UnitOfWork
from market.matching import repository
from market.matching.services.demands import expire_demand
from market.matching.services.negotiations import expire_negotiation


@dataclass(frozen=True)
class MatchingDeadlines:
    demands_expired: list[str]
    negotiations_expired: list[str]


def run_matching_deadlines(uow: Callable[[], UnitOfWork], *,
                           batch: int = 500) -> MatchingDeadlines:
    """Expire what is due; ``uow`` makes a system unit of work for each."""
    with uow() as reading:
        now = reading.clock.now()
        demands = repository.due_demands(reading.session, now, batch)
        negotiations = repository.due_negotiations(reading.session, now, batch)
    return MatchingDeadlines(
        [d for d in demands if expire_demand(d, uow=uow())],
        [n for n in negotiations if expire_negotiation(n, uow=uow())])
