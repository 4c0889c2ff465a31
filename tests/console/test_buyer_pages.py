"""The buyer's console pages: who may open each (the matrix, with own and foreign objects),
and that they show the buyer's real records and their forms act through the API: search in
Chinese with facets, order with the purchase commitment (once per form, however often it is
sent), pay, download, accept by fingerprint, dispute, post a demand and read its explained
matches, counter and agree, and read the statement. A form without its CSRF token is
refused and does nothing; a form the API refuses with 422 comes back with its field errors.

The world is built once for the module (``buyer_world``); each test runs in a savepoint
rolled back after it, so every test finds the world as it was built.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.kernel.clock import FixedClock
from market.kernel.config import Settings
from tests.conftest import START, TEST_SECRET, TEST_SIGNING_KEY, Party
from tests.console.buyer_world import CONTENT, SAMPLE, TITLE, BuyerWorld, build
from tests.console.conftest import csrf_of

LOGIN = 302
ROLES = ("merchant", "buyer", "operator", "regulator", "assessor", "broker")
FOREIGN = "buyer:foreign"  # the buyer, on another buyer's object (or one not listed)


def _row(buyer: int, foreign: int | None = None) -> dict[str, int]:
    cells = {"anonymous": LOGIN, **{role: 403 for role in ROLES if role != "buyer"},
             "buyer": buyer}
    if foreign is not None:
        cells[FOREIGN] = foreign
    return cells


MATRIX = {
    ("GET", "/console/buyer"): _row(200),
    ("GET", "/console/buyer/products/<product_id>"): _row(200, 404),
    ("POST", "/console/buyer/products/<product_id>/orders"): _row(303, 404),
    ("POST", "/console/buyer/products/<product_id>/quotes"): _row(303, 404),
    ("GET", "/console/buyer/products/<product_id>/sample"): _row(200, 404),
    ("GET", "/console/buyer/orders"): _row(200),
    ("GET", "/console/buyer/orders/<order_id>"): _row(200, 404),
    ("POST", "/console/buyer/orders/<order_id>/payment"): _row(303, 404),
    ("POST", "/console/buyer/orders/<order_id>/cancellation"): _row(303, 404),
    ("POST", "/console/buyer/orders/<order_id>/acceptance"): _row(303, 404),
    ("POST", "/console/buyer/orders/<order_id>/disputes"): _row(303, 404),
    ("POST", "/console/buyer/orders/<order_id>/download"): _row(303, 404),
    # A download link is its own credential; the buyer's page streams it (the foreign
    # cell: a link nobody was given).
    ("GET", "/console/buyer/downloads/<token>"): _row(200, 403),
    ("GET", "/console/buyer/demands"): _row(200),
    ("POST", "/console/buyer/demands"): _row(303),
    ("GET", "/console/buyer/demands/<demand_id>"): _row(200, 404),
    ("GET", "/console/buyer/negotiations"): _row(200),
    ("GET", "/console/buyer/negotiations/<negotiation_id>"): _row(200, 404),
    ("POST", "/console/buyer/negotiations/<negotiation_id>/counters"): _row(303, 404),
    ("POST", "/console/buyer/negotiations/<negotiation_id>/agreement"): _row(303, 404),
    ("GET", "/console/buyer/statements"): _row(200),
}


# -- one world for the module, a savepoint for each test ------------------------------------


@pytest.fixture(scope="module")
def session_factory(module_session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    return module_session_factory


@pytest.fixture(scope="module")
def app(session_factory: sessionmaker[Session], database_url: str,
        tmp_path_factory: pytest.TempPathFactory) -> Flask:
    settings = Settings(instance_path=tmp_path_factory.mktemp("buyer-console"),
                        database_url=database_url, secret_key=TEST_SECRET,
                        signing_key=TEST_SIGNING_KEY, testing=True, check_schema=False)
    return create_app(settings, session_factory=session_factory, clock=FixedClock(START))


@pytest.fixture(scope="module")
def world(app: Flask, session_factory: sessionmaker[Session]) -> BuyerWorld:
    return build(app, session_factory)


@pytest.fixture(autouse=True)
def _savepoint(world: BuyerWorld, module_connection: Connection) -> Iterator[None]:
    savepoint = module_connection.begin_nested()
    yield
    if savepoint.is_active:
        savepoint.rollback()


def sign_in(client: FlaskClient, party: Party) -> str:
    """Log ``party`` in to the console; the CSRF token of its session."""
    page = client.get("/console/login")
    response = client.post("/console/login", data={
        "api_key": party.token, "csrf_token": csrf_of(page.text), "next": ""})
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/console/buyer/statements" if "buyer" in party.roles
                              else "/console/", follow_redirects=True).text)


def api(client: FlaskClient, party: Party, path: str, **query: Any) -> Any:
    response = client.get(f"/api/v1{path}", headers=party.headers, query_string=query)
    assert response.status_code == 200, response.text
    return response.json


def _problem_of(html: str) -> str:
    """The part of a page that says what went wrong, for a failing assertion."""
    found = re.search(r'role="alert".{0,600}|<section class="error-page">.{0,600}', html,
                      re.S)
    return found.group(0) if found else html[:600]


# -- the matrix -----------------------------------------------------------------------------


def _object(rule: str, method: str, side: Any, world: BuyerWorld, foreign: bool) -> str:
    if "<product_id>" in rule:
        return rule.replace("<product_id>", world.unlisted_id if foreign else world.product_id)
    if "<order_id>" in rule:
        unpaid = rule.endswith(("/payment", "/cancellation"))
        return rule.replace("<order_id>", side.unpaid_order if unpaid else side.delivered_order)
    if "<token>" in rule:
        return rule.replace("<token>", "dl_" + uuid.uuid4().hex if foreign else side.token)
    if "<demand_id>" in rule:
        return rule.replace("<demand_id>", side.demand)
    if "<negotiation_id>" in rule:
        return rule.replace("<negotiation_id>", side.negotiation)
    return rule


def form_for(rule: str, world: BuyerWorld) -> dict[str, Any]:
    """A form the buyer's page would send, good for the world's own objects."""
    if rule.endswith("/orders") and "products" in rule:
        return {"offer_id": world.offer_id, "purpose": "小微企业授信审批",
                "purposes": "信贷风控", "scenarios": "小微企业授信",
                "security_measures": "加密存储", "no_onward_transfer": "yes",
                "no_reidentification": "yes", "cross_border": "no"}
    if rule.endswith("/quotes"):
        return {"amount": "800", "quote_purposes": "信贷风控", "quote_scenarios": "小微企业授信"}
    if rule.endswith("/acceptance"):
        return {"sha256": world.sha256, "needs_sha256": "yes"}
    if rule.endswith(("/disputes", "/cancellation")):
        return {"reason": "数据与说明不符"}
    if rule == "/console/buyer/demands":
        return {"title": "用电数据", "description": "按月用电指数", "sector": "finance",
                "purpose": "授信", "purposes": "信贷风控", "scenarios": "小微企业授信",
                "deadline": "2026-12-31", "cross_border": "no"}
    if rule.endswith("/counters"):
        return {"amount": "850"}
    return {}


@pytest.mark.parametrize(("route", "caller"), [
    pytest.param(route, caller, id=f"{route[0]} {route[1]} {caller}")
    for route in sorted(MATRIX) for caller in MATRIX[route]])
def test_buyer_pages_answer_each_caller_as_the_matrix_says(
    client: FlaskClient, world: BuyerWorld, route: tuple[str, str], caller: str,
) -> None:
    method, rule = route
    foreign = caller == FOREIGN
    side = world.foreign if foreign else world.own
    data: dict[str, Any] = {}
    if caller != "anonymous":
        token = sign_in(client, world.parties["buyer" if foreign else caller])
        data = {**form_for(rule, world), "csrf_token": token,
                "idempotency_key": str(uuid.uuid4())}
    response = client.open(_object(rule, method, side, world, foreign), method=method,
                           data=data, buffered=True)
    expected = MATRIX[route][caller]
    assert response.status_code == expected, _problem_of(response.text)
    if expected == LOGIN:
        assert response.headers["Location"].startswith("/console/login")
    elif expected == 403:
        code = "download_not_allowed" if foreign else "console_role_not_allowed"
        assert f'id="problem-code">{code}<' in response.text
    elif expected == 404:
        assert re.search(r'id="problem-code">[a-z_]*not_found<', response.text), \
            response.text[:800]


# -- what the pages show and do -------------------------------------------------------------


def test_the_catalogue_finds_a_product_by_chinese_words_and_narrows_by_facets(
    client: FlaskClient, world: BuyerWorld,
) -> None:
    sign_in(client, world.own.party)
    page = client.get("/console/buyer", query_string={"q": "用电"})
    assert page.status_code == 200
    assert TITLE in page.text
    assert "1,000.00 CNY" in page.text
    assert f"/console/buyer/products/{world.product_id}" in page.text
    facet = re.search(r'href="([^"]*sector=finance[^"]*)"[^>]*data-facet="finance"', page.text)
    assert facet, page.text
    narrowed = client.get(facet.group(1).replace("&amp;", "&"))
    assert narrowed.status_code == 200
    assert TITLE in narrowed.text
    assert 'id="active-filters"' in narrowed.text
    elsewhere = client.get("/console/buyer", query_string={"q": "用电", "sector": "transport"})
    assert TITLE not in elsewhere.text
    assert 'id="no-results"' in elsewhere.text
    cheap = client.get("/console/buyer", query_string={"max_price": "999.99"})
    assert TITLE not in cheap.text
    wrong = client.get("/console/buyer", query_string={"max_price": "ten yuan"})
    assert wrong.status_code == 422
    assert 'class="field-error"' in wrong.text


def test_the_product_page_shows_offers_terms_rights_chain_and_sample(
    client: FlaskClient, world: BuyerWorld,
) -> None:
    sign_in(client, world.own.party)
    page = client.get(f"/console/buyer/products/{world.product_id}")
    assert page.status_code == 200
    for shown in (TITLE, "标准版", "1,000.00 CNY", "信贷风控", "小微企业授信", "DR-",
                  'id="order-form"', 'name="idempotency_key"'):
        assert shown in page.text, shown
    assert "Unbroken and in term" in page.text
    sample = client.get(f"/console/buyer/products/{world.product_id}/sample", buffered=True)
    assert sample.status_code == 200
    assert sample.data == SAMPLE


def _orders_of(client: FlaskClient, party: Party) -> list[str]:
    return [o["id"] for o in api(client, party, "/orders", role="buyer", limit=100)["items"]]


def test_the_order_form_sent_twice_with_one_key_places_one_order(
    client: FlaskClient, world: BuyerWorld,
) -> None:
    token = sign_in(client, world.own.party)
    before = _orders_of(client, world.own.party)
    form = {**form_for("/products/x/orders", world), "csrf_token": token,
            "idempotency_key": str(uuid.uuid4())}
    path = f"/console/buyer/products/{world.product_id}/orders"
    first, again = client.post(path, data=form), client.post(path, data=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    after = _orders_of(client, world.own.party)
    assert len(after) == len(before) + 1
    placed = (set(after) - set(before)).pop()
    assert first.headers["Location"].startswith(f"/console/buyer/orders/{placed}")
    page = client.get(first.headers["Location"])
    assert "Your order is placed." in page.text
    assert 'id="pay"' in page.text


def test_a_form_without_its_csrf_token_is_refused_and_places_nothing(
    client: FlaskClient, world: BuyerWorld,
) -> None:
    sign_in(client, world.own.party)
    before = _orders_of(client, world.own.party)
    response = client.post(f"/console/buyer/products/{world.product_id}/orders",
                           data={**form_for("/products/x/orders", world),
                                 "idempotency_key": str(uuid.uuid4())})
    assert response.status_code == 400
    assert 'id="problem-code">csrf_failed<' in response.text
    assert _orders_of(client, world.own.party) == before
    paid = client.post(f"/console/buyer/orders/{world.own.unpaid_order}/payment",
                       data={"csrf_token": "forged", "idempotency_key": str(uuid.uuid4())})
    assert paid.status_code == 400
    order = api(client, world.own.party, f"/orders/{world.own.unpaid_order}")
    assert order["status"] == "awaiting_payment"


def test_a_refused_order_form_comes_back_with_its_field_errors(
    client: FlaskClient, world: BuyerWorld,
) -> None:
    token = sign_in(client, world.own.party)
    before = _orders_of(client, world.own.party)
    response = client.post(f"/console/buyer/products/{world.product_id}/orders", data={
        "offer_id": world.offer_id, "purpose": "", "security_measures": "加密存储",
        "csrf_token": token, "idempotency_key": str(uuid.uuid4())})
    assert response.status_code == 422
    assert 'data-field="commitment.purpose"' in response.text
    assert 'data-field="commitment.purposes"' in response.text
    assert ">加密存储</textarea>" in response.text  # what was typed stays
    assert _orders_of(client, world.own.party) == before


def test_the_buyer_pays_downloads_and_accepts_by_the_files_fingerprint(
    client: FlaskClient, world: BuyerWorld,
) -> None:
    token = sign_in(client, world.own.party)
    own = world.own

    def send(path: str, **form: str) -> Any:
        return client.post(path, data={**form, "csrf_token": token,
                                       "idempotency_key": str(uuid.uuid4())})

    paid = send(f"/console/buyer/orders/{own.unpaid_order}/payment")
    assert paid.status_code == 303
    assert api(client, own.party, f"/orders/{own.unpaid_order}")["status"] == "paid"
    balance = client.get("/console/buyer/statements")
    assert "8,000.00 CNY" in balance.text  # 10,000 less two orders of 1,000 each

    link = send(f"/console/buyer/orders/{own.delivered_order}/download")
    assert link.status_code == 303
    assert link.headers["Location"].startswith("/console/buyer/downloads/")
    download = client.get(link.headers["Location"], buffered=True)
    assert download.status_code == 200
    assert download.data == CONTENT
    assert download.headers["X-Content-SHA256"] == world.sha256

    wrong = send(f"/console/buyer/orders/{own.delivered_order}/acceptance",
                 sha256="0" * 64, needs_sha256="yes")
    assert wrong.status_code == 422
    assert 'id="accept-problem"' in wrong.text
    missing = send(f"/console/buyer/orders/{own.delivered_order}/acceptance",
                   needs_sha256="yes")
    assert missing.status_code == 422
    assert 'data-field="sha256"' in missing.text
    accepted = send(f"/console/buyer/orders/{own.delivered_order}/acceptance",
                    sha256=world.sha256, needs_sha256="yes")
    assert accepted.status_code == 303
    page = client.get(accepted.headers["Location"])
    assert 'data-status="settled"' in page.text
    assert world.sha256 in page.text


def test_a_dispute_opened_from_the_order_page_keeps_the_money_in_escrow(
    client: FlaskClient, world: BuyerWorld,
) -> None:
    token = sign_in(client, world.own.party)
    path = f"/console/buyer/orders/{world.own.delivered_order}"
    empty = client.post(path + "/disputes", data={
        "reason": "", "csrf_token": token, "idempotency_key": str(uuid.uuid4())})
    assert empty.status_code == 422
    assert 'data-field="reason"' in empty.text
    opened = client.post(path + "/disputes", data={
        "reason": "文件缺少十月数据", "csrf_token": token,
        "idempotency_key": str(uuid.uuid4())})
    assert opened.status_code == 303
    page = client.get(opened.headers["Location"])
    assert 'data-status="disputed"' in page.text
    assert "文件缺少十月数据" in page.text


def test_a_posted_demand_shows_its_matches_with_explained_scores(
    client: FlaskClient, world: BuyerWorld,
) -> None:
    token = sign_in(client, world.own.party)
    posted = client.post("/console/buyer/demands", data={
        **form_for("/console/buyer/demands", world), "title": "企业用电指数",
        "budget_max": "1500", "csrf_token": token, "idempotency_key": str(uuid.uuid4())})
    assert posted.status_code == 303
    page = client.get(posted.headers["Location"])
    assert TITLE in page.text
    score = re.search(r'data-score="(\d+)"', page.text)
    assert score
    assert int(score.group(1)) > 0
    assert "Within budget" in page.text
    assert 'class="legend"' in page.text
    bad = client.post("/console/buyer/demands", data={
        "title": "", "budget_min": "lots", "csrf_token": token,
        "idempotency_key": str(uuid.uuid4())})
    assert bad.status_code == 422
    assert 'data-field="budget_min"' in bad.text
    refused = client.post("/console/buyer/demands", data={
        "title": "", "sector": "finance", "deadline": "2026-12-31", "csrf_token": token,
        "idempotency_key": str(uuid.uuid4())})
    assert refused.status_code == 422
    assert 'data-field="title"' in refused.text


def test_the_buyer_counters_then_agrees_and_orders_the_private_offer(
    client: FlaskClient, world: BuyerWorld,
) -> None:
    token = sign_in(client, world.own.party)
    path = f"/console/buyer/negotiations/{world.own.negotiation}"
    page = client.get(path)
    assert "900.00 CNY" in page.text
    assert 'id="agree"' in page.text
    agreed = client.post(path + "/agreement", data={
        "csrf_token": token, "idempotency_key": str(uuid.uuid4())})
    assert agreed.status_code == 303
    page = client.get(agreed.headers["Location"])
    assert 'data-status="agreed"' in page.text
    assert 'id="order-agreed"' in page.text
    product = client.get(f"/console/buyer/products/{world.product_id}",
                         query_string={"negotiation": world.own.negotiation})
    offer = re.search(r'name="offer_id" value="([^"]+)" id="offer-1" checked', product.text)
    assert offer, product.text
    placed = client.post(f"/console/buyer/products/{world.product_id}/orders", data={
        **form_for("/products/x/orders", world), "offer_id": offer.group(1),
        "negotiation": world.own.negotiation, "csrf_token": token,
        "idempotency_key": str(uuid.uuid4())})
    assert placed.status_code == 303
    order_id = placed.headers["Location"].split("/")[-1].split("?")[0]
    assert api(client, world.own.party, f"/orders/{order_id}")["amount"] == 90_000


def test_a_counter_sends_the_buyers_terms_and_waits_for_the_merchant(
    client: FlaskClient, world: BuyerWorld,
) -> None:
    token = sign_in(client, world.own.party)
    path = f"/console/buyer/negotiations/{world.own.negotiation}"
    wrong = client.post(path + "/counters", data={
        "amount": "eight hundred", "csrf_token": token, "idempotency_key": str(uuid.uuid4())})
    assert wrong.status_code == 422
    assert 'data-field="terms.amount"' in wrong.text
    sent = client.post(path + "/counters", data={
        "amount": "850", "term_days": "90", "csrf_token": token,
        "idempotency_key": str(uuid.uuid4())})
    assert sent.status_code == 303
    page = client.get(sent.headers["Location"])
    assert 'data-status="countered"' in page.text
    assert "850.00 CNY" in page.text
    assert 'id="agree"' not in page.text  # the merchant's turn now
    assert world.own.negotiation in client.get("/console/buyer/negotiations").text


def test_the_lists_show_only_the_buyers_own_records(
    client: FlaskClient, world: BuyerWorld,
) -> None:
    sign_in(client, world.own.party)
    orders = client.get("/console/buyer/orders").text
    assert world.own.unpaid_order in orders
    assert world.foreign.unpaid_order not in orders
    assert TITLE in orders
    unpaid = client.get("/console/buyer/orders", query_string={"status": "awaiting_payment"})
    assert unpaid.status_code == 200
    assert world.own.unpaid_order in unpaid.text
    assert world.own.delivered_order not in unpaid.text
    demands = client.get("/console/buyer/demands").text
    assert f"/console/buyer/demands/{world.own.demand}" in demands
    assert world.foreign.demand not in demands
    statements = client.get("/console/buyer/statements").text
    assert "9,000.00 CNY" in statements
    assert 'id="statement"' in statements


def test_the_pages_speak_chinese(client: FlaskClient, world: BuyerWorld) -> None:
    sign_in(client, world.own.party)
    client.get("/console/language/zh")
    page = client.get("/console/buyer", query_string={"q": "用电"})
    assert page.status_code == 200
    assert 'lang="zh-CN"' in page.text
    for shown in ("数据目录", "找到 1 个产品", "金融", "退出登录"):
        assert shown in page.text, shown
    product = client.get(f"/console/buyer/products/{world.product_id}")
    assert "下单" in product.text
    assert "购买承诺" in product.text

