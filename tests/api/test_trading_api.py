"""Trading over HTTP: the operator records a buyer's bank transfer, the buyer orders a listed
product with its purchase commitment and pays into escrow (once, however often it retries),
the merchant uploads the file, the buyer downloads it with an expiring, counted link (ranges
too) and accepts it by its fingerprint, the order settles and is filed; the ledger shows
balanced journals, each participant its own accounts and statements; the merchant is paid
out; a regulator reads the whole record, and its reads are audited.

Also: refusals as problem+json with stable codes (insufficient_funds, order_refused naming
the rules, invalid_transition, sold_out, offer_not_buyable, fingerprint_mismatch,
delivery_mode_not_offered) that move no money, and a blocked order that leaves nothing but
its decision. Authorization of every endpoint is in ``test_authorization_matrix``.

The listed products are built through the services (``trading_fixtures``) in the
transaction the application uses; everything about the trade goes through the API.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.audit import AuditEntry
from market.kernel.config import Settings
from market.listing.domain import OfferKind, OfferSpec
from tests.conftest import START, Party, problem
from tests.integration.rights_fixtures import Chain, rights_fixture, signer_fixture  # noqa: F401
from tests.integration.trading_fixtures import (  # noqa: F401
    COMMITMENT,
    PRICE,
    Market,
    market_fixture,
)

API = "/api/v1"
CONTENT = "月份,用电指数\n2026-09,98.7\n2026-10,101.2\n".encode()
SHA256 = hashlib.sha256(CONTENT).hexdigest()
FUNDS = 3 * PRICE
BANK_ACCOUNT = {"holder": "卖方数据科技有限公司", "bank": "上海银行",
                "number": "6222 0210 0000 0001"}
DAY = {"from": (START - timedelta(days=1)).isoformat(),
       "to": (START + timedelta(days=1)).isoformat()}


@dataclass(frozen=True)
class Desk:
    """Requests every test makes, as one party or another."""

    client: FlaskClient
    market: Market

    @property
    def operator(self) -> Party:
        return self.market.rights.operator

    @property
    def regulator(self) -> Party:
        return self.market.rights.regulator

    def call(self, method: str, path: str, party: Party | None, expect: int,
             body: Any = None, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        sent = dict(party.headers if party else {})
        sent.update(headers or {})
        response = self.client.open(f"{API}{path}", method=method, json=body, headers=sent,
                                    buffered=True, **kwargs)
        assert response.status_code == expect, response.get_data(as_text=True)
        return response

    def refused(self, method: str, path: str, party: Party, expect: int, code: str,
                body: Any = None, **kwargs: Any) -> dict[str, Any]:
        found = problem(self.call(method, path, party, expect, body, **kwargs))
        assert found["code"] == code, found
        return found

    # -- steps -------------------------------------------------------------------------

    def buyer(self, name: str = "buyer", funds: int = FUNDS) -> Party:
        party = self.market.rights.party(name, "buyer")
        if funds:
            self.top_up(party, funds, f"BANK-{name}")
        return party

    def top_up(self, party: Party, amount: int, reference: str) -> dict[str, Any]:
        return dict(self.call("POST", "/ledger/top-ups", self.operator, 201, {
            "org_id": party.org_id, "amount": amount, "currency": "CNY",
            "reference": reference}).json)

    def place(self, chain: Chain, buyer: Party, expect: int = 201,
              **commitment: Any) -> Any:
        return self.call("POST", "/orders", buyer, expect, {
            "product_id": chain.product_id, "offer_id": self.market.offer_id(chain),
            "commitment": {**COMMITMENT, **commitment}})

    def pay(self, order_id: str, buyer: Party, key: str | None = None,
            expect: int = 200) -> Any:
        headers = {"Idempotency-Key": key} if key else None
        return self.call("POST", f"/orders/{order_id}/payment", buyer, expect,
                         headers=headers)

    def upload(self, order_id: str, merchant: Party, content: bytes = CONTENT) -> Any:
        return self.call("POST", f"/orders/{order_id}/deliveries/file", merchant, 201,
                         body=None, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(content), "用电指数.csv", "text/csv"),
                               "note": "2026 年 10 月数据"})

    def delivered(self, chain: Chain, buyer: Party) -> str:
        order_id = str(self.place(chain, buyer).json["id"])
        self.pay(order_id, buyer)
        self.upload(order_id, self.merchant(chain))
        return order_id

    def merchant(self, chain: Chain) -> Party:
        return chain.grantee

    def accounts(self, party: Party, **query: str) -> list[dict[str, Any]]:
        found = self.call("GET", "/ledger/accounts", party, 200,
                          query_string={"limit": 200, **query})
        return list(found.json["items"])

    def balance(self, party: Party, kind: str) -> int:
        found = [a["balance"] for a in self.accounts(party, kind=kind)
                 if a["owner"] == party.org_id]
        return int(sum(found))


@pytest.fixture
def desk(client: FlaskClient, market: Market) -> Desk:
    return Desk(client, market)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Dispute decisions are carried out at once here (no escalation window); the
    arbitration tests keep the default window."""
    return settings.with_changes(arbitration_window_hours=0)


