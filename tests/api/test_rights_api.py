"""Rights over HTTP: a merchant registers a data resource and its holding right, the operator
reviews it and the platform issues a signed public certificate; a grant lets another merchant
register processing use and then product operation, which makes a product's rights chain;
revoking or disputing what the chain rests on suspends everything above it.

Also: the automatic refusals (every violation named, nothing written), schema errors naming
their fields, dispute resolution, a right's history, ``Idempotency-Key`` replays and Chinese
problem titles. Authorization of every endpoint is in ``test_authorization_matrix``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import rfc8785
from eth_account import Account
from eth_account.messages import encode_typed_data
from flask.testing import FlaskClient

from tests.conftest import TEST_SIGNING_KEY, Party, problem

API = "/api/v1"
PLATFORM = Account.from_key(TEST_SIGNING_KEY).address
UNKNOWN_RIGHT = "rgt_01J00000000000000000000000"
HAN = re.compile(r"[\u4e00-\u9fff]")

PURPOSES = ["客流统计", "线路优化"]
SCENARIOS = ["交通规划"]
ALWAYS = "2026-01-01T00:00:00+00:00"  # holding rights: from then on, no end date
GRANT_FROM, GRANT_TO = "2026-11-01T00:00:00+00:00", "2027-11-01T00:00:00+00:00"
PUBLIC_CERTIFICATE_FIELDS = {"number", "kind", "holder_name", "subject_title", "valid_from",
                             "valid_to", "issued_at", "status", "document", "signature",
                             "receipts"}


# -- request bodies --------------------------------------------------------------------


def document(kind: str = "source_legality", text: str = "采集协议与来源说明") -> dict[str, Any]:
    """An evidence item whose content hashes to its declared SHA-256."""
    content = f"{kind}: {text}".encode()
    return {"kind": kind, "name": f"{kind}.pdf", "media_type": "application/pdf",
            "sha256": hashlib.sha256(content).hexdigest(),
            "content_base64": base64.b64encode(content).decode()}


def resource_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "城市公交客流数据", "description": "按站点、按小时汇总的公交刷卡客流",
        "origin": "enterprise", "classification": "general", "pi_level": "none",
        "collection_method": "闸机刷卡记录汇总", "collection_source": "公交集团票务系统",
        "scenarios": SCENARIOS, "update_frequency": "daily", "evidence": [document()],
    }
    body.update(overrides)
    return body


def scope(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"purposes": PURPOSES, "scenarios": SCENARIOS,
                            "territory": "domestic", "valid_from": ALWAYS}
    body.update(overrides)
    return body


def holding_body(resource_id: str, **overrides: Any) -> dict[str, Any]:
    return {"kind": "resource_holding", "resource_id": resource_id, **scope(**overrides)}


def processing_body(resource_id: str, parent_id: str, grant_id: str | None,
                    **overrides: Any) -> dict[str, Any]:
    body = {"kind": "processing_use", "resource_id": resource_id, "parent_ids": [parent_id],
            **scope(valid_from=GRANT_FROM, valid_to=GRANT_TO, **overrides)}
    if grant_id is not None:
        body["grant_id"] = grant_id
    return body


def product_body(parent_id: str, **overrides: Any) -> dict[str, Any]:
    return {"kind": "product_operation", "product_title": "公交客流热力图",
            "parent_ids": [parent_id],
            **scope(purposes=["客流统计"], valid_from=GRANT_FROM, valid_to=GRANT_TO,
                    **overrides)}


# -- the desk: requests every test makes -----------------------------------------------


@dataclass(frozen=True)
class Desk:
    client: FlaskClient
    operator: Party  # the reviewer, and the observer of what was written

    def call(self, method: str, path: str, party: Party | None, expect: int,
             body: Any = None, headers: dict[str, str] | None = None) -> Any:
        sent = dict(party.headers if party else {})
        sent.update(headers or {})
        response = self.client.open(f"{API}{path}", method=method, json=body, headers=sent)
        assert response.status_code == expect, response.get_data(as_text=True)
        return response

    def resource(self, party: Party, **overrides: Any) -> dict[str, Any]:
        return dict(self.call("POST", "/resources", party, 201, resource_body(**overrides)).json)

    def submit(self, party: Party, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", "/rights", party, 201, body).json)

    def approve(self, right_id: str, reviewer: Party | None = None) -> dict[str, Any]:
        reviewer = reviewer or self.operator
        self.call("POST", f"/rights/{right_id}/review-claims", reviewer, 200)
        return dict(self.call("POST", f"/rights/{right_id}/reviews", reviewer, 200,
                              {"decision": "approve", "reason": "材料齐全，权属清晰"}).json)

    def register(self, party: Party, body: dict[str, Any]) -> dict[str, Any]:
        return self.approve(self.submit(party, body)["id"])

    def right(self, right_id: str, party: Party | None = None) -> dict[str, Any]:
        return dict(self.call("GET", f"/rights/{right_id}", party or self.operator, 200).json)

    def grant(self, grantor: Party, holding_right_id: str, grantee: Party,
              **overrides: Any) -> dict[str, Any]:
        body = {"holding_right_id": holding_right_id, "grantee_org_id": grantee.org_id,
                **scope(valid_from=GRANT_FROM, valid_to=GRANT_TO, **overrides)}
        return dict(self.call("POST", "/grants", grantor, 201, body).json)

    def chain(self, product_id: str, party: Party | None = None) -> dict[str, Any]:
        return dict(self.call("GET", f"/products/{product_id}/rights-chain",
                              party or self.operator, 200).json)

    def listed(self, path: str, party: Party | None = None) -> list[dict[str, Any]]:
        response = self.call("GET", f"{path}?limit=200", party or self.operator, 200)
        assert response.json["next_cursor"] is None
        return list(response.json["items"])

    def written(self) -> dict[str, Any]:
        """What the operator sees written: the audit head, every resource, right and grant."""
        verification = self.call("GET", "/audit/verification", self.operator, 200).json
        assert verification["ok"] is True, verification
        return {"head_seq": verification["head_seq"], "resources": self.listed("/resources"),
                "rights": self.listed("/rights"), "grants": self.listed("/grants")}


@pytest.fixture
def desk(client: FlaskClient, operator: Party) -> Desk:
    return Desk(client, operator)


@dataclass(frozen=True)
class Chain:
    """A's resource and holding right, A's grant to B, B's processing use and product."""

    a: Party
    b: Party
    resource: dict[str, Any]
    holding: dict[str, Any]
    grant: dict[str, Any]
    processing: dict[str, Any]
    product: dict[str, Any]


