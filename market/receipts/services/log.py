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

from sqlalchemy import Table, bindparam, delete, insert, select, tuple_, update

from market.kernel.actor import system_actor
from market.kernel.clock import as_utc
from market.kernel.uow import UnitOfWork
from market.receipts import merkle
from market.receipts.checkpoint import sign_checkpoint
from market.receipts.domain import SUITES
from market.receipts.errors import CheckpointNotFound, LogNotFound, LogSizeInvalid
from market.receipts.models import Checkpoint, LogEntry, LogHead, LogNode, ReceiptQueue
from market.receipts.services.issuer import issuer
from market.receipts.suites import suite_hash
from market.receipts.verifier import leaf_hash

_HEAD = cast(Table, LogHead.__table__)
_TAKE_HEAD = (update(_HEAD).where(_HEAD.c.suite == bindparam("p_suite"))
              .values(updated_at=bindparam("p_now"))
              .returning(_HEAD.c.size, _HEAD.c.frontier, _HEAD.c.origin))
_INSERT_NODES = insert(cast(Table, LogNode.__table__))
_INSERT_ENTRIES = insert(cast(Table, LogEntry.__table__))

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


def sequence(uow: UnitOfWork, *, limit: int = SEQUENCE_LIMIT) -> Appended:
    """Append up to ``limit`` queued receipts of the configured suite to its log, in issue
    order, and sign a checkpoint of the new tree; commits."""
    suite = issuer().suite
    h = suite.hash
    with uow:
        session = uow.session
        now = as_utc(uow.clock.now())
        conn = session.connection()
        head = conn.execute(_TAKE_HEAD, {"p_suite": suite.name, "p_now": now}).one()
        size, stored, origin = int(head[0]), list(head[1]), str(head[2])
        if not origin:
            origin = issuer().origin
        queued = session.execute(
            select(ReceiptQueue.seq, ReceiptQueue.receipt_id, ReceiptQueue.digest)
            .where(ReceiptQueue.suite == suite.name).order_by(ReceiptQueue.seq).limit(limit)
        ).all()
        if not queued:
            root = merkle.root_from_frontier(h, _frontier(stored), size)
            uow.commit()
            return Appended(suite.name, size, size, root.hex(), None)
        leaves = [leaf_hash(h, bytes.fromhex(row.digest)) for row in queued]
        nodes, frontier = merkle.new_nodes(h, _frontier(stored), size, leaves)
        conn.execute(_INSERT_NODES, [
            {"suite": suite.name, "level": level, "index": index, "hash": node}
            for level, index, node in nodes
        ])
        conn.execute(_INSERT_ENTRIES, [
            {"suite": suite.name, "leaf_index": size + i, "receipt_id": row.receipt_id,
             "logged_at": now}
            for i, row in enumerate(queued)
        ])
        conn.execute(delete(ReceiptQueue).where(
            ReceiptQueue.seq.in_([row.seq for row in queued])))
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
    head_row = uow.session.get(LogHead, suite)
    assert head_row is not None, f"the migration creates the head of log {suite}"
    return head_row


def nodes_at(uow: UnitOfWork, suite: str,
             addresses: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored nodes at ``addresses`` (level, index), in one query."""
    if not addresses:
        return {}
    rows = uow.session.execute(
        select(LogNode.level, LogNode.index, LogNode.hash)
        .where(LogNode.suite == suite, tuple_(LogNode.level, LogNode.index).in_(addresses))
    ).all()
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
        nodes = nodes_at(uow, suite, merkle.consistency_paths(first, second))
        proof = merkle.consistency_proof(h, first, second, nodes)
        return {"suite": suite, "first": first, "second": second,
                "first_root": merkle.subtree_root(h, 0, first, nodes_at(
                    uow, suite, merkle.range_nodes(0, first))).hex(),
                "second_root": merkle.subtree_root(h, 0, second, nodes_at(
                    uow, suite, merkle.range_nodes(0, second))).hex(),
                "proof": [p.hex() for p in proof]}
