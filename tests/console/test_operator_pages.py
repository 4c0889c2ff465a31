"""The operator's console pages: the review queue (claim, then list, return or reject with a
reason), admissions and disputes, in the authorization matrix and working through their
forms, with the effect of each form checked through the API.

The objects are built through the services (``rights_fixtures``, ``trading_fixtures``) in
the transaction the application uses; everything the operator does goes through the
console's forms.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from market.listing.domain import DevelopmentLevel
from market.participants.domain import random_credit_code
from market.rights.domain import RightKind
from market.trading import services as trading
from tests.api.test_listing_api import DECLARATION
from tests.api.test_smoke import ADMISSION
from tests.conftest import Party
from tests.console.conftest import csrf_of
from tests.integration.rights_fixtures import (  # noqa: F401
    HOLDING_TERM,
    WIDE,
    Chain,
    RightsWorld,
    rights_fixture,
    signer_fixture,
)
from tests.integration.trading_fixtures import Market, market_fixture  # noqa: F401
from tests.papers import application_papers

API = "/api/v1"
LOGIN = 302
ROLES = ("merchant", "buyer", "operator", "regulator", "assessor", "broker")
NOT_OPERATOR = {role: 403 for role in ROLES if role != "operator"}
# The operator asking about an object that does not exist: the API's 404, as a page.
UNKNOWN = "operator, unknown object"


def row(operator: int, *, scoped: bool = True) -> dict[str, int]:
    return {"anonymous": LOGIN, **NOT_OPERATOR, "operator": operator,
            **({UNKNOWN: 404} if scoped else {})}


MATRIX = {
    ("GET", "/console/operator"): row(200, scoped=False),
    ("GET", "/console/operator/reviews/<product_id>"): row(200),
    ("POST", "/console/operator/reviews/<product_id>/claim"): row(303),
    ("POST", "/console/operator/reviews/<product_id>/decision"): row(303),
    ("GET", "/console/operator/rights/<right_id>"): row(200),
    ("POST", "/console/operator/rights/<right_id>/claim"): row(303),
    ("POST", "/console/operator/rights/<right_id>/decision"): row(303),
    ("GET", "/console/operator/admissions"): row(200, scoped=False),
    ("GET", "/console/operator/admissions/<org_id>"): row(200),
    ("POST", "/console/operator/admissions/<org_id>/decision"): row(303),
    ("POST", "/console/operator/admissions/<org_id>/documents/<document_id>/review"): row(303),
    ("GET", "/console/operator/disputes"): row(200, scoped=False),
    ("GET", "/console/operator/disputes/<dispute_id>"): row(200),
    ("POST", "/console/operator/disputes/<dispute_id>/decision"): row(303),
}


# -- the scene: objects for the operator to work on -------------------------------------


@dataclass
class Scene:
    client: FlaskClient
    market: Market

    @property
    def rights(self) -> RightsWorld:
        return self.market.rights

    @property
    def operator(self) -> Party:
        return self.rights.operator

    def api(self, method: str, path: str, party: Party | None = None, expect: int = 200,
            **kwargs: Any) -> Any:
        headers = {**(party.headers if party is not None else {}), **kwargs.pop("headers", {})}
        response = self.client.open(f"{API}{path}", method=method, headers=headers, **kwargs)
        assert response.status_code == expect, response.get_data(as_text=True)[:800]
        return response.get_json()

    def submitted(self) -> Chain:
        """A product drafted under its product operation right and submitted for review."""
        chain = self.rights.chain()
        self.market.shop.draft(chain)
        self.market.shop.submit(chain, DECLARATION)
        return chain

    def in_review(self) -> Chain:
        chain = self.submitted()
        self.market.shop.claim(chain.product_id)
        return chain

    def right(self, *, claimed: bool = False) -> str:
        holder = self.rights.party("holder")
        right = self.rights.submit(holder, RightKind.RESOURCE_HOLDING, scope=WIDE,
                                   term=HOLDING_TERM,
                                   resource_id=self.rights.resource(holder).id)
        if claimed:
            self.rights.claim(right.id)
        return right.id

    def applicant(self) -> tuple[str, dict[str, str]]:
        """An organisation that applied with its documents; its id and its key's headers."""
        code = random_credit_code()
        created = self.api("POST", "/participants", expect=201, json={
            "name": "申请方数据科技有限公司", "credit_code": code, "contact_name": "张三",
            "contact_email": f"apply-{code.lower()}@example.cn", "roles": ["merchant"],
            **application_papers()})
        token = created["api_key"]["token"]
        return created["organisation"]["id"], {"Authorization": f"Bearer {token}"}

    def documents(self, org_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/organisations/{org_id}/documents",
                             self.operator)["items"])

    def dispute(self) -> str:
        """A dispute over a delivered order, answered by the merchant: ready to decide."""
        chain = self.market.listed()
        order = self.market.place(chain)
        self.market.pay(order)
        self.market.deliver_file(order)
        buyer = self.market.party_of(order.buyer_org_id)
        dispute = trading.open_dispute(order.id, "交付的文件缺少九月数据", [],
                                       policy=self.market.policy, uow=self.market.uow(buyer))
        trading.answer_dispute(dispute.id, "九月数据已于补充交付中提供", [],
                               uow=self.market.uow(chain.grantee))
        return dispute.id