@pytest.fixture
def estate(desk: Desk, make_party: Callable[..., Party]) -> Chain:
    a, b = make_party("merchant"), make_party("merchant")
    resource = desk.resource(a)
    holding = desk.register(a, holding_body(resource["id"]))
    grant = desk.grant(a, holding["id"], b)
    processing = desk.register(b, processing_body(resource["id"], holding["id"], grant["id"]))
    product = desk.register(b, product_body(processing["id"]))
    return Chain(a, b, resource, holding, grant, processing, product)


def violation_codes(response: Any) -> set[str]:
    body = problem(response)
    assert body["code"] == "right_refused", body
    return {v["code"] for v in body["errors"]["violations"]}


def org_secrets(desk: Desk, *parties: Party) -> set[str]:
    """Organisation ids and unified social credit codes that must never appear in public."""
    found = set()
    for party in parties:
        org = desk.call("GET", f"/participants/{party.org_id}", desk.operator, 200).json
        found |= {party.org_id, org["credit_code"]}
    return found


# -- resources -------------------------------------------------------------------------


def test_merchant_registers_a_resource_with_its_evidence(
    desk: Desk, make_party: Callable[..., Party]
) -> None:
    a = make_party("merchant")
    evidence = document()
    response = desk.call("POST", "/resources", a, 201, resource_body(evidence=[evidence]))
    created = response.json
    assert response.headers["Location"] == f"/api/v1/resources/{created['id']}"
    assert created["holder_org_id"] == a.org_id
    assert created["title"] == "城市公交客流数据"
    assert created["classification"] == "general"
    [stored] = created["evidence"]
    assert stored["kind"] == "source_legality"
    assert stored["sha256"] == evidence["sha256"]
    assert stored["size"] == len(base64.b64decode(evidence["content_base64"]))
    assert stored["stored"] is True
    assert desk.call("GET", f"/resources/{created['id']}", a, 200).json == created
    assert [r["id"] for r in desk.listed("/resources", a)] == [created["id"]]


def test_evidence_whose_content_does_not_hash_to_its_sha256_is_refused(
    desk: Desk, make_party: Callable[..., Party]
) -> None:
    a = make_party("merchant")
    forged = document() | {"sha256": hashlib.sha256(b"another document").hexdigest()}
    before = desk.written()
    response = desk.call("POST", "/resources", a, 422, resource_body(evidence=[forged]))
    body = problem(response)
    assert body["code"] == "evidence_mismatch"
    assert "evidence" in body["errors"]
    assert desk.written() == before


# -- registration, review, certificate -------------------------------------------------


def test_holding_right_goes_through_review_to_a_certificate(
    desk: Desk, make_party: Callable[..., Party]
) -> None:
    a = make_party("merchant")
    resource = desk.resource(a)
    response = desk.call("POST", "/rights", a, 201, holding_body(resource["id"]))
    submitted = response.json
    assert response.headers["Location"] == f"/api/v1/rights/{submitted['id']}"
    assert submitted["status"] == "submitted"
    assert submitted["holder_org_id"] == a.org_id
    assert submitted["resource_id"] == resource["id"]
    assert submitted["subject_title"] == resource["title"]
    assert submitted["certificate_number"] is None

    claimed = desk.call("POST", f"/rights/{submitted['id']}/review-claims", desk.operator,
                        200).json
    assert claimed["status"] == "under_review"
    assert claimed["reviewer_org_id"] == desk.operator.org_id

    approved = desk.call("POST", f"/rights/{submitted['id']}/reviews", desk.operator, 200,
                         {"decision": "approve", "reason": "来源合法，权属清晰"}).json
    assert approved["status"] == "registered"
    assert approved["status_reason"] == "来源合法，权属清晰"
    assert approved["registered_at"] is not None
    assert approved["certificate_number"] == "DR-2026-000001"
    assert desk.right(submitted["id"], a) == approved


