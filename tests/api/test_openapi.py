"""The published OpenAPI document: valid, complete, honest about errors and security.

Everything is checked against the running application (its Flask url map and the
``@bp.access`` declarations), so a new endpoint is covered without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate

from market.kernel.web import PROBLEM_JSON, access_of

API = "/api/v1"
PROBES = ("/healthz", "/readyz")
# Public reads that take no input at all: nothing a client sends can make them answer 4xx.
NO_INPUT = (*PROBES, "/api/v1/catalog/statistics",
            "/api/v1/declaration-templates", "/api/v1/disclosure/market-statistics",
            "/api/v1/disclosure/sanctions", "/api/v1/retention-policy",
            "/api/v1/dispute-rules")
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
NOT_API = {  # the documentation itself, not documented in it
    f"{API}/openapi.json", f"{API}/docs",
}
# Uploads: request bodies sent as multipart/form-data rather than JSON.
MULTIPART = {("/api/v1/orders/{order_id}/deliveries/file", "post")}
# Successful answers that are a file, not JSON.
FILES = {("/api/v1/downloads/{token}", "get"): "*/*"}


@pytest.fixture
def spec(client) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def api_rules(app: Flask) -> Iterator[tuple[str, str, str]]:
    """(OpenAPI path, lower-case method, endpoint) of every rule the API must document."""
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "_market_public_asset", False) or rule.rule in NOT_API:
            continue
        if not (rule.rule.startswith(API + "/") or rule.rule in PROBES):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield path, method.lower(), rule.endpoint


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def resolve(spec: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in obj:
        ref = obj["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        obj = target
    return obj


def test_document_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_every_route_is_documented_with_its_method(app, spec):
    expected = set()
    for path, method, endpoint in api_rules(app):
        expected.add((path, method))
        assert path in spec["paths"], f"{endpoint}: {path} missing from the document"
        assert method in spec["paths"][path], f"{endpoint}: {method.upper()} {path} missing"
    assert {(p, m) for p, m, _ in operations(spec)} == expected, "documented but not routed"
    # the known ones, so an empty url map cannot pass
    assert {("/api/v1/participants", "post"), ("/healthz", "get"), ("/readyz", "get"),
            ("/api/v1/audit/entries", "get")} <= expected


def test_documentation_routes_are_not_operations(spec):
    for path in spec["paths"]:
        assert not path.startswith(f"{API}/docs"), path
        assert path != f"{API}/openapi.json"


def error_responses(spec, operation) -> Iterator[tuple[str, dict[str, Any]]]:
    for status, response in operation["responses"].items():
        if status == "default" or status[0] in "45":
            yield status, resolve(spec, response)


def test_every_api_operation_documents_a_4xx_problem(spec):
    for path, method, operation in operations(spec):
        if path in NO_INPUT:  # anonymous and no input: no 4xx to document
            continue
        problems = [status for status, response in error_responses(spec, operation)
                    if status.startswith("4") and PROBLEM_JSON in response.get("content", {})]
        assert problems, f"{method.upper()} {path}: no 4xx response as {PROBLEM_JSON}"


def test_every_error_response_is_problem_json(spec):
    for path, method, operation in operations(spec):
        for status, response in error_responses(spec, operation):
            content = response.get("content", {})
            assert set(content) == {PROBLEM_JSON}, f"{method.upper()} {path} {status}: {content}"
            schema = content[PROBLEM_JSON]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}


def test_every_api_operation_documents_some_4xx(spec):
    """Whatever its media type: every /api/v1 operation tells what can go wrong."""
    for path, method, operation in operations(spec):
        if path in NO_INPUT:
            continue
        assert any(s.startswith("4") for s in operation["responses"]), f"{method} {path}"


def test_problem_schema_has_a_required_code(spec):
    problem = spec["components"]["schemas"]["Problem"]
    assert "code" in problem["required"]
    assert {"type", "title", "status", "detail", "code", "errors"} <= set(problem["properties"])


def test_security_matches_the_access_declarations(app, spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "API key: mk.<key id>.<secret>",
    }
    seen = 0
    for path, method, endpoint in api_rules(app):
        access = access_of(app.view_functions[endpoint])
        assert access is not None, f"{endpoint} declares no access"
        security = spec["paths"][path][method].get("security")
        assert security, f"{method.upper()} {path} documents no security"
        where = f"{method.upper()} {path}: {security}"
        if access.anonymous:
            assert {} in security, where
            if access.roles is not None or access.unadmitted:
                assert {"bearerAuth": []} in security, where
        else:
            assert security == [{"bearerAuth": []}], where
        seen += 1
    assert seen > 10


def test_anonymous_and_keyed_operations_are_the_known_ones(spec):
    anonymous = {(p, m) for p, m, op in operations(spec) if {} in op.get("security", [])}
    assert anonymous == {("/api/v1/participants", "post"), ("/healthz", "get"),
                         ("/readyz", "get"), ("/api/v1/certificates/{number}", "get"),
                         ("/api/v1/certificates/{number}/verification", "get"),
                         ("/api/v1/catalog/{product_id}", "get"),
                         ("/api/v1/catalog/{product_id}/sample", "get"),
                         ("/api/v1/catalog", "get"), ("/api/v1/catalog/statistics", "get"),
                         ("/api/v1/catalog.jsonld", "get"),
                         ("/api/v1/catalog/{product_id}/dcat.jsonld", "get"),
                         ("/api/v1/catalog/{product_id}/terms.jsonld", "get"),
                         ("/api/v1/declaration-templates", "get"),
                         ("/api/v1/retention-policy", "get"),
                         ("/api/v1/dispute-rules", "get"),
                         ("/api/v1/disclosure/market-statistics", "get"),
                         ("/api/v1/disclosure/sanctions", "get"),
                         ("/api/v1/organisations/{org_id}/credit", "get"),
                         ("/api/v1/downloads/{token}", "get"),
                         ("/api/v1/receipts/{receipt_id}", "get"),
                         ("/api/v1/receipts/{receipt_id}/proof", "get"),
                         ("/api/v1/receipts/verification", "post"),
                         ("/api/v1/receipts/logs/{suite}/checkpoint", "get"),
                         ("/api/v1/receipts/logs/{suite}/consistency", "get"),
                         ("/api/v1/webhooks/stripe", "post")}


def test_request_bodies_reference_component_schemas(spec):
    schemas = spec["components"]["schemas"]
    bodies = 0
    for path, method, operation in operations(spec):
        if "requestBody" not in operation:
            continue
        bodies += 1
        body = resolve(spec, operation["requestBody"])
        content = body["content"]
        media = "multipart/form-data" if (path, method) in MULTIPART else "application/json"
        assert list(content) == [media], f"{method.upper()} {path}: {list(content)}"
        schema = content[media]["schema"]
        ref = schema.get("$ref", "")
        assert ref.startswith("#/components/schemas/"), f"{method.upper()} {path}: {schema}"
        assert ref.rsplit("/", 1)[1] in schemas
        assert body.get("required") is True, f"{method.upper()} {path}"
    assert bodies >= 5
    for method in ("get", "delete"):
        for path, m, operation in operations(spec):
            if m == method:
                assert "requestBody" not in operation, f"{m.upper()} {path} has a body"


def test_json_success_responses_reference_component_schemas(spec):
    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if not status.startswith("2"):
                continue
            content = resolve(spec, response).get("content")
            if not content:
                continue
            if (path, method) in FILES:
                assert list(content) == [FILES[path, method]], (path, method, list(content))
                continue
            schema = content["application/json"]["schema"]
            assert schema.get("$ref", "").startswith("#/components/schemas/"), (
                f"{method.upper()} {path} {status}: {schema}")


class AssetLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.assets.append(values["src"] or "")
        if tag == "link" and values.get("href"):
            self.assets.append(values["href"] or "")


def test_docs_page_serves_its_assets_locally(client):
    page = client.get(f"{API}/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert f"{API}/openapi.json" in html
    parser = AssetLinks()
    parser.feed(html)
    assert any(a.endswith(".js") for a in parser.assets), parser.assets
    assert any(a.endswith(".css") for a in parser.assets), parser.assets
    for asset in parser.assets:
        assert asset.startswith("/"), f"not local: {asset}"
        assert not asset.startswith("//"), f"not local: {asset}"
        response = client.get(asset)
        assert response.status_code == 200, asset
        expected = "text/css" if asset.endswith(".css") else "javascript"
        assert expected in response.mimetype, (asset, response.mimetype)
        assert len(response.get_data()) > 1000, asset
        response.close()


def test_missing_asset_is_a_404_problem(client):
    response = client.get(f"{API}/docs/assets/no-such-file.js")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM_JSON
    escape = client.get(f"{API}/docs/assets/..%2F..%2F__init__.py")
    assert escape.status_code == 404


@pytest.mark.parametrize(("path", "method"), [
    ("/api/v1/rights/{right_id}/review-claims", "post"),
    ("/api/v1/rights/{right_id}/reviews", "post"),
    ("/api/v1/rights/{right_id}/status-changes", "post"),
    ("/api/v1/products/{product_id}", "put"),
    ("/api/v1/products/{product_id}/submission", "post"),
    ("/api/v1/products/{product_id}/review-claims", "post"),
    ("/api/v1/products/{product_id}/reviews", "post"),
    ("/api/v1/products/{product_id}/status-changes", "post"),
    ("/api/v1/alerts/{alert_id}/dispositions", "post"),
    ("/api/v1/suspension-orders", "post"),
    ("/api/v1/orders", "post"),
    ("/api/v1/orders/{order_id}/review", "post"),
    ("/api/v1/orders/{order_id}/cancellation", "post"),
    ("/api/v1/orders/{order_id}/payment", "post"),
    ("/api/v1/orders/{order_id}/deliveries", "post"),
    ("/api/v1/orders/{order_id}/deliveries/file", "post"),
    ("/api/v1/orders/{order_id}/usage", "post"),
    ("/api/v1/orders/{order_id}/download-tokens", "post"),
    ("/api/v1/orders/{order_id}/acceptance", "post"),
    ("/api/v1/orders/{order_id}/disputes", "post"),
    ("/api/v1/disputes/{dispute_id}/answer", "post"),
    ("/api/v1/disputes/{dispute_id}/decision", "post"),
    ("/api/v1/disputes/{dispute_id}/escalation", "post"),
    ("/api/v1/disputes/{dispute_id}/escalation-waiver", "post"),
    ("/api/v1/disputes/{dispute_id}/award", "post"),
    ("/api/v1/payouts/{payout_id}/confirmation", "post"),
    ("/api/v1/payouts/{payout_id}/rejection", "post"),
])
def test_operations_that_move_a_lifecycle_document_the_conflict(spec, path, method):
    assert "409" in spec["paths"][path][method]["responses"], (path, method)


def test_the_idempotency_key_header_documents_what_it_accepts(spec):
    (header,) = [p for p in spec["paths"]["/api/v1/grants"]["post"]["parameters"]
                 if p.get("name") == "Idempotency-Key"]
    assert header["schema"]["pattern"] == "^[!-~]{1,255}$"
