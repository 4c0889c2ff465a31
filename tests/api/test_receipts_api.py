"""Receipts over HTTP: an order lists its receipts; a party reads a receipt and its proof
bundle; anyone verifies a bundle and reads the log's checkpoints and consistency proofs;
mistakes answer problem+json with a stable code."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient

from market.kernel.actor import system_actor
from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
from market.receipts import verifier
from tests.api.test_trading_api import SHA256, Desk
from tests.conftest import problem
from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa: F401
from tests.integration.trading_fixtures import Market, market_fixture  # noqa: F401

SUITE = "secp256k1-sha256"


@pytest.fixture
def desk(client: FlaskClient, market: Market) -> Desk:
    return Desk(client, market)


def _sequence(market: Market) -> receipts.Appended:
    return receipts.sequence(UnitOfWork(market.rights.session_factory, market.rights.clock,
                                        system_actor("sequencer")))


def _settled(desk: Desk) -> tuple[dict[str, Any], Any]:
    chain, buyer = desk.market.listed(), desk.buyer()
    order_id = desk.delivered(chain, buyer)
    desk.call("POST", f"/orders/{order_id}/acceptance", buyer, 200, {"sha256": SHA256})
    return dict(desk.call("GET", f"/orders/{order_id}", buyer, 200).json), buyer


def test_an_order_lists_its_receipts_and_a_party_reads_their_proofs(desk: Desk) -> None:
    order, buyer = _settled(desk)
    kinds = [r["kind"] for r in order["receipts"]]
    assert sorted(kinds) == ["order.contract", "settlement.escrow_payment",
                             "settlement.settlement"]
    assert all(r["leaf_index"] is None for r in order["receipts"])  # not yet sequenced
    _sequence(desk.market)
    for summary in desk.call("GET", f"/orders/{order['id']}", buyer, 200).json["receipts"]:
        assert summary["leaf_index"] is not None
        receipt = desk.call("GET", f"/receipts/{summary['id']}", buyer, 200).json
        assert receipt["body"]["subject"] == f"order:{order['id']}"
        assert receipt["digest"] == summary["digest"]
        bundle = desk.call("GET", f"/receipts/{summary['id']}/proof", buyer, 200).json
        assert bundle["format"] == "market.receipt-proof/v1"
        assert verifier.verify_bundle(bundle, trusted_signer=receipts.issuer().suite.identity).ok


def test_a_filing_and_a_certificate_list_their_receipts(desk: Desk) -> None:
    order, _ = _settled(desk)
    filing = desk.call("GET", "/filings", desk.regulator, 200,
                       query_string={"party": order["buyer_org_id"]}).json["items"][0]
    found = desk.call("GET", f"/filings/{filing['id']}", desk.regulator, 200).json
    assert [r["kind"] for r in found["receipts"]] == ["compliance.filing"]
    (summary,) = found["receipts"]
    assert summary["subject"] == f"filing:{filing['id']}"
    body = desk.call("GET", f"/receipts/{summary['id']}", desk.regulator, 200).json["body"]
    assert body["record"]["number"] == filing["number"]
    problem(desk.call("GET", f"/receipts/{summary['id']}", None, 404))


def test_anyone_verifies_a_bundle_and_the_failing_part_is_named(desk: Desk) -> None:
    order, buyer = _settled(desk)
    _sequence(desk.market)
    receipt_id = order["receipts"][0]["id"]
    bundle = desk.call("GET", f"/receipts/{receipt_id}/proof", buyer, 200).json
    report = desk.call("POST", "/receipts/verification", None, 200,
                       {"bundle": bundle}).json
    assert (report["ok"], report["status"], report["failed"]) == (True, "verified", None)
    assert [p["name"] for p in report["parts"]] == list(verifier.PARTS)

    forged = copy.deepcopy(bundle)
    forged["receipt"]["body"]["record"]["seller_org_id"] = buyer.org_id
    report = desk.call("POST", "/receipts/verification", None, 200, {"bundle": forged}).json
    assert (report["ok"], report["failed"]) == (False, "body")

    other_key = "0x" + "11" * 20
    report = desk.call("POST", "/receipts/verification", None, 200,
                       {"bundle": bundle, "signer": other_key}).json
    assert (report["ok"], report["failed"]) == (False, "signer")


def test_an_unsequenced_receipt_verifies_as_pending(desk: Desk) -> None:
    order, buyer = _settled(desk)
    bundle = desk.call("GET", f"/receipts/{order['receipts'][0]['id']}/proof", buyer, 200).json
    assert bundle["log"] is None
    report = desk.call("POST", "/receipts/verification", None, 200, {"bundle": bundle}).json
    assert (report["ok"], report["status"]) == (True, "pending")


def test_checkpoints_and_consistency_proofs_are_public(desk: Desk) -> None:
    found = problem(desk.call("GET", f"/receipts/logs/{SUITE}/checkpoint", None, 404))
    assert found["code"] == "checkpoint_not_found"
    desk.market.listed()
    first = _sequence(desk.market).tree_size
    _settled(desk)
    second = _sequence(desk.market).tree_size
    latest = desk.call("GET", f"/receipts/logs/{SUITE}/checkpoint", None, 200).json
    assert latest["tree_size"] == second
    earlier = desk.call("GET", f"/receipts/logs/{SUITE}/checkpoint", None, 200,
                        query_string={"tree_size": first}).json
    parsed = verifier.parse_checkpoint(earlier["note"].split("\n\n")[0].encode() + b"\n")
    assert (parsed.tree_size, parsed.root.hex()) == (first, earlier["root"])
    proof = desk.call("GET", f"/receipts/logs/{SUITE}/consistency", None, 200,
                      query_string={"first": first, "second": second}).json
    assert (proof["first_root"], proof["second_root"]) == (earlier["root"], latest["root"])
    assert verifier.verify_consistency(
        verifier.sha256, first, second, [bytes.fromhex(p) for p in proof["proof"]],
        bytes.fromhex(earlier["root"]), bytes.fromhex(latest["root"]))


@pytest.mark.parametrize(("path", "query", "status", "code"), [
    ("/receipts/logs/sha1/checkpoint", {}, 404, "log_not_found"),
    ("/receipts/logs/sha1/consistency", {"first": 1, "second": 1}, 404, "log_not_found"),
    (f"/receipts/logs/{SUITE}/consistency", {"first": 1, "second": 10 ** 9}, 422,
     "log_size_invalid"),
    (f"/receipts/logs/{SUITE}/consistency", {"first": 0, "second": 1}, 422, "invalid_query"),
    (f"/receipts/logs/{SUITE}/consistency", {"first": 1}, 422, "invalid_query"),
    ("/receipts/rcp_01JD6Z0000000000000000000A", {}, 404, "receipt_not_found"),
    ("/receipts/rcp_01JD6Z0000000000000000000A/proof", {}, 404, "receipt_not_found"),
])
def test_mistakes_answer_problems_with_stable_codes(desk: Desk, path: str, query: dict[str, Any],
                                                   status: int, code: str) -> None:
    assert problem(desk.call("GET", path, None, status, query_string=query))["code"] == code


def test_a_verification_needs_a_bundle(desk: Desk) -> None:
    found = problem(desk.call("POST", "/receipts/verification", None, 422, {"signer": "x"}))
    assert found["code"] == "invalid_input"
    assert "bundle" in str(found["errors"])


def test_a_malformed_bundle_fails_verification_without_an_error(desk: Desk) -> None:
    report = desk.call("POST", "/receipts/verification", None, 200,
                       {"bundle": {"format": "something else"}}).json
    assert (report["ok"], report["failed"]) == (False, "format")


def test_the_operator_and_the_regulator_list_anchoring_batches(desk: Desk) -> None:
    for party in (desk.operator, desk.regulator):
        assert desk.call("GET", "/receipts/batches", party, 200).json == {"items": []}
    found = problem(desk.call("GET", "/receipts/batches", desk.buyer(funds=0), 403))
    assert found["code"] == "role_not_allowed"