def test_certificates_are_numbered_in_sequence_per_year(
    desk: Desk, make_party: Callable[..., Party]
) -> None:
    a = make_party("merchant")
    numbers = [desk.register(a, holding_body(desk.resource(a)["id"]))["certificate_number"]
               for _ in range(3)]
    assert numbers == ["DR-2026-000001", "DR-2026-000002", "DR-2026-000003"]


def test_reviewer_rejects_with_a_reason_and_no_certificate(
    desk: Desk, make_party: Callable[..., Party]
) -> None:
    a = make_party("merchant")
    right = desk.submit(a, holding_body(desk.resource(a)["id"]))
    desk.call("POST", f"/rights/{right['id']}/review-claims", desk.operator, 200)
    rejected = desk.call("POST", f"/rights/{right['id']}/reviews", desk.operator, 200,
                         {"decision": "reject", "reason": "来源说明不完整"}).json
    assert rejected["status"] == "rejected"
    assert rejected["status_reason"] == "来源说明不完整"
    assert rejected["certificate_number"] is None


def test_a_review_claimed_by_another_reviewer_cannot_be_decided(
    desk: Desk, make_party: Callable[..., Party]
) -> None:
    a, assessor = make_party("merchant"), make_party("assessor")
    right = desk.submit(a, holding_body(desk.resource(a)["id"]))
    desk.call("POST", f"/rights/{right['id']}/review-claims", assessor, 200)
    before = desk.written()
    response = desk.call("POST", f"/rights/{right['id']}/reviews", desk.operator, 409,
                         {"decision": "approve", "reason": "抢先批准"})
    assert problem(response)["code"] == "review_claimed"
    assert desk.written() == before
    approved = desk.call("POST", f"/rights/{right['id']}/reviews", assessor, 200,
                         {"decision": "approve", "reason": "评估通过"}).json
    assert approved["status"] == "registered"
    assert approved["reviewer_org_id"] == assessor.org_id


def test_certificate_shows_only_public_fields(
    desk: Desk, make_party: Callable[..., Party]
) -> None:
    a = make_party("merchant", name="北京公交数据科技有限公司")
    resource = desk.resource(a)
    right = desk.register(a, holding_body(resource["id"]))
    number = right["certificate_number"]

    response = desk.call("GET", f"/certificates/{number}", None, 200)
    cert = response.json
    assert set(cert) == PUBLIC_CERTIFICATE_FIELDS
    assert cert["kind"] == "resource_holding"
    assert cert["holder_name"] == "北京公交数据科技有限公司"
    assert cert["subject_title"] == resource["title"]
    assert cert["valid_from"] == "2026-01-01T00:00:00+00:00"
    assert cert["valid_to"] is None
    assert cert["status"] == "registered"
    assert cert["document"]["number"] == number
    text = response.get_data(as_text=True)
    for secret in org_secrets(desk, a, desk.operator):
        assert secret not in text, f"{secret} leaks from the public certificate"
    assert "credit_code" not in text
    for prefix in ("org_", "usr_", "key_", "res_", "rgt_"):  # no internal id of any kind
        assert prefix not in text, prefix


def test_certificate_can_be_checked_offline_and_online(
    desk: Desk, make_party: Callable[..., Party]
) -> None:
    a = make_party("merchant")
    number = desk.register(a, holding_body(desk.resource(a)["id"]))["certificate_number"]
    cert = desk.call("GET", f"/certificates/{number}", None, 200).json
    sig = cert["signature"]
    assert sig["signer"] == PLATFORM
    assert sig["subject"] == number
    digest = hashlib.sha256(rfc8785.dumps(cert["document"])).hexdigest()
    assert sig["digest"] == digest
    signable = encode_typed_data(
        {"name": "market", "version": "1"},
        {"Receipt": [{"name": "kind", "type": "string"}, {"name": "subject", "type": "string"},
                     {"name": "digest", "type": "bytes32"},
                     {"name": "issuedAt", "type": "uint64"}]},
        {"kind": "certificate", "subject": number, "digest": bytes.fromhex(digest),
         "issuedAt": sig["issued_at"]},
    )
    assert Account.recover_message(signable, signature=sig["signature"]) == PLATFORM

    verification = desk.call("GET", f"/certificates/{number}/verification", None, 200).json
    assert verification == {"number": number, "valid": True, "signer": PLATFORM,
                            "digest": digest}


@pytest.mark.parametrize("suffix", ["", "/verification"])
def test_unknown_certificate_number_is_not_found(desk: Desk, suffix: str) -> None:
    response = desk.call("GET", f"/certificates/DR-2026-999999{suffix}", None, 404)
    assert problem(response)["code"] == "certificate_not_found"


# -- grants and the rights chain -------------------------------------------------------


