"""Refunds after settlement over HTTP: the seller refunds out of goodwill and the operator
on a dispute or arbitration decision, in part and again, each answer naming what every payee
gave back; a retried request with the same Idempotency-Key refunds once; a refund beyond
what is left answers 422 ``refund_exceeds_paid`` and moves nothing; the parties, the operator
and regulators read the refunds, and the order and its filing show them."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api.test_trading_api import SHA256, Desk
from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa: F401
from tests.integration.trading_fixtures import PRICE, Market, market_fixture  # noqa: F401


@pytest.fixture(name="desk")
def desk_fixture(client: FlaskClient, market: Market) -> Desk:
    return Desk(client, market)


def _settled(desk: Desk) -> tuple[str, Any]:
    chain = desk.market.listed()
    buyer = desk.buyer()
    order_id = desk.delivered(chain, buyer)
    desk.call("POST", f"/orders/{order_id}/acceptance", buyer, 200, {"sha256": SHA256})
    return order_id, chain


def test_a_settled_order_is_refunded_in_part_then_in_full_over_http(desk: Desk) -> None:
    order_id, chain = _settled(desk)
    merchant, buyer = desk.merchant(chain), desk.market.party_of(
        desk.call("GET", f"/orders/{order_id}", desk.operator, 200).json["buyer_org_id"])
    before = desk.balance(buyer, "available")

    first = desk.call("POST", f"/orders/{order_id}/refunds", merchant, 201, {
        "amount": 25_000, "cause": "goodwill", "reason": "数据晚到一周"},
        headers={"Idempotency-Key": "goodwill-1"}).json
    replay = desk.call("POST", f"/orders/{order_id}/refunds", merchant, 201, {
        "amount": 25_000, "cause": "goodwill", "reason": "数据晚到一周"},
        headers={"Idempotency-Key": "goodwill-1"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == first
    assert (first["number"], first["amount"], first["cause"]) == (1, 25_000, "goodwill")
    assert sum(line["amount"] for line in first["lines"]) == 25_000
    assert first["lines"][0]["role"] == "platform"

    rest = desk.call("POST", f"/orders/{order_id}/refunds", desk.operator, 201, {
        "amount": PRICE - 25_000, "cause": "arbitration", "reason": "仲裁裁决退还余款"}).json
    assert rest["number"] == 2

    listed = desk.call("GET", f"/orders/{order_id}/refunds", desk.regulator, 200).json
    assert [r["id"] for r in listed["items"]] == [first["id"], rest["id"]]
    assert (listed["refunded_amount"], listed["refundable_amount"]) == (PRICE, 0)
    order = desk.call("GET", f"/orders/{order_id}", buyer, 200).json
    assert (order["status"], order["refunded_amount"]) == ("settled", PRICE)
    assert desk.balance(buyer, "available") == before + PRICE
    filings = desk.call("GET", "/filings", buyer, 200).json["items"]
    (filing,) = [f for f in filings if f["order_id"] == order_id]
    shown = desk.call("GET", f"/filings/{filing['id']}", desk.regulator, 200).json
    assert [r["refund_id"] for r in shown["refunds"]] == [first["id"], rest["id"]]
    assert shown["refunded_amount"] == PRICE
    assert desk.call("GET", "/ledger/verification", desk.operator, 200).json["ok"]


def test_a_refund_beyond_what_is_left_answers_422_and_moves_nothing(desk: Desk) -> None:
    order_id, chain = _settled(desk)
    merchant = desk.merchant(chain)
    desk.call("POST", f"/orders/{order_id}/refunds", merchant, 201, {
        "amount": PRICE - 1, "cause": "goodwill", "reason": "补偿"})
    ledger = desk.call("GET", f"/orders/{order_id}/ledger", merchant, 200).json

    found = desk.refused("POST", f"/orders/{order_id}/refunds", desk.operator, 422,
                         "refund_exceeds_paid",
                         {"amount": 2, "cause": "dispute", "reason": "争议裁决"})

    assert found["detail"] == "2 asked, but only 1 of the order is left to refund"
    assert desk.call("GET", f"/orders/{order_id}/ledger", merchant, 200).json == ledger
    listed = desk.call("GET", f"/orders/{order_id}/refunds", merchant, 200).json
    assert (len(listed["items"]), listed["refundable_amount"]) == (1, 1)


def test_refunds_need_a_settled_order_and_the_right_cause(desk: Desk) -> None:
    chain = desk.market.listed()
    buyer = desk.buyer()
    order_id = desk.delivered(chain, buyer)
    merchant = desk.merchant(chain)

    desk.refused("POST", f"/orders/{order_id}/refunds", merchant, 409, "order_not_settled",
                 {"amount": 1, "cause": "goodwill", "reason": "补偿"})
    desk.refused("POST", f"/orders/{order_id}/refunds", merchant, 403, "role_not_allowed",
                 {"amount": 1, "cause": "arbitration", "reason": "补偿"})
    desk.refused("POST", f"/orders/{order_id}/refunds", desk.operator, 403,
                 "role_not_allowed", {"amount": 1, "cause": "goodwill", "reason": "补偿"})
    desk.refused("POST", f"/orders/{order_id}/refunds", merchant, 422, "invalid_input",
                 {"amount": 0, "cause": "goodwill", "reason": "补偿"})
    desk.refused("POST", f"/orders/{order_id}/refunds", merchant, 422, "invalid_input",
                 {"amount": 1, "cause": "pity", "reason": "补偿"})
