"""Compliance and supervision (filings, alerts, the regulator's views and exports, the audit
chain), receipts, and webhook endpoints."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from market_client._base import Group, seg, without_none
from market_client.download import Progress, Saved, save
from market_client.proofs import ProofReport, verify_proof_bundle
from market_client.types import (
    JSON,
    Alert,
    AuditVerification,
    BundleVerification,
    Filing,
    OrderSummary,
    Page,
    ProofBundle,
    Receipt,
    RegulatorOrder,
    Sanction,
    Statistics,
)


def _filters(concluded_from: str | None, concluded_to: str | None, party: str | None,
             product: str | None, sector: str | None, kind: str | None,
             currency: str | None, min_amount: int | None,
             max_amount: int | None) -> dict[str, Any]:
    return {"concluded_from": concluded_from, "concluded_to": concluded_to, "party": party,
            "product": product, "sector": sector, "kind": kind, "currency": currency,
            "min_amount": min_amount, "max_amount": max_amount}


class Filings(Group):
    """Filings (登记备案) of trades you are a party to; every one for operator and regulators."""

    def list(self, *, limit: int | None = None, cursor: str | None = None,
             **filters: Any) -> Page[Filing]:
        return cast(Page[Filing], self._http.get("/filings", limit=limit, cursor=cursor,
                                                 **filters))

    def iter(self, **filters: Any) -> Iterator[Filing]:
        return self._http.items("/filings", filters)

    def get(self, filing_id: str) -> Filing:
        return cast(Filing, self._http.get(f"/filings/{seg(filing_id)}"))


class Alerts(Group):
    """Risk alerts (风险监测) and their dispositions (the operator and regulators)."""

    def list(self, *, status: str | None = None, rule: str | None = None,
             limit: int | None = None, cursor: str | None = None) -> Page[Alert]:
        return cast(Page[Alert], self._http.get("/alerts", status=status, rule=rule,
                                                limit=limit, cursor=cursor))

    def iter(self, *, status: str | None = None, rule: str | None = None) -> Iterator[Alert]:
        return self._http.items("/alerts", {"status": status, "rule": rule})

    def get(self, alert_id: str) -> Alert:
        return cast(Alert, self._http.get(f"/alerts/{seg(alert_id)}"))

    def dispose(self, alert_id: str, status: str, note: str, *,
                idempotency_key: str | None = None) -> Alert:
        """Move an alert on: ``investigating``, ``closed`` (or ``open`` again), with a note."""
        return cast(Alert, self._http.post(f"/alerts/{seg(alert_id)}/dispositions",
                                           {"status": status, "note": note}, idempotent=True,
                                           idempotency_key=idempotency_key))


class Regulator(Group):
    """The regulator's read-only views (every read is itself audited), its exports, and the
    one thing it writes besides alert dispositions: suspension orders."""

    def filings(self, *, concluded_from: str | None = None, concluded_to: str | None = None,
                party: str | None = None, product: str | None = None,
                sector: str | None = None, kind: str | None = None,
                currency: str | None = None, min_amount: int | None = None,
                max_amount: int | None = None, limit: int | None = None,
                cursor: str | None = None) -> Page[Filing]:
        """One page of every filing, filtered."""
        found = _filters(concluded_from, concluded_to, party, product, sector, kind,
                         currency, min_amount, max_amount)
        return cast(Page[Filing], self._http.get("/regulator/filings", limit=limit,
                                                 cursor=cursor, **found))

    def iter_filings(self, *, concluded_from: str | None = None,
                     concluded_to: str | None = None, party: str | None = None,
                     product: str | None = None, sector: str | None = None,
                     kind: str | None = None, currency: str | None = None,
                     min_amount: int | None = None, max_amount: int | None = None,
                     page_size: int | None = None) -> Iterator[Filing]:
        """Every filing passing the filters, fetched a page at a time as they are reached."""
        found = _filters(concluded_from, concluded_to, party, product, sector, kind,
                         currency, min_amount, max_amount)
        return self._http.items("/regulator/filings", found, page_size=page_size)

    def export_filings(self, dest: str | os.PathLike[str], *, format: str = "csv",
                       concluded_from: str | None = None, concluded_to: str | None = None,
                       party: str | None = None, product: str | None = None,
                       sector: str | None = None, kind: str | None = None,
                       currency: str | None = None, min_amount: int | None = None,
                       max_amount: int | None = None, progress: Progress | None = None,
                       ) -> Saved:
        """Stream the filings passing the filters to ``dest`` as ``csv`` or ``jsonl``
        (``progress(bytes, None)`` told as they arrive)."""
        found = _filters(concluded_from, concluded_to, party, product, sector, kind,
                         currency, min_amount, max_amount)
        return save(self._http, "/regulator/filings/export", dest,
                    params={**found, "format": format}, progress=progress)

    def orders(self, *, status: str | None = None, role: str | None = None,
               product: str | None = None, party: str | None = None,
               created_from: str | None = None, created_to: str | None = None,
               min_amount: int | None = None, max_amount: int | None = None,
               limit: int | None = None, cursor: str | None = None) -> Page[OrderSummary]:
        return cast(Page[OrderSummary], self._http.get(
            "/regulator/orders", status=status, role=role, product=product, party=party,
            created_from=created_from, created_to=created_to, min_amount=min_amount,
            max_amount=max_amount, limit=limit, cursor=cursor))

    def iter_orders(self, **filters: Any) -> Iterator[OrderSummary]:
        return self._http.items("/regulator/orders", filters)

    def order(self, order_id: str) -> RegulatorOrder:
        """One order's full record: contract, journals and postings, allocations, filing."""
        return cast(RegulatorOrder, self._http.get(f"/regulator/orders/{seg(order_id)}"))

    def statistics(self, **filters: Any) -> Statistics:
        """Filed trades: count and volume by day, sector and product type, per currency."""
        return cast(Statistics, self._http.get("/regulator/statistics", **filters))

    def sanctions(self) -> Sequence[Sanction]:
        """Participants suspended or blacklisted, since when and why (public)."""
        return cast(Sequence[Sanction], self._http.get("/disclosure/sanctions")["items"])

    def market_statistics(self) -> JSON:
        """Filed trades by month, sector and type, with no party named (public)."""
        return cast(JSON, self._http.get("/disclosure/market-statistics"))

    def suspend(self, subject_type: str, subject_id: str, reason: str, *,
                alert_id: str | None = None, idempotency_key: str | None = None) -> JSON:
        """Order a ``participant`` or a ``listing`` suspended; it is done at once."""
        return cast(JSON, self._http.post(
            "/suspension-orders",
            without_none(subject_type=subject_type, subject_id=subject_id, reason=reason,
                         alert_id=alert_id),
            idempotent=True, idempotency_key=idempotency_key))

    def reads(self, **filters: Any) -> Iterator[JSON]:
        """The supervision trace: every read a regulator made."""
        return self._http.items("/regulator/reads", filters)