def test_grant_lets_another_merchant_build_a_product_chain(
    desk: Desk, estate: Chain, make_party: Callable[..., Party]
) -> None:
    a, b = estate.a, estate.b
    assert estate.grant["grantor_org_id"] == a.org_id
    assert estate.grant["grantee_org_id"] == b.org_id
    assert estate.grant["resource_id"] == estate.resource["id"]
    assert estate.grant["status"] == "active"
    assert estate.processing["status"] == "registered"
    assert estate.processing["holder_org_id"] == b.org_id
    assert estate.processing["grant_id"] == estate.grant["id"]
    assert estate.processing["parent_ids"] == [estate.holding["id"]]
    assert estate.product["status"] == "registered"
    assert estate.product["kind"] == "product_operation"
    assert estate.product["product_id"].startswith("prd_")
    assert estate.product["subject_title"] == "公交客流热力图"
    assert estate.product["parent_ids"] == [estate.processing["id"]]

    chain = desk.chain(estate.product["product_id"], b)
    assert chain["ok"] is True
    assert chain["broken"] is None
    assert chain["product_id"] == estate.product["product_id"]
    links = {link["right_id"]: link for link in chain["links"]}
    assert [link["right_id"] for link in chain["links"]] == [
        estate.product["id"], estate.processing["id"], estate.holding["id"]]
    assert links[estate.processing["id"]]["grant_id"] == estate.grant["id"]
    # Links name holders publicly, as certificates do, never by organisation id.
    holding_link = links[estate.holding["id"]]
    assert "holder_org_id" not in holding_link
    certificate = desk.call("GET", f"/certificates/{holding_link['certificate_number']}",
                            None, 200).json
    assert holding_link["holder_name"] == certificate["holder_name"]
    assert all(link["status"] == "registered" and link["certificate_number"]
               for link in chain["links"])

    # A buyer checks the same chain before buying.
    assert desk.chain(estate.product["product_id"], make_party("buyer")) == chain


def test_grant_is_visible_to_grantor_and_grantee_only(
    desk: Desk, estate: Chain, make_party: Callable[..., Party]
) -> None:
    grant_id = estate.grant["id"]
    for party in (estate.a, estate.b, desk.operator):
        shown = desk.call("GET", f"/grants/{grant_id}", party, 200).json
        assert shown["id"] == grant_id
        assert [g["id"] for g in desk.listed("/grants", party)] == [grant_id]
    stranger = make_party("merchant")
    response = desk.call("GET", f"/grants/{grant_id}", stranger, 404)
    assert problem(response)["code"] == "grant_not_found"
    assert desk.listed("/grants", stranger) == []


def test_grantee_cannot_revoke_the_grant_it_received(desk: Desk, estate: Chain) -> None:
    before = desk.written()
    response = desk.call("POST", f"/grants/{estate.grant['id']}/revoke", estate.b, 403,
                         {"reason": "不想要了"})
    assert problem(response)["code"] == "not_the_holder"
    assert desk.written() == before


def test_revoking_the_grant_revokes_processing_use_and_suspends_the_product(
    desk: Desk, estate: Chain
) -> None:
    revoked = desk.call("POST", f"/grants/{estate.grant['id']}/revoke", estate.a, 200,
                        {"reason": "合作终止"}).json
    assert revoked["status"] == "revoked"
    assert revoked["revoked_reason"] == "合作终止"
    assert desk.right(estate.processing["id"], estate.b)["status"] == "revoked"
    assert desk.right(estate.product["id"], estate.b)["status"] == "suspended"
    assert desk.right(estate.holding["id"], estate.a)["status"] == "registered"
    assert desk.chain(estate.product["product_id"])["ok"] is False


def test_unknown_product_has_no_chain(desk: Desk) -> None:
    chain = desk.chain("prd_01J00000000000000000000000")
    assert chain["ok"] is False
    assert chain["links"] == []
    assert chain["broken"]["code"] == "chain_missing"


@pytest.mark.parametrize("revoker", ["holder", "operator"])
def test_revoking_the_holding_right_suspends_everything_resting_on_it(
    desk: Desk, estate: Chain, revoker: str
) -> None:
    party = estate.a if revoker == "holder" else desk.operator
    revoked = desk.call("POST", f"/rights/{estate.holding['id']}/status-changes", party, 200,
                        {"status": "revoked", "reason": "数据来源合同到期"}).json
    assert revoked["status"] == "revoked"
    assert revoked["status_reason"] == "数据来源合同到期"

    for right in (estate.processing, estate.product):
        shown = desk.right(right["id"], estate.b)
        assert shown["status"] == "suspended", shown
        assert shown["status_reason"]
    processing = desk.right(estate.processing["id"], estate.b)
    assert estate.holding["id"] in processing["status_reason"]

    chain = desk.chain(estate.product["product_id"], estate.b)
    assert chain["ok"] is False
    assert chain["broken"]["code"] == "right_not_registered"

    # The certificate shows the live status and still verifies: the status is not signed.
    number = estate.holding["certificate_number"]
    assert desk.call("GET", f"/certificates/{number}", None, 200).json["status"] == "revoked"
    assert desk.call("GET", f"/certificates/{number}/verification", None,
                     200).json["valid"] is True


