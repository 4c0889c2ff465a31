"""The Merkle log of receipts (RFC 9162 §2.1): sequencing, signed checkpoints and proofs.

Receipts wait in the queue in issue order until :func:`sequence` appends them: it takes the
log's head row with one ``UPDATE … RETURNING`` (the only lock on the log, held by the
sequencer alone, never by a business transaction), computes the leaf hashes and every newly
completed node from the head's compact range, writes them with one statement each, moves the
head and signs a checkpoint of the new tree. Proofs read the few stored nodes they need with
one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, TextClause, bindparam, select, text, update
from sqlalchemy.engine import Connection

from market.kernel.actor import system_actor
from market.kernel.clock import as_utc
from market.kernel.uow import UnitOfWork
from market.receipts import merkle
from market.receipts.checkpoint import sign_checkpoint
from market.receipts.domain import SUITES
from market.receipts.errors import CheckpointNotFound, LogNotFound, LogSizeInvalid
from market.receipts.models import Checkpoint, LogEntry, LogHead
from market.receipts.services.issuer import issuer
from market.receipts.suites import suite_hash
from market.receipts.verifier import leaf_hash

_HEAD = cast(Table, LogHead.__table__)
_TAKE_HEAD = (update(_HEAD).where(_HEAD.c.suite == bindparam("p_suite"))
              .values(updated_at=bindparam("p_now"))
              .returning(_HEAD.c.size, _HEAD.c.frontier, _HEAD.c.origin))
_ENTRIES = cast(Table, LogEntry.__table__)

SEQUENCE_LIMIT = 10_000


@dataclass(frozen=True)
class Appended:
    suite: str
    from_size: int
    tree_size: int
    root: str
    checkpoint_id: int | None


def _frontier(stored: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in stored]


Queued = list[tuple[int, str, str]]  # (seq, receipt id, digest hex), in issue order


def _queued(conn: Connection, suite: str, limit: int) -> Queued:
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    cursor = conn.exec_driver_sql(
        f"SELECT seq, receipt_id, digest FROM receipt_queue WHERE suite = {mark} "  # noqa: S608
        f"ORDER BY seq LIMIT {mark}", (suite, limit))
    return [(int(seq), str(rid), str(digest)) for seq, rid, digest in cursor]


def _append(conn: Connection, suite: str, size: int, queued: Queued,
            nodes: list[tuple[int, int, bytes]], now: datetime) -> None:
    """Write the new nodes and entries and take the receipts off the queue, at the driver:
    these are the sequencer's only per-leaf costs (COPY on PostgreSQL; on SQLite one
    prepared statement run over plain tuples)."""
    logged_at = _ENTRIES.c.logged_at.type.bind_processor(conn.dialect)
    stamp = logged_at(now) if logged_at else now
    entries = [(suite, size + i, rid, stamp) for i, (_, rid, _) in enumerate(queued)]
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            with cursor.copy('COPY receipt_log_nodes (suite, level, "index", hash) '
                             "FROM STDIN") as copy:
                for level, index, node in nodes:
                    copy.write_row((suite, level, index, node))
            with cursor.copy("COPY receipt_log_entries (suite, leaf_index, receipt_id, "
                             "logged_at) FROM STDIN") as copy:
                for row in entries:
                    copy.write_row(row)
            cursor.execute("DELETE FROM receipt_queue WHERE seq = ANY(%s)",
                           ([seq for seq, _, _ in queued],))
        return
    conn.exec_driver_sql('INSERT INTO receipt_log_nodes (suite, level, "index", hash) '
                         "VALUES (?, ?, ?, ?)",
                         [(suite, level, index, node) for level, index, node in nodes])
    conn.exec_driver_sql("INSERT INTO receipt_log_entries (suite, leaf_index, receipt_id, "
                         "logged_at) VALUES (?, ?, ?, ?)", entries)
    # SQLite serialises writers and this transaction has written since before it read the
    # queue, so no receipt below the last one read can have been queued meanwhile.
    conn.exec_driver_sql("DELETE FROM receipt_queue WHERE suite = ? AND seq <= ?",
                         (suite, queued[-1][0]))


def sequence(uow: UnitOfWork, *, limit: int = SEQUENCE_LIMIT) -> Appended:
    """Append up to ``limit`` queued receipts of the configured suite to its log, in issue
    order, and sign a checkpoint of the new tree; commits."""
    suite = issuer().suite
    h = suite.hash
    with uow:
        session = uow.session
        now = as_utc(uow.clock.now())
        conn = session.connection()
        if not _queued(conn, suite.name, 1):  # idle: read the head, write nothing
            head_row = head(uow, suite.name)
            return Appended(suite.name, head_row.size, head_row.size, head_row.root, None)
        taken = conn.execute(_TAKE_HEAD, {"p_suite": suite.name, "p_now": now}).one()
        size, stored, origin = int(taken[0]), list(taken[1]), str(taken[2])
        if not origin:
            origin = issuer().origin
        queued = _queued(conn, suite.name, limit)
        if not queued:
            root = merkle.root_from_frontier(h, _frontier(stored), size)
            uow.commit()
            return Appended(suite.name, size, size, root.hex(), None)
        leaves = [leaf_hash(h, bytes.fromhex(digest)) for _, _, digest in queued]
        nodes, frontier = merkle.new_nodes(h, _frontier(stored), size, leaves)
        _append(conn, suite.name, size, queued, nodes, now)
        new_size = size + len(queued)
        root = merkle.root_from_frontier(h, frontier, new_size)
        conn.execute(update(_HEAD).where(_HEAD.c.suite == suite.name).values(
            size=new_size, frontier=[f.hex() for f in frontier], root=root.hex(),
            origin=origin))
        checkpoint = _checkpoint(uow, origin, new_size, root, now)
        uow.audit.record(system_actor("receipts"), "receipt_log.appended", "receipt_log",
                         suite.name, {"from_size": size, "tree_size": new_size,
                                      "root": root.hex(), "checkpoint": checkpoint.id})
        uow.commit()
        return Appended(suite.name, size, new_size, root.hex(), checkpoint.id)


def _checkpoint(uow: UnitOfWork, origin: str, size: int, root: bytes,
                now: datetime) -> Checkpoint:
    suite = issuer().suite
    note = sign_checkpoint(suite, origin, size, root, int(now.timestamp()))
    checkpoint = Checkpoint(suite=suite.name, origin=origin, tree_size=size, root=root.hex(),
                            signer=suite.identity, signed_at=now, note=note)
    uow.session.add(checkpoint)
    uow.session.flush()
    return checkpoint


def head(uow: UnitOfWork, suite: str) -> LogHead:
    """The head row of ``suite``'s log (the migration creates one per suite)."""
    head_row = uow.session.get(LogHead, suite)
    assert head_row is not None, f"the migration creates the head of log {suite}"
    return head_row


