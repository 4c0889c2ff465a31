"""Idempotency-Key records: one effect per key, the same answer on every retry.

A request carrying ``Idempotency-Key`` first *claims* the key in a short transaction of its
own (a row in ``in_flight`` with a lease). The business transaction then flips the row to
``committed`` just before it commits, in the same transaction, so the effect and the mark
are atomic; a second request that took over an expired lease finds the row no longer
``in_flight`` and rolls back. Finally the response is stored (``completed``), encrypted,
and replayed for later requests with the same key and body.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet
from sqlalchemy import Integer, String, Text, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from market.kernel.clock import Clock
from market.kernel.db import Base, JSONType, UTCDateTime
from market.kernel.errors import (
    IdempotencyAnswerLost,
    IdempotencyKeyReused,
    IdempotencyRequestInFlight,
    InvalidInput,
)
from market.kernel.ids import new_id

IN_FLIGHT, COMMITTED, COMPLETED = "in_flight", "committed", "completed"
MAX_KEY_LENGTH = 255


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal", "key", name="principal_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    principal: Mapped[str] = mapped_column(String(64), nullable=False)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    path: Mapped[str] = mapped_column(String(500), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class InvalidIdempotencyKey(InvalidInput):
    """The Idempotency-Key header is empty, too long or not printable ASCII."""

    status = 400
    code = "invalid_idempotency_key"
    title = "Invalid Idempotency-Key header"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Claim:
    record_id: str
    replay: StoredResponse | None = None


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """Hash of the request; JSON bodies are compared by content, not by key order."""
    try:
        parsed = json.loads(body) if body else None
        canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        material = canonical.encode()
    except (ValueError, UnicodeDecodeError):
        material = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + material).hexdigest()


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not all(33 <= ord(c) < 127 for c in key):
        raise InvalidIdempotencyKey(
            "must be 1 to 255 printable ASCII characters without spaces"
        )
    return key


class IdempotencyStore:
    def __init__(
        self, session_factory: Callable[[], Session], clock: Clock, secret_key: str, *,
        lease_seconds: int, ttl_seconds: int,
    ) -> None:
        self._sessions = session_factory
        self._clock = clock
        derived = hashlib.sha256(b"market idempotency\x00" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._lease = timedelta(seconds=lease_seconds)
        self._ttl = timedelta(seconds=ttl_seconds)

    def using(self, sessions: Callable[[], Session]) -> IdempotencyStore:
        """The same store, its short transactions on these sessions (a request's
        connection)."""
        found = copy.copy(self)
        found._sessions = sessions
        return found

    def claim(self, principal: str, key: str, method: str, path: str, fingerprint: str) -> Claim:
        """Claim ``key`` for this request, or return the stored response to replay.

        Raises:
            IdempotencyKeyReused: the key was used with another request.
            IdempotencyRequestInFlight: the first request with this key is still running.
            IdempotencyAnswerLost: the first request took effect, but its process ended
                before storing the answer (its lease has run out).
        """
        for _ in range(3):
            claim = self._try_claim(principal, key, method, path, fingerprint)
            if claim is not None:
                return claim
        raise IdempotencyRequestInFlight()

    def _try_claim(
        self, principal: str, key: str, method: str, path: str, fingerprint: str
    ) -> Claim | None:
        now = self._clock.now()
        record_id = new_id("idem")
        try:
            with self._sessions() as session, session.begin():
                session.add(IdempotencyRecord(
                    id=record_id, principal=principal, key=key, method=method, path=path,
                    request_hash=fingerprint, status=IN_FLIGHT, created_at=now,
                    lease_until=now + self._lease, expires_at=now + self._ttl,
                ))
            return Claim(record_id)
        except IntegrityError:
            pass
        with self._sessions() as session, session.begin():
            existing = session.scalars(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.principal == principal, IdempotencyRecord.key == key
                )
            ).one_or_none()
            if existing is None:  # released in between (its request failed): claim again
                return None
            if existing.expires_at <= now:
                return self._take_over(session, existing, now, fingerprint, method, path)
            if existing.request_hash != fingerprint:
                raise IdempotencyKeyReused()
            if existing.status == COMPLETED and existing.response_status is not None:
                return Claim(existing.id, self._stored(existing))
            if existing.status == IN_FLIGHT and existing.lease_until <= now:
                return self._take_over(session, existing, now, fingerprint, method, path)
            if existing.status == COMMITTED and existing.lease_until <= now:
                raise IdempotencyAnswerLost()  # took effect; its process died before answering
            raise IdempotencyRequestInFlight()

    def _take_over(
        self, session: Session, existing: IdempotencyRecord, now: datetime, fingerprint: str,
        method: str, path: str,
    ) -> Claim:
        result = session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == existing.id,
                   IdempotencyRecord.lease_until == existing.lease_until,
                   IdempotencyRecord.status == existing.status)
            .values(status=IN_FLIGHT, lease_until=now + self._lease, request_hash=fingerprint,
                    method=method, path=path, expires_at=now + self._ttl,
                    response_status=None, response_body=None, response_headers=None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise IdempotencyRequestInFlight()
        return Claim(existing.id)

    @staticmethod
    def mark_committed(session: Session, record_id: str) -> None:
        """Inside the business transaction: claim the single effect or refuse it."""
        result = session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record_id, IdempotencyRecord.status == IN_FLIGHT)
            .values(status=COMMITTED)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise IdempotencyRequestInFlight()

    def complete(self, record_id: str, response: StoredResponse) -> None:
        token = self._fernet.encrypt(response.body).decode()
        with self._sessions() as session, session.begin():
            session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.id == record_id)
                .values(status=COMPLETED, response_status=response.status,
                        response_body=token, response_headers=response.headers)
                .execution_options(synchronize_session=False)
            )

    def release(self, record_id: str) -> None:
        """Forget a claim whose request failed before any effect, so it can be retried."""
        with self._sessions() as session, session.begin():
            session.execute(
                delete(IdempotencyRecord)
                .where(IdempotencyRecord.id == record_id, IdempotencyRecord.status == IN_FLIGHT)
                .execution_options(synchronize_session=False)
            )

    def purge_expired(self) -> int:
        with self._sessions() as session, session.begin():
            result = session.execute(
                delete(IdempotencyRecord)
                .where(IdempotencyRecord.expires_at <= self._clock.now())
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def _stored(self, record: IdempotencyRecord) -> StoredResponse:
        body = self._fernet.decrypt((record.response_body or "").encode())
        return StoredResponse(int(record.response_status or 200), body,
                              dict(record.response_headers or {}))

