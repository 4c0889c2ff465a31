"""Disputes to arbitration over HTTP (数据交易仲裁): the operator's decision waits for the
escalation window with the escrow frozen; a party takes it to a named arbitration
institution; the deadlines then move nothing; the signed evidence bundle verifies offline
(and a tampered copy does not); the operator records the award, which moves the money as
awarded with balanced journals. An unescalated decision is carried out when the window
ends, and escalation is refused after it; both parties' waivers carry it out at once. Bad
escalations and awards answer 4xx problem+json and write nothing. The published dispute
rules are versioned and digested, and a dispute records the version it opened under.

The application keeps the default escalation window (7 days); authorization of every
endpoint is in ``test_authorization_matrix``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func, select

from market.cli import main
from market.kernel import canonical
from market.kernel.audit import AuditEntry
from market.receipts.services import Signer
from market.trading import services as trading
from tests.api.test_trading_api import FUNDS, SHA256, Desk
from tests.conftest import START, TEST_SIGNING_KEY, Party
from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa: F401
from tests.integration.trading_fixtures import PRICE, Market, market_fixture  # noqa: F401

WUHAN = "武汉仲裁委员会"
WINDOW = timedelta(days=7)  # the default escalation window
PLATFORM = Signer(TEST_SIGNING_KEY).address


@pytest.fixture(name="desk")
def desk_fixture(client: FlaskClient, market: Market) -> Desk:
    return Desk(client, market)


def _decided(desk: Desk, outcome: dict[str, Any]) -> tuple[str, str, Party, Party]:
    """A delivered order disputed by its buyer, answered by the seller and decided by the
    operator: (order id, dispute id, buyer, seller)."""
    chain, buyer = desk.market.listed(), desk.buyer()
    seller = desk.merchant(chain)
    order_id = desk.delivered(chain, buyer)
    dispute = desk.call("POST", f"/orders/{order_id}/disputes", buyer, 201, {
        "reason": "文件缺少 2026 年 8 月的数据", "evidence_sha256": ["ab" * 32]}).json
    desk.call("POST", f"/disputes/{dispute['id']}/answer", seller, 200,
              {"answer": "8 月数据已包含在附表", "evidence_sha256": ["cd" * 32]})
    decided = desk.call("POST", f"/disputes/{dispute['id']}/decision", desk.operator, 200,
                        {**outcome, "reason": "经核查"}).json
    assert decided["status"] == "decided"
    return order_id, dispute["id"], buyer, seller


def _deadlines(desk: Desk) -> dict[str, list[str]]:
    return trading.run_deadlines(uow=desk.market.system()).as_dict()


def _audit_count(desk: Desk) -> int:
    with desk.market.rights.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _balanced(desk: Desk, order_id: str, reader: Party) -> dict[str, Any]:
    ledger = dict(desk.call("GET", f"/orders/{order_id}/ledger", reader, 200).json)
    for journal in ledger["journals"]:
        assert sum(p["amount"] for p in journal["postings"]) == 0, journal
    assert desk.call("GET", "/ledger/verification", desk.operator, 200).json["ok"]
    return ledger


def test_an_arbitration_award_moves_the_money_as_decided_and_the_evidence_bundle_verifies(
        desk: Desk, tmp_path: Path) -> None:
    order_id, dispute_id, buyer, seller = _decided(desk, {"outcome": "release"})
    decided = desk.call("GET", f"/disputes/{dispute_id}", buyer, 200).json
    assert decided["escalate_by"] is not None
    assert decided["carried_out_at"] is None
    assert desk.balance(buyer, "escrow") == PRICE  # frozen until the window ends

    escalated = desk.call("POST", f"/disputes/{dispute_id}/escalation", buyer, 200, {
        "institution": WUHAN, "reason": "运营方未核对 8 月数据"}).json
    assert (escalated["status"], escalated["arbitration_institution"],
            escalated["escalated_by_org_id"]) == ("escalated", WUHAN, buyer.org_id)

    desk.market.rights.clock.advance(WINDOW + timedelta(days=1))  # past the window
    assert _deadlines(desk)["decisions_carried_out"] == []
    order = desk.call("GET", f"/orders/{order_id}", seller, 200).json
    assert order["status"] == "disputed"  # frozen: not settled, refunded or auto-accepted
    assert desk.balance(buyer, "escrow") == PRICE
    assert desk.balance(seller, "payable") == 0

    found = desk.call("GET", f"/disputes/{dispute_id}/evidence-bundle", seller, 200).json
    bundle = found["bundle"]
    assert found["signature"]["signer"] == PLATFORM
    assert found["digest"] == hashlib.sha256(canonical.dumps(bundle)).hexdigest()
    assert bundle["contract"]["sha256"] == order["contract_sha256"]
    assert bundle["declarations"]["purchase"]["kind"] == "purchase"
    assert bundle["declarations"]["listing"]["kind"] == "listing"
    assert [d["sha256"] for d in bundle["deliveries"]] == [SHA256]
    assert [m["kind"] for m in bundle["messages"]["dispute"]] == [
        "dispute", "answer", "decision", "escalation"]
    assert bundle["messages"]["dispute"][0]["evidence_sha256"] == ["ab" * 32]
    assert bundle["messages"]["negotiation"] is None  # ordered from the catalogue
    assert [j["kind"] for j in bundle["ledger"]["journals"]] == ["payment"]  # in escrow
    assert sum(p["amount"] for p in bundle["ledger"]["journals"][0]["postings"]) == 0
    actions = {e["action"] for e in bundle["audit"]}
    assert {"order.placed", "delivery.made", "dispute.opened", "dispute.decided",
            "dispute.escalated"} <= actions
    assert bundle["rules"]["version"] == "2"
    assert trading.verify_evidence_bundle(found, trusted_signer=PLATFORM).ok
    for reader in (desk.operator, desk.regulator, buyer):
        again = desk.call("GET", f"/disputes/{dispute_id}/evidence-bundle", reader, 200).json
        assert trading.verify_evidence_bundle(again).ok
    desk.refused("GET", f"/disputes/{dispute_id}/evidence-bundle",
                 desk.buyer("a stranger"), 404, "dispute_not_found")

    tampered = copy.deepcopy(found)
    tampered["bundle"]["deliveries"][0]["sha256"] = "00" * 32
    check = trading.verify_evidence_bundle(tampered)
    assert not check.ok
    assert any(p.startswith("digest_mismatch") for p in check.problems)
    resigned = copy.deepcopy(tampered)  # the digest recomputed, the signature kept
    resigned["digest"] = resigned["signature"]["digest"] = hashlib.sha256(
        canonical.dumps(resigned["bundle"])).hexdigest()
    assert [p.split(":")[0] for p in trading.verify_evidence_bundle(resigned).problems] == [
        "signature_invalid"]
    assert not trading.verify_evidence_bundle(found, trusted_signer="0x" + "11" * 20).ok

    good, bad = tmp_path / "bundle.json", tmp_path / "tampered.json"
    good.write_text(json.dumps(found, ensure_ascii=False), encoding="utf-8")
    bad.write_text(json.dumps(tampered, ensure_ascii=False), encoding="utf-8")
    ran = CliRunner().invoke(main, ["disputes", "verify-bundle", str(good),
                                    "--signer", PLATFORM])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["ok"] is True
    assert CliRunner().invoke(main, ["disputes", "verify-bundle", str(bad)]).exit_code == 1

    refund = PRICE // 4
    awarded = desk.call("POST", f"/disputes/{dispute_id}/award", desk.operator, 200, {
        "institution": WUHAN, "reference": "(2026)武仲字第 0815 号",
        "document_sha256": "EF" * 32, "outcome": "partial_refund", "refund_amount": refund,
        "decided_at": (START + timedelta(days=7)).isoformat()}).json
    assert (awarded["status"], awarded["award_outcome"], awarded["award_refund_amount"],
            awarded["award_document_sha256"]) == ("awarded", "partial_refund", refund,
                                                  "ef" * 32)
    assert awarded["carried_out_at"] is not None
    order = desk.call("GET", f"/orders/{order_id}", buyer, 200).json
    assert (order["status"], order["refunded_amount"]) == ("settled", refund)
    assert desk.balance(buyer, "available") == FUNDS - PRICE + refund
    assert desk.balance(buyer, "escrow") == 0
    ledger = _balanced(desk, order_id, seller)
    allocations = ledger["allocations"]
    assert sum(a["refunded"] for a in allocations) == refund
    assert sum(a["amount"] - a["refunded"] for a in allocations) == PRICE - refund
    assert desk.balance(seller, "payable") > 0
    desk.refused("POST", f"/disputes/{dispute_id}/award", desk.operator, 409,
                 "dispute_not_escalated", {
                     "institution": WUHAN, "reference": "again", "document_sha256": "ef" * 32,
                     "outcome": "release", "decided_at": START.isoformat()})


def test_an_unescalated_decision_is_carried_out_when_the_window_ends(desk: Desk) -> None:
    order_id, dispute_id, buyer, seller = _decided(desk, {"outcome": "full_refund"})
    desk.market.rights.clock.advance(WINDOW - timedelta(minutes=1))
    assert _deadlines(desk)["decisions_carried_out"] == []
    assert desk.call("GET", f"/orders/{order_id}", buyer, 200).json["status"] == "disputed"
    assert desk.balance(buyer, "escrow") == PRICE

    desk.market.rights.clock.advance(timedelta(minutes=1))
    assert _deadlines(desk)["decisions_carried_out"] == [dispute_id]
    order = desk.call("GET", f"/orders/{order_id}", buyer, 200).json
    assert (order["status"], order["refunded_amount"]) == ("refunded", PRICE)
    assert desk.balance(buyer, "available") == FUNDS
    _balanced(desk, order_id, seller)
    assert _deadlines(desk)["decisions_carried_out"] == []  # once

    before, count = desk.call("GET", f"/disputes/{dispute_id}", buyer, 200).json, \
        _audit_count(desk)
    for party in (buyer, seller):
        desk.refused("POST", f"/disputes/{dispute_id}/escalation", party, 409,
                     "escalation_window_closed", {"institution": WUHAN, "reason": "太晚了"})
    assert desk.call("GET", f"/disputes/{dispute_id}", buyer, 200).json == before
    assert _audit_count(desk) == count


def test_an_escalation_after_the_window_is_refused_before_the_deadlines_run(
        desk: Desk) -> None:
    order_id, dispute_id, buyer, _ = _decided(desk, {"outcome": "release"})
    desk.market.rights.clock.advance(WINDOW)
    desk.refused("POST", f"/disputes/{dispute_id}/escalation", buyer, 409,
                 "escalation_window_closed", {"institution": WUHAN, "reason": "太晚了"})
    assert _deadlines(desk)["decisions_carried_out"] == [dispute_id]
    assert desk.call("GET", f"/orders/{order_id}", buyer, 200).json["status"] == "settled"


def test_both_parties_waiving_escalation_carry_the_decision_out_at_once(desk: Desk) -> None:
    order_id, dispute_id, buyer, seller = _decided(
        desk, {"outcome": "partial_refund", "refund_amount": PRICE // 2})
    waived = desk.call("POST", f"/disputes/{dispute_id}/escalation-waiver", buyer, 200).json
    assert waived["buyer_waived_at"] is not None
    assert waived["carried_out_at"] is None
    desk.refused("POST", f"/disputes/{dispute_id}/escalation-waiver", buyer, 409,
                 "escalation_waived")
    desk.refused("POST", f"/disputes/{dispute_id}/escalation", buyer, 409,
                 "escalation_waived", {"institution": WUHAN, "reason": "反悔"})
    assert desk.call("GET", f"/orders/{order_id}", buyer, 200).json["status"] == "disputed"

    both = desk.call("POST", f"/disputes/{dispute_id}/escalation-waiver", seller, 200).json
    assert both["carried_out_at"] is not None
    order = desk.call("GET", f"/orders/{order_id}", buyer, 200).json
    assert (order["status"], order["refunded_amount"]) == ("settled", PRICE // 2)
    assert desk.balance(buyer, "available") == FUNDS - PRICE // 2
    _balanced(desk, order_id, seller)
    desk.refused("POST", f"/disputes/{dispute_id}/escalation", seller, 409,
                 "escalation_waived", {"institution": WUHAN, "reason": "反悔"})


def test_bad_escalations_and_awards_answer_4xx_and_write_nothing(desk: Desk) -> None:
    chain, buyer = desk.market.listed(), desk.buyer()
    seller = desk.merchant(chain)
    order_id = desk.delivered(chain, buyer)
    dispute_id = desk.call("POST", f"/orders/{order_id}/disputes", buyer, 201,
                           {"reason": "数据有误"}).json["id"]
    award = {"institution": WUHAN, "reference": "(2026)武仲字第 1 号",
             "document_sha256": "ef" * 32, "outcome": "full_refund",
             "decided_at": START.isoformat()}
    escalation = {"institution": WUHAN, "reason": "不服"}

    def unchanged(*refusals: tuple[str, Party, int, str, dict[str, Any] | None]) -> None:
        before = desk.call("GET", f"/disputes/{dispute_id}", desk.operator, 200).json
        ledger = desk.call("GET", f"/orders/{order_id}/ledger", desk.operator, 200).json
        count = _audit_count(desk)
        for path, party, status, code, body in refusals:
            desk.refused("POST", f"/disputes/{dispute_id}/{path}", party, status, code, body)
        assert desk.call("GET", f"/disputes/{dispute_id}", desk.operator, 200).json == before
        assert desk.call("GET", f"/orders/{order_id}/ledger", desk.operator,
                         200).json == ledger
        assert _audit_count(desk) == count

    unchanged(  # nothing decided yet
        ("escalation", buyer, 409, "dispute_not_open", escalation),
        ("escalation-waiver", seller, 409, "dispute_not_open", None),
        ("award", desk.operator, 409, "dispute_not_escalated", award))
    desk.call("POST", f"/disputes/{dispute_id}/answer", seller, 200, {"answer": "无误"})
    desk.call("POST", f"/disputes/{dispute_id}/decision", desk.operator, 200,
              {"outcome": "release", "reason": "数据无误"})
    stranger = desk.buyer("a stranger")
    unchanged(
        ("escalation", buyer, 422, "unknown_arbitration_institution",
         {"institution": "某某仲裁委员会", "reason": "不服"}),
        ("escalation", buyer, 422, "invalid_input", {"institution": WUHAN}),
        ("escalation", stranger, 404, "dispute_not_found", escalation),
        ("escalation", desk.operator, 403, "role_not_allowed", escalation),
        ("award", desk.operator, 409, "dispute_not_escalated", award))

    desk.call("POST", f"/disputes/{dispute_id}/escalation", seller, 200, escalation)
    unchanged(
        ("escalation", buyer, 409, "dispute_already_escalated", escalation),
        ("escalation", seller, 409, "dispute_already_escalated", escalation),
        ("escalation-waiver", buyer, 409, "dispute_already_escalated", None),
        ("award", desk.operator, 422, "invalid_input",
         {**award, "outcome": "partial_refund", "refund_amount": PRICE + 1}),
        ("award", desk.operator, 422, "invalid_input",
         {**award, "outcome": "partial_refund", "refund_amount": PRICE}),
        ("award", desk.operator, 422, "invalid_input", {**award, "outcome": "partial_refund"}),
        ("award", desk.operator, 422, "invalid_input",
         {**award, "institution": "中国国际经济贸易仲裁委员会"}),
        ("award", desk.operator, 422, "invalid_input",
         {**award, "decided_at": (START - timedelta(days=1)).isoformat()}),
        ("award", desk.operator, 422, "invalid_input",
         {**award, "decided_at": (START + timedelta(days=1)).isoformat()}),
        ("award", desk.operator, 422, "invalid_input", {**award, "document_sha256": "xyz"}),
        ("award", buyer, 403, "role_not_allowed", award),
        ("decision", desk.operator, 409, "dispute_not_open",
         {"outcome": "release", "reason": "再决定"}))


def test_the_dispute_rules_are_published_versioned_and_recorded_on_each_dispute(
        desk: Desk, client: FlaskClient) -> None:
    published = client.get("/api/v1/dispute-rules").get_json()
    assert published["current"] == "2"
    versions = {v["version"]: v for v in published["versions"]}
    assert set(versions) == {"1", "2"}
    for version in versions.values():
        assert version["sha256"] == hashlib.sha256(
            canonical.dumps(version["document"])).hexdigest()
        assert version["current"] is (version["version"] == "2")
    current = versions["2"]["document"]
    assert current["windows"] == {"dispute": current["windows"]["dispute"],
                                  "answer_hours": 72, "arbitration_escalation_hours": 168}
    assert current["arbitration_institutions"] == [WUHAN]
    assert [o["outcome"] for o in current["outcomes"]] == [
        "release", "partial_refund", "full_refund"]
    assert versions["1"]["document"]["windows"]["arbitration_escalation_hours"] is None

    chain, buyer = desk.market.listed(), desk.buyer()
    order_id = desk.delivered(chain, buyer)
    dispute = desk.call("POST", f"/orders/{order_id}/disputes", buyer, 201,
                        {"reason": "数据有误"}).json
    assert (dispute["rules_version"], dispute["rules_sha256"],
            dispute["escalation_window_seconds"]) == ("2", versions["2"]["sha256"],
                                                      WINDOW.total_seconds())
