"""Unit of work: one use case, one transaction, rolled back unless ``commit()`` is called.

The unit of work carries what every service needs besides its arguments: the session, the
clock, the audit log and the outbox bound to the same transaction, the acting principal and
the request id. Callers may register ``before_commit`` hooks that run inside the
transaction just before it commits (the web layer uses one to mark an idempotent request
as done atomically with its effect). The audit entries recorded during the use case are
chained last, right before the commit (see :mod:`market.kernel.audit`).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session

from market.kernel.actor import Actor
from market.kernel.audit import AuditLog
from market.kernel.clock import Clock
from market.kernel.db import end_reading
from market.kernel.outbox import Outbox

Hook = Callable[[Session], None]


class UnitOfWork:
    def __init__(
        self,
        session_factory: Callable[[], Session],
        clock: Clock,
        actor: Actor,
        *,
        request_id: str | None = None,
        before_commit: list[Hook] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self.clock = clock
        self.actor = actor
        self.request_id = request_id
        self._before_commit = list(before_commit or [])
        self._session: Session | None = None
        self.committed = False

    def __enter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("unit of work is already open")
        self._session = self._session_factory()
        self.audit = AuditLog(self._session, self.clock, self.request_id)
        self.outbox = Outbox(self._session, self.clock)
        self.committed = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if exc_type is not None and not self.committed:
                self.rollback()
            elif not self.committed:
                # A use case that only read ends with COMMIT, keeping the connection's
                # prepared statements; one that wrote without committing is rolled back.
                end_reading(session)
        finally:
            # close() ends any open transaction without expiring loaded objects, so a
            # read-only use case can hand its results back detached but intact.
            session.close()
            self._session = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("unit of work is not open; use it in a with block")
        return self._session

    def add_before_commit(self, hook: Hook) -> None:
        self._before_commit.append(hook)

    def commit(self) -> None:
        session = self.session
        session.flush()
        for hook in self._before_commit:
            hook(session)
        self.audit.write()
        session.commit()
        self.committed = True

    def rollback(self) -> None:
        self.session.rollback()
        self.audit.discard()

    def joined(self, actor: Actor | None = None) -> UnitOfWork:
        """A unit of work sharing this one's open transaction, for a service of another
        context called inside this use case; entering it opens nothing and it never
        commits. ``actor``: act as someone else in it (a system actor carrying out an
        order the caller gave); this one's actor by default."""
        return _JoinedUnitOfWork(self, actor)


class _JoinedUnitOfWork(UnitOfWork):
    def __init__(self, outer: UnitOfWork, actor: Actor | None = None) -> None:
        super().__init__(outer._session_factory, outer.clock, actor or outer.actor,
                         request_id=outer.request_id)
        self._outer = outer

    def __enter__(self) -> Self:
        return self

    @property
    def audit(self) -> AuditLog:  # type: ignore[override]
        return self._outer.audit

    @property
    def outbox(self) -> Outbox:  # type: ignore[override]
        return self._outer.outbox

    def joined(self, actor: Actor | None = None) -> UnitOfWork:
        return _JoinedUnitOfWork(self._outer, actor or self.actor)

    def __exit__(self, *exc_info: object) -> None:
        return None

    @property
    def session(self) -> Session:
        return self._outer.session

    def commit(self) -> None:
        """Nothing yet: the service called inside is done, and its changes commit (or roll
        back) with the unit of work it joined."""
        self.session.flush()
