"""A status that follows a transition table, with a history row per move: one mechanism for
orders, product versions and rights.

- :class:`Lifecycle` is the table (which targets each status allows; statuses allowing
  nothing are terminal);
- :class:`Stateful` is the model mixin whose ``move()`` checks the table, sets the status
  and the time, and runs the model's own ``entered()`` hook (what entering a status means
  for that aggregate: a listing time, a cleared suspension cause);
- :class:`HistoryRow` is the declarative mixin of the ``*_events`` tables (who moved what
  from where to where, when and why), and :func:`record_move` writes one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from market.kernel.db import UTCDateTime
from market.kernel.errors import InvalidTransition
from market.kernel.ids import new_id

if TYPE_CHECKING:
    from market.kernel.uow import UnitOfWork

S = TypeVar("S", bound=StrEnum)


class Lifecycle(Generic[S]):
    """A transition table over the statuses of ``status``."""

    def __init__(self, status: type[S], transitions: Mapping[S, frozenset[S]]) -> None:
        self.status = status
        self.transitions = dict(transitions)
        self.terminal = frozenset(s for s, targets in self.transitions.items() if not targets)

    def allows(self, current: S, target: S) -> bool:
        return target in self.transitions[current]

    def check(self, current: str, target: S) -> S:
        """The current status, if the table allows ``target`` from it.

        Raises:
            InvalidTransition: it does not (terminal statuses allow nothing).
        """
        now = self.status(current)
        if not self.allows(now, target):
            raise InvalidTransition(current=now.value, target=target.value)
        return now


class Stateful:
    """Mixin of a model whose ``status`` follows ``LIFECYCLE``."""

    LIFECYCLE: ClassVar[Lifecycle[Any]]
    if TYPE_CHECKING:
        status: Mapped[str]
        updated_at: Mapped[datetime]

    @property
    def terminal(self) -> bool:
        return self.LIFECYCLE.status(self.status) in self.LIFECYCLE.terminal

    def move(self, target: Any, *, at: datetime, reason: str | None = None) -> str:
        """Move along the lifecycle; returns the previous status.

        Raises:
            InvalidTransition: the lifecycle does not allow ``target`` from here.
        """
        current = self.LIFECYCLE.check(self.status, target)
        self.status = target.value
        self.updated_at = at
        self.entered(target, at=at, reason=reason)
        return str(current.value)

    def entered(self, target: Any, *, at: datetime, reason: str | None) -> None:
        """What entering ``target`` means for this aggregate besides its status."""


class HistoryRow:
    """Columns of a history table: one row per move of its subject."""

    STATUS_LENGTH: ClassVar[int] = 16

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    actor_org_id: Mapped[str | None] = mapped_column(String(40))
    actor_label: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    @declared_attr
    def from_status(cls) -> Mapped[str | None]:
        return mapped_column(String(cls.STATUS_LENGTH))

    @declared_attr
    def to_status(cls) -> Mapped[str]:
        return mapped_column(String(cls.STATUS_LENGTH), nullable=False)


def record_move(uow: UnitOfWork, row: type[HistoryRow], *, prefix: str,
                subject: Mapping[str, str], action: str, previous: str | None, status: str,
                reason: str | None, at: datetime, **extra: Any) -> HistoryRow:
    """Add one history row: ``subject`` names the subject's column and id
    (``{"order_id": …}``), the actor is the unit of work's."""
    entry = row(id=new_id(prefix), action=action, from_status=previous, to_status=status,  # type: ignore[call-arg]
                reason=reason, actor_org_id=uow.actor.org_id, actor_label=uow.actor.label,
                at=at, **subject, **extra)
    uow.session.add(entry)
    return entry
