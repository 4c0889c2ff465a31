"""The market against the pure-Python model over HTTP: the same machine as the service
variant (:mod:`tests.integration.model_machine`), its use cases sent to the application
with the Flask test client as the party that may make each. Every creating POST carries an
``Idempotency-Key`` and is sent twice, as a client that lost the first answer retries: the
retry must get the same status and body (a replay when the first succeeded) and the effect
must happen once, which the model's balances check after every step. A crashed request
(the unit of work dying after writing) answers 500 and leaves nothing; the client's retry
with the same key then has the one effect. The deadlines and the outbox worker run as the
worker runs them, through the services.

Budget and reproduction as in ``tests/integration/test_stateful_model.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from datetime import timedelta
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import seed
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.cli import consumers
from market.kernel.config import Settings
from tests.conftest import START, Party
from tests.integration.model_book import Order
from tests.integration.model_machine import Context, Crash, MarketModel, Outcome
from tests.integration.model_world import BUDGET, REPRODUCE, SEED, ModelClock, build_world
from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa: F401
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.trading_fixtures import COMMITMENT, Market, market_fixture  # noqa: F401

API = "/api/v1"
BANK_ACCOUNT = {"holder": "收款方", "bank": "上海银行", "number": "6222 0210 0000 0002"}
# The routes that honour Idempotency-Key (a retry replays the first answer).
IDEMPOTENT = ("/orders", "/payment", "/acceptance", "/disputes", "/decision", "/refunds",
              "/ledger/top-ups", "/payouts", "/confirmation")
WINDOW = timedelta(hours=24)  # the arbitration window the application is configured with


@pytest.fixture
def clock() -> ModelClock:
    return ModelClock(START)


@pytest.fixture
def model_app(settings: Settings, session_factory: sessionmaker[Session],
              clock: ModelClock) -> Flask:
    configured = dataclasses.replace(settings, arbitration_window_hours=24)
    return create_app(configured, session_factory=session_factory, clock=clock)


class HttpDriver:
    """Each use case as one request, retried once with the same Idempotency-Key."""

    def __init__(self, client: FlaskClient, market: Market) -> None:
        self.client = client
        self.market = market
        self.products: list[Any] = []
        self.generation = 0  # moves on with every effect, so a new call gets a new key

    def _party(self, org_id: str) -> Party:
        return self.market.party_of(org_id)

    def _send(self, party: Party, path: str, body: dict[str, Any], *,
              id_of: str | None = "id") -> Outcome:
        material = f"{self.generation} {path} {json.dumps(body, sort_keys=True)}"
        key = "model-" + hashlib.sha256(material.encode()).hexdigest()
        headers = {**party.headers, "Idempotency-Key": key}
        first = self._post(path, body, headers)
        if first is None:
            return Outcome("crash")
        if path.endswith(IDEMPOTENT):
            again = self._post(path, body, headers)
            assert again is not None
            if first.status_code < 400:  # replayed: the very same answer
                assert again.headers.get("Idempotent-Replayed") == "true", path
                assert (again.status_code, again.get_json()) == (
                    first.status_code, first.get_json()), path
            else:  # refused, the key released: refused again, for the same reason
                assert (again.status_code, again.get_json()["code"]) == (
                    first.status_code, first.get_json()["code"]), path
        if first.status_code >= 400:
            found = first.get_json()
            assert first.mimetype == "application/problem+json", found
            return Outcome("crash" if first.status_code >= 500 else found["code"])
        self.generation += 1
        found = first.get_json()
        value = found
        for part in (id_of or "").split(".") if id_of else ():
            value = value[part]
        return Outcome(None, value if id_of else None)

    def _post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        try:
            return self.client.post(f"{API}{path}", json=body, headers=headers)
        except Crash:  # the test application lets the exception through
            return None

    @property
    def operator(self) -> Party:
        return self.market.rights.operator

    def top_up(self, org: str, amount: int, reference: str) -> Outcome:
        return self._send(self.operator, "/ledger/top-ups", {
            "org_id": org, "amount": amount, "currency": "CNY", "reference": reference})

    def place(self, buyer: str, product_index: int) -> Outcome:
        product = self.products[product_index]
        return self._send(self._party(buyer), "/orders", {
            "product_id": product.id, "offer_id": product.offer_id, "commitment": COMMITMENT})

    def pay(self, order: Order) -> Outcome:
        return self._send(self._party(order.buyer), f"/orders/{order.id}/payment", {})

    def cancel(self, order: Order) -> Outcome:
        return self._send(self._party(order.buyer), f"/orders/{order.id}/cancellation",
                          {"reason": "买方取消"})

    def deliver(self, order: Order) -> Outcome:
        return self._send(self._party(order.product.seller), f"/orders/{order.id}/deliveries",
                          {"mode": "api", "endpoint": "https://api.seller.example.cn/v1/scores"},
                          id_of="order.id")

    def accept(self, order: Order) -> Outcome:
        return self._send(self._party(order.buyer), f"/orders/{order.id}/acceptance", {})

    def open_dispute(self, order: Order, instant: bool) -> Outcome:
        return self._send(self._party(order.buyer), f"/orders/{order.id}/disputes",
                          {"reason": "数据与描述不符", "evidence_sha256": []})

    def dispute_window(self, instant: bool) -> timedelta:
        return WINDOW

    def answer(self, dispute_id: str, seller: str) -> Outcome:
        return self._send(self._party(seller), f"/disputes/{dispute_id}/answer",
                          {"answer": "数据符合约定", "evidence_sha256": []})

    def decide(self, dispute_id: str, outcome: str, refund: int | None) -> Outcome:
        return self._send(self.operator, f"/disputes/{dispute_id}/decision", {
            "outcome": outcome, "reason": "依规则裁决",
            **({"refund_amount": refund} if refund is not None else {})})

    def refund(self, order: Order, amount: int, goodwill: bool) -> Outcome:
        party = self._party(order.product.seller) if goodwill else self.operator
        return self._send(party, f"/orders/{order.id}/refunds", {
            "amount": amount, "cause": "goodwill" if goodwill else "dispute",
            "reason": "退款"})

    def request_payout(self, org: str, amount: int) -> Outcome:
        return self._send(self._party(org), "/payouts", {
            "amount": amount, "currency": "CNY", "bank_account": BANK_ACCOUNT})

    def resolve_payout(self, payout_id: str, confirm: bool) -> Outcome:
        if confirm:
            return self._send(self.operator, f"/payouts/{payout_id}/confirmation",
                              {"bank_reference": "BANK-PAID"})
        return self._send(self.operator, f"/payouts/{payout_id}/rejection",
                          {"reason": "账户有误"})


def test_the_api_keeps_to_the_model(market: Market, connection: Connection,
                                    clock: ModelClock, settings: Settings,
                                    model_app: Flask) -> None:
    world = build_world(market)
    driver = HttpDriver(model_app.test_client(), market)
    driver.products = world.products
    context = Context(world, connection, clock,
                      consumers(market.rights.session_factory, settings, clock),
                      lambda machine: driver)

    def machine() -> MarketModel:
        return MarketModel(context)

    started = time.monotonic()
    try:
        run_state_machine_as_test(cast(Any, seed(SEED)(machine)), settings=BUDGET)
    except BaseException as failure:
        failure.add_note(REPRODUCE)
        raise
    print(f"model (HTTP): seed {SEED}, {context.runs} runs, {context.steps} steps, "
          f"{time.monotonic() - started:.1f} s")
    for what, count in sorted(context.seen.items()):
        print(f"  {count:6}  {what}")
