"""Matching over HTTP: a buyer posts a demand, reads its explained matches, a merchant answers
with an offer, the buyer counters, the merchant agrees, and the buyer orders the private
offer through the order flow; the regulator reads the demand, the negotiation, its private
offer and commission, and those reads are audited. Bad input answers problem+json with a
stable code and writes nothing; messages follow the caller's language.

Authorization of every endpoint is in ``test_authorization_matrix``; the engine's rules and
scores, negotiation transitions, brokers and conversion are in
``tests/integration/test_matching.py``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.audit import AuditEntry
from market.matching.models import Demand, Negotiation
from tests.api.test_trading_api import SHA256, Desk
from tests.conftest import START, Party, problem
from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa: F401
from tests.integration.trading_fixtures import (  # noqa: F401
    COMMITMENT,
    PRICE,
    Market,
    market_fixture,
)

DEMAND: dict[str, Any] = {
    "title": "企业用电风险指数 power risk index", "sector": "finance", "region": "上海",
    "description": "按月更新的企业用电景气与风险指数，用于授信。",
    "product_types": ["dataset"], "delivery_modes": ["file"], "freshness": "monthly",
    "budget_min": PRICE // 2, "budget_max": 2 * PRICE, "currency": "CNY",
    "purpose": "小微企业授信审批", "purposes": ["信贷风控"], "scenarios": ["小微企业授信"],
    "deadline": (START + timedelta(days=30)).isoformat(),
}


@pytest.fixture
def desk(client: FlaskClient, market: Market) -> Desk:
    return Desk(client, market)


def _count(session_factory: sessionmaker[Session], model: Any) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _reads(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)
                                  .where(AuditEntry.action == "regulator.read")) or 0)


def _agreed(desk: Desk, market: Market, buyer: Party) -> tuple[str, dict[str, Any]]:
    """A demand answered by the listed product's merchant, countered and agreed."""
    chain = market.listed()
    demand = desk.call("POST", "/demands", buyer, 201, DEMAND).json
    merchant = desk.merchant(chain)
    offered = desk.call("POST", f"/demands/{demand['id']}/answers", merchant, 201, {
        "product_id": chain.product_id, "terms": {"amount": PRICE, "delivery_modes": ["file"]},
    }).json
    assert offered["status"] == "offered"
    assert offered["channel"] == "match"
    desk.call("POST", f"/negotiations/{offered['id']}/counters", buyer, 200,
              {"terms": {"amount": PRICE - 10_000, "term_days": 180}})
    agreed = desk.call("POST", f"/negotiations/{offered['id']}/agreement", merchant, 200).json
    return demand["id"], agreed


def test_a_demand_is_matched_negotiated_and_bought_over_http(
    desk: Desk, market: Market, session_factory: sessionmaker[Session]
) -> None:
    buyer = desk.buyer()
    demand_id, agreed = _agreed(desk, market, buyer)
    assert agreed["status"] == "agreed"
    offer = agreed["private_offer"]
    assert (offer["amount"], offer["buyer_org_id"], offer["channel"]) == (
        PRICE - 10_000, buyer.org_id, "match")

    ranking = desk.call("GET", f"/demands/{demand_id}/matches", buyer, 200,
                        query_string={"explain": "true"}).json
    top = ranking["candidates"][0]
    assert top["score"] == sum(top["components"].values())
    assert set(ranking["weights"]) == set(top["components"])

    order = desk.call("POST", "/orders", buyer, 201, {
        "product_id": agreed["product_id"], "offer_id": offer["id"],
        "commitment": COMMITMENT}).json
    assert order["amount"] == PRICE - 10_000
    contract = desk.call("GET", f"/orders/{order['id']}/contract", buyer, 200).json
    assert contract["document"]["origin"]["channel"] == "match"
    assert contract["document"]["origin"]["demand_id"] == demand_id
    assert desk.call("GET", f"/demands/{demand_id}", buyer, 200).json["status"] == "converted"
    history = desk.call("GET", f"/negotiations/{agreed['id']}/history", buyer, 200).json
    assert [e["action"] for e in history["items"]] == [
        "offered", "countered", "agreed", "ordered"]
    assert history["items"][1]["terms"]["amount"] == PRICE - 10_000

    desk.pay(order["id"], buyer)
    desk.upload(order["id"], market.party_of(order["seller_org_id"]))
    settled = desk.call("POST", f"/orders/{order['id']}/acceptance", buyer, 200,
                        {"sha256": SHA256}).json
    assert settled["status"] == "settled"

    before = _reads(session_factory)
    regulator = desk.regulator
    lines = desk.call("GET", "/regulator/filings/export", regulator, 200,
                      query_string={"format": "jsonl", "party": buyer.org_id}
                      ).get_data(as_text=True).splitlines()
    (filed,) = [json.loads(line) for line in lines]
    assert (filed["order_id"], filed["channel"], filed["negotiation_id"]) == (
        order["id"], "match", agreed["id"])
    seen = desk.call("GET", f"/negotiations/{agreed['id']}", regulator, 200).json
    assert seen["private_offer"]["id"] == offer["id"]
    assert seen["order_id"] == order["id"]
    assert desk.call("GET", f"/demands/{demand_id}", regulator, 200).json["id"] == demand_id
    listed = desk.call("GET", "/negotiations", regulator, 200).json["items"]
    assert agreed["id"] in {n["id"] for n in listed}
    assert _reads(session_factory) == before + 4