def test_broken_chain_names_the_link_that_broke_not_what_was_suspended_because_of_it(
    desk: Desk, estate: Chain
) -> None:
    """The chain is "the chain, or its precise broken link": after A's holding right is
    revoked, the broken link is that right, not B's product right suspended in cascade."""
    desk.call("POST", f"/rights/{estate.holding['id']}/status-changes", estate.a, 200,
              {"status": "revoked", "reason": "数据来源合同到期"})
    chain = desk.chain(estate.product["product_id"], estate.b)
    assert chain["ok"] is False
    assert chain["broken"]["code"] == "right_not_registered"
    assert chain["broken"]["right_id"] == estate.holding["id"], chain["broken"]
    assert f"right {estate.holding['id']} is revoked" == chain["broken"]["message"]


def test_holder_may_revoke_but_not_suspend_or_reinstate_its_own_right(
    desk: Desk, estate: Chain
) -> None:
    url = f"/rights/{estate.holding['id']}/status-changes"
    before = desk.written()
    for status in ("suspended", "registered"):
        response = desk.call("POST", url, estate.a, 403, {"status": status, "reason": "自行处理"})
        assert problem(response)["code"] == "not_the_holder"
    assert desk.written() == before


def test_merchant_cannot_change_the_status_of_a_foreign_right(
    desk: Desk, estate: Chain
) -> None:
    before = desk.written()
    response = desk.call("POST", f"/rights/{estate.holding['id']}/status-changes", estate.b,
                         404, {"status": "revoked", "reason": "恶意撤销"})
    assert problem(response)["code"] == "right_not_found"
    assert desk.written() == before


def test_operator_suspends_and_reinstates_and_what_rests_on_the_right_follows(
    desk: Desk, estate: Chain
) -> None:
    url = f"/rights/{estate.holding['id']}/status-changes"
    desk.call("POST", url, desk.operator, 200, {"status": "suspended", "reason": "核查来源"})
    assert {desk.right(r["id"])["status"] for r in (estate.processing, estate.product)} == {
        "suspended"}
    back = desk.call("POST", url, desk.operator, 200,
                     {"status": "registered", "reason": "核查完毕"}).json
    assert back["status"] == "registered"
    assert {desk.right(r["id"])["status"] for r in (estate.processing, estate.product)} == {
        "registered"}
    assert desk.chain(estate.product["product_id"])["ok"] is True


# -- automatic refusals ----------------------------------------------------------------


def _refusal(desk: Desk, estate: Chain, case: str,
             make_party: Callable[..., Party]) -> tuple[Party, dict[str, Any]]:
    """Who submits what for each refusal case."""
    a, b = estate.a, estate.b
    resource_id, holding_id, grant_id = (estate.resource["id"], estate.holding["id"],
                                         estate.grant["id"])
    if case == "core data":
        return a, holding_body(desk.resource(a, classification="core")["id"])
    if case == "personal data without consent":
        return a, holding_body(desk.resource(a, pi_level="personal")["id"])
    if case == "core personal data":
        res = desk.resource(a, classification="core", pi_level="sensitive_personal")
        return a, holding_body(res["id"])
    if case == "parent missing":
        return b, processing_body(resource_id, UNKNOWN_RIGHT, grant_id)
    if case == "no parent at all":
        body = processing_body(resource_id, holding_id, grant_id)
        body["parent_ids"] = []
        return b, body
    if case == "scope exceeded":
        return b, processing_body(resource_id, holding_id, grant_id,
                                  purposes=[*PURPOSES, "精准营销"], territory="cross_border")
    if case == "product resting on another's holding right":
        return b, product_body(holding_id)
    if case == "processing use of its own resource resting on another's right":
        own = desk.resource(b)
        return b, processing_body(own["id"], holding_id, None)
    raise AssertionError(case)


