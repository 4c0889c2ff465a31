"""Transactional outbox: effects outside the database are queued with the business change.

Services call :meth:`Outbox.enqueue` inside their unit of work; the ``market worker``
command claims due rows with a single ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED) RETURNING`` (SQLite serialises writers instead), hands each to the consumer
registered for its topic and marks it done, or schedules a retry with exponential backoff,
or gives up after the configured number of attempts. A claim is a lease: a worker that dies
leaves its rows to be claimed again once the lease runs out, so consumers must be idempotent
on the message id.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Index, Integer, String, Text, and_, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from market.kernel.clock import Clock
from market.kernel.db import Base, JSONType, UTCDateTime
from market.kernel.ids import new_id

log = logging.getLogger(__name__)

PENDING, DONE, DEAD = "pending", "done", "dead"
# Outcome when the lease ran out mid-delivery and another worker claimed the message.
LOST = "lost"
MAX_BACKOFF_SECONDS = 3600.0


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "available_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    topic: Mapped[str] = mapped_column(String(100), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Outbox:
    """Queues messages in the caller's transaction."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._clock = clock

    def enqueue(self, topic: str, payload: Mapping[str, Any]) -> str:
        now = self._clock.now()
        message = OutboxMessage(
            id=new_id("msg"), topic=topic, payload=dict(payload), status=PENDING,
            created_at=now, available_at=now, attempts=0,
        )
        self._session.add(message)
        return message.id


@dataclass(frozen=True)
class Delivery:
    id: str
    topic: str
    payload: dict[str, Any]
    attempts: int


Consumer = Callable[[Delivery], None]


def noop_consumer(delivery: Delivery) -> None:
    log.debug("outbox %s %s delivered (no consumer action)", delivery.topic, delivery.id)


@dataclass(frozen=True)
class DrainResult:
    claimed: int
    done: int
    retried: int
    dead: int


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Claims due outbox rows and hands them to consumers."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        consumers: Mapping[str, Consumer],
        *,
        worker_id: str | None = None,
        lease_seconds: int = 60,
        max_attempts: int = 10,
        backoff_base_seconds: float = 2.0,
    ) -> None:
        self._sessions = session_factory
        self._clock = clock
        self._consumers = dict(consumers)
        self.worker_id = worker_id or default_worker_id()
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base_seconds

    def claim(self, limit: int) -> list[Delivery]:
        """Lease up to ``limit`` due messages to this worker, committed before returning."""
        now = self._clock.now()
        due = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == PENDING,
                OutboxMessage.available_at <= now,
                or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
            )
            .order_by(OutboxMessage.available_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(
                claimed_by=self.worker_id,
                lease_until=now + self._lease,
                attempts=OutboxMessage.attempts + 1,
            )
            .returning(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.payload,
                       OutboxMessage.attempts)
            .execution_options(synchronize_session=False)
        )
        with self._sessions() as session, session.begin():
            rows = session.execute(stmt).all()
        deliveries = [Delivery(r[0], r[1], r[2], r[3]) for r in rows]
        return sorted(deliveries, key=lambda d: d.id)

    def _finish(self, delivery: Delivery, values: dict[str, Any]) -> bool:
        """Record the outcome if this worker still holds the message; False if it lost it."""
        with self._sessions() as session, session.begin():
            result = session.execute(
                update(OutboxMessage)
                .where(and_(OutboxMessage.id == delivery.id,
                            OutboxMessage.claimed_by == self.worker_id))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def process(self, delivery: Delivery) -> str:
        """Run the consumer for one claimed message; returns its new status."""
        consumer = self._consumers.get(delivery.topic)
        try:
            if consumer is None:
                raise LookupError(f"no consumer for topic {delivery.topic!r}")
            consumer(delivery)
        except Exception as exc:  # any consumer failure is recorded and retried
            log.warning("outbox %s %s failed: %s", delivery.topic, delivery.id, exc)
            now = self._clock.now()
            if delivery.attempts >= self._max_attempts:
                self._finish(delivery, {"status": DEAD, "lease_until": None,
                                        "last_error": repr(exc)[:2000], "processed_at": now})
                return DEAD
            delay = min(self._backoff_base * 2 ** (delivery.attempts - 1), MAX_BACKOFF_SECONDS)
            self._finish(delivery, {"available_at": now + timedelta(seconds=delay),
                                    "lease_until": None, "last_error": repr(exc)[:2000]})
            return "retry"
        if not self._finish(delivery, {"status": DONE, "lease_until": None,
                                       "processed_at": self._clock.now(), "last_error": None}):
            return LOST
        return DONE

    def drain_once(self, batch: int = 100) -> DrainResult:
        deliveries = self.claim(batch)
        outcomes = [self.process(d) for d in deliveries]
        return DrainResult(
            claimed=len(deliveries),
            done=outcomes.count(DONE),
            retried=outcomes.count("retry"),
            dead=outcomes.count(DEAD),
        )