class Audit(Group):
    """The hash-chained audit log (the operator and regulators)."""

    def verification(self) -> AuditVerification:
        """The whole chain recomputed; names the first entry altered or removed."""
        return cast(AuditVerification, self._http.get("/audit/verification"))

    def iter_entries(self, **filters: Any) -> Iterator[JSON]:
        return self._http.items("/audit/entries", filters)


class Receipts(Group):
    """Receipts (数据存证) and their proof bundles."""

    def get(self, receipt_id: str) -> Receipt:
        return cast(Receipt, self._http.get(f"/receipts/{seg(receipt_id)}"))

    def proof(self, receipt_id: str) -> ProofBundle:
        """The proof bundle: receipt, inclusion proof, signed checkpoint, anchor."""
        return cast(ProofBundle, self._http.get(f"/receipts/{seg(receipt_id)}/proof"))

    def verify(self, bundle: Mapping[str, Any], *,
               signer: str | None = None) -> BundleVerification:
        """The exchange's own check of a bundle, part by part (trusting the exchange)."""
        return cast(BundleVerification, self._http.post(
            "/receipts/verification", without_none(bundle=dict(bundle), signer=signer)))

    def verify_locally(self, bundle: Mapping[str, Any], *, trusted_signer: str | None = None,
                       rpc_url: str | None = None) -> ProofReport:
        """Check a bundle here with the exchange's stand-alone verifier, trusting nobody."""
        return verify_proof_bundle(bundle, trusted_signer=trusted_signer, rpc_url=rpc_url)

    def checkpoint(self, suite: str, *, tree_size: int | None = None) -> JSON:
        return cast(JSON, self._http.get(f"/receipts/logs/{seg(suite)}/checkpoint",
                                         tree_size=tree_size))


class WebhookEndpoints(Group):
    """Your organisation's webhook endpoints and event feed (check deliveries with
    :func:`market_client.webhooks.verify_signature`)."""

    def create(self, url: str, event_types: Sequence[str], *, description: str | None = None,
               idempotency_key: str | None = None) -> JSON:
        """Register an endpoint; the answer's ``secret`` is shown only this once."""
        return cast(JSON, self._http.post(
            "/webhooks/endpoints",
            without_none(url=url, event_types=[*event_types], description=description),
            idempotent=True, idempotency_key=idempotency_key))

    def list(self) -> Iterator[JSON]:
        return self._http.items("/webhooks/endpoints")

    def events(self) -> Iterator[JSON]:
        """Events sent to your organisation, oldest first."""
        return self._http.items("/webhooks/events")