@pytest.fixture
def scene(client: FlaskClient, market: Market) -> Scene:
    return Scene(client, market)


@pytest.fixture
def operator_console(scene: Scene, login: Callable[[Party], FlaskClient]) -> FlaskClient:
    return login(scene.operator)


def form(client: FlaskClient, page: str, **fields: Any) -> dict[str, Any]:
    """The fields of a form on ``page`` as the browser would send them: its CSRF token and
    an Idempotency-Key, with ``fields``."""
    html = client.get(page).text
    return {"csrf_token": csrf_of(html), "idempotency_key": str(uuid.uuid4()), **fields}


# -- the matrix -------------------------------------------------------------------------

REASON = {"reason": "材料齐全，权属清晰"}


def _operator_request(scene: Scene, rule: str, method: str, known: bool
                      ) -> tuple[str, dict[str, Any]]:
    """The path and form of ``method rule`` on an object the operator may act on (or, with
    ``known`` False, on one that does not exist)."""
    if "<product_id>" in rule:
        if not known:
            return rule.replace("<product_id>", "prd_unknown"), {"decision": "list", **REASON}
        chain = scene.in_review() if rule.endswith("/decision") else scene.submitted()
        return rule.replace("<product_id>", chain.product_id), {"decision": "list", **REASON}
    if "<right_id>" in rule:
        right_id = scene.right(claimed=rule.endswith("/decision")) if known else "rgt_unknown"
        return rule.replace("<right_id>", right_id), {"decision": "approve", **REASON}
    if "<org_id>" in rule:
        org_id, _ = scene.applicant()
        if "<document_id>" in rule:
            document = scene.documents(org_id)[0]["id"] if known else "doc_unknown"
            return (rule.replace("<org_id>", org_id).replace("<document_id>", document),
                    {"decision": "verified", "note": "与原件核对一致"})
        return (rule.replace("<org_id>", org_id if known else "org_unknown"),
                {"status": "exited", "reason": "材料不全，不予准入"})
    if "<dispute_id>" in rule:
        dispute_id = scene.dispute() if known else "dsp_unknown"
        return rule.replace("<dispute_id>", dispute_id), {"outcome": "release", **REASON}
    return rule, {}


CALLERS = sorted({caller for expected in MATRIX.values() for caller in expected})


@pytest.mark.parametrize("caller", CALLERS)
def test_operator_pages_answer_each_caller_as_the_matrix_says(
    client: FlaskClient, login: Callable[[Party], FlaskClient], scene: Scene,
    make_party: Callable[..., Party], caller: str,
) -> None:
    """Every route of the matrix for one caller (one application per caller keeps this
    quick); the operator's rows on objects of their own each."""
    if caller in ("operator", UNKNOWN):
        login(scene.operator)
    elif caller != "anonymous":
        login(make_party(caller))
    for (method, rule), answers in sorted(MATRIX.items()):
        if caller not in answers:
            continue
        expected = answers[caller]
        data: dict[str, Any] = {}
        if caller in ("operator", UNKNOWN):
            path, data = _operator_request(scene, rule, method, known=caller == "operator")
        else:
            path = rule.replace("<", "").replace(">", "")  # refused before any API call
        if caller != "anonymous":
            data["csrf_token"] = csrf_of(client.get("/console/", follow_redirects=True).text)
            data["idempotency_key"] = str(uuid.uuid4())
        response = client.open(path, method=method, data=data)
        assert response.status_code == expected, (method, rule, response.text[:1500])
        if expected == LOGIN:
            assert response.headers["Location"].startswith("/console/login"), (method, rule)
        if expected == 404:
            assert 'id="problem-code"' in response.text, (method, rule)


# -- the review queue -------------------------------------------------------------------


