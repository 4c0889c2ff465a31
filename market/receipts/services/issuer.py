"""Issuing receipts: a versioned body, its digest and the platform's signature, written in the
transaction of the record it proves and queued for the log.

The signing suite and the log's name are the deployment's (``MARKET_RECEIPT_SUITE``,
``MARKET_RECEIPT_LOG_ORIGIN``): the composition root calls :func:`configure` once with the
settings before any use case runs, as it connects the event handlers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert

from market.kernel.audit import jsonable
from market.kernel.canonical import dumps
from market.kernel.clock import as_utc
from market.kernel.config import Settings
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.receipts.domain import RECEIPT_VERSION, Kind, log_origin, subject
from market.receipts.models import Receipt, ReceiptQueue
from market.receipts.suites import Suite, make_suite

_INSERT_RECEIPT = insert(cast(Table, Receipt.__table__))
_INSERT_QUEUED = insert(cast(Table, ReceiptQueue.__table__))


@dataclass(frozen=True)
class IssuedReceipt:
    id: str
    kind: str
    subject: str
    digest: str


@dataclass(frozen=True)
class Issuer:
    """The deployment's signing suite and the name of the log its receipts go to."""

    suite: Suite
    origin: str


_issuer: Issuer | None = None


def configure(settings: Settings) -> Issuer:
    """Use ``settings``' suite and keys from now on; returns the issuer."""
    global _issuer
    key = settings.sm2_signing_key if settings.receipt_suite == "sm2-sm3" else settings.signing_key
    suite = make_suite(settings.receipt_suite, key)
    _issuer = Issuer(suite, log_origin(settings.receipt_log_origin, suite.name))
    return _issuer


def issuer() -> Issuer:
    """The configured issuer.

    Raises:
        RuntimeError: :func:`configure` was never called in this process.
    """
    if _issuer is None:
        raise RuntimeError("receipts are not configured: call receipts.services.configure()")
    return _issuer


def receipt_body(*, receipt_id: str, suite: str, origin: str, kind: str, subject_ref: str,
                 issued_at: int, record: Mapping[str, Any]) -> dict[str, Any]:
    """The signed body of a receipt, version :data:`RECEIPT_VERSION`. It names the receipt
    itself, so two receipts of the same facts in the same second still differ."""
    return {"v": RECEIPT_VERSION, "id": receipt_id, "suite": suite, "log": origin,
            "kind": kind, "subject": subject_ref, "issued_at": issued_at,
            "record": jsonable(record)}


def issue(uow: UnitOfWork, *, kind: Kind, subject_type: str, subject_id: str,
          record: Mapping[str, Any], parties: Iterable[str | None] = (),
          public: bool = False) -> IssuedReceipt:
    """Issue a receipt for ``record`` (the record as it stands now) in ``uow``'s transaction.

    ``parties`` are the organisations that may read it (the regulator always may);
    ``public`` receipts anyone may read.
    """
    signer = issuer()
    suite = signer.suite
    now = as_utc(uow.clock.now())
    issued_at = int(now.timestamp())
    ref = subject(subject_type, subject_id)
    receipt_id = new_id("rcp")
    body = receipt_body(receipt_id=receipt_id, suite=suite.name, origin=signer.origin,
                        kind=kind.value, subject_ref=ref, issued_at=issued_at, record=record)
    digest = suite.hash(dumps(body)).hex()
    receipt: dict[str, Any] = {
        "id": receipt_id, "suite": suite.name, "kind": kind.value,
        "subject_type": subject_type, "subject_id": subject_id, "body": body,
        "digest": digest, "signer": suite.identity,
        "signature": suite.sign_receipt(kind.value, ref, digest, issued_at), "issued_at": now,
        "parties": sorted({p for p in parties if p}), "public": public,
    }
    # Written at once with Core: a receipt refers to nothing, and its queue row to it.
    conn = uow.session.connection()
    conn.execute(_INSERT_RECEIPT, receipt)
    conn.execute(_INSERT_QUEUED, {"receipt_id": receipt_id, "suite": suite.name,
                                  "digest": digest, "queued_at": now})
    uow.audit.record(uow.actor, "receipt.issued", "receipt", receipt_id,
                     {"kind": kind.value, "subject": ref, "digest": digest})
    return IssuedReceipt(receipt_id, kind.value, ref, digest)
