"""Listing over HTTP: a merchant holding a product operation right drafts the product under
that right's id, submits it with its signed declaration, the operator or an assessor claims
and decides the review, and anyone can read the listed version in the public catalogue and
download its sample.

Also: refusals naming the broken rights link and writing nothing, forbidden lifecycle moves
(409 ``invalid_transition``), new versions reviewed while the old one stays on sale, the
rights cascade suspending listings and sending them back to review, reviewer rules,
visibility, and offer validation naming ``offers.N.field``. Authorization of every endpoint
is in ``test_authorization_matrix``.

The rights chains are built through the rights services (see ``rights_fixtures``) in the
same transaction the application uses; everything about listings goes through the API.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import rfc8785
from flask.testing import FlaskClient
from sqlalchemy import select

from market.listing.models import Offer, ProductVersion
from tests.conftest import Party, problem
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    RightsWorld,
    rights_fixture,
    signer_fixture,
)

API = "/api/v1"
UNKNOWN_PRODUCT = "prd_01J00000000000000000000000"

DECLARATION: dict[str, Any] = {
    "statement": "本公司承诺所售数据来源合法、权属清晰，不含核心数据。",
    "source_is_lawful": True, "contains_personal_information": False,
    "contains_important_data": False, "contains_core_data": False,
    "source_basis": "self_collected", "personal_information_basis": "none",
    "cross_border": False, "third_party_rights_cleared": True,
    "security_measures": ["分级访问控制", "传输加密"], "scenarios": ["企业信用评估"],
    "onward_transfer_commitment": True,
    "commitments": ["按约定用途使用", "不向第三方转售"],
}
# The declaration as stored: the template's optional answers filled with their defaults.
STORED_DECLARATION = {**DECLARATION, "source_evidence_sha256": [],
                      "personal_information_evidence_sha256": [],
                      "security_assessment_ref": None}
SAMPLE = "月份,用电指数\n2026-09,98.7\n2026-10,101.2\n".encode()
# What anyone may see of a version; nothing about the review or the declarer.
PUBLIC_VERSION_FIELDS = {
    "id", "number", "status", "status_reason", "title", "description", "type",
    "development_level", "sector", "tags", "region", "spatial_coverage", "temporal_from",
    "temporal_to", "update_frequency", "formats", "field_schema", "scenarios",
    "delivery_modes", "derived_from", "quality_reports", "assessment_reports", "terms",
    "classification", "sample_sha256", "sample_name", "sample_size", "declaration_sha256",
    "declared_at", "listed_at", "created_at", "updated_at", "offers",
    "storage_location", "storage_region", "cost_basis", "sample_deleted_at",
}


def offer(kind: str = "one_time", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"{kind} 方案", "kind": kind}
    if kind == "one_time" and "amount" not in fields:
        body["amount"] = 100_000
    body.update(fields)
    return body


def product_body(chain: Chain | None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "企业用电风险指数", "description": "按月更新的企业用电景气与风险指数",
        "type": "dataset", "development_level": "modelled", "sector": "finance",
        "region": "上海", "update_frequency": "monthly", "scenarios": ["小微企业授信"],
        "delivery_modes": ["api"],
        "derived_from": [chain.resource.id] if chain else ["res_01J00000000000000000000000"],
        "terms": {"purposes": ["信贷风控"], "scenarios": ["小微企业授信"],
                  "duration_days": 365},
        "offers": [offer()],
    }
    if chain is not None:
        body["product_id"] = chain.product_id
    body.update(overrides)
    return body


def revision(chain: Chain, **overrides: Any) -> dict[str, Any]:
    body = product_body(chain, **overrides)
    del body["product_id"]
    return body


def sample_body(content: bytes = SAMPLE) -> dict[str, Any]:
    return {"name": "用电指数样例.csv", "media_type": "text/csv",
            "content_base64": base64.b64encode(content).decode()}


def field_paths(errors: Any, prefix: str = "") -> set[str]:
    """Dotted paths of the fields named in a problem's errors, however nested."""
    if not isinstance(errors, dict):
        return {prefix}
    found: set[str] = set()
    for key, value in errors.items():
        found |= field_paths(value, f"{prefix}.{key}" if prefix else str(key))
    return found


# -- the desk: requests every test makes -----------------------------------------------


