"""A whole trade through the Python client against the real application: the holder
registers a resource and its holding right, grants processing use; the processor registers
its rights, drafts and submits the product; the operator reviews each from the queue; the
buyer finds the product in the catalogue, orders, pays, the processor delivers a file, the
buyer downloads it, checks it and accepts it; the ledger and statements show the split, and
the regulator reads the filing, the order's full record and an intact audit chain.
Every POST carries an Idempotency-Key exactly where the OpenAPI document accepts one."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from pathlib import Path

import pytest
from market_client.types import SCHEMAS

from tests.client.conftest import Exchange
from tests.client.world import COMMITMENT, CONTENT, DAY, PRICE, SHA256, World
from tests.conftest import Party


@pytest.fixture
def world(exchange: Exchange, make_party: Callable[..., Party]) -> World:
    return World(exchange, make_party)


def test_a_whole_trade_through_the_client(world: World, tmp_path: Path) -> None:
    listed = world.listed_product()
    anyone = world.exchange.client()
    certificate = anyone.rights.certificate(listed["certificate"])
    assert (certificate["kind"], certificate["status"]) == ("product_operation", "registered")

    buyer = world.funded_buyer()
    found = buyer.catalog.search("公交客流", facets=True)
    assert [i["product_id"] for i in found["items"]] == [listed["product_id"]]
    assert found["total"] == 1
    assert found["facets"]
    offer = anyone.catalog.product(listed["product_id"])["version"]["offers"][0]
    assert (offer["id"], offer["amount"]) == (listed["offer_id"], PRICE)

    order = buyer.orders.place(listed["product_id"], offer["id"], COMMITMENT)
    assert (order["status"], order["amount"]) == ("awaiting_payment", PRICE)
    assert buyer.orders.pay(order["id"])["status"] == "paid"
    processor = world.as_("processor")
    assert [o["id"] for o in processor.orders.iter(role="seller", status="paid")] == [order["id"]]
    delivered = processor.orders.deliver_file(order["id"], CONTENT, filename="客流.csv",
                                              media_type="text/csv")["order"]
    assert (delivered["status"], delivered["deliveries"][0]["sha256"]) == ("delivered", SHA256)

    got = buyer.orders.download(order["id"], tmp_path / "客流.csv")
    assert (got.sha256, got.size, got.resumed_from) == (SHA256, len(CONTENT), 0)
    assert (tmp_path / "客流.csv").read_bytes() == CONTENT
    settled = buyer.orders.accept(order["id"], sha256=got.sha256)
    assert settled["status"] == "settled"

    # The split: every payee's share, summing to the price, as the ledger and statements show.
    ledger = buyer.orders.ledger(order["id"])
    assert [j["kind"] for j in ledger["journals"]] == ["payment", "settlement"]
    assert sum(a["amount"] for a in ledger["allocations"]) == PRICE
    shares: dict[str, int] = {}
    for allocation in ledger["allocations"]:
        shares[allocation["org_id"]] = shares.get(allocation["org_id"], 0) + allocation["amount"]
    assert {a["role"] for a in ledger["allocations"]} == {
        "resource_holder", "processor", "merchant", "platform"}
    holder, processor_org = world.parties["holder"].org_id, world.parties["processor"].org_id
    assert shares[holder] > 0
    assert shares[processor_org] > 0
    for name, org in (("holder", holder), ("processor", processor_org)):
        (statement,) = world.as_(name).ledger.statements(**DAY, kind="payable")
        assert statement["account"]["owner"] == org
        assert statement["closing_balance"] == statement["credits"] == shares[org]
        assert [line["order_id"] for line in statement["lines"]] == [order["id"]]
    (available,) = buyer.ledger.statements(**DAY, kind="available")
    assert available["closing_balance"] == 3 * PRICE - PRICE

    regulator = world.regulator
    (filing,) = regulator.regulator.iter_filings(party=world.parties["buyer"].org_id)
    assert (filing["order_id"], filing["amount"]) == (order["id"], PRICE)
    record = regulator.regulator.order(order["id"])
    assert record["filing"] is not None
    assert record["filing"]["id"] == filing["id"]
    assert record["order"]["status"] == "settled"
    assert regulator.regulator.statistics()["by_sector"]
    assert regulator.audit.verification()["ok"] is True

    # Idempotency-Key went exactly with the POSTs the API deduplicates.
    doc = anyone.request("GET", "/openapi.json")
    posts = world.exchange.recorder.requests("POST")
    assert len(posts) > 10
    for request in posts:
        declared = _declares_key(doc, request.url.path)
        assert ("Idempotency-Key" in request.headers) == declared, request.url.path


def _declares_key(doc: dict[str, typing.Any], path: str) -> bool:
    parts = path.split("/")
    for template, operations in doc["paths"].items():
        pattern = template.split("/")
        if len(pattern) == len(parts) and all(
                p == q or (p.startswith("{") and p.endswith("}"))
                for p, q in zip(pattern, parts, strict=True)) and "post" in operations:
            return any(p["name"] == "Idempotency-Key"
                       for p in operations["post"].get("parameters", []))
    raise AssertionError(f"no POST {path} in the document")


def test_the_client_types_name_only_fields_the_api_sends(exchange: Exchange) -> None:
    schemas = exchange.client().request("GET", "/openapi.json")["components"]["schemas"]
    for name, kind in SCHEMAS.items():
        fields = set(typing.get_type_hints(kind))
        assert fields <= set(schemas[name]["properties"]), (name, json.dumps(
            sorted(fields - set(schemas[name]["properties"]))))
