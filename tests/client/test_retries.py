"""Retries against the real application: a creating call whose answer is lost is sent again
with the same Idempotency-Key, takes effect once and gets the first answer (replayed); a
caller's own key is honoured; 409 'in flight', 429 and 503 are waited out (never sooner than
Retry-After); other 4xx are final and non-idempotent calls are never repeated blindly."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from market_client import Conflict, ConnectionFailed, ServerError, Unprocessable

from tests.client.conftest import Exchange
from tests.client.faults import BusyFirst, LoseAnswer, Refuse
from tests.client.world import COMMITMENT, PRICE, World
from tests.conftest import Party

ORDERS = "/api/v1/orders$"


@pytest.fixture
def world(exchange: Exchange, make_party: Callable[..., Party]) -> World:
    return World(exchange, make_party)


def _posts(request: httpx.Request, path: str) -> bool:
    return request.method == "POST" and request.url.path == path


def test_a_lost_answer_is_retried_with_the_same_key_and_has_one_effect(world: World) -> None:
    listed, exchange = world.listed_product(), world.exchange
    world.funded_buyer()
    buyer_party = world.parties["buyer"]
    lost_order = LoseAnswer(exchange.recorder, lambda r: _posts(r, "/api/v1/orders"))
    lost_payment = LoseAnswer(lost_order, lambda r: r.url.path.endswith("/payment"))
    buyer = exchange.client(buyer_party, transport=lost_payment)

    order = buyer.orders.place(listed["product_id"], listed["offer_id"], COMMITMENT)
    first, again = exchange.recorder.exchanges("POST", ORDERS)
    assert first[0].headers["Idempotency-Key"] == again[0].headers["Idempotency-Key"]
    assert "Idempotent-Replayed" not in first[1].headers
    assert again[1].headers["Idempotent-Replayed"] == "true"
    assert order["id"] == first[1].json()["id"]
    assert [o["id"] for o in buyer.orders.iter()] == [order["id"]]

    paid = buyer.orders.pay(order["id"])
    payments = exchange.recorder.requests("POST", f"/api/v1/orders/{order['id']}/payment")
    assert len(payments) == 2
    assert len({p.headers["Idempotency-Key"] for p in payments}) == 1
    assert paid["status"] == "paid"
    (available,) = buyer.ledger.iter_accounts(kind="available")
    assert available["balance"] == 3 * PRICE - PRICE  # paid once
    assert exchange.waits.seconds == [0.0, 0.0]
    assert (len(lost_order.lost), len(lost_payment.lost)) == (1, 1)


def test_a_callers_key_replays_and_refuses_another_body(world: World) -> None:
    listed, exchange = world.listed_product(), world.exchange
    buyer = world.funded_buyer()
    placed = buyer.orders.place(listed["product_id"], listed["offer_id"], COMMITMENT,
                                idempotency_key="buyer-order-0001")
    again = buyer.orders.place(listed["product_id"], listed["offer_id"], COMMITMENT,
                               idempotency_key="buyer-order-0001")
    assert again == placed
    with pytest.raises(Unprocessable) as refused:
        buyer.orders.place(listed["product_id"], listed["offer_id"],
                           {**COMMITMENT, "purpose": "另一个用途"},
                           idempotency_key="buyer-order-0001")
    assert refused.value.code == "idempotency_key_reused"
    sent = exchange.recorder.requests("POST", ORDERS)
    assert [r.headers["Idempotency-Key"] for r in sent] == ["buyer-order-0001"] * 3
    assert len(list(buyer.orders.iter())) == 1
    # A state the order cannot leave is final: a 409 other than 'in flight' is not retried.
    buyer.orders.pay(placed["id"])
    with pytest.raises(Conflict) as conflict:
        buyer.orders.pay(placed["id"])
    assert conflict.value.code == "invalid_transition"
    assert len(exchange.recorder.requests("POST", f"/api/v1/orders/{placed['id']}/payment")) == 2


def test_in_flight_and_busy_answers_are_waited_out_with_the_same_key(world: World) -> None:
    listed, exchange = world.listed_product(), world.exchange
    world.funded_buyer()
    in_flight = BusyFirst(exchange.recorder, lambda r: _posts(r, "/api/v1/orders"), 409,
                          "idempotency_request_in_flight", retry_after="2", times=2)
    busy = BusyFirst(in_flight, lambda r: r.method == "GET", 503, "database_busy",
                     retry_after="1")
    buyer = exchange.client(world.parties["buyer"], transport=busy, backoff=0.25)

    order = buyer.orders.place(listed["product_id"], listed["offer_id"], COMMITMENT)
    keys = {r.headers["Idempotency-Key"] for r in in_flight.answered}
    keys |= {r.headers["Idempotency-Key"] for r in exchange.recorder.requests("POST", ORDERS)}
    assert len(keys) == 1
    assert buyer.orders.get(order["id"])["status"] == "awaiting_payment"
    # Two waits of at least Retry-After 2 (backoff 0.25 and 0.5 are shorter), then one of 1.
    assert exchange.waits.seconds[:2] == [2.0, 2.0]
    assert exchange.waits.seconds[2] == 1.0
    assert len(busy.answered) == 1


def test_a_busy_answer_longer_than_the_client_waits_is_raised_at_once(world: World) -> None:
    exchange = world.exchange
    busy = BusyFirst(exchange.recorder, lambda r: True, 503, "database_busy",
                     retry_after="600")
    client = exchange.client(world.party("buyer", "buyer"), transport=busy, max_wait=60)
    with pytest.raises(ServerError) as raised:
        client.orders.list()
    assert (raised.value.status, raised.value.code) == (503, "database_busy")
    assert raised.value.retry_after == 600
    assert exchange.waits.seconds == []


def test_a_non_idempotent_call_whose_answer_is_lost_is_not_sent_again(world: World) -> None:
    listed, exchange = world.listed_product(), world.exchange
    buyer = world.funded_buyer()
    order = buyer.orders.place(listed["product_id"], listed["offer_id"], COMMITMENT)
    lossy = LoseAnswer(exchange.recorder, lambda r: r.url.path.endswith("/cancellation"))
    with pytest.raises(ConnectionFailed):
        exchange.client(world.parties["buyer"], transport=lossy).orders.cancel(
            order["id"], "不再需要")
    assert len(exchange.recorder.requests("POST", f"/api/v1/orders/{order['id']}")) == 1
    assert buyer.orders.get(order["id"])["status"] == "cancelled"  # it took effect, once


def test_refused_connections_back_off_exponentially_then_raise(exchange: Exchange) -> None:
    refused = Refuse()
    client = exchange.client(transport=refused, retries=3, backoff=0.5)
    with pytest.raises(ConnectionFailed):
        client.catalog.search("交通")
    assert refused.attempts == 4
    waits = exchange.waits.seconds
    assert len(waits) == 3
    for wait, ceiling in zip(waits, (0.5, 1.0, 2.0), strict=True):
        assert ceiling / 2 <= wait <= ceiling