@dataclass(frozen=True)
class Desk:
    client: FlaskClient
    rights: RightsWorld

    @property
    def operator(self) -> Party:
        return self.rights.operator

    def call(self, method: str, path: str, party: Party | None, expect: int,
             body: Any = None, headers: dict[str, str] | None = None) -> Any:
        sent = dict(party.headers if party else {})
        sent.update(headers or {})
        response = self.client.open(f"{API}{path}", method=method, json=body, headers=sent)
        assert response.status_code == expect, response.get_data(as_text=True)
        return response

    def refused(self, method: str, path: str, party: Party | None, expect: int, code: str,
                body: Any = None) -> dict[str, Any]:
        body_out = problem(self.call(method, path, party, expect, body))
        assert body_out["code"] == code, body_out
        return body_out

    def create(self, chain: Chain, **overrides: Any) -> dict[str, Any]:
        response = self.call("POST", "/products", chain.grantee, 201,
                             product_body(chain, **overrides))
        assert response.headers["Location"] == f"/api/v1/products/{chain.product_id}"
        return dict(response.json)

    def revise(self, chain: Chain, expect: int = 200, **overrides: Any) -> dict[str, Any]:
        return dict(self.call("PUT", f"/products/{chain.product_id}", chain.grantee, expect,
                              revision(chain, **overrides)).json)

    def submit(self, chain: Chain, declaration: dict[str, Any] = DECLARATION
               ) -> dict[str, Any]:
        return dict(self.call("POST", f"/products/{chain.product_id}/submission",
                              chain.grantee, 200, {"declaration": declaration}).json)

    def claim(self, product_id: str, reviewer: Party | None = None) -> dict[str, Any]:
        return dict(self.call("POST", f"/products/{product_id}/review-claims",
                              reviewer or self.operator, 200).json)

    def decide(self, product_id: str, decision: str = "list", reviewer: Party | None = None,
               reason: str = "材料齐全，权属清晰") -> dict[str, Any]:
        return dict(self.call("POST", f"/products/{product_id}/reviews",
                              reviewer or self.operator, 200,
                              {"decision": decision, "reason": reason}).json)

    def review(self, product_id: str, decision: str = "list",
               reviewer: Party | None = None) -> dict[str, Any]:
        self.claim(product_id, reviewer)
        return self.decide(product_id, decision, reviewer)

    def change(self, product_id: str, status: str, party: Party | None = None,
               reason: str = "运营处置") -> dict[str, Any]:
        return dict(self.call("POST", f"/products/{product_id}/status-changes",
                              party or self.operator, 200,
                              {"status": status, "reason": reason}).json)

    def listed(self, chain: Chain | None = None, **overrides: Any) -> Chain:
        chain = chain or self.rights.chain()
        self.create(chain, **overrides)
        self.submit(chain)
        self.review(chain.product_id)
        return chain

    def product(self, product_id: str, party: Party | None = None) -> dict[str, Any]:
        return dict(self.call("GET", f"/products/{product_id}", party or self.operator,
                              200).json)

    def history(self, product_id: str, party: Party | None = None) -> list[dict[str, Any]]:
        response = self.call("GET", f"/products/{product_id}/history?limit=200",
                             party or self.operator, 200)
        assert response.json["next_cursor"] is None
        return list(response.json["items"])

    def actions(self, product_id: str) -> list[str]:
        return [e["action"] for e in self.history(product_id)]

    def catalog(self, product_id: str) -> Any:
        """The public catalogue entry, asked anonymously (the response: 200 or 404)."""
        return self.client.get(f"{API}/catalog/{product_id}")

    def searchable(self) -> dict[str, str]:
        """Product id → version id of everything the public catalogue search shows."""
        response = self.client.get(f"{API}/catalog?limit=200&facets=false")
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.json["next_cursor"] is None
        return {item["product_id"]: item["version_id"] for item in response.json["items"]}

    def sample(self, product_id: str) -> Any:
        """The sample download, asked anonymously; buffered so that the file is closed."""
        return self.client.get(f"{API}/catalog/{product_id}/sample", buffered=True)

    def products(self, party: Party, query: str = "") -> set[str]:
        response = self.call("GET", f"/products?limit=200{query}", party, 200)
        assert response.json["next_cursor"] is None
        return {item["id"] for item in response.json["items"]}

    def written(self, product_id: str | None = None) -> dict[str, Any]:
        """What the operator sees written: the audit head, every product, the public
        catalogue and a product's history."""
        verification = self.call("GET", "/audit/verification", self.operator, 200).json
        assert verification["ok"] is True, verification
        listing = self.call("GET", "/products?limit=200", self.operator, 200).json
        seen: dict[str, Any] = {"head_seq": verification["head_seq"],
                                "products": listing["items"], "catalog": self.searchable()}
        if product_id is not None:
            seen["history"] = self.history(product_id)
        return seen

    def refusal_written(self, before: dict[str, Any], product_id: str,
                        rules: set[str]) -> None:
        """A refused submission writes its decision (and that decision's audit entry) and
        nothing else; the decision names the blocking rules."""
        assert self.written(product_id) == {**before, "head_seq": before["head_seq"] + 1}
        version_id = self.product(product_id)["latest"]["id"]
        decisions = self.call("GET", f"/decisions?subject_id={version_id}", self.operator,
                              200).json["items"]
        assert [d["outcome"] for d in decisions] == ["block"]
        decision = self.call("GET", f"/decisions/{decisions[0]['id']}", self.operator, 200).json
        assert {v["rule"] for v in decision["verdicts"] if v["outcome"] == "block"} == rules
        declared = self.call("GET", f"/declarations?subject_id={version_id}", self.operator,
                             200).json["items"]
        assert declared == []

    def versions(self, product_id: str) -> list[ProductVersion]:
        with self.rights.session_factory() as session:
            return list(session.scalars(select(ProductVersion)
                                        .where(ProductVersion.product_id == product_id)
                                        .order_by(ProductVersion.number)))


@pytest.fixture
def desk(client: FlaskClient, rights: RightsWorld) -> Desk:
    return Desk(client, rights)


