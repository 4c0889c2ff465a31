"""Tamper-evident audit log: one hash-chained entry per state change, same transaction.

Every entry's hash covers its own fields and the previous entry's hash. A single head row
(``audit_head``) holds the last sequence number and hash. A unit of work collects its entries
(each with its time and the digest of the state it describes, taken when it is recorded) and
chains them just before it commits: one ``UPDATE … RETURNING`` on the head reserves their
sequence numbers and reads the previous hash, one statement inserts them, and one sets the
head's new hash. Concurrent transactions queue on the head row only for that last moment,
so the head neither forks nor serialises their work, and since it is the last lock a
transaction takes it can never be part of a deadlock. The application never updates or
deletes entries, and database triggers refuse it; :func:`verify_chain` detects it anyway
when someone bypasses them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, Integer, String, Table, bindparam, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from market.kernel import canonical
from market.kernel.actor import Actor
from market.kernel.clock import Clock, as_utc
from market.kernel.db import Base, UTCDateTime

GENESIS_HASH = "0" * 64


class AuditEntry(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_label: Mapped[str] = mapped_column(String(200), nullable=False)
    actor_user_id: Mapped[str | None] = mapped_column(String(40), index=True)
    actor_org_id: Mapped[str | None] = mapped_column(String(40), index=True)
    action: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    object_type: Mapped[str] = mapped_column(String(50), nullable=False)
    object_id: Mapped[str] = mapped_column(String(64), nullable=False)
    state_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(128))
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


def digest(state: Mapping[str, Any]) -> str:
    """SHA-256 of the RFC 8785 canonical JSON of ``state``."""
    return hashlib.sha256(canonical.dumps(jsonable(state))).hexdigest()


def jsonable(value: Any) -> Any:
    """``value`` as JSON can carry it: aware datetimes as ISO 8601 UTC with microseconds,
    sets sorted, mappings with string keys."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat(timespec="microseconds")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return value


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor_kind: str,
    actor_label: str,
    actor_user_id: str | None,
    actor_org_id: str | None,
    action: str,
    object_type: str,
    object_id: str,
    state_digest: str,
    request_id: str | None,
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "at": as_utc(at).isoformat(timespec="microseconds"),
        "actor_kind": actor_kind,
        "actor_label": actor_label,
        "actor_user_id": actor_user_id,
        "actor_org_id": actor_org_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "state_digest": state_digest,
        "request_id": request_id,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical.dumps(body)).hexdigest()


_HEAD = cast(Table, AuditHead.__table__)
_TAKE_HEAD = (update(_HEAD).where(_HEAD.c.id == 1)
              .values(seq=_HEAD.c.seq + bindparam("p_count"))
              .returning(_HEAD.c.seq, _HEAD.c.hash))
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(hash=bindparam("p_hash"))
_INSERT_ENTRIES = insert(cast(Table, AuditEntry.__table__))


class AuditLog:
    """Collects a unit of work's entries and chains them into its transaction at commit."""

    def __init__(self, session: Session, clock: Clock, request_id: str | None = None) -> None:
        self._session = session
        self._clock = clock
        self._request_id = request_id
        self._pending: list[dict[str, Any]] = []

    def record(
        self,
        actor: Actor,
        action: str,
        object_type: str,
        object_id: str,
        state: Mapping[str, Any],
    ) -> None:
        """Add one entry, written with the transaction (see :meth:`write`)."""
        self._pending.append({
            # Microsecond precision survives every backend, so the hash can be recomputed.
            "at": as_utc(self._clock.now()),
            "actor_kind": actor.kind,
            "actor_label": actor.label,
            "actor_user_id": actor.user_id,
            "actor_org_id": actor.org_id,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "state_digest": digest(state),
            "request_id": self._request_id,
        })

    @property
    def pending(self) -> int:
        """Entries recorded and not yet written."""
        return len(self._pending)

    def discard(self) -> None:
        """Forget the entries recorded so far (their transaction rolled back)."""
        self._pending.clear()

    def write(self) -> int | None:
        """Chain the recorded entries onto the head, in the caller's transaction, just before
        it commits; returns the last sequence number written (None if nothing was)."""
        if not self._pending:
            return None
        count = len(self._pending)
        conn = self._session.connection()
        head = conn.execute(_TAKE_HEAD, {"p_count": count}).one()
        last, prev_hash = int(head[0]), str(head[1])
        rows = []
        for seq, fields in enumerate(self._pending, start=last - count + 1):
            entry = {**fields, "seq": seq, "prev_hash": prev_hash}
            prev_hash = entry_hash(**entry)
            rows.append({**entry, "hash": prev_hash})
        conn.execute(_INSERT_ENTRIES, rows)
        conn.execute(_MOVE_HEAD, {"p_hash": prev_hash})
        self._pending.clear()
        return last


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    checked: int
    head_seq: int
    first_broken_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_seq": self.head_seq,
            "first_broken_seq": self.first_broken_seq,
            "reason": self.reason,
        }


