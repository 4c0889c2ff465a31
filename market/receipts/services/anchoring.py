"""Anchoring the receipts log on an EVM chain, one batch at a time (off unless
``MARKET_CHAIN_RPC_URL`` is set).

The worker calls :func:`tick`, which moves the batches along :class:`BatchState`:

* **open**: the log grew past the last batch's tree size and no batch is open: a batch opens
  with the next id, from that size.
* **sealed**: the open batch has grown by ``anchor_batch_size`` receipts or is
  ``anchor_batch_seconds`` old, and no other batch is on its way: its tree size and root are
  fixed to the log head's, with the checkpoint signed at that size.
* **submitted**: the ``anchor(batchId, root, treeSize)`` transaction is signed with the
  pending nonce and suggested fees, persisted (raw bytes, hash, nonce, fees, one more entry in
  ``attempts``), and only then sent. A crash in between leaves ``sent_at`` empty and the next
  tick sends the persisted bytes again: same hash, so never a second transaction.
  A transaction still unmined ``anchor_stuck_seconds`` after it was signed is replaced under
  the same nonce with both fees raised by ``anchor_fee_bump_percent`` (10 % at least, as nodes
  require) and at least the current suggestion; the batch stays submitted.
* **included**: one of the attempts was mined (status 1, with the batch's ``Anchored`` event);
  **failed** if it reverted, or emitted no such event (not the anchor contract).
* **finalized**: ``anchor_confirmations`` blocks deep and its block still canonical.
* **reorged**: the transaction's block is no longer canonical (or its receipt is gone);
  **resubmitted** when the persisted bytes are sent again, followed like submitted. If the
  nonce was taken meanwhile (by another of the sender's transactions) and none of the batch's
  transactions is mined, the anchor is signed anew with a fresh nonce.

Only one batch is on its way (sealed … reorged) at a time, so batch ids and tree sizes reach
the contract strictly increasing. Every call to the chain happens outside any database
transaction, and every state change is a short unit of work of its own, audited as
``receipt_batch.<state>`` by the system actor ``anchoring``. A step re-reads and locks the
batch before writing and does nothing if another worker moved it meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from market.kernel.actor import system_actor
from market.kernel.clock import Clock, as_utc
from market.kernel.config import Settings
from market.kernel.errors import ConfigurationError
from market.kernel.uow import UnitOfWork
from market.receipts.chain import (
    ChainClient,
    ChainError,
    Fees,
    NonceTooLow,
    SignedTx,
    TxReceipt,
    address_of,
    anchored_events,
    sign_anchor,
)
from market.receipts.domain import BatchState
from market.receipts.models import AnchorBatch, Checkpoint, LogHead
from market.receipts.services.issuer import issuer
from market.receipts.services.log import _checkpoint

ACTOR = system_actor("anchoring")
IN_FLIGHT = (BatchState.SEALED, BatchState.SUBMITTED, BatchState.RESUBMITTED,
             BatchState.INCLUDED, BatchState.REORGED)
FOLLOWED = (BatchState.SUBMITTED, BatchState.RESUBMITTED)
# Steps one tick may take with the batch on its way (sealed → submitted → included →
# finalized, or a reorg and its resubmission).
MAX_STEPS = 6
_STATE_FIELDS = ("status", "suite", "chain_id", "contract", "from_size", "tree_size", "root",
                 "checkpoint_id", "sender", "nonce", "tx_hash", "max_fee_per_gas",
                 "max_priority_fee_per_gas", "block_number", "block_hash", "gas_used",
                 "last_error")

SessionFactory = Callable[[], Session]


def _state(batch: AnchorBatch, **extra: Any) -> dict[str, Any]:
    found = {k: getattr(batch, k) for k in _STATE_FIELDS if getattr(batch, k) is not None}
    return {**found, "attempts": len(batch.attempts or []), **extra}


def _fees(batch: AnchorBatch) -> Fees:
    assert batch.max_fee_per_gas is not None
    return Fees(batch.max_fee_per_gas, batch.max_priority_fee_per_gas)


@dataclass
class Anchorer:
    """The steps of one :func:`tick` (each usable alone, which the tests do)."""

    session_factory: SessionFactory
    clock: Clock
    settings: Settings
    client: ChainClient
    done: dict[str, list[int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    # -- reading and writing ------------------------------------------------------------

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.clock, ACTOR)

    def _now(self) -> datetime:
        return as_utc(self.clock.now())

    def _note(self, what: str, batch_id: int) -> None:
        self.done.setdefault(what, []).append(batch_id)

    def in_flight(self) -> AnchorBatch | None:
        """The batch on its way onto the chain (sealed to reorged), if any."""
        with self._uow() as uow:
            return uow.session.scalars(
                select(AnchorBatch).where(AnchorBatch.status.in_([s.value for s in IN_FLIGHT]))
                .order_by(AnchorBatch.id).limit(1)).first()

    def _change(self, seen: AnchorBatch, action: str,
                change: Callable[[UnitOfWork, AnchorBatch, datetime], None],
                **audited: Any) -> bool:
        """Apply ``change`` to the batch in a unit of work of its own, audited as ``action``,
        unless it moved since it was read as ``seen``; whether it was applied."""
        with self._uow() as uow:
            batch = uow.session.scalars(
                select(AnchorBatch).where(AnchorBatch.id == seen.id).with_for_update()).one()
            if (batch.status, batch.tx_hash, len(batch.attempts or [])) != (
                    seen.status, seen.tx_hash, len(seen.attempts or [])):
                return False
            now = self._now()
            change(uow, batch, now)
            batch.updated_at = now
            if action:
                uow.audit.record(ACTOR, action, "receipt_batch", str(batch.id),
                                 _state(batch, **audited))
            uow.commit()
        if action:
            self._note(action.removeprefix("receipt_batch."), seen.id)
        return True

    def _move(self, seen: AnchorBatch, target: BatchState,
              change: Callable[[AnchorBatch, datetime], None] | None = None,
              action: str | None = None, **audited: Any) -> bool:
        def apply(_uow: UnitOfWork, batch: AnchorBatch, now: datetime) -> None:
            if change is not None:
                change(batch, now)
            batch.move(target, at=now)

        return self._change(seen, action or f"receipt_batch.{target.value}", apply, **audited)

    def _record_error(self, seen: AnchorBatch, message: str) -> None:
        def note(_uow: UnitOfWork, batch: AnchorBatch, _now: datetime) -> None:
            batch.last_error = message[:2000]

        self.errors.append(f"batch {seen.id}: {message}")
        self._change(seen, "", note)

    # -- open and seal ------------------------------------------------------------------

    def open_batch(self) -> AnchorBatch | None:
        """Open the next batch if the log grew past the last batch and none is open."""
        suite = issuer().suite.name
        try:
            with self._uow() as uow:
                session = uow.session
                if session.scalars(select(AnchorBatch.id).where(
                        AnchorBatch.status == BatchState.OPEN.value)).first() is not None:
                    return None
                head = session.get(LogHead, suite)
                last_id = session.scalar(select(func.max(AnchorBatch.id))) or 0
                covered = session.scalar(select(func.max(AnchorBatch.tree_size))
                                         .where(AnchorBatch.suite == suite)) or 0
                if head is None or head.size <= covered:
                    return None
                now = self._now()
                batch = AnchorBatch(id=last_id + 1, suite=suite, status=BatchState.OPEN.value,
                                    chain_id=self.settings.chain_id,
                                    contract=self.settings.anchor_contract, opened_at=now,
                                    from_size=covered, attempts=[], updated_at=now)
                session.add(batch)
                session.flush()
                uow.audit.record(ACTOR, "receipt_batch.open", "receipt_batch", str(batch.id),
                                 _state(batch))
                uow.commit()
        except IntegrityError:  # another worker opened it first
            return None
        self._note("open", batch.id)
        return batch

    def seal_batch(self, *, force: bool = False) -> AnchorBatch | None:
        """Seal the open batch if it is due (``force``: whenever it has grown) and no other
        batch is on its way: fix its tree size and root to the log head's and take the
        checkpoint signed at that size (signing one if the log has none there)."""
        with self._uow() as uow:
            session = uow.session
            batch = session.scalars(select(AnchorBatch).where(
                AnchorBatch.status == BatchState.OPEN.value).with_for_update()).first()
            if batch is None or session.scalars(select(AnchorBatch.id).where(
                    AnchorBatch.status.in_([s.value for s in IN_FLIGHT]))).first() is not None:
                return None
            head = session.get(LogHead, batch.suite)
            now = self._now()
            if head is None or head.size <= batch.from_size:
                return None
            due = (force or head.size - batch.from_size >= self.settings.anchor_batch_size
                   or now - as_utc(batch.opened_at)
                   >= timedelta(seconds=self.settings.anchor_batch_seconds))
            if not due:
                return None
            checkpoint = session.scalars(select(Checkpoint).where(
                Checkpoint.suite == batch.suite, Checkpoint.tree_size == head.size)).first()
            if checkpoint is None:
                checkpoint = _checkpoint(uow, head.origin or issuer().origin, head.size,
                                         bytes.fromhex(head.root), now)
            if checkpoint.root != head.root:
                raise RuntimeError(f"the checkpoint at size {head.size} has root "
                                   f"{checkpoint.root}, the log head {head.root}")
            batch.tree_size, batch.root = checkpoint.tree_size, checkpoint.root
            batch.checkpoint_id, batch.sealed_at = checkpoint.id, now
            batch.move(BatchState.SEALED, at=now)
            uow.audit.record(ACTOR, "receipt_batch.sealed", "receipt_batch", str(batch.id),
                             _state(batch))
            uow.commit()
        self._note("sealed", batch.id)
        return batch

    # -- the transaction ----------------------------------------------------------------

    def _sign(self, batch: AnchorBatch, *, nonce: int, fees: Fees) -> SignedTx:
        assert batch.root is not None
        assert batch.tree_size is not None
        return sign_anchor(self.settings.anchor_key, chain_id=batch.chain_id,
                           contract=batch.contract, nonce=nonce, fees=fees, batch_id=batch.id,
                           root=bytes.fromhex(batch.root), tree_size=batch.tree_size)

    def _persist(self, seen: AnchorBatch, target: BatchState, action: str, *, nonce: int,
                 fees: Fees, reason: str) -> bool:
        """Sign the anchor and persist it as the batch's newest attempt (not sent)."""
        signed = self._sign(seen, nonce=nonce, fees=fees)

        def keep(batch: AnchorBatch, now: datetime) -> None:
            batch.sender, batch.nonce = signed.sender, signed.nonce
            batch.max_fee_per_gas = fees.max_fee_per_gas
            batch.max_priority_fee_per_gas = fees.max_priority_fee_per_gas
            batch.tx_hash, batch.raw_tx = signed.tx_hash, signed.raw_tx
            batch.attempts = [*(batch.attempts or []), {
                "tx_hash": signed.tx_hash, "raw_tx": signed.raw_tx, "nonce": signed.nonce,
                "max_fee_per_gas": fees.max_fee_per_gas,
                "max_priority_fee_per_gas": fees.max_priority_fee_per_gas,
                "signed_at": now.isoformat(), "reason": reason}]
            batch.submitted_at, batch.sent_at, batch.last_error = now, None, None

        return self._move(seen, target, keep, action, reason=reason)

    def submit(self, seen: AnchorBatch, *, send: bool = True) -> None:
        """Sign the sealed batch's anchor with the pending nonce and suggested fees, persist
        it, then (unless ``send`` is False: what a crash right after persisting leaves)
        send it."""
        sender = address_of(self.settings.anchor_key)
        nonce = self.client.pending_nonce(sender)
        fees = self.client.suggest_fees()
        if self._persist(seen, BatchState.SUBMITTED, "receipt_batch.submitted", nonce=nonce,
                         fees=fees, reason="submitted") and send:
            self.send(seen.id)

    def _load(self, batch_id: int) -> AnchorBatch:
        with self._uow() as uow:
            batch = uow.session.get(AnchorBatch, batch_id)
            assert batch is not None
            return batch

    def send(self, batch_id: int, *, resign: bool = True) -> bool:
        """Send the batch's persisted transaction and note when; whether the node took it.

        A node that refuses it for its nonce, while none of the batch's transactions is
        mined, means another transaction took the nonce: sign the anchor anew with a fresh
        one (once per call) and send that. Any other refusal is noted on the batch and the
        bytes are sent again on the next tick.
        """
        batch = self._load(batch_id)
        if batch.raw_tx is None:
            return False
        try:
            self.client.send_raw(batch.raw_tx)
        except NonceTooLow as exc:
            if self.mined(batch) is not None or not resign:
                return False
            fresh = self.client.pending_nonce(address_of(self.settings.anchor_key))
            fees = self.client.suggest_fees()
            status = BatchState(batch.status)
            if self._persist(batch, status, "receipt_batch.replaced", nonce=fresh, fees=fees,
                             reason=f"nonce {batch.nonce} taken: {exc}"):
                return self.send(batch_id, resign=False)
            return False
        except ChainError as exc:
            self._record_error(batch, f"send failed: {exc}")
            return False

        def sent(_uow: UnitOfWork, row: AnchorBatch, now: datetime) -> None:
            row.sent_at, row.last_error = now, None

        self._change(batch, "", sent)
        self._note("sent", batch_id)
        return True

    def mined(self, batch: AnchorBatch) -> tuple[dict[str, Any], TxReceipt] | None:
        """The attempt of the batch that is mined, and its receipt (newest attempt first)."""
        seen: set[str] = set()
        for attempt in reversed(batch.attempts or []):
            tx_hash = str(attempt["tx_hash"])
            if tx_hash in seen:
                continue
            seen.add(tx_hash)
            found = self.client.receipt(tx_hash)
            if found is not None:
                return attempt, found
        return None

    def _included(self, seen: AnchorBatch, attempt: dict[str, Any], found: TxReceipt) -> None:
        events = [e for e in anchored_events(found, seen.contract)
                  if e.batch_id == seen.id and e.tree_size == seen.tree_size
                  and seen.root is not None and e.root == bytes.fromhex(seen.root)]
        if found.status != 1 or not events:
            why = ("reverted" if found.status != 1
                   else f"emitted no Anchored event of batch {seen.id} from {seen.contract}")
            target = seen
            if BatchState(seen.status) is BatchState.REORGED:
                self._move(seen, BatchState.RESUBMITTED)
                target = self._load(seen.id)

            def failed(batch: AnchorBatch, _now: datetime) -> None:
                batch.tx_hash = found.tx_hash
                batch.block_number, batch.block_hash = found.block_number, found.block_hash
                batch.gas_used = found.gas_used
                batch.last_error = (f"transaction {found.tx_hash} {why} in block "
                                    f"{found.block_number}")

            self._move(target, BatchState.FAILED, failed)
            return

        def included(batch: AnchorBatch, now: datetime) -> None:
            batch.tx_hash, batch.raw_tx = found.tx_hash, str(attempt["raw_tx"])
            batch.nonce = int(attempt["nonce"])
            batch.max_fee_per_gas = attempt["max_fee_per_gas"]
            batch.max_priority_fee_per_gas = attempt["max_priority_fee_per_gas"]
            batch.block_number, batch.block_hash = found.block_number, found.block_hash
            batch.gas_used, batch.included_at, batch.last_error = found.gas_used, now, None

        self._move(seen, BatchState.INCLUDED, included)

    def follow(self, seen: AnchorBatch) -> None:
        """A submitted (or resubmitted) batch: send it if it was never sent, then see whether
        an attempt was mined; replace it with higher fees once it is stuck."""
        if seen.sent_at is None:
            self.send(seen.id)
            seen = self._load(seen.id)
            if BatchState(seen.status) not in FOLLOWED:
                return
        mined = self.mined(seen)
        if mined is not None:
            self._included(seen, *mined)
            return
        assert seen.submitted_at is not None
        assert seen.nonce is not None
        waited = self._now() - as_utc(seen.submitted_at)
        if waited < timedelta(seconds=self.settings.anchor_stuck_seconds):
            return
        fees = _fees(seen).bumped(self.settings.anchor_fee_bump_percent,
                                  self.client.suggest_fees())
        if self._persist(seen, BatchState(seen.status), "receipt_batch.replaced",
                         nonce=seen.nonce, fees=fees,
                         reason=f"not mined after {int(waited.total_seconds())} s"):
            self.send(seen.id)

    def confirm(self, seen: AnchorBatch) -> None:
        """An included batch: finalized once deep enough on a block still canonical;
        reorged if its block or its receipt is gone."""
        assert seen.tx_hash is not None
        assert seen.block_number is not None
        head = self.client.block_number()
        found = self.client.receipt(seen.tx_hash)
        canonical = self.client.block_hash(seen.block_number)
        if found is None or found.block_hash != seen.block_hash or canonical != seen.block_hash:
            why = ("receipt gone" if found is None
                   else f"block {seen.block_number} is now {canonical}")

            def reorged(batch: AnchorBatch, _now: datetime) -> None:
                batch.last_error = f"reorged: {why}"
                batch.block_number = batch.block_hash = batch.gas_used = None
                batch.included_at = None

            self._move(seen, BatchState.REORGED, reorged, was_block=seen.block_number,
                       was_block_hash=seen.block_hash)
            return
        if head - seen.block_number + 1 >= self.settings.anchor_confirmations:
            def finalized(batch: AnchorBatch, now: datetime) -> None:
                batch.finalized_at = now

            self._move(seen, BatchState.FINALIZED, finalized,
                       confirmations=head - seen.block_number + 1)

    def resubmit(self, seen: AnchorBatch) -> None:
        """A reorged batch: included again if the chain re-mined one of its transactions,
        else its persisted transaction is sent again (resubmitted)."""
        mined = self.mined(seen)
        if mined is not None:
            self._included(seen, *mined)
            return

        def again(batch: AnchorBatch, now: datetime) -> None:
            batch.submitted_at, batch.sent_at = now, None

        if self._move(seen, BatchState.RESUBMITTED, again):
            self.send(seen.id)

    def step(self) -> bool:
        """One step of the batch on its way; whether anything changed."""
        seen = self.in_flight()
        if seen is None:
            return False
        if seen.chain_id != self.settings.chain_id:
            self.errors.append(f"batch {seen.id} is on chain {seen.chain_id}, the node "
                               f"serves {self.settings.chain_id}")
            return False
        before = (seen.status, seen.tx_hash, len(seen.attempts or []), seen.sent_at)
        status = BatchState(seen.status)
        if status is BatchState.SEALED:
            self.submit(seen)
        elif status in FOLLOWED:
            self.follow(seen)
        elif status is BatchState.INCLUDED:
            self.confirm(seen)
        elif status is BatchState.REORGED:
            self.resubmit(seen)
        after = self._load(seen.id)
        return before != (after.status, after.tx_hash, len(after.attempts or []),
                          after.sent_at)

    def advance(self) -> None:
        for _ in range(MAX_STEPS):
            if not self.step():
                return

    def run(self) -> dict[str, Any]:
        try:
            chain_id = self.client.chain_id()
            if chain_id != self.settings.chain_id:
                raise ChainError(f"the node serves chain {chain_id}, MARKET_CHAIN_ID is "
                                 f"{self.settings.chain_id}")
            self.advance()
            self.open_batch()
            if self.seal_batch() is not None:
                self.advance()
        except ChainError as exc:
            batch = self.in_flight()
            if batch is not None:
                self._record_error(batch, str(exc))
            else:
                self.errors.append(str(exc))
        return {**self.done, "errors": self.errors}


def tick(session_factory: SessionFactory, clock: Clock, settings: Settings, *,
         client: ChainClient | None = None) -> dict[str, Any]:
    """One pass of anchoring (see the module's docstring): what moved, by step, as
    ``{"open": [batch ids], "sealed": […], …, "errors": [messages]}``. Chain failures are
    noted on the batch and in ``errors``; the next tick carries on.

    Raises:
        ConfigurationError: anchoring is off (no ``MARKET_CHAIN_RPC_URL``) and no client
            was given.
    """
    if client is None and not settings.anchoring:
        raise ConfigurationError("anchoring is off: set MARKET_CHAIN_RPC_URL, MARKET_CHAIN_ID "
                                 "and MARKET_ANCHOR_CONTRACT")
    own = client is None
    chain = client or ChainClient.connect(settings.chain_rpc_url)
    try:
        return Anchorer(session_factory, clock, settings, chain).run()
    finally:
        if own:
            chain.close()