REFUSALS = {
    "core data": {"core_data"},
    "personal data without consent": {"personal_data_without_basis"},
    "core personal data": {"core_data", "personal_data_without_basis"},
    "parent missing": {"parent_missing"},
    "no parent at all": {"parent_missing"},
    "scope exceeded": {"scope_exceeded"},
    "product resting on another's holding right": {"wrong_holder"},
    "processing use of its own resource resting on another's right": {"wrong_holder"},
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_automatic_refusal_names_every_violation_and_writes_nothing(
    desk: Desk, estate: Chain, make_party: Callable[..., Party], case: str
) -> None:
    party, body = _refusal(desk, estate, case, make_party)
    before = desk.written()
    response = desk.call("POST", "/rights", party, 422, body)
    assert violation_codes(response) == REFUSALS[case]
    assert desk.written() == before
    assert len(desk.listed("/rights")) == 3  # the chain's, and nothing else


@pytest.mark.parametrize("case", ["holding right", "processing use without a grant",
                                  "processing use with another's grant", "unknown resource"])
def test_a_resource_neither_held_nor_granted_is_not_found(
    desk: Desk, estate: Chain, make_party: Callable[..., Party], case: str
) -> None:
    """Registering over a resource one neither holds nor was granted answers as if it did
    not exist: the refusal must not confirm the resource or its holder to a stranger."""
    resource_id, holding_id = estate.resource["id"], estate.holding["id"]
    party, body = {
        "holding right": (estate.b, holding_body(resource_id)),
        "processing use without a grant": (estate.b,
                                           processing_body(resource_id, holding_id, None)),
        "processing use with another's grant": (
            make_party("merchant"), processing_body(resource_id, holding_id, estate.grant["id"])),
        "unknown resource": (estate.b, holding_body("res_01J00000000000000000000000")),
    }[case]
    before = desk.written()
    response = desk.call("POST", "/rights", party, 404, body)
    assert problem(response)["code"] == "resource_not_found"
    assert problem(response)["errors"] == {"resource_id": ["no such resource"]}
    assert desk.written() == before


def test_nobody_registers_a_product_another_organisation_operates(
    desk: Desk, estate: Chain, make_party: Callable[..., Party]
) -> None:
    c = make_party("merchant")
    holding = desk.register(c, holding_body(desk.resource(c)["id"]))
    body = product_body(holding["id"])
    body["product_id"] = estate.product["product_id"]
    before = desk.written()
    response = desk.call("POST", "/rights", c, 409, body)
    assert problem(response)["code"] == "product_held_by_other"
    assert desk.written() == before
    chain = desk.chain(estate.product["product_id"])
    assert chain["ok"] is True
    assert {link["right_id"] for link in chain["links"]} == {
        estate.product["id"], estate.processing["id"], estate.holding["id"]}

    # The operator of a product registers it again under the same id (say, a renewal).
    renewal = desk.register(estate.b, product_body(estate.processing["id"]) | {
        "product_id": estate.product["product_id"]})
    assert renewal["product_id"] == estate.product["product_id"]
    assert renewal["status"] == "registered"


def test_refusal_names_the_broken_parent_link(desk: Desk, estate: Chain) -> None:
    body = processing_body(estate.resource["id"], UNKNOWN_RIGHT, estate.grant["id"])
    violations = problem(desk.call("POST", "/rights", estate.b, 422, body))["errors"][
        "violations"]
    missing = [v for v in violations if v["code"] == "parent_missing"]
    assert missing == [{"code": "parent_missing", "right_id": UNKNOWN_RIGHT,
                        "message": f"parent right {UNKNOWN_RIGHT} does not exist"}]

    exceeded = processing_body(estate.resource["id"], estate.holding["id"], estate.grant["id"],
                               purposes=[*PURPOSES, "精准营销"])
    violations = problem(desk.call("POST", "/rights", estate.b, 422, exceeded))["errors"][
        "violations"]
    assert {(v["code"], v["right_id"]) for v in violations} == {
        ("scope_exceeded", estate.holding["id"]), ("scope_exceeded", None)}
    assert all("精准营销" in v["message"] for v in violations)


def test_personal_data_with_consent_evidence_is_not_refused(
    desk: Desk, make_party: Callable[..., Party]
) -> None:
    a = make_party("merchant")
    resource = desk.resource(a, pi_level="personal",
                             evidence=[document(), document("consent", "个人信息处理同意书")])
    assert desk.register(a, holding_body(resource["id"]))["status"] == "registered"


def test_right_refused_in_chinese(desk: Desk, make_party: Callable[..., Party]) -> None:
    a = make_party("merchant")
    body = holding_body(desk.resource(a, classification="core")["id"])
    english = problem(desk.call("POST", "/rights", a, 422, body))
    chinese = problem(desk.call("POST", "/rights", a, 422, body,
                                headers={"Accept-Language": "zh-CN"}))
    assert english["title"] == "Right registration refused"
    assert chinese["code"] == english["code"] == "right_refused"
    assert HAN.search(chinese["title"]), chinese["title"]
    assert chinese["title"] != english["title"]
    assert [v["code"] for v in chinese["errors"]["violations"]] == ["core_data"]


# -- schema errors ---------------------------------------------------------------------


def _schema_case(desk: Desk, a: Party, case: str) -> tuple[str, dict[str, Any]]:
    if case == "product operation without a product title":
        body = product_body("rgt_01J00000000000000000000001")
        del body["product_title"]
        return "/rights", body
    if case == "resource right without a resource":
        body = holding_body("x")
        del body["resource_id"]
        return "/rights", body
    if case == "term ending before it starts":
        return "/rights", holding_body(desk.resource(a)["id"],
                                       valid_from="2026-06-01T00:00:00+00:00",
                                       valid_to="2026-05-01T00:00:00+00:00")
    if case == "sha256 that is not one":
        return "/resources", resource_body(evidence=[document() | {"sha256": "ABC123"}])
    raise AssertionError(case)


SCHEMA_ERRORS = {
    "product operation without a product title": "product_title",
    "resource right without a resource": "resource_id",
    "term ending before it starts": "valid_to",
    "sha256 that is not one": "evidence",
}


@pytest.mark.parametrize("case", list(SCHEMA_ERRORS))
def test_schema_errors_name_their_fields(
    desk: Desk, make_party: Callable[..., Party], case: str
) -> None:
    a = make_party("merchant")
    path, body = _schema_case(desk, a, case)
    before = desk.written()
    body_out = problem(desk.call("POST", path, a, 422, body))
    assert body_out["code"] == "invalid_input"
    field = SCHEMA_ERRORS[case]
    assert field in body_out["errors"], body_out
    if field == "evidence":
        assert "sha256" in body_out["errors"]["evidence"]["0"], body_out
    assert desk.written() == before


# -- disputes --------------------------------------------------------------------------


def test_participants_lodge_objections_through_the_operator(
    desk: Desk, estate: Chain, make_party: Callable[..., Party]
) -> None:
    resource_id = estate.resource["id"]
    parties = (make_party("merchant"), make_party("buyer"), estate.a)
    before = desk.written()
    for party in parties:
        response = desk.call("POST", f"/resources/{resource_id}/disputes", party, 403,
                             {"claimant_org_id": party.org_id, "reason": "权属争议"})
        assert problem(response)["code"] == "role_not_allowed"
    for claimant in (estate.a.org_id, "org_00000000000000000000000000"):
        response = desk.call("POST", f"/resources/{resource_id}/disputes", desk.operator, 422,
                             {"claimant_org_id": claimant, "reason": "权属争议"})
        assert set(problem(response)["errors"]) == {"claimant_org_id"}
    assert desk.written() == before
    assert desk.right(estate.holding["id"])["status"] == "registered"


def test_dispute_suspends_the_rights_and_dismissal_restores_them(
    desk: Desk, estate: Chain, make_party: Callable[..., Party]
) -> None:
    claimant = make_party("merchant")
    resource_id = estate.resource["id"]
    response = desk.call("POST", f"/resources/{resource_id}/disputes", desk.operator, 201,
                         {"claimant_org_id": claimant.org_id,
                          "reason": "该数据由我方采集，A 无权登记"})
    dispute = response.json
    assert dispute["status"] == "open"
    assert dispute["claimant_org_id"] == claimant.org_id
    assert dispute["resource_id"] == resource_id

    for right in (estate.holding, estate.processing, estate.product):
        assert desk.right(right["id"])["status"] == "suspended", right["kind"]
    chain = desk.chain(estate.product["product_id"])
    assert chain["ok"] is False
    # A new registration over the disputed resource waits for the resolution.
    refused = desk.call("POST", "/rights", estate.b,
                        422, processing_body(resource_id, estate.holding["id"],
                                             estate.grant["id"]))
    assert "subject_disputed" in violation_codes(refused)

    url = f"/resources/{resource_id}/disputes/{dispute['id']}/resolution"
    resolved = desk.call("POST", url, desk.operator, 200,
                         {"outcome": "dismissed", "resolution": "A 提供了完整采集合同"}).json
    assert resolved["status"] == "dismissed"
    assert resolved["resolution"] == "A 提供了完整采集合同"
    assert resolved["resolved_at"] is not None
    for right in (estate.holding, estate.processing, estate.product):
        assert desk.right(right["id"])["status"] == "registered", right["kind"]
    assert desk.chain(estate.product["product_id"])["ok"] is True

    assert [d["id"] for d in desk.listed(f"/resources/{resource_id}/disputes", estate.a)] == [
        dispute["id"]]

    before = desk.written()
    again = desk.call("POST", url, desk.operator, 409,
                      {"outcome": "upheld", "resolution": "改判"})
    assert problem(again)["code"] == "dispute_closed"
    assert desk.written() == before


@pytest.mark.parametrize("order", ["first opened first", "last opened first"])
def test_rights_come_back_once_every_dispute_is_dismissed_whatever_the_order(
    desk: Desk, estate: Chain, make_party: Callable[..., Party], order: str
) -> None:
    resource_id = estate.resource["id"]
    disputes = [desk.call("POST", f"/resources/{resource_id}/disputes", desk.operator, 201,
                          {"claimant_org_id": make_party(role).org_id,
                           "reason": f"{role} 主张权属"}).json["id"]
                for role in ("merchant", "buyer")]
    if order == "last opened first":
        disputes.reverse()
    url = f"/resources/{resource_id}/disputes/{{}}/resolution"
    desk.call("POST", url.format(disputes[0]), desk.operator, 200,
              {"outcome": "dismissed", "resolution": "主张不成立"})
    # One dispute is still open: the rights wait for it.
    assert desk.right(estate.holding["id"])["status"] == "suspended"
    desk.call("POST", url.format(disputes[1]), desk.operator, 200,
              {"outcome": "dismissed", "resolution": "主张不成立"})
    statuses = {r["kind"]: desk.right(r["id"])["status"]
                for r in (estate.holding, estate.processing, estate.product)}
    assert statuses == {"resource_holding": "registered", "processing_use": "registered",
                        "product_operation": "registered"}
    assert desk.chain(estate.product["product_id"])["ok"] is True


def test_upheld_dispute_revokes_the_rights_on_the_resource(
    desk: Desk, estate: Chain, make_party: Callable[..., Party]
) -> None:
    resource_id = estate.resource["id"]
    claimant = make_party("merchant")
    dispute = desk.call("POST", f"/resources/{resource_id}/disputes", desk.operator, 201,
                        {"claimant_org_id": claimant.org_id, "reason": "权属争议"}).json
    desk.call("POST", f"/resources/{resource_id}/disputes/{dispute['id']}/resolution",
              desk.operator, 200, {"outcome": "upheld", "resolution": "A 无权持有"})
    # Every right over the resource falls with the holder's claim; the product stays suspended.
    assert desk.right(estate.holding["id"])["status"] == "revoked"
    assert desk.right(estate.processing["id"])["status"] == "revoked"
    assert desk.right(estate.product["id"])["status"] == "suspended"
    assert desk.chain(estate.product["product_id"])["ok"] is False


def test_dispute_resolution_must_name_the_disputed_resource(
    desk: Desk, estate: Chain, make_party: Callable[..., Party]
) -> None:
    a = estate.a
    other = desk.resource(a)
    claimant = make_party("merchant")
    dispute = desk.call("POST", f"/resources/{estate.resource['id']}/disputes", desk.operator,
                        201, {"claimant_org_id": claimant.org_id, "reason": "权属争议"}).json
    before = desk.written()
    response = desk.call("POST", f"/resources/{other['id']}/disputes/{dispute['id']}/resolution",
                         desk.operator, 404, {"outcome": "dismissed", "resolution": "x"})
    assert problem(response)["code"] == "dispute_not_found"
    assert desk.written() == before


# -- history ---------------------------------------------------------------------------


def test_history_lists_every_change_in_order(
    desk: Desk, estate: Chain, make_party: Callable[..., Party]
) -> None:
    resource_id, holding_id = estate.resource["id"], estate.holding["id"]
    dispute = desk.call("POST", f"/resources/{resource_id}/disputes", desk.operator, 201,
                         {"claimant_org_id": make_party("buyer").org_id, "reason": "权属争议"}).json
    desk.call("POST", f"/resources/{resource_id}/disputes/{dispute['id']}/resolution",
              desk.operator, 200, {"outcome": "dismissed", "resolution": "证据充分"})
    desk.call("POST", f"/rights/{holding_id}/status-changes", estate.a, 200,
              {"status": "revoked", "reason": "主动注销"})

    events = desk.listed(f"/rights/{holding_id}/history", estate.a)
    assert [(e["action"], e["from_status"], e["to_status"]) for e in events] == [
        ("submitted", None, "submitted"),
        ("review_claimed", "submitted", "under_review"),
        ("registered", "under_review", "registered"),
        ("suspended", "registered", "suspended"),
        ("restored", "suspended", "registered"),
        ("revoked", "registered", "revoked"),
    ]
    assert all(e["right_id"] == holding_id for e in events)
    assert [e["snapshot"]["status"] for e in events] == [e["to_status"] for e in events]
    assert events[0]["actor_org_id"] == estate.a.org_id
    assert events[1]["actor_org_id"] == desk.operator.org_id
    assert events[-1]["reason"] == "主动注销"
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)

    downstream = desk.listed(f"/rights/{estate.product['id']}/history", estate.b)
    assert [e["action"] for e in downstream] == [
        "submitted", "review_claimed", "registered", "suspended", "restored", "suspended"]