def test_the_operator_claims_and_lists_a_product_through_the_forms(
    scene: Scene, operator_console: FlaskClient,
) -> None:
    client, chain = operator_console, scene.submitted()
    queue = client.get("/console/operator")
    assert queue.status_code == 200
    assert "企业用电风险指数" in queue.text
    assert chain.product_id in queue.text
    assert "grantee 公司" in queue.text  # the merchant by name

    page = f"/console/operator/reviews/{chain.product_id}"
    claimed = client.post(f"{page}/claim", data=form(client, "/console/operator"))
    assert (claimed.status_code, claimed.headers["Location"]) == (303, f"{page}?done=claimed")
    review = client.get(claimed.headers["Location"]).text
    assert 'id="decide-form"' in review
    assert "under_review" in review
    assert DECLARATION["statement"] in review  # the seller's declaration
    assert 'id="chain-state">unbroken' in review  # the rights chain, checked now
    assert chain.product.certificate_number in review
    assert 'id="approvals">0 / 1<' in review  # one approval needed, none given yet

    decided = client.post(f"{page}/decision", data=form(
        client, page, decision="list", reason="材料齐全，准予挂牌"))
    assert (decided.status_code, decided.headers["Location"]) == (303, f"{page}?done=decided")
    listed = scene.api("GET", f"/catalog/{chain.product_id}")  # public, no key
    assert listed["version"]["status"] == "listed"
    history = scene.api("GET", f"/products/{chain.product_id}/history", scene.operator)
    assert history["items"][-1]["reason"] == "材料齐全，准予挂牌"
    after = client.get(f"{page}?done=decided").text
    assert 'id="nothing-to-decide"' in after
    assert "材料齐全，准予挂牌" in after


def test_raw_data_waits_for_a_second_reviewer_after_the_operators_approval(
    scene: Scene, operator_console: FlaskClient,
) -> None:
    chain = scene.rights.chain()
    scene.market.shop.draft(chain, development_level=DevelopmentLevel.RAW)
    scene.market.shop.submit(chain, DECLARATION)
    page = f"/console/operator/reviews/{chain.product_id}"
    first = operator_console.get(page).text
    assert "RawDataNeedsCarefulReview" in first
    assert 'id="approvals">0 / 2<' in first
    operator_console.post(f"{page}/claim", data=form(operator_console, page))
    approved = operator_console.post(f"{page}/decision", data=form(
        operator_console, page, decision="list", reason="原始数据，已核对来源"))
    assert approved.status_code == 303
    waiting = operator_console.get(page).text
    assert 'id="approvals">1 / 2<' in waiting
    assert 'id="approved-once"' in waiting  # no claim button for the first reviewer
    assert 'id="claim"' not in waiting
    product = scene.api("GET", f"/products/{chain.product_id}", scene.operator)
    assert (product["latest"]["status"], product["listed"]) == ("submitted", None)


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
    scene: Scene, operator_console: FlaskClient,
) -> None:
    chain = scene.submitted()
    refused = operator_console.post(f"/console/operator/reviews/{chain.product_id}/claim",
                                    data={"idempotency_key": "k-1"})
    assert refused.status_code == 400
    assert "csrf_failed" in refused.text
    forged = operator_console.post(f"/console/operator/reviews/{chain.product_id}/claim",
                                   data={"csrf_token": "0" * 64, "idempotency_key": "k-2"})
    assert forged.status_code == 400
    product = scene.api("GET", f"/products/{chain.product_id}", scene.operator)
    assert product["latest"]["status"] == "submitted"


def test_a_decision_without_a_reason_shows_the_field_error_and_decides_nothing(
    scene: Scene, operator_console: FlaskClient,
) -> None:
    chain = scene.in_review()
    page = f"/console/operator/reviews/{chain.product_id}"
    answer = operator_console.post(f"{page}/decision",
                                   data=form(operator_console, page, decision="reject",
                                             reason=""))
    assert answer.status_code == 422
    assert 'class="field-error"' in answer.text
    assert 'id="decide-form"' in answer.text
    assert '<option value="reject" selected>' in answer.text  # the choice is kept
    product = scene.api("GET", f"/products/{chain.product_id}", scene.operator)
    assert product["latest"]["status"] == "under_review"