def _audit_count(session_factory: sessionmaker[Session], action: str) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)
                                  .where(AuditEntry.action == action)) or 0)


# -- the money comes in ---------------------------------------------------------------


def test_the_operator_records_a_bank_transfer_once_per_reference(desk: Desk) -> None:
    buyer = desk.buyer(funds=0)
    first = desk.top_up(buyer, FUNDS, "BANK-20261121-0001")
    again = desk.top_up(buyer, FUNDS, "BANK-20261121-0001")
    assert again["id"] == first["id"]
    assert (first["org_id"], first["amount"], first["rail"]) == (buyer.org_id, FUNDS, "offline")
    assert desk.balance(buyer, "available") == FUNDS
    desk.refused("POST", "/ledger/top-ups", desk.operator, 409, "top_up_reference_reused", {
        "org_id": buyer.org_id, "amount": FUNDS + 1, "currency": "CNY",
        "reference": "BANK-20261121-0001"})
    assert desk.balance(buyer, "available") == FUNDS


# -- a whole trade --------------------------------------------------------------------


def test_payment_with_an_idempotency_key_moves_the_money_once(
    desk: Desk, market: Market
) -> None:
    chain, buyer = market.listed(), desk.buyer()
    order_id = desk.place(chain, buyer).json["id"]

    paid = desk.pay(order_id, buyer, key="pay-order-1")
    assert paid.json["status"] == "paid"
    assert "Idempotent-Replayed" not in paid.headers
    retried = desk.pay(order_id, buyer, key="pay-order-1")
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json == paid.json

    assert desk.balance(buyer, "available") == FUNDS - PRICE
    assert desk.balance(buyer, "escrow") == PRICE
    ledger = desk.call("GET", f"/orders/{order_id}/ledger", buyer, 200).json
    assert [j["kind"] for j in ledger["journals"]] == ["payment"]

    other = desk.refused("POST", f"/orders/{order_id}/payment", buyer, 422,
                         "idempotency_key_reused", {"note": "another body"},
                         headers={"Idempotency-Key": "pay-order-1"})
    assert other["status"] == 422
    # Without the key a second payment is a move the order cannot make.
    desk.refused("POST", f"/orders/{order_id}/payment", buyer, 409, "invalid_transition")
    assert desk.balance(buyer, "available") == FUNDS - PRICE


