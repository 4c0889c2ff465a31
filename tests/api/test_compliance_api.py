"""Compliance over HTTP: the public templates, a declaration anyone entitled can re-hash,
breaches and the credit record, decisions with every verdict, and their error answers."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import rfc8785
from flask.testing import FlaskClient

from market.compliance.domain import RULESET_VERSION, TEMPLATES, rule_names
from tests.api.test_listing_api import API, DECLARATION, STORED_DECLARATION, Desk
from tests.conftest import problem
from tests.integration.rights_fixtures import (  # noqa: F401
    RightsWorld,
    rights_fixture,
    signer_fixture,
)


@pytest.fixture
def desk(client: FlaskClient, rights: RightsWorld) -> Desk:
    return Desk(client, rights)


def _declared(desk: Desk) -> tuple[Any, dict[str, Any]]:
    chain = desk.rights.chain()
    desk.create(chain)
    version_id = desk.submit(chain)["latest"]["id"]
    (item,) = desk.call("GET", f"/declarations?subject_id={version_id}", chain.grantee,
                        200).json["items"]
    return chain, item


def test_templates_and_rule_names_are_public(client: FlaskClient) -> None:
    body = client.get(f"{API}/declaration-templates").json
    assert [t["id"] for t in body["items"]] == list(TEMPLATES)
    assert {t["kind"] for t in body["items"] if t["current"]} == {
        "listing", "purchase", "admission", "destruction"}
    assert all(t["commitments"] for t in body["items"])
    assert body["rules"] == rule_names()
    assert body["ruleset_version"] == RULESET_VERSION


def test_a_declaration_shows_what_its_digest_covers(desk: Desk) -> None:
    chain, item = _declared(desk)
    declaration = desk.call("GET", f"/declarations/{item['id']}", desk.operator, 200).json
    document = declaration["signed_document"]
    assert hashlib.sha256(rfc8785.dumps(document)).hexdigest() == declaration["sha256"]
    assert document == {"kind": "listing", "template": "listing@1",
                        "org_id": chain.grantee.org_id,
                        "subject": {"type": "product_version", "id": item["subject_id"]},
                        "answers": STORED_DECLARATION}
    assert declaration["breaches"] == []
    assert declaration["signer_address"] is None


def test_a_breach_lowers_the_credit_record_and_retries_record_it_once(desk: Desk) -> None:
    chain, item = _declared(desk)
    body = {"severity": "serious", "reason": "超出声明的应用场景使用", "evidence_sha256": []}
    headers = {"Idempotency-Key": "breach-1"}
    first = desk.call("POST", f"/declarations/{item['id']}/breaches", desk.operator, 201,
                      body, headers)
    again = desk.call("POST", f"/declarations/{item['id']}/breaches", desk.operator, 201,
                      body, headers)
    assert again.json == first.json
    credit = desk.call("GET", f"/participants/{chain.grantee.org_id}/credit", chain.grantee,
                       200).json
    assert credit["score"] == 80
    assert [b["id"] for b in credit["breaches"]] == [first.json["id"]]
    shown = desk.call("GET", f"/declarations/{item['id']}", chain.grantee, 200).json
    assert [b["severity"] for b in shown["breaches"]] == ["serious"]


def test_decisions_list_every_verdict_and_filter_by_outcome(desk: Desk) -> None:
    chain, item = _declared(desk)
    refused = desk.rights.chain("holder 2", "grantee 2")
    desk.create(refused)
    desk.call("POST", f"/products/{refused.product_id}/submission", refused.grantee, 422,
              {"declaration": {**DECLARATION, "contains_core_data": True}})

    passed = desk.call("GET", "/decisions?outcome=pass", desk.operator, 200).json["items"]
    blocked = desk.call("GET", "/decisions?outcome=block&stage=listing", desk.operator,
                        200).json["items"]
    assert [d["subject_id"] for d in passed] == [item["subject_id"]]
    assert [d["org_id"] for d in blocked] == [refused.grantee.org_id]
    assert passed[0]["declaration_id"] == item["id"]
    assert blocked[0]["declaration_id"] is None
    detail = desk.call("GET", f"/decisions/{blocked[0]['id']}", refused.grantee, 200).json
    assert [v["rule"] for v in detail["verdicts"]] == rule_names()
    assert {v["rule"] for v in detail["verdicts"] if v["outcome"] == "block"} == {
        "CoreDataIsNeverTradable"}
    assert detail["facts"]["declaration"]["contains_core_data"] is True
    # Each merchant sees only its own.
    mine = desk.call("GET", "/decisions", chain.grantee, 200).json["items"]
    assert [d["id"] for d in mine] == [passed[0]["id"]]


def test_bad_breach_input_and_unknown_ids_answer_problems(desk: Desk) -> None:
    _, item = _declared(desk)
    for body, field in (({"severity": "fatal", "reason": "x"}, "severity"),
                        ({"severity": "minor"}, "reason"),
                        ({"severity": "minor", "reason": "x", "evidence_sha256": ["nope"]},
                         "evidence_sha256")):
        response = desk.call("POST", f"/declarations/{item['id']}/breaches", desk.operator,
                             422, body)
        assert field in problem(response)["errors"]
    missing = desk.call("POST", "/declarations/dcl_01J00000000000000000000000/breaches",
                        desk.operator, 404, {"severity": "minor", "reason": "x"})
    assert problem(missing)["code"] == "declaration_not_found"
    for path, code in (("/declarations/dcl_01J00000000000000000000000",
                        "declaration_not_found"),
                       ("/decisions/dec_01J00000000000000000000000", "decision_not_found"),
                       ("/participants/org_01J00000000000000000000000/credit",
                        "organisation_not_found")):
        assert problem(desk.call("GET", path, desk.operator, 404))["code"] == code
    bad_filter = desk.call("GET", "/decisions?outcome=maybe", desk.operator, 422)
    assert "outcome" in problem(bad_filter)["errors"]


def test_a_regulator_order_suspends_a_listing_at_once(desk: Desk) -> None:
    chain = desk.listed()
    regulator = desk.rights.party("regulator", "regulator")
    order = desk.call("POST", "/suspension-orders", regulator, 201,
                      {"subject_type": "listing", "subject_id": chain.product_id,
                       "reason": "涉嫌超范围经营"}).json
    listed = desk.product(chain.product_id)["listed"]
    assert listed["status"] == "suspended"
    assert order["id"] in listed["status_reason"]
    assert desk.catalog(chain.product_id).status_code == 404
    history = desk.call("GET", f"/products/{chain.product_id}/history", desk.operator,
                        200).json["items"]
    assert history[-1]["action"] == "suspended"


def test_an_order_on_a_listing_not_on_sale_is_refused_and_not_recorded(desk: Desk) -> None:
    chain = desk.rights.chain()
    desk.create(chain)  # a draft
    regulator = desk.rights.party("regulator", "regulator")
    before = desk.written(chain.product_id)
    refused = desk.call("POST", "/suspension-orders", regulator, 409,
                        {"subject_type": "listing", "subject_id": chain.product_id,
                         "reason": "核查"})
    assert problem(refused)["code"] == "invalid_transition"
    # the regulator's own reads are audited; nothing else was written
    after = desk.written(chain.product_id)
    assert after["products"] == before["products"]
    assert after["history"] == before["history"]
