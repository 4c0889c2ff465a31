"""problem+json answers of the real application as exceptions (status family, stable code,
field errors, request id, the language asked for), and cursor pages walked lazily."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice

import pytest
from market_client import (
    Forbidden,
    MarketError,
    NotFound,
    Unauthorized,
    Unprocessable,
)

from market.participants.domain import random_credit_code
from tests.client.conftest import Exchange
from tests.conftest import Party

UNKNOWN_ORDER = "ord_01J00000000000000000000000"


def test_not_found_carries_its_code_and_the_request_id(
    exchange: Exchange, make_party: Callable[..., Party]
) -> None:
    client = exchange.client(make_party("buyer"))
    with pytest.raises(NotFound) as raised:
        client.orders.get(UNKNOWN_ORDER)
    error = raised.value
    ((_, answer),) = exchange.recorder.exchanges("GET", f"/api/v1/orders/{UNKNOWN_ORDER}")
    assert (error.status, error.code) == (404, "order_not_found")
    assert error.request_id == answer.headers["X-Request-Id"] == error.problem["request_id"]
    assert error.request_id.startswith("req_")
    assert error.request_id in str(error)
    assert exchange.waits.seconds == []  # a 404 is final


def test_forbidden_and_unauthorized(exchange: Exchange, make_party: Callable[..., Party]) -> None:
    buyer = exchange.client(make_party("buyer"))
    with pytest.raises(Forbidden) as forbidden:
        buyer.regulator.filings()
    assert forbidden.value.code == "role_not_allowed"
    stranger = exchange.client()
    stranger.http.client.headers["Authorization"] = "Bearer mk.nokey.nosecret"
    with pytest.raises(Unauthorized) as unauthorized:
        stranger.participants.me()
    assert unauthorized.value.status == 401
    assert unauthorized.value.code in ("invalid_api_key", "unauthorized")
    assert len(exchange.recorder.requests("GET", "/api/v1/me")) == 1


def test_invalid_input_names_its_fields_in_the_language_asked_for(
    exchange: Exchange, make_party: Callable[..., Party]
) -> None:
    merchant = make_party("merchant")
    with pytest.raises(Unprocessable) as raised:
        exchange.client(merchant).rights.register_resource({"title": "缺少字段的资源",
                                                            "origin": "somewhere"})
    error = raised.value
    assert (error.status, error.code) == (422, "invalid_input")
    assert {"description", "origin", "classification"} <= set(error.errors)
    assert isinstance(error, MarketError)
    with pytest.raises(Unprocessable) as chinese:
        exchange.client(merchant, language="zh-CN").rights.register_resource({})
    assert chinese.value.title != error.title
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese.value.title)
    # Nothing was written: a refused creation is not retried and leaves no resource.
    assert exchange.client(merchant).rights.resources()["items"] == []


def test_pages_are_walked_lazily_across_cursors(
    exchange: Exchange, make_party: Callable[..., Party]
) -> None:
    operator = make_party("operator")
    made = {make_party("buyer").org_id for _ in range(7)}
    client = exchange.client(operator, page_size=2)

    lazily = client.participants.iter(role="buyer")
    first_three = list(islice(lazily, 3))
    pages = exchange.recorder.requests("GET", "/api/v1/participants")
    assert len(first_three) == 3
    assert len(pages) == 2  # only the pages reached were asked for
    assert [r.url.params["limit"] for r in pages] == ["2", "2"]
    assert "cursor" not in pages[0].url.params
    assert pages[1].url.params["cursor"]

    every = list(client.participants.iter(role="buyer"))
    assert {o["id"] for o in every} == made
    assert len(every) == len({o["id"] for o in every}) == 7
    assert len(exchange.recorder.requests("GET", "/api/v1/participants")) == 2 + 4

    page = client.participants.list(role="buyer", limit=5)
    rest = client.participants.list(role="buyer", limit=5, cursor=page["next_cursor"])
    assert len(page["items"]) == 5
    assert rest["next_cursor"] is None
    assert [o["id"] for o in page["items"] + rest["items"]] == [o["id"] for o in every]


def test_anyone_applies_and_the_operator_refuses(
    exchange: Exchange, make_party: Callable[..., Party]
) -> None:
    application = {"name": "申请数据科技有限公司", "credit_code": random_credit_code(),
                   "contact_name": "王经理", "contact_email": "apply@example.cn",
                   "roles": ["buyer"]}
    anyone = exchange.client()
    made = anyone.participants.apply(application, idempotency_key="application-0001")
    again = anyone.participants.apply(application, idempotency_key="application-0001")
    assert again["organisation"]["id"] == made["organisation"]["id"]
    assert made["organisation"]["status"] == "applied"
    assert made["api_key"]["token"].startswith("mk.")
    operator = exchange.client(make_party("operator"))
    (applied,) = operator.participants.iter(status="applied")
    assert applied["id"] == made["organisation"]["id"]
    refused = operator.participants.refuse(applied["id"], "材料不全")
    assert (refused["status"], refused["status_reason"]) == ("exited", "材料不全")
