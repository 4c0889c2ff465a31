"""The evidence bundle of a dispute, for an arbitration institution (证据材料): everything the
exchange recorded about the trade, as one RFC 8785 canonical JSON document with its
SHA-256, signed by the platform key the way certificates are (EIP-712 over the digest, see
:mod:`market.receipts.signing`):

* the contract (its document and digest) and both declarations (the seller's listing
  declaration, the buyer's purchase commitment);
* the deliveries with the fingerprints (SHA-256) of the files delivered, and the download
  log (each link issued and every counted download);
* the messages: the negotiation the order came from (other contexts add it through the
  in-transaction event :data:`EVIDENCE_GATHERING`) and the dispute's statements with their
  evidence fingerprints;
* the order's history, ledger journals with their postings and the revenue allocations,
  its receipts, and the audit entries about the order, its contract, deliveries, download
  links and the dispute (with their hashes, so they can be matched against the chain).

The parties, the operator and regulators fetch it; the institution receives it offline and
checks it with :func:`verify_evidence_bundle` (or ``market disputes verify-bundle``) against
the platform's address, without asking the exchange.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from market.compliance import services as compliance
from market.kernel import canonical, events
from market.kernel.audit import AuditEntry, jsonable
from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
from market.trading import repository
from market.trading.models import Delivery, Dispute, DownloadToken, Order
from market.trading.services.queries import _money

BUNDLE_KIND = "dispute.evidence_bundle"
BUNDLE_VERSION = 1
# Published while a bundle is gathered: {order_id, negotiation_id, sections}; a handler adds
# its section to ``sections`` (a dict) under its own name.
EVIDENCE_GATHERING = "trading.evidence_gathering"


def _plain(row: Any, *, omit: tuple[str, ...] = ()) -> dict[str, Any]:
    if dataclasses.is_dataclass(row) and not isinstance(row, type):  # a frozen record
        values = dataclasses.asdict(row)
    else:  # a row
        values = {c.key: getattr(row, c.key) for c in type(row).__mapper__.column_attrs}
    return {k: v for k, v in values.items() if k not in omit}


def _declaration(found: Any | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return _plain(found, omit=("user_id",))


def _delivery(delivery: Delivery) -> dict[str, Any]:
    return _plain(delivery, omit=("credential_hash",))


def _downloads(tokens: list[DownloadToken], entries: list[AuditEntry]) -> list[dict[str, Any]]:
    counted: dict[str, list[Any]] = {}
    for entry in entries:
        if entry.action == "download.counted":
            counted.setdefault(entry.object_id, []).append(entry.at)
    return [{"token_id": t.id, "delivery_id": t.delivery_id, "issued_at": t.created_at,
             "expires_at": t.expires_at, "max_downloads": t.max_uses, "downloads": t.uses,
             "downloaded_at": counted.get(t.id, [])} for t in tokens]


def _statements(dispute: Dispute) -> list[dict[str, Any]]:
    said: list[dict[str, Any]] = [
        {"by": "buyer", "org_id": dispute.buyer_org_id, "at": dispute.opened_at,
         "kind": "dispute", "text": dispute.reason,
         "evidence_sha256": dispute.evidence_sha256}]
    if dispute.answered_at is not None:
        said.append({"by": "seller", "org_id": dispute.seller_org_id,
                     "at": dispute.answered_at, "kind": "answer", "text": dispute.answer,
                     "evidence_sha256": dispute.answer_evidence_sha256 or []})
    if dispute.decided_at is not None:
        said.append({"by": "operator", "org_id": None, "at": dispute.decided_at,
                     "kind": "decision", "text": dispute.decision_reason,
                     "outcome": dispute.outcome, "refund_amount": dispute.refund_amount})
    if dispute.escalated_at is not None:
        said.append({"by": "buyer" if dispute.escalated_by_org_id == dispute.buyer_org_id
                     else "seller", "org_id": dispute.escalated_by_org_id,
                     "at": dispute.escalated_at, "kind": "escalation",
                     "text": dispute.escalation_reason,
                     "institution": dispute.arbitration_institution})
    return said


def _audit(entry: AuditEntry) -> dict[str, Any]:
    return {"seq": entry.seq, "at": entry.at, "actor_kind": entry.actor_kind,
            "actor_label": entry.actor_label, "actor_org_id": entry.actor_org_id,
            "action": entry.action, "object_type": entry.object_type,
            "object_id": entry.object_id, "state_digest": entry.state_digest,
            "prev_hash": entry.prev_hash, "hash": entry.hash}


def _document(uow: UnitOfWork, dispute: Dispute, order: Order) -> dict[str, Any]:
    session = uow.session
    contract = repository.find_contract(session, order.id)
    deliveries = repository.deliveries_of(session, order.id)
    tokens = repository.download_tokens_of(session, order.id)
    money = _money(uow, order.id)
    origin = (contract.document.get("origin") or {}) if contract is not None else {}
    sections: dict[str, Any] = {}
    events.publish(uow, EVIDENCE_GATHERING, {
        "order_id": order.id, "negotiation_id": origin.get("negotiation_id"),
        "sections": sections})
    entries = repository.audit_entries(session, [
        order.id, dispute.id, *([contract.id] if contract is not None else []),
        *(d.id for d in deliveries), *(t.id for t in tokens)])
    return {
        "kind": BUNDLE_KIND, "version": BUNDLE_VERSION,
        "generated_at": uow.clock.now(),
        "dispute": _plain(dispute),
        "rules": {"version": dispute.rules_version, "sha256": dispute.rules_sha256},
        "order": _plain(order, omit=("placed_by_user_id",)),
        "contract": None if contract is None else {
            "id": contract.id, "sha256": contract.sha256, "document": contract.document,
            "created_at": contract.created_at},
        "declarations": {
            "listing": _declaration(compliance.declaration_of(
                "product_version", order.version_id, uow=uow.joined())),
            "purchase": _declaration(compliance.get_declaration_record(
                order.commitment_id, uow=uow.joined()))},
        "deliveries": [_delivery(d) for d in deliveries],
        "downloads": _downloads(tokens, entries),
        "messages": {"negotiation": sections.get("negotiation"),
                     "dispute": _statements(dispute)},
        "history": [_plain(e) for e in repository.order_events(session, order.id)],
        "ledger": {"journals": [{**_plain(j), "postings": [_plain(p) for p in
                                                           money.postings.get(j.id, [])]}
                                for j in money.journals],
                   "allocations": [_plain(a) for a in money.allocations]},
        "receipts": receipts.receipts_of(uow.joined(), "order", [order.id])[order.id],
        "audit": [_audit(e) for e in entries],
    }


def evidence_bundle(dispute_id: str, *, signer: receipts.Signer,
                    uow: UnitOfWork) -> dict[str, Any]:
    """The signed evidence bundle of a dispute, for its parties, the operator and regulators:
    ``{"bundle": document, "digest": sha256, "signature": {...}}``.

    Raises:
        DisputeNotFound: no such dispute visible to the caller.
    """
    with uow:
        dispute = repository.get_dispute(uow.session, uow.actor, dispute_id)
        order = repository.get_order(uow.session, uow.actor, dispute.order_id)
        document = jsonable(_document(uow, dispute, order))
        signature = signer.sign(BUNDLE_KIND, f"dispute:{dispute.id}", document,
                                uow.clock.now())
        return {"bundle": document, "digest": signature.digest,
                "signature": signature.as_dict()}


@dataclass(frozen=True)
class BundleCheck:
    """What checking an evidence bundle found: ``ok`` when ``problems`` is empty."""

    digest: str | None
    signer: str | None
    dispute_id: str | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "digest": self.digest, "signer": self.signer,
                "dispute_id": self.dispute_id, "problems": self.problems}


def verify_evidence_bundle(data: Mapping[str, Any], *,
                           trusted_signer: str | None = None) -> BundleCheck:
    """Check an evidence bundle offline: its digest is the SHA-256 of the bundle's canonical
    JSON, and the signature covers that digest and was made by the platform key (the one
    ``trusted_signer`` names, when given). Any change to the bundle fails it."""
    bundle, signature = data.get("bundle"), data.get("signature")
    if not isinstance(bundle, Mapping) or not isinstance(signature, Mapping):
        return BundleCheck(None, None, None, ["malformed: a bundle and a signature expected"])
    dispute = bundle.get("dispute")
    dispute_id = dispute.get("id") if isinstance(dispute, Mapping) else None
    signer = signature.get("signer")
    problems: list[str] = []
    try:
        digest = hashlib.sha256(canonical.dumps(dict(bundle))).hexdigest()
    except (TypeError, ValueError):
        return BundleCheck(None, str(signer), dispute_id, ["malformed: not canonical JSON"])
    if data.get("digest") != digest or signature.get("digest") != digest:
        problems.append("digest_mismatch: the bundle is not the one the digest names")
    if signature.get("kind") != BUNDLE_KIND or signature.get("subject") != f"dispute:{dispute_id}":
        problems.append("wrong_subject: the signature is not of this dispute's bundle")
    try:
        valid = receipts.verify(BUNDLE_KIND, f"dispute:{dispute_id}", dict(bundle),
                                int(signature.get("issued_at") or 0),
                                str(signature.get("signature") or ""), str(signer or ""))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        problems.append("signature_invalid: the signature does not cover this bundle")
    if trusted_signer is not None and str(signer or "").lower() != trusted_signer.lower():
        problems.append(f"untrusted_signer: signed by {signer}, not {trusted_signer}")
    return BundleCheck(digest, str(signer) if signer else None, dispute_id, problems)