def test_bad_input_answers_problem_json_with_a_stable_code_and_writes_nothing(
    desk: Desk, market: Market, session_factory: sessionmaker[Session]
) -> None:
    buyer, other = desk.buyer(), desk.buyer("other")
    _demand_id, agreed = _agreed(desk, market, buyer)
    counts = (_count(session_factory, Demand), _count(session_factory, Negotiation))

    found = desk.refused("POST", "/demands", buyer, 422, "invalid_input",
                         {**DEMAND, "budget_min": 3 * PRICE, "budget_max": PRICE})
    assert "budget_max" in found["errors"]
    found = desk.refused("POST", "/demands", buyer, 422, "invalid_input",
                         {**DEMAND, "deadline": (START - timedelta(days=1)).isoformat()})
    assert "deadline" in str(found["errors"])
    found = desk.refused("POST", "/demands", buyer, 422, "invalid_input",
                         {**DEMAND, "sector": "astrology"})
    assert "sector" in found["errors"]
    desk.refused("POST", "/orders", other, 404, "offer_not_found", {
        "product_id": agreed["product_id"], "offer_id": agreed["private_offer_id"],
        "commitment": COMMITMENT})
    assert (_count(session_factory, Demand), _count(session_factory, Negotiation)) == counts

    chain = market.listed()
    asked = desk.call("POST", "/negotiations", buyer, 201, {
        "product_id": chain.product_id,
        "terms": {"purposes": ["信贷风控"], "scenarios": ["小微企业授信"]}}).json
    desk.refused("POST", "/negotiations", buyer, 422, "agreement_refused", {
        "product_id": chain.product_id,
        "terms": {"purposes": ["精准营销"], "scenarios": ["小微企业授信"]}})
    market.rights.clock.advance(timedelta(days=4))
    desk.refused("POST", f"/negotiations/{asked['id']}/offers", desk.merchant(chain), 409,
                 "negotiation_expired", {"terms": {"amount": PRICE}})
    stored = desk.call("GET", f"/negotiations/{asked['id']}", buyer, 200).json
    assert (stored["status"], stored["round"]) == ("requested", 0)


def test_matching_problems_follow_the_callers_language(desk: Desk) -> None:
    buyer = desk.buyer(funds=0)
    english = problem(desk.call("GET", "/demands/dmd_missing", buyer, 404))
    chinese = problem(desk.call("GET", "/demands/dmd_missing", buyer, 404,
                                headers={"Accept-Language": "zh-CN"}))
    assert english["code"] == chinese["code"] == "demand_not_found"
    assert (english["title"], chinese["title"]) == ("Demand not found", "需求不存在")


def test_a_patch_changes_only_what_it_names_and_the_demand_is_matched_again(
    desk: Desk, market: Market
) -> None:
    market.listed()
    buyer = desk.buyer(funds=0)
    posted = desk.call("POST", "/demands", buyer, 201, DEMAND).json
    changed = desk.call("PATCH", f"/demands/{posted['id']}", buyer, 200,
                        {"budget_max": PRICE}).json
    assert changed["budget_max"] == PRICE
    assert {k: changed[k] for k in ("title", "region", "purposes", "deadline", "budget_min")} \
        == {k: posted[k] for k in ("title", "region", "purposes", "deadline", "budget_min")}
    assert changed["matches"]
    found = desk.refused("PATCH", f"/demands/{posted['id']}", buyer, 422, "invalid_input",
                         {"budget_max": PRICE // 4})
    assert "budget_max" in found["errors"]
    again = desk.call("GET", f"/demands/{posted['id']}", buyer, 200).json
    assert again["budget_max"] == PRICE


def test_merchants_find_public_demands_by_chinese_or_english_words_with_facets(
    desk: Desk, market: Market
) -> None:
    chain = market.listed()
    buyer = desk.buyer(funds=0)
    posted = desk.call("POST", "/demands", buyer, 201, DEMAND).json
    desk.call("POST", "/demands", buyer, 201, {**DEMAND, "title": "医疗影像标注 imaging",
                                               "description": "三甲医院影像",
                                               "sector": "healthcare"})
    merchant = desk.merchant(chain)
    for q in ("用电", "power"):
        found = desk.call("GET", "/demands", merchant, 200, query_string={"q": q}).json
        assert [d["id"] for d in found["items"]] == [posted["id"]], q
        assert found["facets"]["sector"] == {"finance": 1}
    every = desk.call("GET", "/demands", merchant, 200).json
    assert every["facets"]["sector"] == {"finance": 1, "healthcare": 1}
    assert all(d["matches"] == [] for d in every["items"])  # the buyer's business alone
