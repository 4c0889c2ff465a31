"""In-transaction domain events: a context announces a change, contexts above it react in
the same unit of work.

This keeps the arrows pointing down: rights announces ``rights.unavailable`` without knowing
that listing suspends listings and trading flags orders in response; they subscribe when
the application is wired (:func:`market.wiring.connect`). Handlers run inside the caller's
transaction, so either every reaction commits with the change or none does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from market.kernel.uow import UnitOfWork

Handler = Callable[[UnitOfWork, Mapping[str, Any]], None]

_handlers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(topic: str, handler: Handler) -> Callable[[], None]:
    """Call ``handler`` for every ``topic`` event; returns a function that unsubscribes."""
    _handlers[topic].append(handler)

    def unsubscribe() -> None:
        if handler in _handlers[topic]:
            _handlers[topic].remove(handler)

    return unsubscribe


def publish(uow: UnitOfWork, topic: str, payload: Mapping[str, Any]) -> None:
    """Run every handler of ``topic`` now, in ``uow``'s transaction."""
    for handler in list(_handlers.get(topic, ())):
        handler(uow, payload)
