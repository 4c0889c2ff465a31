"""Public-data authorised operation over HTTP (公共数据授权运营): the exchange operator
authorises a public-data operator; only then does it register public data and rights over
it; its product is free for a public-interest buyer who declares that purpose and paid, at
no more than its cost basis, by a commercial one; the commercial sale settles with the
public-service fund's earmark in its split and the ledger balanced; offers that price one
buyer class two ways, or a negotiated price off the published one, are refused by named
rules; a revoked authorisation stops further sales; regulators read the authorisations, the
trades by purpose and the fund, and nobody else does.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import START, Party, problem

API = "/api/v1"
PRICE = 50_000  # 500.00 CNY, the commercial offer
COST = 60_000  # the declared cost-recovery basis
CONTENT = "线路,日均客流\n1路,10234\n".encode()
SCENARIOS = ["交通治理"]
PURPOSES = ["public_governance", "商业分析"]


def _doc(kind: str) -> dict[str, Any]:
    return {"kind": kind, "name": f"{kind}.pdf",
            "sha256": hashlib.sha256(kind.encode()).hexdigest()}


AUTHORISATION = {
    "categories": ["交通"], "scenarios": SCENARIOS,
    "valid_from": (START - timedelta(days=1)).isoformat(),
    "valid_to": (START + timedelta(days=365)).isoformat(),
    "qualification": "营业执照、数据安全管理制度、等保三级测评报告已核验",
    "reputation": "信用中国无严重失信记录，近三年无数据安全处罚",
    "evidence": [_doc("qualification"), _doc("reputation")],
}
RESOURCE = {
    "title": "公交客流数据", "description": "全市公交线路日均客流（公共数据）",
    "origin": "public_authorised", "public_category": "交通", "classification": "general",
    "pi_level": "none", "collection_method": "公交刷卡系统汇总",
    "collection_source": "市交通运输局", "scenarios": SCENARIOS, "update_frequency": "daily",
    "evidence": [{"kind": "source_legality", "name": "授权运营协议.pdf",
                  "sha256": hashlib.sha256(b"agreement").hexdigest()}],
}
SCOPE = {"purposes": PURPOSES, "scenarios": SCENARIOS, "territory": "domestic",
         "valid_from": (START - timedelta(days=1)).isoformat()}
FREE_OFFER = {"name": "公益使用", "kind": "free", "buyer_class": "public_interest"}
PAID_OFFER = {"name": "商业使用", "kind": "one_time", "amount": PRICE,
              "buyer_class": "commercial"}
COST_BASIS = {"amount": COST, "currency": "CNY", "explanation": "采集、治理与运维成本分摊",
              "document_sha256": hashlib.sha256(b"cost accounting").hexdigest()}
DECLARATION = {
    "statement": "公共数据经授权运营，来源合法。", "source_is_lawful": True,
    "source_basis": "public_data_authorised", "contains_personal_information": False,
    "personal_information_basis": "none", "contains_important_data": False,
    "contains_core_data": False, "cross_border": False, "third_party_rights_cleared": True,
    "security_measures": ["访问控制"], "scenarios": SCENARIOS,
    "onward_transfer_commitment": True,
}
COMMITMENT = {"purpose": "公交线网优化", "purposes": ["public_governance"],
              "scenarios": SCENARIOS, "cross_border": False,
              "security_measures": ["访问控制"], "no_onward_transfer": True,
              "no_reidentification": True, "purpose_class": "public_interest"}
COMMERCIAL = {**COMMITMENT, "purpose": "商圈客流分析", "purposes": ["商业分析"],
              "purpose_class": "commercial"}


@dataclass
class Exchange:
    client: FlaskClient
    operator: Party
    public_operator: Party
    regulator: Party
    make_party: Callable[..., Party]
    authorisation_id: str = ""

    def call(self, method: str, path: str, party: Party | None, expect: int,
             body: Any = None, **kwargs: Any) -> Any:
        response = self.client.open(f"{API}{path}", method=method, json=body,
                                    headers=party.headers if party else {}, **kwargs)
        assert response.status_code == expect, response.get_data(as_text=True)
        return response.get_json()

    def refused(self, method: str, path: str, party: Party, status: int, code: str,
                body: Any = None) -> dict[str, Any]:
        response = self.client.open(f"{API}{path}", method=method, json=body,
                                    headers=party.headers)
        assert response.status_code == status, response.get_data(as_text=True)
        found = problem(response)
        assert found["code"] == code, found
        return found

    def authorise(self, **changes: Any) -> dict[str, Any]:
        found = self.call("POST", "/public-data/authorisations", self.operator, 201,
                          {**AUTHORISATION, "org_id": self.public_operator.org_id, **changes})
        self.authorisation_id = found["id"]
        return dict(found)

    def approve(self, right_id: str) -> dict[str, Any]:
        self.call("POST", f"/rights/{right_id}/review-claims", self.operator, 200)
        return dict(self.call("POST", f"/rights/{right_id}/reviews", self.operator, 200,
                              {"decision": "approve", "reason": "核验通过"}))

    def product_right(self) -> tuple[str, str]:
        """A public resource, its holding right and a product operation right, registered;
        the resource id and the product id."""
        owner = self.public_operator
        resource = self.call("POST", "/resources", owner, 201, RESOURCE)
        holding = self.call("POST", "/rights", owner, 201, {
            "kind": "resource_holding", "resource_id": resource["id"], **SCOPE})
        self.approve(holding["id"])
        product = self.call("POST", "/rights", owner, 201, {
            "kind": "product_operation", "product_title": "公交客流指数",
            "parent_ids": [holding["id"]], **SCOPE})
        return resource["id"], self.approve(product["id"])["product_id"]

    def draft(self, resource_id: str, product_id: str, offers: list[dict[str, Any]],
              cost_basis: dict[str, Any] | None = COST_BASIS) -> None:
        self.call("POST", "/products", self.public_operator, 201, {
            "product_id": product_id, "title": "公交客流指数", "description": "公共数据产品",
            "type": "dataset", "development_level": "modelled", "sector": "交通",
            "region": "武汉", "update_frequency": "daily", "scenarios": SCENARIOS,
            "delivery_modes": ["file"], "derived_from": [resource_id],
            "terms": {"purposes": PURPOSES, "scenarios": SCENARIOS},
            "offers": offers, "cost_basis": cost_basis})

    def submit(self, product_id: str, expect: int = 200) -> Any:
        return self.client.post(f"{API}/products/{product_id}/submission",
                                json={"declaration": DECLARATION},
                                headers=self.public_operator.headers)

    def listed(self, offers: list[dict[str, Any]] | None = None) -> dict[str, str]:
        """The public-data product listed with a free public-interest offer and a paid
        commercial one; the ids of the product and of each offer by buyer class."""
        resource_id, product_id = self.product_right()
        self.draft(resource_id, product_id, offers or [FREE_OFFER, PAID_OFFER])
        assert self.submit(product_id).status_code == 200
        self.call("POST", f"/products/{product_id}/review-claims", self.operator, 200)
        listed = self.call("POST", f"/products/{product_id}/reviews", self.operator, 200,
                           {"decision": "list", "reason": "公共数据授权运营"})
        assert listed["listed"]["status"] == "listed", listed
        offer_ids = {o["buyer_class"]: o["id"] for o in listed["listed"]["offers"]}
        return {"product_id": product_id, **offer_ids}

    def buyer(self, funds: int = 0) -> Party:
        party = self.make_party("buyer")
        if funds:
            self.call("POST", "/ledger/top-ups", self.operator, 201, {
                "org_id": party.org_id, "amount": funds, "currency": "CNY",
                "reference": f"BANK-{party.org_id}"})
        return party

    def order(self, listed: dict[str, str], buyer_class: str, buyer: Party,
              commitment: dict[str, Any], expect: int = 201) -> Any:
        response = self.client.post(f"{API}/orders", headers=buyer.headers, json={
            "product_id": listed["product_id"], "offer_id": listed[buyer_class],
            "commitment": commitment})
        assert response.status_code == expect, response.get_data(as_text=True)
        return response


@pytest.fixture
def exchange(client: FlaskClient, make_party: Callable[..., Party],
             operator: Party) -> Exchange:
    return Exchange(client, operator, make_party("merchant", name="武汉数据集团"),
                    make_party("regulator"), make_party)


def _rules(found: dict[str, Any]) -> set[str]:
    errors = found["errors"]
    return {v.get("rule") for v in errors.get("violations") or errors.get("rules") or []}


# -- authorisation ----------------------------------------------------------------------


def test_public_data_is_registered_only_under_an_authorisation(exchange: Exchange) -> None:
    owner = exchange.public_operator
    found = exchange.refused("POST", "/resources", owner, 422, "public_data_not_authorised",
                             RESOURCE)
    assert found["errors"]["public_data"] == ["交通"]
    assert exchange.call("GET", "/resources", owner, 200)["items"] == []

    exchange.authorise(scenarios=["公共安全"])  # another scenario only
    found = exchange.refused("POST", "/resources", owner, 422, "public_data_not_authorised",
                             RESOURCE)
    assert found["errors"]["scenarios"] == SCENARIOS
    exchange.call("POST", f"/public-data/authorisations/{exchange.authorisation_id}/revoke",
                  exchange.operator, 200, {"reason": "范围有误"})

    exchange.authorise()
    resource = exchange.call("POST", "/resources", owner, 201, RESOURCE)
    assert resource["public_category"] == "交通"
    # A right over it asking for a scenario the authorisation does not cover is refused.
    found = exchange.refused("POST", "/rights", owner, 422, "public_data_not_authorised", {
        "kind": "resource_holding", "resource_id": resource["id"],
        **{**SCOPE, "scenarios": ["精准营销"]}})
    assert found["errors"]["scenarios"] == ["精准营销"]
    assert exchange.call("GET", "/rights", owner, 200)["items"] == []


def test_the_authorisation_records_its_checks_term_and_scope(exchange: Exchange) -> None:
    made = exchange.authorise()
    assert made["status"] == "active"
    assert made["in_term"] is True
    assert made["categories"] == ["交通"]
    assert [d["kind"] for d in made["evidence"]] == ["qualification", "reputation"]
    assert made["granted_by_org_id"] == exchange.operator.org_id
    revoked = exchange.call(
        "POST", f"/public-data/authorisations/{made['id']}/revoke", exchange.operator, 200,
        {"reason": "信誉复核未通过"})
    assert (revoked["status"], revoked["in_term"]) == ("revoked", False)
    assert revoked["revoked_reason"] == "信誉复核未通过"


@pytest.mark.parametrize(("change", "field"), [
    ({"evidence": [_doc("qualification"), _doc("agreement")]}, "evidence"),
    ({"valid_to": (START - timedelta(days=2)).isoformat()}, "valid_to"),
    ({"categories": [], "resource_ids": []}, "categories"),
    ({"resource_ids": ["res_unknown"]}, "resource_ids"),
])
def test_an_authorisation_missing_a_check_term_or_scope_is_refused_and_writes_nothing(
    exchange: Exchange, change: dict[str, Any], field: str,
) -> None:
    found = exchange.refused("POST", "/public-data/authorisations", exchange.operator, 422,
                             "invalid_input",
                             {**AUTHORISATION, "org_id": exchange.public_operator.org_id,
                              **change})
    assert field in str(found["errors"])
    assert exchange.call("GET", "/public-data/authorisations", exchange.operator,
                         200)["items"] == []


def test_only_admitted_merchants_are_authorised(exchange: Exchange) -> None:
    buyer = exchange.make_party("buyer")
    exchange.refused("POST", "/public-data/authorisations", exchange.operator, 422,
                     "public_data_operator_not_eligible",
                     {**AUTHORISATION, "org_id": buyer.org_id})


def test_authorisations_are_read_by_their_holder_the_operator_and_regulators(
    exchange: Exchange,
) -> None:
    made = exchange.authorise()
    path = f"/public-data/authorisations/{made['id']}"
    stranger = exchange.make_party("merchant")
    for reader in (exchange.public_operator, exchange.operator, exchange.regulator):
        assert exchange.call("GET", path, reader, 200)["id"] == made["id"]
        listed = exchange.call("GET", "/public-data/authorisations", reader, 200)["items"]
        assert [a["id"] for a in listed] == [made["id"]]
    for other in (stranger, exchange.make_party("assessor"), exchange.make_party("buyer")):
        exchange.refused("GET", path, other, 404, "public_data_authorisation_not_found")
        assert exchange.call("GET", "/public-data/authorisations", other, 200)["items"] == []
    exchange.refused("POST", "/public-data/authorisations", exchange.regulator, 403,
                     "role_not_allowed", {**AUTHORISATION, "org_id": stranger.org_id})
    exchange.refused("POST", f"{path}/revoke", exchange.public_operator, 403,
                     "role_not_allowed", {"reason": "自行撤销"})


# -- the trade, end to end ------------------------------------------------------------------


def test_free_for_public_interest_paid_for_commercial_with_the_earmark_in_the_split(
    exchange: Exchange,
) -> None:
    exchange.authorise()
    listed = exchange.listed()

    # A public-interest buyer takes the free offer, declaring that purpose.
    public = exchange.buyer()
    undeclared = {k: v for k, v in COMMITMENT.items() if k != "purpose_class"}
    refused = problem(exchange.order(listed, "public_interest", public, undeclared, 422))
    assert refused["code"] == "order_refused"
    assert "PublicInterestUseMustBeDeclared" in _rules(refused)
    free = exchange.order(listed, "public_interest", public, COMMITMENT).get_json()
    assert (free["amount"], free["status"]) == (0, "paid")
    assert free["purpose_class"] == "public_interest"
    contract = exchange.call("GET", f"/orders/{free['id']}/contract", public, 200)
    assert contract["document"]["public_data"]["purpose_class"] == "public_interest"

    # A commercial buyer pays the published price; the sale settles.
    business = exchange.buyer(funds=PRICE)
    paid = exchange.order(listed, "commercial", business, COMMERCIAL).get_json()
    assert (paid["amount"], paid["status"], paid["purpose_class"]) == (
        PRICE, "awaiting_payment", "commercial")
    exchange.call("POST", f"/orders/{paid['id']}/payment", business, 200)
    exchange.call("POST", f"/orders/{paid['id']}/deliveries/file", exchange.public_operator,
                  201, content_type="multipart/form-data",
                  data={"file": (io.BytesIO(CONTENT), "客流.csv", "text/csv")})
    settled = exchange.call("POST", f"/orders/{paid['id']}/acceptance", business, 200,
                            {"sha256": hashlib.sha256(CONTENT).hexdigest()})
    assert settled["status"] == "settled"

    ledger = exchange.call("GET", f"/orders/{paid['id']}/ledger", business, 200)
    lines = {a["role"]: a["amount"] for a in ledger["allocations"]}
    assert lines["public_fund"] == PRICE // 10  # MARKET_PUBLIC_FUND_BPS: 1000 by default
    assert lines["platform"] == PRICE // 100
    assert sum(lines.values()) == PRICE
    contract = exchange.call("GET", f"/orders/{paid['id']}/contract", business, 200)
    assert contract["document"]["distribution"]["public_fund_bps"] == 1000
    assert contract["document"]["origin"]["purpose_class"] == "commercial"
    verification = exchange.call("GET", "/ledger/verification", exchange.regulator, 200)
    assert verification["ok"] is True, verification

    fund = exchange.call("GET", "/regulator/public-data/fund", exchange.regulator, 200)
    assert [(b["currency"], b["balance"]) for b in fund["balances"]] == [("CNY", PRICE // 10)]
    assert [(e["order_id"], e["amount"], e["kind"]) for e in fund["items"]] == [
        (paid["id"], PRICE // 10, "settlement")]
    trades = exchange.call("GET", "/regulator/public-data/trades", exchange.regulator, 200)
    assert {t["purpose_class"]: (t["orders"], t["amount"], t["settled"])
            for t in trades["items"]} == {"public_interest": (1, 0, 0),
                                          "commercial": (1, PRICE, 1)}
    filing = exchange.call("GET", f"/regulator/orders/{paid['id']}", exchange.regulator, 200)
    assert filing["filing"]["origin"]["purpose_class"] == "commercial"


def test_a_refund_after_settlement_takes_the_earmark_back_from_the_fund(
    exchange: Exchange,
) -> None:
    exchange.authorise()
    listed = exchange.listed()
    business = exchange.buyer(funds=PRICE)
    order_id = exchange.order(listed, "commercial", business, COMMERCIAL).get_json()["id"]
    exchange.call("POST", f"/orders/{order_id}/payment", business, 200)
    exchange.call("POST", f"/orders/{order_id}/deliveries/file", exchange.public_operator,
                  201, content_type="multipart/form-data",
                  data={"file": (io.BytesIO(CONTENT), "客流.csv", "text/csv")})
    exchange.call("POST", f"/orders/{order_id}/acceptance", business, 200, {})
    exchange.call("POST", f"/orders/{order_id}/refunds", exchange.public_operator, 201,
                  {"amount": PRICE // 2, "cause": "goodwill", "reason": "数据延迟更新"})
    fund = exchange.call("GET", "/regulator/public-data/fund", exchange.regulator, 200)
    assert [b["balance"] for b in fund["balances"]] == [PRICE // 20]
    assert [(e["kind"], e["amount"]) for e in fund["items"]] == [
        ("settlement", PRICE // 10), ("refund", -PRICE // 20)]
    assert exchange.call("GET", "/ledger/verification", exchange.regulator, 200)["ok"] is True
    trades = exchange.call("GET", "/regulator/public-data/trades", exchange.regulator, 200)
    assert [(t["purpose_class"], t["refunded"]) for t in trades["items"]] == [
        ("commercial", PRICE // 2)]


def test_the_regulator_views_are_for_regulators_alone(exchange: Exchange) -> None:
    for path in ("/regulator/public-data/fund", "/regulator/public-data/trades"):
        for caller in (exchange.operator, exchange.public_operator, exchange.buyer()):
            exchange.refused("GET", path, caller, 403, "role_not_allowed")
        assert exchange.client.get(f"{API}{path}").status_code == 401
    exchange.refused("GET", "/regulator/public-data/fund?cursor=bm90LWEtY3Vyc29y",
                     exchange.regulator, 400, "invalid_cursor")


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(("offers", "cost_basis", "rule"), [
    ([FREE_OFFER, PAID_OFFER, {**PAID_OFFER, "name": "大客户", "amount": PRICE - 5_000}],
     COST_BASIS, "PublicDataOnePricePerBuyerClass"),
    ([FREE_OFFER, {**PAID_OFFER, "amount": COST + 1}], COST_BASIS, "PublicDataPricedByPurpose"),
    ([FREE_OFFER, PAID_OFFER], None, "PublicDataPricedByPurpose"),
    ([{**PAID_OFFER, "buyer_class": None}], COST_BASIS, "PublicDataPricedByPurpose"),
], ids=["two prices for one class", "above the cost basis", "no cost basis",
        "no buyer class"])
def test_discriminatory_or_uncapped_offers_are_refused_at_listing(
    exchange: Exchange, offers: list[dict[str, Any]], cost_basis: dict[str, Any] | None,
    rule: str,
) -> None:
    exchange.authorise()
    resource_id, product_id = exchange.product_right()
    exchange.draft(resource_id, product_id, offers, cost_basis)
    response = exchange.submit(product_id)
    assert response.status_code == 422, response.get_json()
    found = problem(response)
    assert found["code"] == "listing_refused"
    assert rule in _rules(found)
    product = exchange.call("GET", f"/products/{product_id}", exchange.public_operator, 200)
    assert product["latest"]["status"] == "draft"


def test_a_public_interest_offer_with_a_price_is_bad_input(exchange: Exchange) -> None:
    exchange.authorise()
    resource_id, product_id = exchange.product_right()
    response = exchange.client.post(f"{API}/products", headers=exchange.public_operator.headers,
                                    json={"product_id": product_id, "title": "x",
                                          "description": "x", "type": "dataset",
                                          "development_level": "modelled", "sector": "交通",
                                          "region": "武汉", "update_frequency": "daily",
                                          "scenarios": SCENARIOS, "delivery_modes": ["file"],
                                          "derived_from": [resource_id],
                                          "terms": {"purposes": PURPOSES,
                                                    "scenarios": SCENARIOS},
                                          "offers": [{**FREE_OFFER, "kind": "one_time",
                                                      "amount": 1}]})
    assert response.status_code == 422
    assert "offers.0.buyer_class" in problem(response)["errors"]
    assert exchange.call("GET", "/products", exchange.public_operator, 200)["items"] == []


def test_a_negotiated_price_off_the_published_one_is_refused(exchange: Exchange) -> None:
    exchange.authorise()
    listed = exchange.listed()
    buyer = exchange.buyer()
    negotiation = exchange.call("POST", "/negotiations", buyer, 201, {
        "product_id": listed["product_id"],
        "terms": {"purposes": ["商业分析"], "scenarios": SCENARIOS}})
    exchange.call("POST", f"/negotiations/{negotiation['id']}/offers",
                  exchange.public_operator, 200, {"terms": {"amount": PRICE - 10_000}})
    found = exchange.refused("POST", f"/negotiations/{negotiation['id']}/agreement", buyer,
                             422, "agreement_refused")
    assert "PublicDataOnePricePerBuyerClass" in _rules(found)
    exchange.call("POST", f"/negotiations/{negotiation['id']}/counters", buyer, 200,
                  {"terms": {"amount": PRICE}})
    agreed = exchange.call("POST", f"/negotiations/{negotiation['id']}/agreement",
                           exchange.public_operator, 200)
    assert agreed["status"] == "agreed"


def test_a_revoked_authorisation_stops_further_sales(exchange: Exchange) -> None:
    exchange.authorise()
    listed = exchange.listed()
    exchange.call("POST", f"/public-data/authorisations/{exchange.authorisation_id}/revoke",
                  exchange.operator, 200, {"reason": "授权终止"})
    refused = problem(exchange.order(listed, "public_interest", exchange.buyer(), COMMITMENT,
                                     422))
    assert "PublicDataNeedsAuthorisedOperator" in _rules(refused)
