"""The merchant's console pages: its overview, resources, rights and certificates, products,
sales with their delivery, negotiations and statements, in the authorization matrix and
working through their forms, with the effect of each form checked through the API.

The objects are built through the services (``rights_fixtures``, ``trading_fixtures``) in
the transaction the application uses; everything the merchant does goes through the
console's forms.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from market.kernel.config import Settings
from market.participants.domain import random_credit_code
from market.trading.models import Order
from tests.conftest import Party
from tests.console.conftest import csrf_of
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    RightsWorld,
    rights_fixture,
    signer_fixture,
)
from tests.integration.trading_fixtures import (  # noqa: F401
    COMMITMENT,
    PRICE,
    Market,
    market_fixture,
)

API = "/api/v1"
LOGIN = 302
ROLES = ("merchant", "buyer", "operator", "regulator", "assessor", "broker")
NOT_MERCHANT = {role: 403 for role in ROLES if role != "merchant"}
# Another merchant asking for the merchant's order or negotiation by its id: the API's
# 404, as a page.
FOREIGN = "another merchant, foreign object"


def row(merchant: int, *, scoped: bool = True) -> dict[str, int]:
    return {"anonymous": LOGIN, **NOT_MERCHANT, "merchant": merchant,
            **({FOREIGN: 404} if scoped else {})}


MATRIX = {
    ("GET", "/console/merchant"): row(200, scoped=False),
    ("GET", "/console/merchant/resources"): row(200, scoped=False),
    ("GET", "/console/merchant/rights"): row(200, scoped=False),
    ("GET", "/console/merchant/products"): row(200, scoped=False),
    ("GET", "/console/merchant/orders"): row(200, scoped=False),
    ("GET", "/console/merchant/orders/<order_id>"): row(200),
    ("POST", "/console/merchant/orders/<order_id>/deliveries/file"): row(303),
    # An API delivery shows its credential once: the answer is the page, not a redirect.
    ("POST", "/console/merchant/orders/<order_id>/deliveries"): row(200),
    ("GET", "/console/merchant/negotiations"): row(200, scoped=False),
    ("POST", "/console/merchant/negotiations/<negotiation_id>"): row(303),
    ("GET", "/console/merchant/statements"): row(200, scoped=False),
}
CONTENT = "路段,拥堵指数\nS001,0.82\n".encode()
# Bodies of other requests are kept small here, so that a file delivery larger than them
# shows the delivery form takes files as large as the API does.
MAX_BODY = 16 * 1024


# -- the scene: a merchant's listed product and a paid order on it -------------------------


@dataclass
class Scene:
    client: FlaskClient
    market: Market

    def api(self, method: str, path: str, party: Party | None = None, expect: int = 200,
            **kwargs: Any) -> Any:
        headers = party.headers if party is not None else {}
        response = self.client.open(f"{API}{path}", method=method, headers=headers, **kwargs)
        assert response.status_code == expect, response.get_data(as_text=True)[:800]
        return response.get_json()

    def paid(self, chain: Chain | None = None) -> tuple[Chain, Order]:
        """A listed product of the merchant (the chain's grantee) and an order on it, paid
        and waiting for delivery."""
        chain = chain or self.market.listed(delivery_modes=("file", "api"))
        order = self.market.place(chain)
        self.market.pay(order)
        return chain, order

    def quote_request(self, chain: Chain) -> str:
        """A buyer asks the merchant for a quote on its product."""
        asked = self.api("POST", "/negotiations", self.market.buyer(), 201, json={
            "product_id": chain.product_id,
            "terms": {"purposes": ["信贷风控"], "scenarios": ["小微企业授信"]}})
        return str(asked["id"])


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_changes(max_body_bytes=MAX_BODY)


@pytest.fixture
def scene(client: FlaskClient, market: Market) -> Scene:
    return Scene(client, market)


def form(client: FlaskClient, page: str, **fields: Any) -> dict[str, Any]:
    """The fields of a form on ``page`` as the browser would send them: its CSRF token and
    an Idempotency-Key, with ``fields``."""
    html = client.get(page).text
    return {"csrf_token": csrf_of(html), "idempotency_key": random_credit_code(), **fields}


def upload(content: bytes = CONTENT, name: str = "拥堵指数.csv") -> tuple[Any, str, str]:
    return (io.BytesIO(content), name, "text/csv")


# -- the matrix -------------------------------------------------------------------------


def _merchant_request(scene: Scene, rule: str) -> tuple[str, dict[str, Any], Party, str]:
    """The path and form of ``rule`` on an object of a merchant, that merchant, and a text
    of the object a page must not show anyone else."""
    if "<order_id>" in rule:
        chain, order = scene.paid()
        fields: dict[str, Any] = {}
        if rule.endswith("/file"):
            fields = {"file": upload(), "note": "十月数据"}
        elif rule.endswith("/deliveries"):
            fields = {"endpoint": "https://api.example.cn/v1", "note": "接口交付"}
        return rule.replace("<order_id>", order.id), fields, chain.grantee, order.buyer_org_id
    if "<negotiation_id>" in rule:
        chain = scene.market.listed()
        negotiation = scene.quote_request(chain)
        return (rule.replace("<negotiation_id>", negotiation),
                {"move": "decline", "reason": "暂不接受定制报价"}, chain.grantee,
                scene.market.buyer().org_id)
    return rule, {}, scene.market.rights.party("grantee"), "—"


def _signed_out(client: FlaskClient) -> None:
    for name in ("market_console", "market_console_login"):
        client.delete_cookie(name, path="/console")


@pytest.mark.parametrize("route", sorted(MATRIX), ids=" ".join)
def test_merchant_pages_answer_each_caller_as_the_matrix_says(
    client: FlaskClient, login: Callable[[Party], FlaskClient], scene: Scene,
    make_party: Callable[..., Party], route: tuple[str, str],
) -> None:
    """Each caller of the route in turn (one application for the route's callers)."""
    method, rule = route
    for caller, expected in MATRIX[route].items():
        _signed_out(client)
        data: dict[str, Any] = {}
        secret = None
        if caller in ("merchant", FOREIGN):
            path, data, owner, secret = _merchant_request(scene, rule)
            login(owner if caller == "merchant" else make_party("merchant"))
        else:
            path = rule.replace("<", "").replace(">", "")  # never reaches the API
            if caller != "anonymous":
                login(make_party(caller))
        if caller != "anonymous":
            data["csrf_token"] = csrf_of(client.get("/console/", follow_redirects=True).text)
            data["idempotency_key"] = random_credit_code()
        response = client.open(path, method=method, data=data)
        assert response.status_code == expected, (caller, response.text[:1500])
        if expected == LOGIN:
            assert response.headers["Location"].startswith("/console/login"), caller
        if expected == 404:
            assert 'id="problem-code"' in response.text, caller
            assert secret is not None
            assert secret not in response.text


# -- pages show the merchant's records --------------------------------------------------


def test_the_pages_show_the_merchants_own_records(
    scene: Scene, login: Callable[[Party], FlaskClient],
) -> None:
    chain, order = scene.paid()
    client = login(chain.grantee)
    home = client.get("/console/merchant")
    assert home.status_code == 200
    assert 'id="figure-to-deliver"><a href="/console/merchant/orders?status=paid"><strong>1<' \
        in home.text
    assert order.id in home.text
    assert "1,000.00 CNY" in home.text

    rights = client.get("/console/merchant/rights").text
    for right in (chain.use, chain.product):
        assert right.certificate_number
        assert right.certificate_number in rights
        assert f"/api/v1/certificates/{right.certificate_number}/verification" in rights
    assert chain.holding.certificate_number
    assert chain.holding.certificate_number not in rights  # the holder's, not this merchant's

    products = client.get("/console/merchant/products").text
    assert f'id="product-{chain.product_id}"' in products
    assert "listed" in products
    assert "标准版" in products
    assert "1,000.00 CNY" in products

    orders = client.get("/console/merchant/orders").text
    assert f'id="row-{order.id}"' in orders
    assert "paid" in orders
    filtered = client.get("/console/merchant/orders?status=settled").text
    assert 'id="orders-empty"' in filtered

    page = client.get(f"/console/merchant/orders/{order.id}").text
    contract = scene.api("GET", f"/orders/{order.id}/contract", chain.grantee)
    assert contract["sha256"] in page
    assert COMMITMENT["purpose"] in page  # the buyer's purchase commitment
    assert 'id="deliver-file"' in page
    assert 'id="deliver-api"' in page
    assert "accepted_for_payment" in page  # its history

    # the resource is its holder's (another merchant of the chain)
    _signed_out(client)
    holder_page = login(chain.holder).get("/console/merchant/resources").text
    assert chain.resource.title in holder_page
    assert chain.resource.id in holder_page


# -- delivering -------------------------------------------------------------------------


def test_delivering_a_file_through_the_form_delivers_the_order(
    scene: Scene, login: Callable[[Party], FlaskClient],
) -> None:
    chain, order = scene.paid()
    client = login(chain.grantee)
    page = f"/console/merchant/orders/{order.id}"
    sent = client.post(f"{page}/deliveries/file", content_type="multipart/form-data",
                       data=form(client, page, file=upload(), note="十月数据"))
    assert (sent.status_code, sent.headers["Location"]) == (303, f"{page}?done=delivered")
    seen = scene.api("GET", f"/orders/{order.id}", chain.grantee)
    assert seen["status"] == "delivered"
    (delivery,) = seen["deliveries"]
    assert (delivery["mode"], delivery["file_name"], delivery["sha256"], delivery["note"]) == (
        "file", "拥堵指数.csv", hashlib.sha256(CONTENT).hexdigest(), "十月数据")
    after = client.get(sent.headers["Location"]).text
    assert 'role="status"' in after
    assert 'id="deliver-file"' not in after
    assert hashlib.sha256(CONTENT).hexdigest()[:20] in after


def test_a_file_larger_than_other_requests_may_be_is_delivered(
    scene: Scene, login: Callable[[Party], FlaskClient],
) -> None:
    chain, order = scene.paid()
    client = login(chain.grantee)
    page = f"/console/merchant/orders/{order.id}"
    large = b"segment,index\n" + b"S0001,0.5\n" * (4 * MAX_BODY // 10)
    sent = client.post(f"{page}/deliveries/file", content_type="multipart/form-data",
                       data=form(client, page, file=upload(large, "large.csv")))
    assert sent.status_code == 303, sent.text[:800]
    (delivery,) = scene.api("GET", f"/orders/{order.id}", chain.grantee)["deliveries"]
    assert (delivery["size"], delivery["sha256"]) == (len(large),
                                                      hashlib.sha256(large).hexdigest())
    too_large = client.post("/console/merchant/negotiations/neg_x", data=form(
        client, page, move="decline", reason="x" * (2 * MAX_BODY)))
    assert too_large.status_code == 413  # any other form keeps the usual limit


def test_an_api_delivery_shows_its_credential_once(
    scene: Scene, login: Callable[[Party], FlaskClient],
) -> None:
    chain, order = scene.paid()
    client = login(chain.grantee)
    page = f"/console/merchant/orders/{order.id}"
    sent = client.post(f"{page}/deliveries", data=form(
        client, page, endpoint="https://api.example.cn/v1"))
    assert sent.status_code == 200
    assert 'id="credential"' in sent.text
    credential = sent.text.split('id="credential"', 1)[1].split("<code>", 1)[1].split("<")[0]
    checked = scene.api("POST", "/api-credentials/verification", chain.grantee,
                        json={"credential": credential.strip()})
    assert (checked["valid"], checked["order_id"]) == (True, order.id)
    assert 'id="credential"' not in client.get(page).text  # shown once
    assert scene.api("GET", f"/orders/{order.id}", chain.grantee)["status"] == "delivered"


def test_a_delivery_without_a_file_shows_the_apis_field_error(
    scene: Scene, login: Callable[[Party], FlaskClient],
) -> None:
    chain, order = scene.paid()
    client = login(chain.grantee)
    page = f"/console/merchant/orders/{order.id}"
    refused = client.post(f"{page}/deliveries/file", content_type="multipart/form-data",
                          data=form(client, page, note="漏了文件"))
    assert refused.status_code == 422
    assert 'class="field-error"' in refused.text
    assert 'id="deliver-file"' in refused.text
    bad_endpoint = client.post(f"{page}/deliveries", data=form(
        client, page, endpoint="http://plain.example.cn"))
    assert bad_endpoint.status_code == 422
    assert 'class="field-error"' in bad_endpoint.text
    assert scene.api("GET", f"/orders/{order.id}", chain.grantee)["status"] == "paid"


def test_a_post_without_its_csrf_token_is_refused_and_delivers_nothing(
    scene: Scene, login: Callable[[Party], FlaskClient],
) -> None:
    chain, order = scene.paid()
    client = login(chain.grantee)
    path = f"/console/merchant/orders/{order.id}/deliveries/file"
    refused = client.post(path, content_type="multipart/form-data",
                          data={"idempotency_key": "k-1", "file": upload()})
    assert refused.status_code == 400
    assert "csrf_failed" in refused.text
    forged = client.post(path, content_type="multipart/form-data", data={
        "csrf_token": "0" * 64, "idempotency_key": "k-2", "file": upload()})
    assert forged.status_code == 400
    seen = scene.api("GET", f"/orders/{order.id}", chain.grantee)
    assert (seen["status"], seen["deliveries"]) == ("paid", [])


# -- negotiations and statements -----------------------------------------------------------


def test_the_merchant_offers_on_a_quote_request_through_the_form(
    scene: Scene, login: Callable[[Party], FlaskClient],
) -> None:
    chain = scene.market.listed()
    negotiation = scene.quote_request(chain)
    client = login(chain.grantee)
    listed = client.get("/console/merchant/negotiations").text
    assert f'id="negotiation-{negotiation}"' in listed
    assert "requested" in listed
    bad = client.post(f"/console/merchant/negotiations/{negotiation}", data=form(
        client, "/console/merchant/negotiations", move="offer", amount="-5"))
    assert bad.status_code == 422
    assert 'class="field-error"' in bad.text
    sent = client.post(f"/console/merchant/negotiations/{negotiation}", data=form(
        client, "/console/merchant/negotiations", move="offer", amount="950.50",
        term_days="180", currency="CNY"))
    assert (sent.status_code, sent.headers["Location"]) == (
        303, "/console/merchant/negotiations?done=offer")
    seen = scene.api("GET", f"/negotiations/{negotiation}", chain.grantee)
    assert (seen["status"], seen["terms"]["amount"], seen["terms"]["term_days"]) == (
        "offered", 95_050, 180)
    assert "950.50 CNY" in client.get(sent.headers["Location"]).text


def test_the_statement_shows_the_merchants_share_of_a_sale(
    scene: Scene, login: Callable[[Party], FlaskClient],
) -> None:
    chain = scene.market.listed()
    order = scene.market.trade(chain)
    client = login(chain.grantee)
    page = client.get("/console/merchant/statements")
    assert page.status_code == 200
    accounts = scene.api("GET", "/ledger/accounts", chain.grantee)["items"]
    payable = next(a for a in accounts if a["kind"] == "payable")
    assert f'id="account-{payable["id"]}"' in page.text
    assert order.id[:18] in page.text  # the sale's posting links to its order
    assert 'id="closing-balance"' in page.text
    bad = client.get("/console/merchant/statements?from=yesterday")
    assert bad.status_code == 422
    assert 'class="field-error"' in bad.text


def test_a_page_in_chinese(scene: Scene, login: Callable[[Party], FlaskClient]) -> None:
    chain, order = scene.paid()
    client = login(chain.grantee)
    client.get("/console/language/zh")
    page = client.get(f"/console/merchant/orders/{order.id}")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "买方的购买承诺" in page.text
    assert "交付文件" in page.text
    home = client.get("/console/merchant").text
    assert "待交付订单" in home