def violations(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    assert body["code"] == "listing_refused", body
    found = body["errors"]["violations"]
    assert all(v["message"] for v in found)
    return [(v["code"], v["right_id"]) for v in found]


# -- the lifecycle ---------------------------------------------------------------------


def test_a_product_is_drafted_submitted_reviewed_listed_and_public(desk: Desk) -> None:
    chain = desk.rights.chain()
    created = desk.create(chain)
    assert created["id"] == chain.product_id
    assert created["merchant_org_id"] == chain.grantee.org_id
    assert created["listed"] is None
    latest = created["latest"]
    assert (latest["number"], latest["status"]) == (1, "draft")
    assert [(o["kind"], o["amount"], o["currency"], o["sold"]) for o in latest["offers"]] == [
        ("one_time", 100_000, "CNY", 0)]
    assert latest["terms"] == {"purposes": ["信贷风控"], "scenarios": ["小微企业授信"],
                               "territory": "domestic", "duration_days": 365,
                               "onward_transfer": False, "resale": False, "max_users": None,
                               "attribution": None}
    assert desk.catalog(chain.product_id).status_code == 404

    submitted = desk.submit(chain)["latest"]
    assert submitted["status"] == "submitted"
    assert submitted["declared_at"] is not None
    assert desk.catalog(chain.product_id).status_code == 404
    assert desk.claim(chain.product_id)["latest"]["status"] == "under_review"
    assert desk.catalog(chain.product_id).status_code == 404
    assert chain.product_id not in desk.searchable()

    listed = desk.decide(chain.product_id, "list")
    assert listed["latest"]["status"] == "listed"
    assert listed["listed"]["id"] == listed["latest"]["id"]
    assert listed["latest"]["listed_at"] is not None

    entry = desk.catalog(chain.product_id)
    assert entry.status_code == 200
    assert entry.json["id"] == chain.product_id
    assert entry.json["merchant_org_id"] == chain.grantee.org_id
    assert entry.json["version"]["id"] == listed["latest"]["id"]
    assert entry.json["version"]["status"] == "listed"
    assert [o["amount"] for o in entry.json["version"]["offers"]] == [100_000]
    assert set(entry.json["version"]) == PUBLIC_VERSION_FIELDS
    assert desk.searchable() == {chain.product_id: listed["latest"]["id"]}

    history = desk.history(chain.product_id, chain.grantee)
    assert [(e["action"], e["from_status"], e["to_status"]) for e in history] == [
        ("drafted", None, "draft"), ("submitted", "draft", "submitted"),
        ("review_claimed", "submitted", "under_review"), ("listed", "under_review", "listed")]
    assert [e["actor_org_id"] for e in history] == [
        chain.grantee.org_id, chain.grantee.org_id, desk.operator.org_id,
        desk.operator.org_id]
    assert history[-1]["reason"] == "材料齐全，权属清晰"
    assert desk.products(desk.operator, "&status=listed") == {chain.product_id}
    assert desk.products(desk.operator, "&status=draft") == set()


def test_a_returned_version_is_corrected_and_resubmitted(desk: Desk) -> None:
    chain = desk.rights.chain()
    desk.create(chain)
    desk.submit(chain)
    returned = desk.review(chain.product_id, "return")["latest"]
    assert (returned["status"], returned["status_reason"]) == ("returned", "材料齐全，权属清晰")

    corrected = desk.revise(chain, title="企业用电风险指数（补充说明）",
                            offers=[offer("subscription", amount=9_900, period="month")])
    assert corrected["latest"]["id"] == returned["id"]
    assert corrected["latest"]["number"] == 1
    assert corrected["latest"]["title"] == "企业用电风险指数（补充说明）"
    assert [(o["kind"], o["period"]) for o in corrected["latest"]["offers"]] == [
        ("subscription", "month")]

    assert desk.submit(chain)["latest"]["status"] == "submitted"
    assert desk.review(chain.product_id)["latest"]["status"] == "listed"
    assert desk.catalog(chain.product_id).json["version"]["title"] == "企业用电风险指数（补充说明）"
    assert desk.actions(chain.product_id) == [
        "drafted", "submitted", "review_claimed", "returned", "revised", "submitted",
        "review_claimed", "listed"]


def test_a_rejected_version_is_final(desk: Desk) -> None:
    chain = desk.rights.chain()
    desk.create(chain)
    desk.submit(chain)
    assert desk.review(chain.product_id, "reject")["latest"]["status"] == "rejected"
    before = desk.written(chain.product_id)
    desk.refused("POST", f"/products/{chain.product_id}/submission", chain.grantee, 409,
                 "invalid_transition", {"declaration": DECLARATION})
    assert desk.written(chain.product_id) == before
    assert desk.catalog(chain.product_id).status_code == 404


def test_the_operator_suspends_and_reinstates_a_listing(desk: Desk) -> None:
    chain = desk.listed()
    suspended = desk.change(chain.product_id, "suspended", reason="投诉核查")["latest"]
    assert (suspended["status"], suspended["status_reason"]) == ("suspended", "投诉核查")
    assert desk.catalog(chain.product_id).status_code == 404
    assert desk.searchable() == {}
    assert desk.change(chain.product_id, "listed", reason="核查完毕")["latest"]["status"] == (
        "listed")
    assert desk.catalog(chain.product_id).status_code == 200
    assert desk.searchable() == {chain.product_id: suspended["id"]}
    assert desk.actions(chain.product_id)[-2:] == ["suspended", "reinstated"]


@pytest.mark.parametrize("who", ["merchant", "operator"])
def test_the_merchant_or_the_operator_delists(desk: Desk, who: str) -> None:
    chain = desk.listed()
    party = chain.grantee if who == "merchant" else desk.operator
    delisted = desk.change(chain.product_id, "delisted", party, reason="停止销售")["latest"]
    assert delisted["status"] == "delisted"
    assert desk.catalog(chain.product_id).status_code == 404
    assert desk.searchable() == {}
    assert desk.history(chain.product_id)[-1]["actor_org_id"] == party.org_id


def test_a_merchant_may_only_delist_its_own(desk: Desk) -> None:
    chain = desk.listed()
    other = desk.rights.party("other merchant")
    before = desk.written(chain.product_id)
    for status in ("suspended", "listed"):
        desk.refused("POST", f"/products/{chain.product_id}/status-changes", chain.grantee,
                     403, "not_the_merchant", {"status": status, "reason": "自行处置"})
    desk.refused("POST", f"/products/{chain.product_id}/status-changes", other, 404,
                 "product_not_found", {"status": "delisted", "reason": "恶意下架"})
    assert desk.written(chain.product_id) == before


def _forbidden(desk: Desk, chain: Chain, method: str, path: str, party: Party,
               body: Any = None) -> None:
    before = desk.written(chain.product_id)
    desk.refused(method, path, party, 409, "invalid_transition", body)
    assert desk.written(chain.product_id) == before


def test_forbidden_transitions_answer_409_and_write_nothing(desk: Desk) -> None:
    chain = desk.rights.chain()
    pid = chain.product_id
    submission = {"declaration": DECLARATION}
    listing = {"decision": "list", "reason": "直接上架"}
    desk.create(chain)
    _forbidden(desk, chain, "POST", f"/products/{pid}/reviews", desk.operator, listing)
    desk.submit(chain)
    _forbidden(desk, chain, "POST", f"/products/{pid}/submission", chain.grantee, submission)
    _forbidden(desk, chain, "POST", f"/products/{pid}/reviews", desk.operator, listing)
    desk.review(pid)
    _forbidden(desk, chain, "POST", f"/products/{pid}/submission", chain.grantee, submission)
    _forbidden(desk, chain, "POST", f"/products/{pid}/review-claims", desk.operator)
    desk.change(pid, "delisted", chain.grantee)
    _forbidden(desk, chain, "POST", f"/products/{pid}/status-changes", desk.operator,
               {"status": "listed", "reason": "恢复上架"})
    _forbidden(desk, chain, "POST", f"/products/{pid}/status-changes", desk.operator,
               {"status": "suspended", "reason": "暂停"})
    assert desk.catalog(pid).status_code == 404


@pytest.mark.parametrize("status", ["listed", "suspended", "delisted"])
def test_status_changes_on_a_product_never_listed_answer_409(desk: Desk, status: str) -> None:
    """Listing a draft by a status change is a forbidden transition like any other."""
    chain = desk.rights.chain()
    desk.create(chain)
    party = chain.grantee if status == "delisted" else desk.operator
    _forbidden(desk, chain, "POST", f"/products/{chain.product_id}/status-changes", party,
               {"status": status, "reason": "越过审核"})
    assert desk.product(chain.product_id)["latest"]["status"] == "draft"


def test_a_product_is_created_only_under_ones_own_product_operation_right(
    desk: Desk
) -> None:
    chain = desk.rights.chain()
    stranger = desk.rights.party("stranger")
    before = desk.written()
    body = desk.refused("POST", "/products", stranger, 404, "product_not_found",
                        product_body(chain))
    assert set(body["errors"]) == {"product_id"}
    desk.refused("POST", "/products", chain.holder, 404, "product_not_found",
                 product_body(chain))
    assert desk.written() == before
    desk.create(chain)
    after = desk.written()
    desk.refused("POST", "/products", chain.grantee, 409, "conflict", product_body(chain))
    assert desk.written() == after


# -- submission: rights chain and declaration ------------------------------------------


def test_submission_stores_the_declaration_digest_of_its_rfc8785_form(desk: Desk) -> None:
    chain = desk.rights.chain()
    desk.create(chain)
    latest = desk.submit(chain)["latest"]
    (listed,) = desk.call("GET", f"/declarations?subject_id={latest['id']}", chain.grantee,
                          200).json["items"]
    declaration = desk.call("GET", f"/declarations/{listed['id']}", chain.grantee, 200).json
    digest = hashlib.sha256(rfc8785.dumps(declaration["signed_document"])).hexdigest()
    assert declaration["signed_document"]["answers"] == STORED_DECLARATION
    assert latest["declaration_sha256"] == declaration["sha256"] == digest
    assert latest["classification"] == "general"
    (version,) = desk.versions(chain.product_id)
    assert version.declaration == STORED_DECLARATION
    assert version.declaration_sha256 == digest
    assert version.declared_by_user_id == chain.grantee.user_id
    assert desk.catalog(chain.product_id).status_code == 404
    desk.review(chain.product_id)
    assert desk.catalog(chain.product_id).json["version"]["declaration_sha256"] == digest


def _break(desk: Desk, chain: Chain, how: str) -> str | None:
    """Break the chain under a drafted product; the right the refusal must name."""
    rights = desk.rights
    if how == "revoked holding":
        desk.call("POST", f"/rights/{chain.holding.id}/status-changes", chain.holder, 200,
                  {"status": "revoked", "reason": "不再持有"})
        return chain.holding.id
    if how == "suspended processing use":
        desk.call("POST", f"/rights/{chain.use.id}/status-changes", rights.operator, 200,
                  {"status": "suspended", "reason": "核查"})
        return chain.use.id
    assert how == "revoked grant"
    desk.call("POST", f"/grants/{chain.grant.id}/revoke", chain.holder, 200,
              {"reason": "授权撤回"})
    return chain.use.id


@pytest.mark.parametrize(("how", "code"), [
    ("revoked holding", "right_not_registered"),
    ("suspended processing use", "right_not_registered"),
    ("revoked grant", "grant_invalid"),
])
def test_submission_over_a_broken_chain_names_the_link_and_writes_nothing(
    desk: Desk, how: str, code: str
) -> None:
    chain = desk.rights.chain()
    desk.create(chain)
    right_id = _break(desk, chain, how)
    before = desk.written(chain.product_id)
    body = desk.refused("POST", f"/products/{chain.product_id}/submission", chain.grantee,
                        422, "listing_refused", {"declaration": DECLARATION})
    assert violations(body) == [(code, right_id)]
    desk.refusal_written(before, chain.product_id, {"SellerNeedsOperationRightChain"})
    latest = desk.product(chain.product_id)["latest"]
    assert (latest["status"], latest["declaration_sha256"]) == ("draft", None)


def test_submission_without_a_product_operation_right_is_refused(desk: Desk) -> None:
    merchant = desk.rights.party("merchant")
    resource = desk.rights.resource(merchant)
    body = product_body(None, derived_from=[resource.id])
    created = desk.call("POST", "/products", merchant, 201, body).json
    product_id = created["id"]
    before = desk.written(product_id)
    refusal = desk.refused("POST", f"/products/{product_id}/submission", merchant, 422,
                           "listing_refused", {"declaration": DECLARATION})
    assert violations(refusal) == [("chain_missing", None)]
    desk.refusal_written(before, product_id, {"SellerNeedsOperationRightChain"})


def test_submission_deriving_from_a_resource_the_chain_does_not_cover_is_refused(
    desk: Desk
) -> None:
    chain = desk.rights.chain()
    elsewhere = desk.rights.resource(desk.rights.party("elsewhere"), title="别家的数据")
    desk.create(chain, derived_from=[chain.resource.id, elsewhere.id])
    before = desk.written(chain.product_id)
    body = desk.refused("POST", f"/products/{chain.product_id}/submission", chain.grantee,
                        422, "listing_refused", {"declaration": DECLARATION})
    assert violations(body) == [("derivation_not_covered", None)]
    assert elsewhere.id in body["errors"]["violations"][0]["message"]
    desk.refusal_written(before, chain.product_id, {"SellerNeedsOperationRightChain"})


def _without(field: str) -> dict[str, Any]:
    declaration = copy.deepcopy(DECLARATION)
    del declaration[field]
    return {"declaration": declaration}


@pytest.mark.parametrize(("body", "field"), [
    ({}, "declaration"),
    ({"declaration": None}, "declaration"),
    (_without("statement"), "declaration.statement"),
    (_without("contains_personal_information"), "declaration.contains_personal_information"),
    (_without("security_measures"), "declaration.security_measures"),
    ({"declaration": {**DECLARATION, "personal_information_basis": "trust me"}},
     "declaration.personal_information_basis"),
    ({"declaration": {**DECLARATION, "source_evidence_sha256": ["ABC"]}},
     "declaration.source_evidence_sha256.0"),
    ({"declaration": DECLARATION, "signature": "0x1234"}, "signature"),
], ids=["missing", "null", "no statement", "personal information unsaid",
        "no security measures", "unknown basis", "malformed evidence digest",
        "malformed signature"])
def test_a_missing_or_malformed_declaration_is_invalid_input(
    desk: Desk, body: dict[str, Any], field: str
) -> None:
    chain = desk.rights.chain()
    desk.create(chain)
    before = desk.written(chain.product_id)
    refusal = desk.refused("POST", f"/products/{chain.product_id}/submission", chain.grantee,
                           422, "invalid_input", body)
    assert field in field_paths(refusal["errors"]), refusal
    assert desk.written(chain.product_id) == before


@pytest.mark.parametrize(("answers", "rules"), [
    ({"contains_core_data": True}, {"CoreDataIsNeverTradable"}),
    ({"source_is_lawful": False}, {"SourceMustBeLawful"}),
    ({"third_party_rights_cleared": False}, {"ThirdPartyRightsMustBeCleared"}),
    ({"contains_personal_information": True}, {"PersonalInfoNeedsConsentOrAnonymisation"}),
    ({"contains_core_data": True, "source_is_lawful": False},
     {"CoreDataIsNeverTradable", "SourceMustBeLawful"}),
], ids=["core data", "unlawful source", "third-party rights", "personal info, no basis",
        "two at once"])
def test_an_untruthful_declaration_is_refused_by_named_rules_writing_only_the_decision(
    desk: Desk, answers: dict[str, Any], rules: set[str]
) -> None:
    chain = desk.rights.chain()
    desk.create(chain)
    before = desk.written(chain.product_id)
    refusal = desk.refused("POST", f"/products/{chain.product_id}/submission", chain.grantee,
                           422, "listing_refused", {"declaration": {**DECLARATION, **answers}})
    assert {v["rule"] for v in refusal["errors"]["violations"]} == rules
    desk.refusal_written(before, chain.product_id, rules)


# -- versions --------------------------------------------------------------------------


def test_a_listed_product_changes_through_a_new_reviewed_version(desk: Desk) -> None:
    chain = desk.listed()
    v1 = desk.product(chain.product_id)["listed"]

    revised = desk.revise(chain, title="企业用电风险指数 v2",
                          offers=[offer(amount=150_000)])
    assert (revised["latest"]["number"], revised["latest"]["status"]) == (2, "draft")
    assert revised["listed"]["id"] == v1["id"]
    assert revised["listed"]["status"] == "listed"
    entry = desk.catalog(chain.product_id).json["version"]
    assert (entry["id"], entry["title"]) == (v1["id"], "企业用电风险指数")
    assert [o["amount"] for o in entry["offers"]] == [100_000]
    assert desk.searchable() == {chain.product_id: v1["id"]}

    desk.submit(chain)
    before = desk.written(chain.product_id)
    desk.refused("PUT", f"/products/{chain.product_id}", chain.grantee, 409,
                 "version_in_review", revision(chain, title="审核中改标题"))
    assert desk.written(chain.product_id) == before
    assert desk.catalog(chain.product_id).json["version"]["id"] == v1["id"]

    desk.claim(chain.product_id)
    desk.refused("PUT", f"/products/{chain.product_id}", chain.grantee, 409,
                 "version_in_review", revision(chain, title="审核中改标题"))
    v2 = desk.decide(chain.product_id, "list")
    assert v2["latest"]["number"] == 2
    assert v2["listed"]["id"] == v2["latest"]["id"]
    entry = desk.catalog(chain.product_id).json["version"]
    assert (entry["number"], entry["title"]) == (2, "企业用电风险指数 v2")
    assert [o["amount"] for o in entry["offers"]] == [150_000]
    assert desk.searchable() == {chain.product_id: v2["latest"]["id"]}

    old, new = desk.versions(chain.product_id)
    assert (old.status, new.status) == ("superseded", "listed")
    with desk.rights.session_factory() as session:
        kept = list(session.scalars(select(Offer).where(Offer.version_id == old.id)))
    assert [(o.kind, o.amount) for o in kept] == [("one_time", 100_000)]
    assert [o["id"] for o in v1["offers"]] == [o.id for o in kept]
    assert old.terms == v1["terms"]
    assert old.title == "企业用电风险指数"
    assert desk.actions(chain.product_id)[-2:] == ["listed", "superseded"]


@pytest.mark.parametrize("stage", ["submitted", "under_review"])
def test_revising_while_the_version_is_in_review_is_409(desk: Desk, stage: str) -> None:
    chain = desk.rights.chain()
    desk.create(chain)
    desk.submit(chain)
    if stage == "under_review":
        desk.claim(chain.product_id)
    before = desk.written(chain.product_id)
    desk.refused("PUT", f"/products/{chain.product_id}", chain.grantee, 409,
                 "version_in_review", revision(chain, title="改标题"))
    assert desk.written(chain.product_id) == before


# -- the rights cascade ----------------------------------------------------------------


def _revoke_holding(desk: Desk, chain: Chain) -> None:
    desk.call("POST", f"/rights/{chain.holding.id}/status-changes", chain.holder, 200,
              {"status": "revoked", "reason": "不再持有"})


def _suspend_holding(desk: Desk, chain: Chain) -> None:
    desk.call("POST", f"/rights/{chain.holding.id}/status-changes", desk.operator, 200,
              {"status": "suspended", "reason": "权属核查"})


def _revoke_grant(desk: Desk, chain: Chain) -> None:
    desk.call("POST", f"/grants/{chain.grant.id}/revoke", chain.holder, 200,
              {"reason": "授权撤回"})


@pytest.mark.parametrize("breaks", [_revoke_holding, _suspend_holding, _revoke_grant],
                         ids=["holding revoked", "holding suspended", "grant revoked"])
def test_losing_the_rights_suspends_the_listing_at_once(
    desk: Desk, breaks: Callable[[Desk, Chain], None]
) -> None:
    chain = desk.listed()
    assert desk.catalog(chain.product_id).status_code == 200
    assert chain.product_id in desk.searchable()
    breaks(desk, chain)
    gone = desk.catalog(chain.product_id)
    assert gone.status_code == 404
    assert chain.product_id not in desk.searchable()
    assert problem(gone)["code"] == "product_not_found"
    listed = desk.product(chain.product_id, chain.grantee)["listed"]
    assert listed["status"] == "suspended"
    assert "rights" in listed["status_reason"]
    last = desk.history(chain.product_id)[-1]
    assert (last["action"], last["from_status"], last["to_status"]) == (
        "suspended", "listed", "suspended")
    # the merchant cannot bring it back, nor the operator while the rights are broken
    desk.refused("POST", f"/products/{chain.product_id}/status-changes", chain.grantee, 403,
                 "not_the_merchant", {"status": "listed", "reason": "恢复"})
    refusal = desk.refused("POST", f"/products/{chain.product_id}/status-changes",
                           desk.operator, 422, "listing_refused",
                           {"status": "listed", "reason": "恢复"})
    assert violations(refusal)[0][1] in chain.ids
    assert desk.catalog(chain.product_id).status_code == 404


def test_restored_rights_send_the_listing_back_to_review(desk: Desk) -> None:
    chain = desk.listed()
    _suspend_holding(desk, chain)
    desk.call("POST", f"/rights/{chain.holding.id}/status-changes", desk.operator, 200,
              {"status": "registered", "reason": "核查完毕"})

    product = desk.product(chain.product_id, chain.grantee)
    assert product["listed"]["status"] == "submitted"
    assert desk.catalog(chain.product_id).status_code == 404
    assert desk.actions(chain.product_id)[-2:] == ["suspended", "resubmitted"]
    desk.refused("POST", f"/products/{chain.product_id}/status-changes", desk.operator, 409,
                 "invalid_transition", {"status": "listed", "reason": "直接恢复"})

    assessor = desk.rights.assessor
    assert desk.claim(chain.product_id, assessor)["latest"]["status"] == "under_review"
    relisted = desk.decide(chain.product_id, "list", assessor)
    assert relisted["listed"]["id"] == product["listed"]["id"]
    assert relisted["listed"]["status"] == "listed"
    entry = desk.catalog(chain.product_id)
    assert entry.status_code == 200
    assert entry.json["version"]["number"] == 1
    assert desk.searchable() == {chain.product_id: product["listed"]["id"]}


# -- reviewers -------------------------------------------------------------------------


def test_merchants_cannot_review(desk: Desk) -> None:
    chain = desk.rights.chain()
    desk.create(chain)
    desk.submit(chain)
    other = desk.rights.party("other merchant")
    before = desk.written(chain.product_id)
    for party in (chain.grantee, other):
        desk.refused("POST", f"/products/{chain.product_id}/review-claims", party, 403,
                     "role_not_allowed")
        desk.refused("POST", f"/products/{chain.product_id}/reviews", party, 403,
                     "role_not_allowed", {"decision": "list", "reason": "自审"})
    assert desk.written(chain.product_id) == before


def test_an_organisation_may_not_review_its_own_product(desk: Desk) -> None:
    rights = desk.rights
    both = rights.party("merchant and assessor", "merchant", "assessor")
    holder = rights.party("holder")
    resource = rights.resource(holder)
    holding = rights.holding(holder, resource)
    grant = rights.grant(holder, holding, both)
    use = rights.use(both, holding, grant)
    chain = Chain(holder, both, resource, holding, grant, use, rights.product(both, use))
    desk.create(chain)
    desk.submit(chain)
    before = desk.written(chain.product_id)
    desk.refused("POST", f"/products/{chain.product_id}/review-claims", both, 403,
                 "reviewer_is_merchant")
    desk.refused("POST", f"/products/{chain.product_id}/reviews", both, 403,
                 "reviewer_is_merchant", {"decision": "list", "reason": "自审"})
    assert desk.written(chain.product_id) == before
    assert desk.review(chain.product_id, reviewer=rights.assessor)["latest"]["status"] == (
        "listed")


def test_a_review_claimed_by_one_assessor_cannot_be_decided_by_another(desk: Desk) -> None:
    chain = desk.rights.chain()
    desk.create(chain)
    desk.submit(chain)
    a = desk.rights.party("assessor a", "assessor")
    b = desk.rights.party("assessor b", "assessor")
    desk.claim(chain.product_id, a)
    before = desk.written(chain.product_id)
    desk.refused("POST", f"/products/{chain.product_id}/reviews", b, 409,
                 "listing_review_claimed", {"decision": "list", "reason": "抢先上架"})
    desk.refused("POST", f"/products/{chain.product_id}/reviews", desk.operator, 409,
                 "listing_review_claimed", {"decision": "reject", "reason": "越权驳回"})
    assert desk.written(chain.product_id) == before
    assert desk.decide(chain.product_id, "list", a)["latest"]["status"] == "listed"


# -- visibility ------------------------------------------------------------------------


def _to_stage(desk: Desk, chain: Chain, stage: str) -> None:
    desk.create(chain)
    if stage == "draft":
        return
    desk.submit(chain)
    if stage == "submitted":
        return
    desk.claim(chain.product_id)
    if stage == "under_review":
        return
    desk.decide(chain.product_id, "return" if stage == "returned" else "list")
    if stage in ("suspended", "delisted"):
        desk.change(chain.product_id, stage)


@pytest.mark.parametrize("stage", ["draft", "submitted", "under_review", "returned",
                                   "suspended", "delisted"])
def test_the_public_never_sees_a_product_not_on_sale(desk: Desk, stage: str) -> None:
    chain = desk.rights.chain()
    _to_stage(desk, chain, stage)
    for party in (None, desk.rights.party("somebody")):
        response = desk.client.get(f"{API}/catalog/{chain.product_id}",
                                   headers=party.headers if party else {})
        assert response.status_code == 404
        assert problem(response)["code"] == "product_not_found"
        sample = desk.sample(chain.product_id)
        assert sample.status_code == 404
    unknown = desk.catalog(UNKNOWN_PRODUCT)
    assert problem(unknown)["title"] == problem(desk.catalog(chain.product_id))["title"]
    assert desk.searchable() == {}


def test_merchants_see_their_own_products_and_the_duty_bound_see_all(desk: Desk) -> None:
    mine = desk.rights.chain()
    desk.create(mine)
    theirs = desk.listed(desk.rights.chain("holder 2", "grantee 2"))
    rights = desk.rights
    assert desk.products(mine.grantee) == {mine.product_id}
    assert desk.products(theirs.grantee) == {theirs.product_id}
    assert desk.products(mine.holder) == set()
    assert desk.products(rights.party("buyer", "buyer")) == set()
    for party in (rights.operator, rights.assessor, rights.regulator):
        assert desk.products(party) == {mine.product_id, theirs.product_id}
        assert desk.product(mine.product_id, party)["latest"]["status"] == "draft"
        assert desk.history(mine.product_id, party)
    for path in (f"/products/{mine.product_id}", f"/products/{mine.product_id}/history"):
        foreign = desk.refused("GET", path, theirs.grantee, 404, "product_not_found")
        unknown = desk.refused("GET", path.replace(mine.product_id, UNKNOWN_PRODUCT),
                               theirs.grantee, 404, "product_not_found")
        assert foreign["title"] == unknown["title"]
    desk.refused("GET", "/products", None, 401, "unauthorized")
    desk.refused("PUT", f"/products/{mine.product_id}", theirs.grantee, 404,
                 "product_not_found", revision(mine))
    desk.refused("POST", f"/products/{mine.product_id}/submission", theirs.grantee, 404,
                 "product_not_found", {"declaration": DECLARATION})


# -- offers and scenarios --------------------------------------------------------------


@pytest.mark.parametrize(("offers", "field"), [
    ([offer("one_time", amount=None)], "offers.0.amount"),
    ([offer("free"), offer("free", amount=100)], "offers.1.amount"),
    ([offer("subscription", amount=9_900)], "offers.0.period"),
    ([offer("pay_per_use", amount=5)], "offers.0.unit"),
    ([offer("pay_per_use", amount=5, unit="call", cap_amount=4)], "offers.0.cap_amount"),
    ([offer("one_time", quantity=0)], "offers.0.quantity"),
], ids=["one-time without amount", "free with amount", "subscription without period",
        "pay-per-use without unit", "cap below unit price", "quantity 0"])
def test_malformed_offers_are_422_naming_the_offer_field(
    desk: Desk, offers: list[dict[str, Any]], field: str
) -> None:
    chain = desk.rights.chain()
    before = desk.written()
    body = desk.refused("POST", "/products", chain.grantee, 422, "invalid_input",
                        product_body(chain, offers=offers))
    assert field in field_paths(body["errors"]), body
    assert desk.written() == before

    desk.create(chain)
    draft = desk.written(chain.product_id)
    body = desk.refused("PUT", f"/products/{chain.product_id}", chain.grantee, 422,
                        "invalid_input", revision(chain, offers=offers))
    assert field in field_paths(body["errors"]), body
    assert desk.written(chain.product_id) == draft


@pytest.mark.parametrize("offers", [
    [offer("subscription", amount=9_900, period="quarter")],
    [offer("pay_per_use", amount=5, unit="mb", cap_amount=5)],
    [offer("free", amount=0)],
    [offer("negotiable")],
    [offer("one_time", amount=1_000_000, quantity=1), offer("free")],
])
def test_well_formed_offers_are_accepted(desk: Desk, offers: list[dict[str, Any]]) -> None:
    chain = desk.rights.chain()
    created = desk.create(chain, offers=offers)
    assert [o["kind"] for o in created["latest"]["offers"]] == [o["kind"] for o in offers]


@pytest.mark.parametrize("scenarios", [[], None])
def test_no_scenario_no_trade(desk: Desk, scenarios: list[str] | None) -> None:
    chain = desk.rights.chain()
    body = product_body(chain, scenarios=scenarios)
    if scenarios is None:
        del body["scenarios"]
    before = desk.written()
    refusal = desk.refused("POST", "/products", chain.grantee, 422, "invalid_input", body)
    assert "scenarios" in field_paths(refusal["errors"])
    assert desk.written() == before


# -- samples ---------------------------------------------------------------------------


def test_the_sample_of_a_listed_product_downloads_anonymously(desk: Desk) -> None:
    chain = desk.rights.chain()
    created = desk.create(chain, sample=sample_body())
    digest = hashlib.sha256(SAMPLE).hexdigest()
    assert created["latest"]["sample_sha256"] == digest
    assert created["latest"]["sample_size"] == len(SAMPLE)
    assert desk.sample(chain.product_id).status_code == 404
    desk.submit(chain)
    desk.review(chain.product_id)

    response = desk.sample(chain.product_id)
    assert response.status_code == 200
    assert response.get_data() == SAMPLE
    assert response.headers["ETag"] == f'"{digest}"'
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert desk.catalog(chain.product_id).json["version"]["sample_sha256"] == digest

    # a new version with a new sample leaves the one on sale alone until it is listed
    desk.revise(chain, sample=sample_body(b"new,sample\n1,2\n"))
    assert desk.sample(chain.product_id).get_data() == SAMPLE


def test_a_listed_product_without_a_sample_has_none_to_download(desk: Desk) -> None:
    chain = desk.listed()
    response = desk.sample(chain.product_id)
    assert response.status_code == 404
    assert problem(response)["code"] == "product_not_found"
    unknown = desk.sample(UNKNOWN_PRODUCT)
    assert unknown.status_code == 404


def test_a_sample_that_is_not_base64_is_invalid_input(desk: Desk) -> None:
    chain = desk.rights.chain()
    before = desk.written()
    body = desk.refused("POST", "/products", chain.grantee, 422, "invalid_input",
                        product_body(chain, sample={"name": "x.csv",
                                                    "content_base64": "不是base64!"}))
    assert "sample.content_base64" in field_paths(body["errors"])
    assert desk.written() == before


def test_a_once_listed_version_returned_for_corrections_is_never_edited_in_place(
    desk: Desk
) -> None:
    """After its rights came back, the version that was on sale is reviewed again; if the
    reviewer returns it, the merchant's corrections must make a new version: orders keep the
    version they bought, with its offers, terms and declaration."""
    chain = desk.listed()
    v1 = desk.product(chain.product_id)["listed"]
    _suspend_holding(desk, chain)
    desk.call("POST", f"/rights/{chain.holding.id}/status-changes", desk.operator, 200,
              {"status": "registered", "reason": "核查完毕"})
    returned = desk.review(chain.product_id, "return")
    assert returned["latest"]["id"] == v1["id"]
    assert returned["latest"]["status"] == "returned"

    revised = desk.revise(chain, title="企业用电风险指数（更正）", offers=[offer(amount=1)])
    assert revised["latest"]["number"] == 2, revised["latest"]
    (old, *_) = desk.versions(chain.product_id)
    assert (old.id, old.title, old.declaration_sha256) == (
        v1["id"], v1["title"], v1["declaration_sha256"])
    with desk.rights.session_factory() as session:
        kept = list(session.scalars(select(Offer).where(Offer.version_id == v1["id"])))
    assert [(o.id, o.amount) for o in kept] == [(o["id"], o["amount"]) for o in v1["offers"]]


def test_resubmitting_a_once_listed_version_keeps_the_declaration_it_was_sold_under(
    desk: Desk
) -> None:
    chain = desk.listed()
    v1 = desk.product(chain.product_id)["listed"]
    _suspend_holding(desk, chain)
    desk.call("POST", f"/rights/{chain.holding.id}/status-changes", desk.operator, 200,
              {"status": "registered", "reason": "核查完毕"})
    desk.review(chain.product_id, "return")

    other = {**DECLARATION, "statement": "另一份声明", "contains_personal_information": True}
    response = desk.client.post(f"{API}/products/{chain.product_id}/submission",
                                json={"declaration": other}, headers=chain.grantee.headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    (old, *_) = desk.versions(chain.product_id)
    assert old.id == v1["id"]
    assert old.declaration == STORED_DECLARATION
    assert old.declaration_sha256 == v1["declaration_sha256"]


# -- idempotent retries ----------------------------------------------------------------


def test_drafting_replays_with_the_same_idempotency_key(desk: Desk) -> None:
    chain = desk.rights.chain()
    key = {"Idempotency-Key": "product-1"}
    first = desk.call("POST", "/products", chain.grantee, 201, product_body(chain),
                      headers=key)
    written = desk.written(chain.product_id)
    again = desk.call("POST", "/products", chain.grantee, 201, product_body(chain),
                      headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert desk.written(chain.product_id) == written
    other = desk.call("POST", "/products", chain.grantee, 422,
                      product_body(chain, title="另一个标题"), headers=key)
    assert problem(other)["code"] == "idempotency_key_reused"