def test_the_operator_registers_a_right_through_the_forms(
    scene: Scene, operator_console: FlaskClient,
) -> None:
    right_id = scene.right()
    queue = operator_console.get("/console/operator?kind=rights").text
    assert right_id in queue
    page = f"/console/operator/rights/{right_id}"
    assert operator_console.post(f"{page}/claim", data=form(
        operator_console, page)).status_code == 303
    decided = operator_console.post(f"{page}/decision", data=form(
        operator_console, page, decision="approve", reason="权属清晰"))
    assert decided.status_code == 303
    right = scene.api("GET", f"/rights/{right_id}", scene.operator)
    assert right["status"] == "registered"
    assert right["certificate_number"]
    assert right["certificate_number"] in operator_console.get(page).text


# -- admissions -------------------------------------------------------------------------


def test_the_operator_admits_an_applicant_through_the_forms(
    scene: Scene, operator_console: FlaskClient,
) -> None:
    client = operator_console
    org_id, applicant = scene.applicant()
    listed = client.get("/console/operator/admissions").text
    assert "申请方数据科技有限公司" in listed
    assert org_id in listed
    page = f"/console/operator/admissions/{org_id}"

    # Not yet: its documents are unverified and it has made no commitment.
    early = client.post(f"{page}/decision", data=form(client, page, status="admitted",
                                                      reason="材料齐全"))
    assert early.status_code == 422
    assert 'id="form-problem"' in early.text
    assert scene.api("GET", f"/participants/{org_id}", scene.operator)["status"] == "applied"

    for document in scene.documents(org_id):
        verified = client.post(f"{page}/documents/{document['id']}/review", data=form(
            client, page, decision="verified", note="与原件核对一致"))
        assert (verified.status_code, verified.headers["Location"]) == (
            303, f"{page}?done=document")
    assert {d["status"] for d in scene.documents(org_id)} == {"verified"}
    scene.api("POST", "/declarations/admission", expect=201, json=ADMISSION,
              headers=applicant)

    admitted = client.post(f"{page}/decision", data=form(client, page, status="admitted",
                                                         reason="材料齐全，准予入场"))
    assert admitted.status_code == 303
    org = scene.api("GET", f"/participants/{org_id}", scene.operator)
    assert (org["status"], org["status_reason"]) == ("admitted", "材料齐全，准予入场")
    history = client.get(page).text
    assert "applied → admitted" in history
    assert "材料齐全，准予入场" in history


def test_a_refusal_without_a_reason_shows_the_field_error(
    scene: Scene, operator_console: FlaskClient,
) -> None:
    org_id, _ = scene.applicant()
    page = f"/console/operator/admissions/{org_id}"
    answer = operator_console.post(f"{page}/decision", data=form(
        operator_console, page, status="exited", reason=""))
    assert answer.status_code == 422
    assert 'class="field-error"' in answer.text
    assert scene.api("GET", f"/participants/{org_id}", scene.operator)["status"] == "applied"


# -- disputes ---------------------------------------------------------------------------


def test_the_operator_decides_a_dispute_through_the_form(
    scene: Scene, operator_console: FlaskClient,
) -> None:
    client, dispute_id = operator_console, scene.dispute()
    listed = client.get("/console/operator/disputes?status=answered").text
    assert dispute_id in listed
    assert "交付的文件缺少九月数据" in listed
    page = f"/console/operator/disputes/{dispute_id}"
    shown = client.get(page).text
    assert "九月数据已于补充交付中提供" in shown
    assert "1,000.00 CNY" in shown

    partial = client.post(f"{page}/decision", data=form(
        client, page, outcome="partial_refund", refund_amount="", reason="部分数据缺失"))
    assert partial.status_code == 422
    assert 'class="field-error"' in partial.text
    finer = client.post(f"{page}/decision", data=form(
        client, page, outcome="partial_refund", refund_amount="300.005", reason="部分数据缺失"))
    assert finer.status_code == 422
    assert "Enter an amount in yuan" in finer.text
    decided = client.post(f"{page}/decision", data=form(
        client, page, outcome="partial_refund", refund_amount="300.00",
        reason="九月数据缺失，退还三成"))
    assert (decided.status_code, decided.headers["Location"]) == (303, f"{page}?done=decided")
    dispute = scene.api("GET", f"/disputes/{dispute_id}", scene.operator)
    assert (dispute["status"], dispute["outcome"], dispute["refund_amount"]) == (
        "decided", "partial_refund", 30000)
    assert 'id="nothing-to-decide"' in client.get(page).text


# -- language -----------------------------------------------------------------------------


def test_the_queue_speaks_chinese(scene: Scene, operator_console: FlaskClient) -> None:
    scene.submitted()
    operator_console.get("/console/language/zh")
    page = operator_console.get("/console/operator").text
    assert '<html lang="zh-CN">' in page
    assert "审核队列" in page
    assert "认领" in page
    assert "准入审核" in page
