"""``market-client`` run in-process against the real application (its ``main`` takes the
transport): ``--json`` for scripts, aligned tables for people, exit statuses."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from market_client import _output
from market_client.cli import main

from market.kernel.actor import system_actor
from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
from market.webhooks import domain as signing
from tests.client.conftest import BASE_URL, Exchange
from tests.client.world import COMMITMENT, CONTENT, SHA256, World
from tests.conftest import Party


@pytest.fixture
def world(exchange: Exchange, make_party: Callable[..., Party]) -> World:
    return World(exchange, make_party)


def run(exchange: Exchange, party: Party | None, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = {"MARKET_URL": BASE_URL, **({"MARKET_API_KEY": party.token} if party else {})}
    status = main(list(argv), transport=exchange.recorder, stdout=out, stderr=err, env=env)
    return status, out.getvalue(), err.getvalue()


def ok(exchange: Exchange, party: Party | None, *argv: str) -> Any:
    status, out, err = run(exchange, party, "--json", *argv)
    assert status == 0, err
    return json.loads(out)


def test_a_buyer_trades_from_the_shell(world: World, tmp_path: Path) -> None:
    listed, exchange = world.listed_product(), world.exchange
    world.funded_buyer()
    buyer = world.parties["buyer"]
    found = ok(exchange, None, "catalog", "search", "公交客流")
    assert [i["product_id"] for i in found["items"]] == [listed["product_id"]]
    commitment = tmp_path / "commitment.json"
    commitment.write_text(json.dumps(COMMITMENT, ensure_ascii=False), encoding="utf-8")
    order = ok(exchange, buyer, "orders", "place", "--product", listed["product_id"],
               "--offer", listed["offer_id"], "--commitment", str(commitment))
    assert ok(exchange, buyer, "orders", "pay", order["id"])["status"] == "paid"
    world.as_("processor").orders.deliver_file(order["id"], CONTENT, filename="客流.csv")
    got = ok(exchange, buyer, "orders", "download", order["id"], "-o", str(tmp_path / "f.csv"))
    assert (got["sha256"], got["size"]) == (SHA256, len(CONTENT))
    assert (tmp_path / "f.csv").read_bytes() == CONTENT
    settled = ok(exchange, buyer, "orders", "accept", order["id"], "--sha256", got["sha256"])
    assert settled["status"] == "settled"
    listing = ok(exchange, buyer, "orders", "list", "--all")
    assert ([o["id"] for o in listing["items"]], listing["next_cursor"]) == ([order["id"]], None)

    # Tables for people: a header, aligned columns (CJK characters are two columns wide).
    status, out, _ = run(exchange, buyer, "orders", "list")
    header, row = out.splitlines()
    assert header.split() == ["ID", "STATUS", "AMOUNT", "BUYER", "SELLER", "PRODUCT",
                              "CREATED"]
    assert row.startswith(order["id"])
    assert "1,000.00 CNY" in row
    assert header.index("STATUS") == row.index("settled")
    status, out, _ = run(exchange, None, "catalog", "search", "公交客流")
    header, row = out.splitlines()
    assert "公交客流热力图" in row
    title_end = _output.width(row[:row.index("公交客流热力图") + len("公交客流热力图")])
    assert _output.width(header[:header.index("TYPE")]) == title_end + 2
    status, out, _ = run(exchange, buyer, "orders", "show", order["id"])
    assert status == 0
    assert any(line.split()[:2] == ["status", "settled"] for line in out.splitlines())
    assert f"file {SHA256}" in out


def test_a_regulator_lists_exports_and_verifies_from_the_shell(
    world: World, tmp_path: Path, session_factory: object, clock: object
) -> None:
    exchange = world.exchange
    order_id = world.delivered_order(world.listed_product())
    world.as_("buyer").orders.accept(order_id)
    regulator = world.party("regulator", "regulator")
    filings = ok(exchange, regulator, "filings", "list", "--sector", "transport")
    assert [f["order_id"] for f in filings["items"]] == [order_id]
    status, out, _ = run(exchange, regulator, "filings", "list")
    assert out.splitlines()[0].split()[:3] == ["NUMBER", "KIND", "ORDER"]
    assert order_id in out.splitlines()[1]
    saved = ok(exchange, regulator, "filings", "export", "--format", "jsonl",
               "-o", str(tmp_path / "filings.jsonl"))
    assert saved["size"] == (tmp_path / "filings.jsonl").stat().st_size
    assert json.loads((tmp_path / "filings.jsonl").read_text("utf-8"))["order_id"] == order_id

    receipts.sequence(UnitOfWork(session_factory, clock,  # type: ignore[arg-type]
                                 system_actor("sequencer")))
    receipt_id = world.as_("buyer").orders.get(order_id)["receipts"][0]["id"]
    signer = receipts.issuer().suite.identity
    local = ok(exchange, regulator, "receipt", "verify", receipt_id, "--signer", signer)
    assert (local["ok"], local["status"]) == (True, "verified")
    server = ok(exchange, regulator, "receipt", "verify", receipt_id, "--server")
    assert [p["name"] for p in server["parts"]] == [p["name"] for p in local["parts"]]
    bundle = world.as_("buyer").receipts.proof(receipt_id)
    bundle["receipt"]["body"]["subject"] = "order:ord_forged"
    (tmp_path / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
    status, out, err = run(exchange, None, "receipt", "verify", "--file",
                           str(tmp_path / "bundle.json"))
    assert status == 1
    assert out.splitlines()[0] == "failed"
    assert "body fails" in err


def test_refusals_and_usage_errors_exit_non_zero(
    exchange: Exchange, make_party: Callable[..., Party]
) -> None:
    buyer = make_party("buyer")
    status, out, err = run(exchange, buyer, "--json", "orders", "show", "ord_unknown")
    problem = json.loads(out)["error"]
    assert (status, problem["code"], problem["status"]) == (1, "order_not_found", 404)
    assert problem["request_id"].startswith("req_")
    assert problem["request_id"] in err
    status, out, err = run(exchange, buyer, "orders", "show", "ord_unknown")
    assert (status, out) == (1, "")
    assert "404 order_not_found" in err
    out, err_io = io.StringIO(), io.StringIO()
    assert main(["orders", "list"], stdout=out, stderr=err_io, env={}) == 2
    assert "MARKET_URL" in err_io.getvalue()
    assert run(exchange, buyer, "orders", "frobnicate")[0] == 2


def test_webhook_verify_needs_no_exchange(tmp_path: Path) -> None:
    body = b'{"id": "evt_1", "type": "order.paid"}'
    (tmp_path / "body.json").write_bytes(body)
    header = signing.signature_header(["whsec_x"], 1_795_000_000, body)
    out, err = io.StringIO(), io.StringIO()
    args = ["webhook", "verify", str(tmp_path / "body.json"), "--header", header,
            "--secret", "whsec_x", "--now", "1795000100"]
    assert main(args, stdout=out, stderr=err, env={}) == 0
    assert out.getvalue() == "valid\n"
    out = io.StringIO()
    assert main(["--json", *args[:-1], "1795000400"], stdout=out, stderr=err, env={}) == 1
    assert json.loads(out.getvalue()) == {"ok": False}