def verify_chain(
    session: Session, *, progress: Callable[[int, int], None] | None = None
) -> ChainVerification:
    """Recompute the whole chain and name the first entry that does not fit.

    ``progress(checked, head_seq)`` is called every thousand entries and at the end.
    """
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    head_seq, head_hash = int(head[0]), str(head[1])
    stmt = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)
    # A streamed result holds a server-side cursor on PostgreSQL; close it on early return.
    with session.scalars(stmt) as entries:
        result = _verify_entries(entries, head_seq, head_hash, progress)
    if progress is not None:
        progress(result.checked, head_seq)
    return result


def _verify_entries(
    entries: Iterator[AuditEntry], head_seq: int, head_hash: str,
    progress: Callable[[int, int], None] | None = None,
) -> ChainVerification:
    expected_seq = 1
    prev = GENESIS_HASH
    checked = 0
    for entry in entries:
        if entry.seq > head_seq:
            return ChainVerification(False, checked, head_seq, entry.seq,
                                     f"entry {entry.seq} lies beyond the chain head")
        if entry.seq != expected_seq:
            return ChainVerification(False, checked, head_seq, expected_seq,
                                     f"entry {expected_seq} is missing")
        if entry.prev_hash != prev:
            return ChainVerification(False, checked, head_seq, entry.seq,
                                     f"entry {entry.seq} does not link to entry {entry.seq - 1}")
        recomputed = entry_hash(
            seq=entry.seq, at=entry.at, actor_kind=entry.actor_kind,
            actor_label=entry.actor_label, actor_user_id=entry.actor_user_id,
            actor_org_id=entry.actor_org_id, action=entry.action,
            object_type=entry.object_type, object_id=entry.object_id,
            state_digest=entry.state_digest, request_id=entry.request_id,
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.hash:
            return ChainVerification(False, checked, head_seq, entry.seq,
                                     f"entry {entry.seq} was altered")
        prev = entry.hash
        expected_seq += 1
        checked += 1
        if progress is not None and checked % 1000 == 0:
            progress(checked, head_seq)
    if checked < head_seq:
        return ChainVerification(False, checked, head_seq, checked + 1,
                                 f"entry {checked + 1} is missing")
    if head_seq and prev != head_hash:
        return ChainVerification(False, checked, head_seq, head_seq,
                                 f"entry {head_seq} does not match the chain head")
    return ChainVerification(True, checked, head_seq)


def list_entries(session: Session, *, after_seq: int | None, limit: int,
                 object_type: str | None = None, object_id: str | None = None,
                 actor_org_id: str | None = None) -> tuple[list[AuditEntry], int | None]:
    """A page of entries in chain order; returns the entries and the seq to continue after."""
    stmt = select(AuditEntry)
    if after_seq is not None:
        stmt = stmt.where(AuditEntry.seq > after_seq)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if actor_org_id:
        stmt = stmt.where(AuditEntry.actor_org_id == actor_org_id)
    rows = list(session.scalars(stmt.order_by(AuditEntry.seq).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more and rows else None)
