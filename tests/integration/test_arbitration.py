"""Arbitration through the services: the evidence bundle of an order that came out of a
negotiation carries the negotiation's messages (matching adds them through the
in-transaction event trading publishes); an escalated order is neither auto-accepted,
refunded after settlement nor decided again; a dispute opened under rules without an
escalation window is carried out at once; the dispute rules' digests are stable."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from market import wiring
from market.receipts.services import Signer
from market.settlement.services import RefundCause
from market.trading import dispute_rules
from market.trading import services as trading
from market.trading.domain import DisputeOutcome, OrderStatus, Policy
from market.trading.errors import DisputeNotOpen, OrderNotSettled
from tests.conftest import TEST_SIGNING_KEY
from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa: F401
from tests.integration.test_matching import Desk
from tests.integration.trading_fixtures import POLICY, Market, market_fixture  # noqa: F401

WUHAN = "武汉仲裁委员会"
WINDOW = timedelta(days=7)


@pytest.fixture(autouse=True)
def _wired() -> None:
    wiring.connect()


@pytest.fixture(name="arbitrated")
def arbitrated_fixture(market: Market) -> Market:
    """The market with a 7-day escalation window for the disputes opened in it."""
    market.policy = replace(POLICY, arbitration_window=WINDOW)
    return market


def _decide(market: Market, order_id: str, outcome: DisputeOutcome = DisputeOutcome.RELEASE,
            refund_amount: int | None = None) -> str:
    order = market.order(order_id)
    buyer, seller = market.party_of(order.buyer_org_id), market.party_of(order.seller_org_id)
    dispute = trading.open_dispute(order.id, "字段缺失", ["ab" * 32], policy=market.policy,
                                   uow=market.uow(buyer))
    trading.answer_dispute(dispute.id, "字段齐全", [], uow=market.uow(seller))
    trading.decide_dispute(dispute.id, outcome, "经核查", refund_amount=refund_amount,
                           uow=market.uow(market.rights.operator))
    return dispute.id


def test_the_bundle_of_a_negotiated_order_carries_the_negotiation_messages(
        arbitrated: Market) -> None:
    desk = Desk(arbitrated)
    chain, buyer = desk.listed(), arbitrated.buyer()
    asked = desk.quote(chain, buyer, quantity=1)
    desk.offer(asked.id, chain.grantee, amount=120_000, delivery_modes=["file"])
    desk.counter(asked.id, buyer, amount=90_000)
    agreed = desk.agree(asked.id, chain.grantee)
    order = desk.order_offer(chain, agreed.private_offer_id, buyer)
    arbitrated.pay(order)
    arbitrated.deliver_file(order)
    dispute_id = _decide(arbitrated, order.id)

    found = trading.evidence_bundle(dispute_id, signer=Signer(TEST_SIGNING_KEY),
                                    uow=arbitrated.uow(buyer))
    negotiation = found["bundle"]["messages"]["negotiation"]
    assert negotiation["id"] == asked.id
    assert [m["action"] for m in negotiation["messages"]] == [
        "requested", "offered", "countered", "agreed", "ordered"]
    assert negotiation["messages"][2]["terms"]["amount"] == 90_000
    assert trading.verify_evidence_bundle(found).ok


def test_an_escalated_order_stays_frozen_until_the_award(arbitrated: Market) -> None:
    order = arbitrated.place(arbitrated.listed())
    arbitrated.pay(order)
    arbitrated.deliver_file(order)
    dispute_id = _decide(arbitrated, order.id)
    seller = arbitrated.party_of(order.seller_org_id)
    trading.escalate_dispute(dispute_id, WUHAN, "不服", policy=arbitrated.policy,
                             uow=arbitrated.uow(seller))
    operator = arbitrated.uow(arbitrated.rights.operator)

    arbitrated.rights.clock.advance(WINDOW + arbitrated.policy.acceptance_window)
    run = trading.run_deadlines(uow=arbitrated.system())
    assert (run.auto_accepted, run.refunded, run.decisions_carried_out) == ([], [], [])
    with pytest.raises(OrderNotSettled):
        trading.refund_order(order.id, 1, RefundCause.ARBITRATION, "x", uow=operator)
    with pytest.raises(DisputeNotOpen):
        trading.decide_dispute(dispute_id, DisputeOutcome.FULL_REFUND, "again",
                               uow=arbitrated.uow(arbitrated.rights.operator))
    assert arbitrated.order(order.id).status == OrderStatus.DISPUTED.value

    awarded = trading.record_award(
        dispute_id, institution=WUHAN, reference="(2026)武仲字第 7 号",
        document_sha256="ef" * 32, outcome=DisputeOutcome.FULL_REFUND,
        decided_at=arbitrated.rights.clock.now(),
        uow=arbitrated.uow(arbitrated.rights.operator))
    assert (awarded.status, awarded.award_refund_amount) == ("awarded", order.amount)
    assert arbitrated.order(order.id).status == OrderStatus.REFUNDED.value
    assert arbitrated.verify().ok


def test_a_dispute_under_rules_without_a_window_is_carried_out_at_once(
        market: Market) -> None:
    order = market.place(market.listed())
    market.pay(order)
    market.deliver_file(order)
    dispute_id = _decide(market, order.id)  # the fixtures' policy: no escalation window
    assert market.order(order.id).status == OrderStatus.SETTLED.value
    dispute = trading.get_dispute(dispute_id, uow=market.system())
    assert dispute.carried_out_at == dispute.decided_at == dispute.escalate_by


def test_the_rules_digest_follows_the_published_windows_and_institutions() -> None:
    default = dispute_rules.published("2", Policy())
    assert default.sha256 == dispute_rules.published("2", Policy()).sha256
    assert default.document["windows"]["arbitration_escalation_hours"] == 168
    other = dispute_rules.published("2", Policy(arbitration_institutions=("上海仲裁委员会",)))
    assert other.sha256 != default.sha256
    assert [r.version for r in dispute_rules.all_versions(Policy())] == ["1", "2"]
    assert [r.current for r in dispute_rules.all_versions(Policy())] == [False, True]