def test_history_pages_keep_the_order(desk: Desk, estate: Chain) -> None:
    url = f"{API}/rights/{estate.holding['id']}/history"
    first = desk.client.get(url, query_string={"limit": 2}, headers=estate.a.headers)
    assert first.status_code == 200
    second = desk.client.get(url, query_string={"limit": 2, "cursor": first.json["next_cursor"]},
                             headers=estate.a.headers)
    assert second.status_code == 200
    assert [e["action"] for e in first.json["items"] + second.json["items"]] == [
        "submitted", "review_claimed", "registered"]


# -- idempotent retries ----------------------------------------------------------------


def test_resource_registration_replays_with_the_same_idempotency_key(
    desk: Desk, make_party: Callable[..., Party]
) -> None:
    a = make_party("merchant")
    key = {"Idempotency-Key": "resource-1"}
    first = desk.call("POST", "/resources", a, 201, resource_body(), headers=key)
    head = desk.written()["head_seq"]
    again = desk.call("POST", "/resources", a, 201, resource_body(), headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert desk.written()["head_seq"] == head
    assert [r["id"] for r in desk.listed("/resources", a)] == [first.json["id"]]

    other = desk.call("POST", "/resources", a, 422, resource_body(title="另一份数据"),
                      headers=key)
    assert problem(other)["code"] == "idempotency_key_reused"


def test_right_submission_replays_with_the_same_idempotency_key(
    desk: Desk, make_party: Callable[..., Party]
) -> None:
    a = make_party("merchant")
    body = holding_body(desk.resource(a)["id"])
    key = {"Idempotency-Key": "right-1"}
    first = desk.call("POST", "/rights", a, 201, body, headers=key)
    # The same body with its keys in another order is the same request.
    reordered = json.loads(json.dumps(dict(reversed(list(body.items())))))
    again = desk.call("POST", "/rights", a, 201, reordered, headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert [r["id"] for r in desk.listed("/rights", a)] == [first.json["id"]]


def test_a_refused_submission_does_not_use_up_its_idempotency_key(
    desk: Desk, make_party: Callable[..., Party]
) -> None:
    a = make_party("merchant")
    core = desk.resource(a, classification="core")
    key = {"Idempotency-Key": "right-2"}
    refused = desk.call("POST", "/rights", a, 422, holding_body(core["id"]), headers=key)
    assert violation_codes(refused) == {"core_data"}
    assert "Idempotent-Replayed" not in refused.headers
    fine = desk.resource(a)
    created = desk.call("POST", "/rights", a, 201, holding_body(fine["id"]), headers=key)
    assert created.json["status"] == "submitted"
