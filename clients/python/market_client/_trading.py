"""Trading (orders, delivery, downloads, acceptance, disputes) and settlement (the ledger,
statements, top-ups, payouts)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, cast

from market_client._base import Group, seg, without_none
from market_client.download import Downloaded, Progress, download, saved_link
from market_client.types import (
    JSON,
    Account,
    DeliveryResult,
    Dispute,
    DownloadToken,
    Order,
    OrderLedger,
    OrderSummary,
    Page,
    Payout,
    Statement,
    TopUp,
)


class Orders(Group):
    """Orders: the buyer places, pays, accepts or disputes; the merchant delivers."""

    def place(self, product_id: str, offer_id: str, commitment: Mapping[str, Any], *,
              signature: str | None = None, idempotency_key: str | None = None) -> Order:
        """Order an offer of a listed product with your purchase commitment (购买承诺).
        A block by the rules raises ``Unprocessable`` with code ``order_refused``."""
        return cast(Order, self._http.post(
            "/orders", without_none(product_id=product_id, offer_id=offer_id,
                                    commitment=dict(commitment), signature=signature),
            idempotent=True, idempotency_key=idempotency_key))

    def list(self, *, status: str | None = None, role: str | None = None,
             product: str | None = None, limit: int | None = None,
             cursor: str | None = None) -> Page[OrderSummary]:
        """Orders where you are buyer or seller (``role``); all for operator and regulators."""
        return cast(Page[OrderSummary], self._http.get(
            "/orders", status=status, role=role, product=product, limit=limit,
            cursor=cursor))

    def iter(self, *, status: str | None = None, role: str | None = None,
             product: str | None = None) -> Iterator[OrderSummary]:
        return self._http.items("/orders", {"status": status, "role": role,
                                            "product": product})

    def get(self, order_id: str) -> Order:
        return cast(Order, self._http.get(f"/orders/{seg(order_id)}"))

    def history(self, order_id: str) -> Iterator[JSON]:
        """Every status change of the order, who made it and why."""
        return self._http.items(f"/orders/{seg(order_id)}/history")

    def ledger(self, order_id: str) -> OrderLedger:
        """The order's journals and, once settled, its revenue split."""
        return cast(OrderLedger, self._http.get(f"/orders/{seg(order_id)}/ledger"))

    def contract(self, order_id: str) -> JSON:
        return cast(JSON, self._http.get(f"/orders/{seg(order_id)}/contract"))

    def pay(self, order_id: str, *, idempotency_key: str | None = None) -> Order:
        """Pay from your available balance into the order's escrow (once, however often
        the call is retried)."""
        return cast(Order, self._http.post(f"/orders/{seg(order_id)}/payment",
                                           idempotent=True, idempotency_key=idempotency_key))

    def cancel(self, order_id: str, reason: str) -> Order:
        return cast(Order, self._http.post(f"/orders/{seg(order_id)}/cancellation",
                                           {"reason": reason}))

    def review(self, order_id: str, decision: str, reason: str) -> Order:
        """Approve or reject an order the rules sent to review (the operator)."""
        return cast(Order, self._http.post(f"/orders/{seg(order_id)}/review",
                                           {"decision": decision, "reason": reason}))

    def deliver(self, order_id: str, mode: str, *, endpoint: str | None = None,
                purpose: str | None = None, access_to: str | None = None,
                note: str | None = None, idempotency_key: str | None = None) -> DeliveryResult:
        """Deliver by ``api`` (a per-order credential, shown once in ``credential``) or
        ``sandbox`` access."""
        return cast(DeliveryResult, self._http.post(
            f"/orders/{seg(order_id)}/deliveries",
            without_none(mode=mode, endpoint=endpoint, purpose=purpose, access_to=access_to,
                         note=note), idempotent=True, idempotency_key=idempotency_key))

    def deliver_file(self, order_id: str, file: str | os.PathLike[str] | bytes | IO[bytes], *,
                     filename: str | None = None, media_type: str = "application/octet-stream",
                     note: str | None = None) -> DeliveryResult:
        """Deliver a file (a path, bytes or a binary file object), streamed up; the exchange
        stores it with its SHA-256."""
        if isinstance(file, str | os.PathLike):
            path = Path(file)
            with path.open("rb") as handle:
                return self._upload(order_id, handle, filename or path.name, media_type, note)
        return self._upload(order_id, file, filename or "delivery", media_type, note)

    def _upload(self, order_id: str, content: bytes | IO[bytes], filename: str,
                media_type: str, note: str | None) -> DeliveryResult:
        data = {"note": note} if note is not None else None
        return cast(DeliveryResult, self._http.json(
            "POST", f"/orders/{seg(order_id)}/deliveries/file",
            files={"file": (filename, content, media_type)}, data=data))

    def download_token(self, order_id: str) -> DownloadToken:
        """An expiring, counted link to the delivered file."""
        return cast(DownloadToken, self._http.post(f"/orders/{seg(order_id)}/download-tokens"))

    def download(self, order_id: str, dest: str | os.PathLike[str], *,
                 url: str | None = None, expected_sha256: str | None = None,
                 progress: Progress | None = None) -> Downloaded:
        """Download the delivered file to ``dest``: streamed, resumed from ``DEST.part``
        through the link it started with, checked against the declared SHA-256. Without
        ``url`` (and no unfinished download to resume) a new link is issued; each download
        uses one of a link's downloads, its resumed ranges none."""
        link = url or saved_link(dest) or self.download_token(order_id)["url"]
        return download(self._http, link, dest, expected_sha256=expected_sha256,
                        progress=progress)

    def accept(self, order_id: str, *, sha256: str | None = None,
               idempotency_key: str | None = None) -> Order:
        """Accept the delivery (optionally confirming the file's SHA-256): the order settles,
        the escrow is split and the trade filed."""
        return cast(Order, self._http.post(f"/orders/{seg(order_id)}/acceptance",
                                           without_none(sha256=sha256), idempotent=True,
                                           idempotency_key=idempotency_key))

    def dispute(self, order_id: str, reason: str, *, evidence_sha256: Sequence[str] = (),
                idempotency_key: str | None = None) -> Dispute:
        """Dispute a paid or delivered order before accepting it; the money stays in escrow."""
        return cast(Dispute, self._http.post(
            f"/orders/{seg(order_id)}/disputes",
            {"reason": reason, "evidence_sha256": [*evidence_sha256]}, idempotent=True,
            idempotency_key=idempotency_key))


