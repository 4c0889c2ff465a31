"""The review queue over HTTP: listing versions and right registrations enter it when
submitted, are claimed and closed as their own lifecycles move; assessors attach reports by
hash; a listing whose rules need an assessment is listed only once one is attached."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from market.rights.domain import Classification, EvidenceKind
from tests.api.test_listing_api import DECLARATION, Desk
from tests.conftest import problem
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    RightsWorld,
    rights_fixture,
    signer_fixture,
)

REPORT = {"kind": "security", "name": "数据出境安全评估.pdf", "sha256": "5e" * 32}


@pytest.fixture
def desk(client: FlaskClient, rights: RightsWorld) -> Desk:
    return Desk(client, rights)


def queue(desk: Desk, **query: Any) -> list[dict[str, Any]]:
    response = desk.client.get("/api/v1/reviews", headers=desk.operator.headers,
                               query_string={"limit": 200, **query})
    assert response.status_code == 200, response.get_json()
    return list(response.json["items"])


def item_of(desk: Desk, subject_id: str) -> dict[str, Any]:
    found = [i for i in queue(desk) if i["subject_id"] == subject_id]
    assert found, subject_id
    return found[-1]


def test_a_listing_version_goes_through_the_queue(desk: Desk) -> None:
    chain = desk.rights.chain()
    desk.create(chain)
    version_id = desk.submit(chain)["latest"]["id"]
    item = item_of(desk, version_id)
    assert (item["kind"], item["status"], item["needs"], item["org_id"]) == (
        "listing", "open", "pass", chain.grantee.org_id)
    assert item["decision_id"].startswith("dec_")

    desk.claim(chain.product_id)
    claimed = item_of(desk, version_id)
    assert (claimed["status"], claimed["claimed_by_org_id"]) == ("claimed", desk.operator.org_id)
    desk.decide(chain.product_id, "return")
    closed = item_of(desk, version_id)
    assert (closed["status"], closed["outcome"]) == ("closed", "returned")

    desk.submit(chain)  # corrected and submitted again: a new item
    items = [i for i in queue(desk) if i["subject_id"] == version_id]
    assert [i["status"] for i in items] == ["closed", "open"]
    assert queue(desk, status="open", kind="listing") == [items[-1]]
    assert queue(desk, subject_id=version_id) == items
    assert queue(desk, subject_id=version_id, status="closed") == items[:1]
    assert queue(desk, subject_id="pv_unknown") == []


def test_a_right_registration_goes_through_the_queue(desk: Desk) -> None:
    rights = desk.rights
    holder = rights.party("holder")
    resource = rights.resource(holder)
    right = desk.call("POST", "/rights", holder, 201, {
        "kind": "resource_holding", "resource_id": resource.id,
        "valid_from": "2026-01-01T00:00:00+00:00", "purposes": ["分析"],
        "scenarios": ["信用评估"], "territory": "domestic"}).json
    assert (item_of(desk, right["id"])["kind"], item_of(desk, right["id"])["needs"]) == (
        "right", "review")
    desk.call("POST", f"/rights/{right['id']}/review-claims", desk.operator, 200)
    assert item_of(desk, right["id"])["status"] == "claimed"
    desk.call("POST", f"/rights/{right['id']}/reviews", desk.operator, 200,
              {"decision": "approve", "reason": "权属清晰"})
    closed = item_of(desk, right["id"])
    assert (closed["status"], closed["outcome"], closed["outcome_reason"]) == (
        "closed", "registered", "权属清晰")


def _important_chain(desk: Desk) -> Chain:
    rights = desk.rights
    holder, grantee = rights.party("holder"), rights.party("grantee")
    resource = rights.resource(holder, classification=Classification.IMPORTANT)
    holding = rights.holding(holder, resource)
    grant = rights.grant(holder, holding, grantee, evidence_kinds=(EvidenceKind.CONSENT,))
    use = rights.use(grantee, holding, grant)
    product = rights.product(grantee, use)
    return Chain(holder, grantee, resource, holding, rights.grant_row(use.grant_id or ""), use,
                 product)


def test_a_listing_needing_an_assessment_is_listed_only_with_one(desk: Desk) -> None:
    chain = _important_chain(desk)
    desk.create(chain)
    version_id = desk.submit(chain, {**DECLARATION, "contains_important_data": True,
                                     "cross_border": True})["latest"]["id"]
    item = item_of(desk, version_id)
    assert item["needs"] == "needs_assessment"
    assessor = desk.rights.party("assessor", "assessor")
    desk.claim(chain.product_id, assessor)

    refused = desk.call("POST", f"/products/{chain.product_id}/reviews", assessor, 422,
                        {"decision": "list", "reason": "同意"}).json
    assert [(v["code"], v["rule"]) for v in refused["errors"]["violations"]] == [
        ("assessment_missing", "ImportantDataAbroadNeedsSecurityAssessment")]
    # A quality report does not answer it; a security assessment does.
    desk.call("POST", f"/reviews/{item['id']}/reports", assessor, 201,
              {"kind": "quality", "name": "质量评估.pdf", "sha256": "9a" * 32})
    desk.call("POST", f"/products/{chain.product_id}/reviews", assessor, 422,
              {"decision": "list", "reason": "同意"})
    attached = desk.call("POST", f"/reviews/{item['id']}/reports", assessor, 201, REPORT).json
    assert (attached["issuer_org_id"], attached["subject_id"]) == (assessor.org_id, version_id)
    listed = desk.call("POST", f"/products/{chain.product_id}/reviews", assessor, 200,
                       {"decision": "list", "reason": "评估通过"}).json
    assert listed["listed"]["status"] == "listed"
    detail = desk.call("GET", f"/reviews/{item['id']}", desk.operator, 200).json
    assert [r["kind"] for r in detail["reports"]] == ["quality", "security"]
    assert (detail["status"], detail["outcome"]) == ("closed", "listed")


def test_reports_are_refused_on_closed_items_and_unknown_ones(desk: Desk) -> None:
    chain = desk.listed()
    version_id = desk.product(chain.product_id)["listed"]["id"]
    item = item_of(desk, version_id)
    closed = desk.call("POST", f"/reviews/{item['id']}/reports", desk.operator, 409, REPORT)
    assert problem(closed)["code"] == "invalid_transition"
    missing = desk.call("POST", "/reviews/rvw_01J00000000000000000000000/reports",
                        desk.operator, 404, REPORT)
    assert problem(missing)["code"] == "review_item_not_found"
    bad = desk.call("POST", f"/reviews/{item['id']}/reports", desk.operator, 422,
                    {**REPORT, "kind": "opinion"})
    assert "kind" in problem(bad)["errors"]
