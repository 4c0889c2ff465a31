"""Mass assignment: a creating or updating request that carries a server-owned field
(status, owner, role, price, balance, ids, timestamps) is refused 422 naming the field, and
nothing is written, on every operation with a JSON (or form) body, as a caller allowed to
call it.

The operations come from the OpenAPI document, so a new endpoint is covered when it is
added. A server-owned name that an operation does take as input must be listed in
``TAKEN`` with the reason it is safe there, so declaring one is a reviewed decision.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.kernel.actor import Role, system_actor
from market.kernel.clock import FixedClock
from market.kernel.config import Settings
from market.kernel.uow import UnitOfWork
from market.kernel.web import access_of
from market.models import metadata
from market.participants import services as participants
from market.participants.domain import random_credit_code
from tests.conftest import START, TEST_SECRET, TEST_SIGNING_KEY, problem

API = "/api/v1"
# Names a client must never be able to set where the server owns them.
SERVER_OWNED = (
    "id", "status", "state", "admission_status", "org_id", "owner_org_id", "merchant_org_id",
    "buyer_org_id", "seller_org_id", "holder_org_id", "posted_by_org_id", "user_id",
    "role", "roles", "scopes", "balance", "available", "price", "price_minor", "amount",
    "amount_minor", "platform_fee_bps", "credit_grade", "verified", "approved",
    "created_at", "updated_at", "listed_at", "paid_at", "key_id", "secret_hash",
)
# (method, path) → the server-owned names it takes as input, each guarded by its service.
TAKEN: dict[tuple[str, str], set[str]] = {
    # Applicants name the roles they ask for; the operator decides, and never grants its own.
    ("post", "/participants"): {"roles"},
    # Status changes are the operation itself (operator, or the holder's own revocation).
    ("post", "/participants/{org_id}/status-changes"): {"status"},
    ("post", "/rights/{right_id}/status-changes"): {"status"},
    ("post", "/products/{product_id}/status-changes"): {"status"},
    ("post", "/alerts/{alert_id}/dispositions"): {"status"},
    # Pausing or resuming one's own webhook endpoint.
    ("patch", "/webhooks/endpoints/{endpoint_id}"): {"status"},
    # A key for a user of the caller's own organisation, never beyond the caller's scopes.
    ("post", "/keys"): {"scopes", "user_id"},
    # The operator authorises an organisation to operate public data.
    ("post", "/public-data/authorisations"): {"org_id"},
    # A broker posts a demand for an admitted buyer.
    ("post", "/demands"): {"buyer_org_id"},
    # Money the caller moves: the operator's recorded top-up, a payout out of what is
    # payable, a partial refund, an off-platform trade filed with the caller's role in it.
    ("post", "/ledger/top-ups"): {"org_id", "amount"},
    ("post", "/payouts"): {"amount"},
    ("post", "/orders/{order_id}/refunds"): {"amount"},
    ("post", "/filings"): {"amount", "role"},
    # The caller's own verified signing key that signs the contract.
    ("post", "/orders/{order_id}/contract/signatures"): {"key_id"},
}
# Who calls an operation that several roles may call (the first that may).
ROLE_ORDER = [Role.BUYER, Role.MERCHANT, Role.BROKER, Role.OPERATOR, Role.ASSESSOR,
              Role.REGULATOR]
BODY_TYPES = ("application/json", "multipart/form-data")


def _settings(instance: Path, database_url: str) -> Settings:
    return Settings(instance_path=instance, database_url=database_url,
                    secret_key=TEST_SECRET, signing_key=TEST_SIGNING_KEY, testing=True,
                    check_schema=False)


@cache
def _document() -> dict[str, Any]:
    """The OpenAPI document, read at collection time from an application on no database."""
    app = create_app(_settings(Path(tempfile.gettempdir()), "sqlite://"),
                     session_factory=sessionmaker(), clock=FixedClock(START))
    document: dict[str, Any] = app.test_client().get(f"{API}/openapi.json").json
    return document


def _schema(operation: dict[str, Any]) -> tuple[str, set[str]] | None:
    """The media type of the operation's body and the fields it declares."""
    content = operation.get("requestBody", {}).get("content", {})
    for media in BODY_TYPES:
        if media in content:
            schema = content[media]["schema"]
            if "$ref" in schema:
                schema = _document()["components"]["schemas"][schema["$ref"].split("/")[-1]]
            return media, set(schema.get("properties", {}))
    return None


def _operations() -> Iterator[Any]:
    for path, item in _document()["paths"].items():
        for method, operation in item.items():
            if method not in ("post", "put", "patch") or _schema(operation) is None:
                continue
            short = path.removeprefix(API)
            yield pytest.param(method, short, id=f"{method.upper()} {short}")


# -- one application and one organisation per role for the module ------------------------------


@pytest.fixture(scope="module")
def app(module_session_factory: sessionmaker[Session],
        tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Flask:
    return create_app(_settings(tmp_path_factory.mktemp("mass"), database_url),
                      session_factory=module_session_factory, clock=FixedClock(START))


@pytest.fixture(scope="module")
def keys(module_session_factory: sessionmaker[Session]) -> dict[str, str]:
    """An admitted organisation's bearer token for each role."""
    tokens = {}
    for n, role in enumerate(ROLE_ORDER):
        code = random_credit_code()
        data = participants.OrganisationInput(
            name=f"mass {role.value}", credit_code=code, contact_name=f"contact {n}",
            contact_email=f"mass{n}-{code.lower()}@example.cn", roles=frozenset([role.value]))
        uow = UnitOfWork(module_session_factory, FixedClock(START), system_actor("test"))
        reg = participants.register_organisation(data, uow=uow, key_ttl=timedelta(days=30),
                                                 reason="test")
        tokens[role.value] = reg.api_key.token
    return tokens


def _row_counts(connection: Connection) -> dict[str, int]:
    tables = sorted(metadata.tables)
    union = " UNION ALL ".join(
        f"SELECT '{name}' AS name, count(*) AS n FROM \"{name}\"" for name in tables)
    return {name: n for name, n in connection.execute(text(union))}


@pytest.mark.parametrize(("method", "path"), list(_operations()))
def test_server_owned_fields_are_refused_and_nothing_is_written(
    method: str, path: str, app: Flask, keys: dict[str, str], module_connection: Connection,
) -> None:
    operation = _document()["paths"][API + path][method]
    found = _schema(operation)
    assert found is not None
    media, declared = found
    assert declared & set(SERVER_OWNED) == TAKEN.get((method, path), set()), (
        "a server-owned name is taken as input: list it in TAKEN with the reason it is safe")
    injected = [name for name in SERVER_OWNED if name not in declared]

    url = API + path.replace("{", "").replace("}", "")  # {order_id} → order_id: no such object
    endpoint, _ = app.url_map.bind("localhost").match(url, method=method.upper())
    rule = access_of(app.view_functions[endpoint])
    assert rule is not None, endpoint
    headers = {}
    if not rule.anonymous:
        role = next(r for r in ROLE_ORDER if rule.roles is None or r.value in rule.roles)
        headers["Authorization"] = f"Bearer {keys[role.value]}"

    client: FlaskClient = app.test_client()
    before = _row_counts(module_connection)
    body = {name: "x" for name in injected}
    if media == "application/json":
        response = client.open(url, method=method.upper(), json=body, headers=headers)
    else:
        response = client.open(url, method=method.upper(), data=body, headers=headers)
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    answer = problem(response)
    assert answer["code"] == "invalid_input"
    for name in injected:
        assert answer["errors"].get(name) == ["Unknown field."], (name, answer["errors"])
    assert _row_counts(module_connection) == before
