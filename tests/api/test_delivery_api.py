"""The delivery matrix, the double review and storage locations over HTTP: refusals name
the rule and the matrix cell, the review queue shows the rules, the approvals needed and
given, a second approval by the same reviewer answers 409, and bad sensitive categories or
storage locations answer 422 problem+json writing nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.compliance import services as compliance
from market.compliance.rules.delivery import DEFAULT_MATRIX
from market.kernel.clock import FixedClock
from market.kernel.config import Settings, load_settings
from market.kernel.errors import ConfigurationError
from market.listing.models import ProductVersion
from market.rights.domain import EvidenceKind, PILevel
from market.rights.models import DataResource
from tests.api.test_listing_api import DECLARATION, Desk, product_body
from tests.api.test_rights_api import resource_body
from tests.conftest import TEST_SECRET, problem
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    RightsWorld,
    rights_fixture,
    signer_fixture,
)


@pytest.fixture
def desk(client: FlaskClient, rights: RightsWorld) -> Desk:
    return Desk(client, rights)


def count(desk: Desk, model: Any) -> int:
    with desk.rights.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def review_item(desk: Desk, version_id: str) -> dict[str, Any]:
    items = desk.call("GET", "/reviews?limit=200", desk.operator, 200).json["items"]
    (found,) = [i for i in items if i["subject_id"] == version_id and i["status"] != "closed"]
    return dict(found)


def test_a_resource_shows_its_sensitive_categories_and_storage(desk: Desk) -> None:
    holder = desk.rights.party("holder")
    created = desk.call("POST", "/resources", holder, 201, resource_body(
        pi_level="personal", sensitive_categories=["whereabouts", "minors"],
        storage_location="HK", storage_region="香港 数据中心 2")).json
    assert (created["sensitive_categories"], created["storage_location"],
            created["storage_region"]) == (["minors", "whereabouts"], "HK", "香港 数据中心 2")
    plain = desk.call("POST", "/resources", holder, 201, resource_body()).json
    assert (plain["sensitive_categories"], plain["storage_location"]) == ([], "CN")


@pytest.mark.parametrize(("overrides", "field"), [
    ({"sensitive_categories": ["hobbies"]}, "sensitive_categories"),
    ({"sensitive_categories": ["health"]}, "sensitive_categories"),  # pi_level none
    ({"storage_location": "china"}, "storage_location"),
    ({"storage_location": "cn"}, "storage_location"),
    ({"storage_region": ""}, "storage_region"),
])
def test_bad_resource_storage_or_categories_answer_422_writing_nothing(
        desk: Desk, overrides: dict[str, Any], field: str) -> None:
    holder = desk.rights.party("holder")
    before = count(desk, DataResource)
    refused = desk.refused("POST", "/resources", holder, 422, "invalid_input",
                           resource_body(**overrides))
    assert field in refused["errors"], refused
    assert count(desk, DataResource) == before


def test_a_bad_product_storage_location_answers_422_writing_nothing(desk: Desk) -> None:
    chain = desk.rights.chain()
    before = count(desk, ProductVersion)
    refused = desk.refused("POST", "/products", chain.grantee, 422, "invalid_input",
                           product_body(chain, storage_location="Singapore"))
    assert "storage_location" in refused["errors"]
    assert count(desk, ProductVersion) == before


def test_a_listing_refused_by_the_matrix_names_the_rule_and_cell(desk: Desk) -> None:
    rights = desk.rights
    chain = rights.chain()
    desk.create(chain, delivery_modes=["file", "api"], storage_location="SG",
                storage_region="新加坡")
    product = desk.product(chain.product_id, chain.grantee)
    assert (product["latest"]["storage_location"], product["latest"]["storage_region"]) == (
        "SG", "新加坡")
    version_id = desk.submit(chain)["latest"]["id"]  # general data: any mode; abroad
    item = review_item(desk, version_id)
    assert (item["needs"], item["rules"], item["required_approvals"], item["approvals"]) == (
        "needs_assessment", ["DataAbroadNeedsSecurityAssessment"], 1, [])


def test_the_double_review_over_http(desk: Desk) -> None:
    rights = desk.rights
    chain = rights.chain()
    desk.create(chain, development_level="raw")
    version_id = desk.submit(chain, DECLARATION)["latest"]["id"]
    item = review_item(desk, version_id)
    assert (item["rules"], item["required_approvals"], item["approvals"]) == (
        ["RawDataNeedsCarefulReview"], 2, [])

    first = desk.review(chain.product_id)
    assert (first["latest"]["status"], first["listed"]) == ("submitted", None)
    item = review_item(desk, version_id)
    assert item["status"] == "open"
    assert [(a["reviewer"], a["org_id"], a["reason"]) for a in item["approvals"]] == [
        (desk.operator.user_id, desk.operator.org_id, "材料齐全，权属清晰")]

    again = desk.refused("POST", f"/products/{chain.product_id}/review-claims",
                         desk.operator, 409, "reviewer_already_approved")
    assert again["title"] == "You have already approved this review"
    assert desk.product(chain.product_id)["latest"]["status"] == "submitted"
    assert len(review_item(desk, version_id)["approvals"]) == 1

    # Two different reviewers list raw data: the operator's approval, then the assessor's.
    assessor = rights.assessor
    chain2 = rights.chain("holder2", "grantee2")
    desk.create(chain2, development_level="raw")
    desk.submit(chain2)
    desk.review(chain2.product_id)
    listed = desk.review(chain2.product_id, reviewer=assessor)
    assert listed["listed"]["status"] == "listed"
    assert "approved_once" in desk.actions(chain2.product_id)


def test_the_matrix_refusal_over_http_names_the_cell(desk: Desk) -> None:
    rights = desk.rights
    holder, grantee = rights.party("holder"), rights.party("grantee")
    resource = rights.resource(holder, pi_level=PILevel.SENSITIVE_PERSONAL,
                               evidence_kinds=(EvidenceKind.SOURCE_LEGALITY,
                                               EvidenceKind.CONSENT))
    holding = rights.holding(holder, resource)
    grant = rights.grant(holder, holding, grantee, evidence_kinds=(EvidenceKind.CONSENT,))
    use = rights.use(grantee, holding, grant)
    chain = Chain(holder, grantee, resource, holding, grant, use, rights.product(grantee, use))
    desk.create(chain, delivery_modes=["api"])
    refused = problem(desk.call(
        "POST", f"/products/{chain.product_id}/submission", grantee, 422,
        {"declaration": {**DECLARATION, "contains_personal_information": True,
                         "personal_information_basis": "consent"}}))
    assert refused["code"] == "listing_refused"
    (violation,) = refused["errors"]["violations"]
    assert violation["rule"] == "DeliveryModeMustSuitClassification"
    assert {k: violation["detail"][k] for k in ("classification", "pi_level", "modes",
                                                "allowed_modes")} == {
        "classification": "general", "pi_level": "sensitive_personal", "modes": ["api"],
        "allowed_modes": ["sandbox"]}


# -- the matrix setting at startup ---------------------------------------------------------


def test_the_matrix_setting_is_read_and_checked_when_the_application_starts(
        settings: Settings, session_factory: sessionmaker[Session], clock: FixedClock) -> None:
    raw = "*:*=sandbox; core:*="
    assert load_settings({"MARKET_INSTANCE_PATH": str(settings.instance_path),
                          "MARKET_SECRET_KEY": TEST_SECRET,
                          "MARKET_DELIVERY_MATRIX": raw}).delivery_matrix == raw
    try:
        create_app(settings.with_changes(delivery_matrix=raw), session_factory=session_factory,
                   clock=clock)
        assert compliance.delivery_matrix().source == raw
        assert dict(compliance.delivery_matrix().cell("general", "none")) == {"sandbox": ""}
        with pytest.raises(ConfigurationError, match="unknown delivery mode 'email'"):
            create_app(settings.with_changes(delivery_matrix="*:*=email; core:*="),
                       session_factory=session_factory, clock=clock)
    finally:
        create_app(settings, session_factory=session_factory, clock=clock)
    assert compliance.delivery_matrix().source == DEFAULT_MATRIX
