"""The client's webhook check against the exchange's own signing code, and proof bundles of
a real trade's receipts checked through the exchange's stand-alone verifier."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import pytest
from market_client import VerifierUnavailable, verify_proof_bundle
from market_client.webhooks import InvalidSignature, parse_event, verify_signature

from market.kernel.actor import system_actor
from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
from market.webhooks import domain as signing
from tests.client.conftest import Exchange
from tests.client.world import World
from tests.conftest import Party

BODY = json.dumps({"id": "evt_1", "type": "order.paid", "created": "2026-11-21T09:00:00Z",
                   "data": {"id": "ord_1", "status": "paid"}}, ensure_ascii=False).encode()
NOW = 1_795_000_000


def test_signatures_made_by_the_exchange_verify_and_nothing_else_does() -> None:
    secret, old = "whsec_current", "whsec_previous"
    header = signing.signature_header([secret, old], NOW, BODY)  # a rotation's overlap
    assert verify_signature(BODY, header, secret, now=NOW)
    assert verify_signature(BODY, header, old, now=NOW + 300)
    assert parse_event(BODY, header, secret, now=NOW)["id"] == "evt_1"
    assert not verify_signature(BODY, header, "whsec_other", now=NOW)
    assert not verify_signature(BODY + b" ", header, secret, now=NOW)
    assert not verify_signature(BODY, header, secret, now=NOW + 301)
    assert not verify_signature(BODY, header, secret, now=NOW - 301)
    assert verify_signature(BODY, header, secret, now=NOW + 500, tolerance=600)
    for bad in ("", "v1=abc", f"t={NOW}", f"t=x,v1={signing.signature(secret, NOW, BODY)}",
                f"t={NOW},t={NOW},v1={signing.signature(secret, NOW, BODY)}"):
        assert not verify_signature(BODY, bad, secret, now=NOW), bad
    with pytest.raises(InvalidSignature):
        parse_event(BODY, header, "whsec_other", now=NOW)
    # Agreeing with the server's own receiver check, case by case.
    for body, key, when in ((BODY, secret, NOW), (BODY, "x", NOW), (b"{}", secret, NOW),
                            (BODY, old, NOW + 299), (BODY, old, NOW + 301)):
        assert verify_signature(body, header, key, now=when) == signing.verify(
            body, header, key, now=when)


def test_a_receipts_proof_bundle_verifies_through_the_exchanges_verifier(
    exchange: Exchange, make_party: Callable[..., Party], session_factory: object,
    clock: object,
) -> None:
    world = World(exchange, make_party)
    listed = world.listed_product()
    order_id = world.delivered_order(listed)
    buyer = world.as_("buyer")
    buyer.orders.accept(order_id)
    receipts.sequence(UnitOfWork(session_factory, clock,  # type: ignore[arg-type]
                                 system_actor("sequencer")))
    summaries = buyer.orders.get(order_id)["receipts"]
    assert {r["kind"] for r in summaries} >= {"order.contract", "settlement.settlement"}
    platform = receipts.issuer().suite.identity
    for summary in summaries:
        bundle = buyer.receipts.proof(summary["id"])
        report = verify_proof_bundle(bundle, trusted_signer=platform)
        assert (report.ok, report.status, report.failed) == (True, "verified", None)
        assert report.part("inclusion").ok
        assert buyer.receipts.verify(bundle)["ok"] is True

    bundle = buyer.receipts.proof(summaries[0]["id"])
    bundle["receipt"]["body"]["record"]["amount"] = 1  # tampered
    report = buyer.receipts.verify_locally(bundle, trusted_signer=platform)
    assert (report.ok, report.status, report.failed) == (False, "failed", "body")
    assert buyer.receipts.verify(bundle)["failed"] == report.failed
    other = verify_proof_bundle(buyer.receipts.proof(summaries[0]["id"]),
                                trusted_signer="0x" + "11" * 20)
    assert other.failed == "signer"


def test_without_the_verifier_installed_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "market.receipts.verifier", None)
    with pytest.raises(VerifierUnavailable, match="install the `market` package"):
        verify_proof_bundle({"format": "market.receipt-proof/v1"})