# One indexed probe per address: the addresses are joined in as a small table, which both
# planners drive the primary key with (an IN over (level, index) pairs makes SQLite scan
# the whole log). PostgreSQL gets one fixed statement, prepared once per connection.
_NODES_PG = text(
    'SELECT n.level, n."index", n.hash FROM receipt_log_nodes n '
    'JOIN unnest(CAST(:levels AS integer[]), CAST(:indexes AS bigint[])) AS v(level, idx) '
    'ON n.level = v.level AND n."index" = v.idx WHERE n.suite = :suite')


def _nodes_sqlite(count: int) -> TextClause:
    pairs = ", ".join(f"(:l{i}, :i{i})" for i in range(count))
    return text('SELECT n.level, n."index", n.hash FROM receipt_log_nodes n '  # noqa: S608
                f"JOIN (VALUES {pairs}) AS v "
                'ON n.level = v.column1 AND n."index" = v.column2 WHERE n.suite = :suite')


def nodes_at(uow: UnitOfWork, suite: str,
             addresses: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored nodes at ``addresses`` (level, index), in one query."""
    if not addresses:
        return {}
    conn = uow.session.connection()
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_NODES_PG, {"suite": suite,
                                        "levels": [a[0] for a in addresses],
                                        "indexes": [a[1] for a in addresses]})
    else:
        params: dict[str, Any] = {"suite": suite}
        for i, (level, index) in enumerate(addresses):
            params[f"l{i}"], params[f"i{i}"] = level, index
        rows = conn.execute(_nodes_sqlite(len(addresses)), params)
    return {(int(level), int(index)): bytes(node) for level, index, node in rows}


def inclusion_proof(uow: UnitOfWork, suite: str, index: int, size: int) -> list[bytes]:
    h = suite_hash(suite)
    nodes = nodes_at(uow, suite, merkle.inclusion_paths(index, size))
    return merkle.inclusion_proof(h, index, size, nodes)


def latest_checkpoint(uow: UnitOfWork, suite: str, *, covering: int = 0) -> Checkpoint | None:
    """The newest checkpoint of ``suite``'s log whose tree holds more than ``covering``
    leaves."""
    return uow.session.scalars(
        select(Checkpoint).where(Checkpoint.suite == suite, Checkpoint.tree_size > covering)
        .order_by(Checkpoint.tree_size.desc()).limit(1)
    ).first()


def _known(suite: str) -> str:
    if suite not in SUITES:
        raise LogNotFound(suite=suite)
    return suite


def checkpoint_view(suite: str, tree_size: int | None = None, *, uow: UnitOfWork
                    ) -> dict[str, Any]:
    """Public: the log's latest signed checkpoint, or the one at ``tree_size``.

    Raises:
        LogNotFound: no such suite's log.
        CheckpointNotFound: no checkpoint at that size (or none yet).
    """
    _known(suite)
    with uow:
        stmt = select(Checkpoint).where(Checkpoint.suite == suite)
        if tree_size is not None:
            stmt = stmt.where(Checkpoint.tree_size == tree_size)
        found = uow.session.scalars(stmt.order_by(Checkpoint.tree_size.desc()).limit(1)).first()
        if found is None:
            raise CheckpointNotFound(suite=suite, tree_size=tree_size)
        return _checkpoint_dict(found)


def _checkpoint_dict(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"suite": checkpoint.suite, "origin": checkpoint.origin,
            "tree_size": checkpoint.tree_size, "root": checkpoint.root,
            "signed_at": checkpoint.signed_at, "note": checkpoint.note}


def consistency(suite: str, first: int, second: int, *, uow: UnitOfWork) -> dict[str, Any]:
    """Public: the RFC 9162 consistency proof between two sizes of the log.

    Raises:
        LogNotFound: no such suite's log.
        LogSizeInvalid: not 0 < first ≤ second ≤ the log's size.
    """
    _known(suite)
    with uow:
        size = head(uow, suite).size
        if not 0 < first <= second <= size:
            raise LogSizeInvalid(first=first, second=second, size=size)
        h = suite_hash(suite)
        wanted = {*merkle.consistency_paths(first, second), *merkle.range_nodes(0, first),
                  *merkle.range_nodes(0, second)}
        nodes = nodes_at(uow, suite, sorted(wanted))  # the proof and both roots, one query
        proof = merkle.consistency_proof(h, first, second, nodes)
        return {"suite": suite, "first": first, "second": second,
                "first_root": merkle.subtree_root(h, 0, first, nodes).hex(),
                "second_root": merkle.subtree_root(h, 0, second, nodes).hex(),
                "proof": [p.hex() for p in proof]}