class Disputes(Group):
    """Disputes over orders: the merchant answers, the operator decides."""

    def list(self, *, status: str | None = None, limit: int | None = None,
             cursor: str | None = None) -> Page[Dispute]:
        return cast(Page[Dispute], self._http.get("/disputes", status=status, limit=limit,
                                                  cursor=cursor))

    def iter(self, *, status: str | None = None) -> Iterator[Dispute]:
        return self._http.items("/disputes", {"status": status})

    def get(self, dispute_id: str) -> Dispute:
        return cast(Dispute, self._http.get(f"/disputes/{seg(dispute_id)}"))

    def answer(self, dispute_id: str, answer: str, *,
               evidence_sha256: Sequence[str] = ()) -> Dispute:
        return cast(Dispute, self._http.post(
            f"/disputes/{seg(dispute_id)}/answer",
            {"answer": answer, "evidence_sha256": [*evidence_sha256]}))

    def decide(self, dispute_id: str, outcome: str, reason: str, *,
               refund_amount: int | None = None,
               idempotency_key: str | None = None) -> Dispute:
        """The operator: ``release``, ``partial_refund`` (with ``refund_amount``) or
        ``full_refund``."""
        return cast(Dispute, self._http.post(
            f"/disputes/{seg(dispute_id)}/decision",
            without_none(outcome=outcome, reason=reason, refund_amount=refund_amount),
            idempotent=True, idempotency_key=idempotency_key))


class Ledger(Group):
    """Accounts and statements (every participant its own), top-ups and payouts."""

    def accounts(self, *, owner: str | None = None, kind: str | None = None,
                 currency: str | None = None, limit: int | None = None,
                 cursor: str | None = None) -> Page[Account]:
        return cast(Page[Account], self._http.get(
            "/ledger/accounts", owner=owner, kind=kind, currency=currency, limit=limit,
            cursor=cursor))

    def iter_accounts(self, *, owner: str | None = None, kind: str | None = None,
                      currency: str | None = None) -> Iterator[Account]:
        return self._http.items("/ledger/accounts", {"owner": owner, "kind": kind,
                                                     "currency": currency})

    def account(self, account_id: str) -> Account:
        return cast(Account, self._http.get(f"/ledger/accounts/{seg(account_id)}"))

    def statement(self, account_id: str, start: str, end: str) -> Statement:
        """The account over [start, end) (ISO 8601): opening and closing balances and every
        posting with the running balance."""
        return cast(Statement, self._http.json(
            "GET", f"/ledger/accounts/{seg(account_id)}/statement",
            params={"from": start, "to": end}))

    def statements(self, start: str, end: str, *, owner: str | None = None,
                   kind: str | None = None) -> Iterator[Statement]:
        """The statement of every account you see (of ``owner``, of a ``kind``)."""
        for account in self.iter_accounts(owner=owner, kind=kind):
            yield self.statement(account["id"], start, end)

    def verify(self) -> JSON:
        """The ledger recomputed from its postings (the operator and regulators)."""
        return cast(JSON, self._http.get("/ledger/verification"))

    def top_up(self, org_id: str, amount: int, currency: str, reference: str, *,
               idempotency_key: str | None = None) -> TopUp:
        """Record a participant's bank transfer (the operator, offline rail)."""
        return cast(TopUp, self._http.post(
            "/ledger/top-ups", {"org_id": org_id, "amount": amount, "currency": currency,
                                "reference": reference},
            idempotent=True, idempotency_key=idempotency_key))

    def request_payout(self, amount: int, currency: str, bank_account: Mapping[str, Any], *,
                       idempotency_key: str | None = None) -> Payout:
        """Ask to be paid part of your payable balance."""
        return cast(Payout, self._http.post(
            "/payouts", {"amount": amount, "currency": currency,
                         "bank_account": dict(bank_account)},
            idempotent=True, idempotency_key=idempotency_key))

    def payouts(self, *, status: str | None = None, limit: int | None = None,
                cursor: str | None = None) -> Page[Payout]:
        return cast(Page[Payout], self._http.get("/payouts", status=status, limit=limit,
                                                 cursor=cursor))