def test_a_whole_trade_from_top_up_to_payout_and_the_regulators_record(
    desk: Desk, market: Market, session_factory: sessionmaker[Session]
) -> None:
    chain, buyer = market.listed(), desk.buyer()
    merchant = desk.merchant(chain)

    placed = desk.place(chain, buyer).json
    assert (placed["status"], placed["amount"], placed["currency"]) == (
        "awaiting_payment", PRICE, "CNY")
    assert (placed["buyer_org_id"], placed["seller_org_id"]) == (buyer.org_id, merchant.org_id)
    order_id = placed["id"]
    contract = desk.call("GET", f"/orders/{order_id}/contract", merchant, 200).json
    assert contract["sha256"] == placed["contract_sha256"]
    assert contract["document"]["price"] == {"amount": PRICE, "currency": "CNY"}
    assert contract["document"]["product"]["id"] == chain.product_id

    desk.pay(order_id, buyer, key="whole-trade-payment")
    delivered = desk.upload(order_id, merchant).json["order"]
    assert delivered["status"] == "delivered"
    (delivery,) = delivered["deliveries"]
    assert (delivery["mode"], delivery["sha256"], delivery["size"]) == (
        "file", SHA256, len(CONTENT))

    # The download link: whole downloads and ranges from the first byte count, later ranges
    # of the same download do not; the limit is enforced.
    link = desk.call("POST", f"/orders/{order_id}/download-tokens", buyer, 201).json
    limit = link["max_downloads"]
    assert link["url"] == f"{API}/downloads/{link['token']}"
    whole = desk.client.get(link["url"], buffered=True)
    assert whole.status_code == 200
    assert whole.get_data() == CONTENT
    assert whole.headers["X-Content-SHA256"] == SHA256
    assert whole.headers["X-Downloads-Remaining"] == str(limit - 1)
    part = desk.client.get(link["url"], headers={"Range": "bytes=5-20"}, buffered=True)
    assert part.status_code == 206
    assert part.get_data() == CONTENT[5:21]
    assert part.headers["Content-Range"] == f"bytes 5-20/{len(CONTENT)}"
    assert part.headers["X-Downloads-Remaining"] == str(limit - 1)
    for left in range(limit - 2, -1, -1):
        again = desk.client.get(link["url"], buffered=True)
        assert again.status_code == 200
        assert again.headers["X-Downloads-Remaining"] == str(left)
    used_up = desk.client.get(link["url"], buffered=True)
    assert used_up.status_code == 403
    assert problem(used_up)["code"] == "download_not_allowed"

    settled = desk.call("POST", f"/orders/{order_id}/acceptance", buyer, 200,
                        {"sha256": SHA256.upper()}).json
    assert settled["status"] == "settled"
    assert settled["accepted_at"] is not None
    assert settled["auto_accepted"] is False

    # The order's money: a payment and a settlement, each balanced; the escrow split whole.
    ledger = desk.call("GET", f"/orders/{order_id}/ledger", buyer, 200).json
    assert [j["kind"] for j in ledger["journals"]] == ["payment", "settlement"]
    for journal in ledger["journals"]:
        assert journal["order_id"] == order_id
        assert len(journal["postings"]) >= 2
        assert sum(p["amount"] for p in journal["postings"]) == 0, journal
    assert sum(a["amount"] for a in ledger["allocations"]) == PRICE
    assert {a["role"] for a in ledger["allocations"]} >= {"platform", "merchant"}
    history = desk.call("GET", f"/orders/{order_id}/history", merchant, 200).json["items"]
    assert [e["to_status"] for e in history] == [
        "created", "awaiting_payment", "paid", "delivered", "accepted", "settled"]

    # Each participant sees its own accounts only; a statement runs from opening to closing.
    mine = desk.accounts(buyer)
    assert {a["owner"] for a in mine} == {buyer.org_id}
    assert {(a["kind"], a["ref"]) for a in mine} == {("available", ""), ("escrow", order_id)}
    (available,) = [a for a in mine if a["kind"] == "available"]
    assert available["balance"] == FUNDS - PRICE
    assert desk.accounts(buyer, owner=merchant.org_id) == []
    desk.refused("GET", f"/ledger/accounts/{available['id']}", merchant, 404,
                 "account_not_found")
    statement = desk.call("GET", f"/ledger/accounts/{available['id']}/statement", buyer, 200,
                          query_string=DAY).json
    assert (statement["opening_balance"], statement["closing_balance"]) == (0, FUNDS - PRICE)
    assert (statement["credits"], statement["debits"]) == (FUNDS, PRICE)
    assert [line["kind"] for line in statement["lines"]] == ["top_up", "payment"]
    assert statement["lines"][-1]["balance_after"] == statement["closing_balance"]
    before = desk.call("GET", f"/ledger/accounts/{available['id']}/statement", buyer, 200,
                       query_string={"from": "2026-01-01T00:00:00+00:00",
                                     "to": (START - timedelta(days=1)).isoformat()}).json
    assert (before["opening_balance"], before["closing_balance"], before["lines"]) == (0, 0, [])

    # The merchant is paid part of what is payable to it, once the operator confirms.
    payable = desk.balance(merchant, "payable")
    assert payable > 0
    payout = desk.call("POST", "/payouts", merchant, 201, {
        "amount": payable // 2, "currency": "CNY", "bank_account": BANK_ACCOUNT},
        headers={"Idempotency-Key": "payout-1"}).json
    assert (payout["status"], payout["org_id"]) == ("requested", merchant.org_id)
    desk.refused("POST", "/payouts", merchant, 422, "insufficient_funds", {
        "amount": payable, "currency": "CNY", "bank_account": BANK_ACCOUNT})
    paid = desk.call("POST", f"/payouts/{payout['id']}/confirmation", desk.operator, 200,
                     {"bank_reference": "BANK-OUT-0001"}).json
    assert (paid["status"], paid["bank_reference"]) == ("paid", "BANK-OUT-0001")
    assert desk.balance(merchant, "payable") == payable - payable // 2
    desk.refused("POST", f"/payouts/{payout['id']}/rejection", desk.operator, 409,
                 "invalid_transition", {"reason": "已付款"})
    verification = desk.call("GET", "/ledger/verification", desk.operator, 200).json
    assert verification["ok"] is True, verification["problems"]

    # The regulator reads the whole record, and each of its reads is audited.
    reads = _audit_count(session_factory, "regulator.read")
    record = desk.call("GET", f"/regulator/orders/{order_id}", desk.regulator, 200).json
    assert record["order"]["id"] == order_id
    assert record["order"]["status"] == "settled"
    assert record["contract"]["sha256"] == placed["contract_sha256"]
    assert sorted(r["kind"] for r in record["order"]["receipts"]) == [
        "order.contract", "settlement.escrow_payment", "settlement.settlement"]
    assert record["ledger"] == ledger
    assert record["filing"]["order_id"] == order_id
    assert (record["filing"]["amount"], record["filing"]["kind"]) == (PRICE, "exchange")
    listed = desk.call("GET", "/regulator/orders", desk.regulator, 200,
                       query_string={"party": buyer.org_id}).json["items"]
    assert [o["id"] for o in listed] == [order_id]
    assert _audit_count(session_factory, "regulator.read") == reads + 2
    with session_factory() as session:
        last = session.scalars(select(AuditEntry).where(AuditEntry.action == "regulator.read")
                               .order_by(AuditEntry.seq.desc())).first()
        assert last is not None
        assert (last.actor_org_id, last.object_id) == (desk.regulator.org_id,
                                                       f"{API}/regulator/orders")
    desk.refused("GET", f"/regulator/orders/{order_id}", buyer, 403, "role_not_allowed")
    assert _audit_count(session_factory, "regulator.read") == reads + 2


def test_a_range_of_a_download_that_never_started_is_refused(desk: Desk, market: Market) -> None:
    buyer = desk.buyer()
    order_id = desk.delivered(market.listed(), buyer)
    link = desk.call("POST", f"/orders/{order_id}/download-tokens", buyer, 201).json
    middle = desk.client.get(link["url"], headers={"Range": "bytes=5-9"}, buffered=True)
    assert middle.status_code == 403
    assert problem(middle)["code"] == "download_not_allowed"
    first = desk.client.get(link["url"], headers={"Range": "bytes=0-4"}, buffered=True)
    assert first.status_code == 206
    assert first.get_data() == CONTENT[:5]
    assert first.headers["X-Downloads-Remaining"] == str(link["max_downloads"] - 1)
    unknown = desk.client.get(f"{API}/downloads/mkd_not-a-token", buffered=True)
    assert unknown.status_code == 403
    assert problem(unknown)["code"] == "download_not_allowed"


def test_requests_that_deliver_nothing_from_the_start_use_no_download(
    desk: Desk, market: Market
) -> None:
    buyer = desk.buyer()
    order_id = desk.delivered(market.listed(), buyer)
    link = desk.call("POST", f"/orders/{order_id}/download-tokens", buyer, 201).json
    limit = link["max_downloads"]
    head = desk.client.head(link["url"], buffered=True)
    assert head.status_code == 403  # nothing downloaded yet: only a download starts a link
    assert desk.client.get(link["url"], buffered=True).status_code == 200
    for refused in ("bytes=0-1,3-4", "bytes=abc", "bytes=9-2", f"bytes={len(CONTENT)}-"):
        answer = desk.client.get(link["url"], headers={"Range": refused}, buffered=True)
        assert answer.status_code == 416, refused
        assert problem(answer)["status"] == 416
    peek = desk.client.head(link["url"], buffered=True)
    assert peek.status_code == 200
    assert peek.headers["X-Downloads-Remaining"] == str(limit - 1)
    again = desk.client.get(link["url"], buffered=True)
    assert again.headers["X-Downloads-Remaining"] == str(limit - 2)


# -- refusals -------------------------------------------------------------------------


def test_paying_without_enough_money_moves_nothing(desk: Desk, market: Market) -> None:
    buyer = desk.buyer(funds=PRICE - 1)
    order_id = desk.place(market.listed(), buyer).json["id"]
    found = desk.refused("POST", f"/orders/{order_id}/payment", buyer, 422,
                         "insufficient_funds", headers={"Idempotency-Key": "poor-1"})
    assert found["title"] == "Not enough funds in the account"
    assert desk.call("GET", f"/orders/{order_id}", buyer, 200).json["status"] == (
        "awaiting_payment")
    assert desk.call("GET", f"/orders/{order_id}/ledger", buyer, 200).json["journals"] == []
    assert desk.balance(buyer, "available") == PRICE - 1
    # The refusal was not stored against the key: once topped up, the same key pays.
    desk.top_up(buyer, PRICE, "BANK-more")
    assert desk.pay(order_id, buyer, key="poor-1").json["status"] == "paid"


def test_a_blocked_order_leaves_nothing_but_its_decision(desk: Desk, market: Market) -> None:
    chain, buyer = market.listed(), desk.buyer()
    before = market.counts()
    found = desk.refused("POST", "/orders", buyer, 422, "order_refused", {
        "product_id": chain.product_id, "offer_id": market.offer_id(chain),
        "commitment": {**COMMITMENT, "scenarios": ["个人征信画像"], "no_reidentification": False}})
    rules = {r["rule"] for r in found["errors"]["rules"]}
    # the scenario is outside the listing's and outside its published usage policy
    assert rules == {"BuyerPurposeMustFitListingScenarios", "UseMustBePermittedByPolicy",
                     "BuyerMustMakeEveryCommitment"}
    (decision_id,) = {r["decision_id"] for r in found["errors"]["rules"]}
    assert market.counts() == {**before, "decisions": before["decisions"] + 1}
    assert desk.call("GET", "/orders", buyer, 200).json["items"] == []
    decision = desk.call("GET", f"/decisions/{decision_id}", desk.operator, 200).json
    assert (decision["outcome"], decision["subject_type"]) == ("block", "order")
    assert desk.balance(buyer, "available") == FUNDS


def test_moves_an_order_cannot_make_are_conflicts(desk: Desk, market: Market) -> None:
    buyer = desk.buyer()
    chain = market.listed()
    order_id = desk.place(chain, buyer).json["id"]
    found = desk.refused("POST", f"/orders/{order_id}/acceptance", buyer, 409,
                         "invalid_transition", {})
    assert found["status"] == 409
    desk.refused("POST", f"/orders/{order_id}/download-tokens", buyer, 409,
                 "no_file_delivered")
    desk.call("POST", f"/orders/{order_id}/cancellation", buyer, 200, {"reason": "不需要了"})
    desk.refused("POST", f"/orders/{order_id}/payment", buyer, 409, "invalid_transition")
    desk.refused("POST", f"/orders/{order_id}/cancellation", desk.merchant(chain), 409,
                 "invalid_transition", {"reason": "再次取消"})
    assert desk.balance(buyer, "available") == FUNDS


def test_the_last_unit_of_a_limited_offer_is_sold_once(desk: Desk, market: Market) -> None:
    chain = market.listed(quantity=1)
    first, second = desk.buyer("first"), desk.buyer("second")
    desk.place(chain, first)
    desk.refused("POST", "/orders", second, 409, "sold_out", {
        "product_id": chain.product_id, "offer_id": market.offer_id(chain),
        "commitment": COMMITMENT})
    assert desk.call("GET", "/orders", second, 200).json["items"] == []


def test_a_negotiable_offer_is_not_ordered_directly(desk: Desk, market: Market) -> None:
    chain = market.shop.listed(offers=[("面议版", OfferSpec(OfferKind.NEGOTIABLE))],
                               delivery_modes=["file"])
    buyer = desk.buyer()
    found = desk.refused("POST", "/orders", buyer, 422, "offer_not_buyable", {
        "product_id": chain.product_id, "offer_id": market.offer_id(chain),
        "commitment": COMMITMENT})
    assert "negotiable" in found["detail"]
    desk.refused("POST", "/orders", buyer, 404, "offer_not_found", {
        "product_id": chain.product_id, "offer_id": "ofr_01J00000000000000000000000",
        "commitment": COMMITMENT})


def test_accepting_with_another_fingerprint_is_refused(desk: Desk, market: Market) -> None:
    buyer = desk.buyer()
    order_id = desk.delivered(market.listed(), buyer)
    desk.refused("POST", f"/orders/{order_id}/acceptance", buyer, 422,
                 "fingerprint_mismatch", {"sha256": "0" * 64})
    found = desk.refused("POST", f"/orders/{order_id}/acceptance", buyer, 422,
                         "invalid_input", {"sha256": "not a digest"})
    assert "sha256" in found["errors"]
    assert desk.call("GET", f"/orders/{order_id}", buyer, 200).json["status"] == "delivered"
    assert desk.balance(buyer, "escrow") == PRICE


def test_a_delivery_mode_the_listing_does_not_offer_is_refused(
    desk: Desk, market: Market
) -> None:
    chain, buyer = market.listed(delivery_modes=("file",)), desk.buyer()
    order_id = desk.place(chain, buyer).json["id"]
    desk.pay(order_id, buyer)
    desk.refused("POST", f"/orders/{order_id}/deliveries", desk.merchant(chain), 422,
                 "delivery_mode_not_offered",
                 {"mode": "api", "endpoint": "https://api.example.cn/v1/scores"})
    assert desk.call("GET", f"/orders/{order_id}", buyer, 200).json["status"] == "paid"


def test_a_file_delivery_needs_a_file_part(desk: Desk, market: Market) -> None:
    chain, buyer = market.listed(), desk.buyer()
    order_id = desk.place(chain, buyer).json["id"]
    desk.pay(order_id, buyer)
    merchant = desk.merchant(chain)
    missing = desk.refused("POST", f"/orders/{order_id}/deliveries/file", merchant, 422,
                           "invalid_input", content_type="multipart/form-data",
                           data={"note": "忘了附件"})
    assert "file" in missing["errors"]
    text = desk.refused("POST", f"/orders/{order_id}/deliveries/file", merchant, 422,
                        "invalid_input", content_type="multipart/form-data",
                        data={"file": "not a file"})
    assert text["errors"]["file"] == ["must be a file"]
    assert desk.call("GET", f"/orders/{order_id}", buyer, 200).json["status"] == "paid"


# -- disputes and API delivery ----------------------------------------------------------


def test_a_disputed_order_is_decided_by_the_operator_with_a_partial_refund(
    desk: Desk, market: Market
) -> None:
    chain, buyer = market.listed(), desk.buyer()
    merchant = desk.merchant(chain)
    order_id = desk.delivered(chain, buyer)
    dispute = desk.call("POST", f"/orders/{order_id}/disputes", buyer, 201, {
        "reason": "文件缺少 2026 年 8 月的数据", "evidence_sha256": ["ab" * 32]},
        headers={"Idempotency-Key": "dispute-1"}).json
    assert (dispute["status"], dispute["order_id"]) == ("open", order_id)
    assert desk.call("GET", f"/orders/{order_id}", buyer, 200).json["status"] == "disputed"
    decision = {"outcome": "partial_refund", "refund_amount": PRICE // 4, "reason": "部分缺失"}
    desk.refused("POST", f"/disputes/{dispute['id']}/decision", desk.operator, 409,
                 "dispute_awaiting_answer", decision)
    desk.refused("POST", f"/disputes/{dispute['id']}/decision", desk.operator, 422,
                 "invalid_input", {"outcome": "partial_refund", "reason": "缺金额"})

    answered = desk.call("POST", f"/disputes/{dispute['id']}/answer", merchant, 200,
                         {"answer": "8 月数据另行补发"}).json
    assert answered["status"] == "answered"
    desk.refused("POST", f"/disputes/{dispute['id']}/answer", merchant, 409,
                 "dispute_not_open", {"answer": "再次答复"})
    decided = desk.call("POST", f"/disputes/{dispute['id']}/decision", desk.operator, 200,
                        decision).json
    assert (decided["status"], decided["outcome"], decided["refund_amount"]) == (
        "decided", "partial_refund", PRICE // 4)

    order = desk.call("GET", f"/orders/{order_id}", buyer, 200).json
    assert order["status"] == "settled"
    assert [d["id"] for d in order["disputes"]] == [dispute["id"]]
    assert desk.balance(buyer, "available") == FUNDS - PRICE + PRICE // 4
    assert desk.balance(buyer, "escrow") == 0
    ledger = desk.call("GET", f"/orders/{order_id}/ledger", merchant, 200).json
    assert sum(a["refunded"] for a in ledger["allocations"]) == PRICE // 4
    for journal in ledger["journals"]:
        assert sum(p["amount"] for p in journal["postings"]) == 0, journal
    listed = desk.call("GET", "/disputes", merchant, 200).json["items"]
    assert [d["id"] for d in listed] == [dispute["id"]]
    other = desk.buyer("other buyer")
    desk.refused("GET", f"/disputes/{dispute['id']}", other, 404, "dispute_not_found")
    assert desk.call("GET", "/disputes", other, 200).json["items"] == []


def test_an_api_delivery_shows_the_credential_once_and_the_merchant_checks_it(
    desk: Desk, market: Market
) -> None:
    chain, buyer = market.listed(), desk.buyer()
    merchant = desk.merchant(chain)
    order_id = desk.place(chain, buyer).json["id"]
    desk.pay(order_id, buyer)
    delivered = desk.call("POST", f"/orders/{order_id}/deliveries", merchant, 201, {
        "mode": "api", "endpoint": "https://api.example.cn/v1/scores"}).json
    credential = delivered["credential"]
    assert credential.startswith("mkc_")
    assert credential not in str(desk.call("GET", f"/orders/{order_id}", buyer, 200).json)
    checked = desk.call("POST", "/api-credentials/verification", merchant, 200,
                        {"credential": credential}).json
    assert (checked["valid"], checked["order_id"], checked["buyer_org_id"]) == (
        True, order_id, buyer.org_id)
    assert checked["terms"]["scenarios"] == ["小微企业授信"]
    stranger = market.rights.party("another merchant", "merchant")
    desk.refused("POST", "/api-credentials/verification", stranger, 404,
                 "credential_not_valid", {"credential": credential})
    desk.refused("POST", "/api-credentials/verification", merchant, 404,
                 "credential_not_valid", {"credential": "mkc_unknown"})
    desk.refused("POST", f"/orders/{order_id}/download-tokens", buyer, 409,
                 "no_file_delivered")
