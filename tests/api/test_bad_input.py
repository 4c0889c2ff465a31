"""Bad requests: unparseable or ill-typed bodies, oversize bodies, bad credentials, bad
cursors, query parameters and headers, unknown routes and methods.

Every refusal is ``application/problem+json`` with a stable ``code`` and a ``request_id``
equal to the ``X-Request-Id`` response header, and leaves nothing behind: the audit head and
the organisations the operator sees are the same before and after.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.kernel.clock import FixedClock
from market.kernel.config import Settings
from market.participants.domain import random_credit_code
from tests.conftest import Party, problem

API = "/api/v1"
JSON = "application/json"


# -- helpers ---------------------------------------------------------------------------


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is problem+json with this status and code, naming its request id."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = problem(response)
    assert body["code"] == code, body
    assert body["type"] == f"urn:market:problem:{code}"
    assert body["request_id"], body
    assert body["request_id"] == response.headers["X-Request-Id"]
    return body


def _visible_state(client: FlaskClient, operator: Party) -> dict[str, Any]:
    verification = client.get(f"{API}/audit/verification", headers=operator.headers)
    assert verification.status_code == 200
    orgs = client.get(f"{API}/participants?limit=200", headers=operator.headers)
    assert orgs.status_code == 200
    return {"head_seq": verification.json["head_seq"], "orgs": orgs.json["items"]}


@pytest.fixture
def writes_nothing(client: FlaskClient, operator: Party) -> Callable[..., Any]:
    """``with writes_nothing(): ...`` fails if the block changed the audit log or any org."""

    @contextmanager
    def check(observer: Party = operator) -> Iterator[None]:
        before = _visible_state(client, observer)
        yield
        assert _visible_state(client, observer) == before, "a refused request wrote something"

    return check


def application(**overrides: Any) -> dict[str, Any]:
    """A valid anonymous application body."""
    code = random_credit_code()
    body: dict[str, Any] = {
        "name": "数据科技有限公司", "credit_code": code, "contact_name": "赵六",
        "contact_email": f"apply-{code.lower()}@example.cn", "roles": ["merchant"],
    }
    body.update(overrides)
    return body


def cursor_of(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.fixture
def merchant(make_party: Callable[..., Party]) -> Party:
    return make_party("merchant")


# -- malformed JSON ----------------------------------------------------------------------


MALFORMED_BODIES = [
    pytest.param(b'{"name": "x",', id="truncated"),
    pytest.param(b'{"name": "x",}', id="trailing-comma"),
    pytest.param(b"name=x&roles=buyer", id="form-encoded"),
    pytest.param(b"{'name': 'x'}", id="single-quotes"),
    pytest.param(b'{"name": "\xff\xfe"}', id="not-utf8"),
]


@pytest.mark.parametrize("data", MALFORMED_BODIES)
def test_malformed_json_application_is_refused(
    client: FlaskClient, writes_nothing: Callable[[], Any], data: bytes
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/participants", data=data, content_type=JSON)
    assert_problem(response, 400, "malformed_json")


def test_malformed_json_is_refused_on_authenticated_writes(
    client: FlaskClient, operator: Party, merchant: Party, writes_nothing: Callable[[], Any]
) -> None:
    writes = [
        ("PATCH", f"{API}/participants/{merchant.org_id}", merchant),
        ("POST", f"{API}/participants/{merchant.org_id}/status-changes", operator),
        ("POST", f"{API}/participants/{merchant.org_id}/users", merchant),
        ("POST", f"{API}/keys", merchant),
    ]
    with writes_nothing():
        for method, url, caller in writes:
            response = client.open(url, method=method, data=b'{"status": "suspended"',
                                   content_type=JSON, headers=caller.headers)
            assert_problem(response, 400, "malformed_json")


# -- wrong types, unknown and missing fields -------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("name", 123),
    ("credit_code", ["91350100M000100Y43"]),
    ("contact_name", {"first": "六"}),
    ("contact_email", 42),
    ("contact_email", "not-an-email"),
    ("contact_phone", 13800138000),
    ("roles", "buyer"),
    ("roles", [1]),
    ("roles", ["pirate"]),
    ("roles", []),
    ("name", None),
    ("name", ""),
    ("name", "x" * 201),
])
def test_wrongly_typed_application_fields_are_named(
    client: FlaskClient, writes_nothing: Callable[[], Any], field: str, value: Any
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/participants", json=application(**{field: value}))
    body = assert_problem(response, 422, "invalid_input")
    assert set(body["errors"]) == {field}


@pytest.mark.parametrize(("body", "field"), [
    ({"status": 1, "reason": "x"}, "status"),
    ({"status": "applied", "reason": "back to start"}, "status"),
    ({"status": "paused", "reason": "x"}, "status"),
    ({"status": "suspended", "reason": ""}, "reason"),
    ({"status": "suspended", "reason": ["late fees"]}, "reason"),
])
def test_wrongly_typed_admission_decision_is_refused(
    client: FlaskClient, operator: Party, merchant: Party, writes_nothing: Callable[[], Any],
    body: dict[str, Any], field: str,
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/participants/{merchant.org_id}/status-changes",
                               json=body, headers=operator.headers)
    problem_body = assert_problem(response, 422, "invalid_input")
    assert set(problem_body["errors"]) == {field}


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "k", "scopes": "read"}, "scopes"),
    ({"name": "k", "scopes": ["admin"]}, "scopes"),
    ({"name": "k", "scopes": []}, "scopes"),
    ({"name": 7}, "name"),
    ({"name": "k", "expires_at": "tomorrow"}, "expires_at"),
    ({"name": "k", "expires_at": "2027-01-01T00:00:00"}, "expires_at"),  # no time zone
    ({"name": "k", "user_id": 12}, "user_id"),
])
def test_wrongly_typed_key_request_is_refused(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any],
    body: dict[str, Any], field: str,
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/keys", json=body, headers=merchant.headers)
    problem_body = assert_problem(response, 422, "invalid_input")
    assert set(problem_body["errors"]) == {field}


@pytest.mark.parametrize("body", [[], ["name"], "a string", 42, True])
def test_body_that_is_not_a_json_object_is_refused(
    client: FlaskClient, writes_nothing: Callable[[], Any], body: Any
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/participants", json=body)
    problem_body = assert_problem(response, 422, "invalid_input")
    assert "_schema" in problem_body["errors"]


def test_unknown_field_in_an_application_is_named(
    client: FlaskClient, writes_nothing: Callable[[], Any]
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/participants",
                               json=application(status="admitted", is_operator=True))
    body = assert_problem(response, 422, "invalid_input")
    assert set(body["errors"]) == {"status", "is_operator"}


@pytest.mark.parametrize("field", ["name", "credit_code", "status", "roles", "id"])
def test_contact_update_refuses_fields_that_are_not_contact_details(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any], field: str
) -> None:
    with writes_nothing():
        response = client.patch(f"{API}/participants/{merchant.org_id}",
                                json={"contact_name": "新联系人", field: "x"},
                                headers=merchant.headers)
    body = assert_problem(response, 422, "invalid_input")
    assert set(body["errors"]) == {field}


@pytest.mark.parametrize(("url", "body", "field"), [
    (f"{API}/keys", {"name": "k", "organisation_id": "org_x"}, "organisation_id"),
    (f"{API}/keys", {"name": "k", "token": "mk.a.b"}, "token"),
])
def test_unknown_field_in_a_key_request_is_named(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any],
    url: str, body: dict[str, Any], field: str,
) -> None:
    with writes_nothing():
        response = client.post(url, json=body, headers=merchant.headers)
    problem_body = assert_problem(response, 422, "invalid_input")
    assert set(problem_body["errors"]) == {field}


def test_missing_application_fields_are_all_named(
    client: FlaskClient, writes_nothing: Callable[[], Any]
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/participants", json={})
    body = assert_problem(response, 422, "invalid_input")
    assert set(body["errors"]) == {"name", "credit_code", "contact_name", "contact_email",
                                   "roles"}


def test_empty_json_body_is_treated_as_missing_fields(
    client: FlaskClient, writes_nothing: Callable[[], Any]
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/participants", data=b"", content_type=JSON)
    body = assert_problem(response, 422, "invalid_input")
    assert "name" in body["errors"]


@pytest.mark.parametrize(("path", "body", "missing"), [
    ("status-changes", {"status": "suspended"}, {"reason"}),
    ("status-changes", {"reason": "late"}, {"status"}),
    ("users", {"name": "No Mail"}, {"email"}),
    ("users", {}, {"name", "email"}),
])
def test_missing_required_fields_are_named(
    client: FlaskClient, operator: Party, merchant: Party, writes_nothing: Callable[[], Any],
    path: str, body: dict[str, Any], missing: set[str],
) -> None:
    caller = operator if path == "status-changes" else merchant
    with writes_nothing():
        response = client.post(f"{API}/participants/{merchant.org_id}/{path}", json=body,
                               headers=caller.headers)
    problem_body = assert_problem(response, 422, "invalid_input")
    assert set(problem_body["errors"]) == missing


def test_key_request_without_a_name_is_refused(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any]
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/keys", json={"scopes": ["read"]}, headers=merchant.headers)
    body = assert_problem(response, 422, "invalid_input")
    assert set(body["errors"]) == {"name"}


def test_empty_contact_update_is_refused(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any]
) -> None:
    with writes_nothing():
        response = client.patch(f"{API}/participants/{merchant.org_id}", json={},
                                headers=merchant.headers)
    body = assert_problem(response, 422, "invalid_input")
    assert set(body["errors"]) == {"_schema"}


@pytest.mark.parametrize("field", ["contact_name", "contact_email"])
def test_contact_details_cannot_be_erased(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any], field: str
) -> None:
    with writes_nothing():
        response = client.patch(f"{API}/participants/{merchant.org_id}", json={field: None},
                                headers=merchant.headers)
    body = assert_problem(response, 422, "invalid_input")
    assert set(body["errors"]) == {field}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_json_body_sent_as_another_media_type_is_refused(
    client: FlaskClient, writes_nothing: Callable[[], Any], content_type: str
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/participants", data=json.dumps(application()),
                               content_type=content_type)
    if response.status_code == 415:
        assert_problem(response, 415, "unsupported_media_type")
    else:
        assert_problem(response, 422, "invalid_input")


@pytest.mark.parametrize("expires_at", ["2026-11-21T09:00:00+00:00",  # now (the test clock)
                                        "2026-11-21T16:59:59+08:00"])  # a second ago
def test_key_expiry_not_in_the_future_is_refused_as_invalid_input(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any], expires_at: str
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/keys", json={"name": "k", "expires_at": expires_at},
                               headers=merchant.headers)
    # The scopes are fine; the code must not send clients looking at them.
    body = assert_problem(response, 422, "invalid_input")
    assert set(body["errors"]) == {"expires_at"}


def test_key_expiry_beyond_the_representable_range_is_refused(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any]
) -> None:
    # A valid aware datetime whose UTC equivalent is in the year 10000.
    with writes_nothing():
        response = client.post(f"{API}/keys",
                               json={"name": "k", "expires_at": "9999-12-31T23:59:59-01:00"},
                               headers=merchant.headers)
    body = assert_problem(response, 422, "invalid_input")
    assert set(body["errors"]) == {"expires_at"}


# -- text that cannot be parsed, stored or compared ------------------------------------


def test_deeply_nested_json_is_refused_as_malformed(
    client: FlaskClient, writes_nothing: Callable[[], Any]
) -> None:
    data = b"[" * 5000 + b"]" * 5000  # 10 kB, well under the body limit
    with writes_nothing():
        response = client.post(f"{API}/participants", data=data, content_type=JSON)
    assert_problem(response, 400, "malformed_json")


def test_lone_surrogate_in_a_text_field_is_refused(
    client: FlaskClient, writes_nothing: Callable[[], Any]
) -> None:
    # Valid JSON syntax, but "\ud800" is no Unicode character and cannot be stored as UTF-8.
    data = json.dumps(application(name="PLACEHOLDER")).replace("PLACEHOLDER", "\\ud800")
    with writes_nothing():
        response = client.post(f"{API}/participants", data=data, content_type=JSON)
    if response.status_code == 400:
        assert_problem(response, 400, "malformed_json")
    else:
        body = assert_problem(response, 422, "invalid_input")
        assert set(body["errors"]) == {"name"}


@pytest.mark.parametrize("field", ["name", "contact_name", "contact_phone"])
def test_nul_character_in_an_application_field_is_refused(
    client: FlaskClient, writes_nothing: Callable[[], Any], field: str
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/participants", json=application(**{field: "a\u0000b"}))
    body = assert_problem(response, 422, "invalid_input")
    assert set(body["errors"]) == {field}


def test_nul_character_in_a_contact_update_is_refused(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any]
) -> None:
    with writes_nothing():
        response = client.patch(f"{API}/participants/{merchant.org_id}",
                                json={"contact_name": "a\u0000b"}, headers=merchant.headers)
    body = assert_problem(response, 422, "invalid_input")
    assert set(body["errors"]) == {"contact_name"}


def test_nul_character_in_a_path_id_is_not_found(
    client: FlaskClient, operator: Party, writes_nothing: Callable[[], Any]
) -> None:
    with writes_nothing():
        # A path that cannot name any object is refused before routing: plain not_found.
        found = client.get(f"{API}/participants/org_%00", headers=operator.headers)
        assert_problem(found, 404, "not_found")
        revoked = client.post(f"{API}/keys/key_%00/revoke", headers=operator.headers)
        assert_problem(revoked, 404, "not_found")


def test_nul_character_in_a_key_id_is_an_invalid_key(
    client: FlaskClient, writes_nothing: Callable[[], Any]
) -> None:
    with writes_nothing():
        response = client.get(f"{API}/me", headers={"Authorization": "Bearer mk.key_\x00.s"})
    assert_problem(response, 401, "invalid_api_key")


def test_nul_character_in_a_query_filter_is_not_a_server_error(
    client: FlaskClient, operator: Party
) -> None:
    response = client.get(f"{API}/audit/entries", query_string={"object_id": "org_\x00"},
                          headers=operator.headers)
    if response.status_code == 200:
        assert response.json["items"] == []
    else:
        assert_problem(response, 422, "invalid_query")


def test_nul_character_in_a_cursor_is_not_a_server_error(
    client: FlaskClient, operator: Party
) -> None:
    response = client.get(f"{API}/participants",
                          query_string={"cursor": cursor_of({"after": "org_\x00"})},
                          headers=operator.headers)
    if response.status_code != 200:
        assert_problem(response, 400, "invalid_cursor")


# -- oversize bodies -------------------------------------------------------------------


def test_body_over_the_default_limit_is_refused(
    client: FlaskClient, writes_nothing: Callable[[], Any]
) -> None:
    assert client.application.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    huge = json.dumps(application(name="大" * 400_000)).encode()
    assert len(huge) > 1024 * 1024
    with writes_nothing():
        response = client.post(f"{API}/participants", data=huge, content_type=JSON)
    assert_problem(response, 413, "payload_too_large")


@pytest.fixture
def small_client(settings: Settings, session_factory: sessionmaker[Session],
                 clock: FixedClock) -> FlaskClient:
    small = create_app(settings.with_changes(max_body_bytes=1000),
                       session_factory=session_factory, clock=clock)
    return small.test_client()


def test_body_over_a_configured_limit_is_refused_and_one_under_it_accepted(
    small_client: FlaskClient, writes_nothing: Callable[[], Any]
) -> None:
    fits = json.dumps(application()).encode()
    padding = 1001 - len(fits)
    too_big = json.dumps(application(contact_name="x" * 100, name="y" * (padding + 100)))
    assert len(too_big.encode()) > 1000
    with writes_nothing():
        response = small_client.post(f"{API}/participants", data=too_big, content_type=JSON)
    assert_problem(response, 413, "payload_too_large")

    assert len(fits) <= 1000
    accepted = small_client.post(f"{API}/participants", data=fits, content_type=JSON)
    assert accepted.status_code == 201, accepted.get_json()


def test_oversize_authenticated_write_is_refused(
    small_client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any]
) -> None:
    with writes_nothing():
        response = small_client.patch(f"{API}/participants/{merchant.org_id}",
                                      json={"contact_name": "名" * 600},
                                      headers=merchant.headers)
    assert_problem(response, 413, "payload_too_large")


def test_oversize_body_with_an_idempotency_key_is_refused_and_the_key_stays_free(
    small_client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any]
) -> None:
    headers = {**merchant.headers, "Idempotency-Key": "oversize-1"}
    with writes_nothing():
        response = small_client.post(f"{API}/keys", json={"name": "k" * 1200}, headers=headers)
    assert_problem(response, 413, "payload_too_large")
    retried = small_client.post(f"{API}/keys", json={"name": "k"}, headers=headers)
    assert retried.status_code == 201, retried.get_json()


# -- credentials -----------------------------------------------------------------------


PROTECTED = [
    ("GET", f"{API}/me"),
    ("GET", f"{API}/keys"),
    ("POST", f"{API}/keys"),
    ("GET", f"{API}/participants"),
    ("GET", f"{API}/audit/entries"),
    ("GET", f"{API}/audit/verification"),
]


@pytest.mark.parametrize(("method", "url"), PROTECTED)
def test_missing_key_on_a_protected_endpoint_asks_for_one(
    client: FlaskClient, writes_nothing: Callable[[], Any], method: str, url: str
) -> None:
    with writes_nothing():
        response = client.open(url, method=method, json={"name": "k"} if method == "POST" else None)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="market"'


def test_missing_key_on_an_object_write_asks_for_one(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any]
) -> None:
    with writes_nothing():
        for method, url, body in [
            ("PATCH", f"{API}/participants/{merchant.org_id}", {"contact_name": "x"}),
            ("POST", f"{API}/participants/{merchant.org_id}/status-changes",
             {"status": "suspended", "reason": "x"}),
            ("POST", f"{API}/participants/{merchant.org_id}/users",
             {"name": "x", "email": "x@example.cn"}),
            ("POST", f"{API}/keys/{merchant.key_id}/revoke", None),
        ]:
            response = client.open(url, method=method, json=body)
            assert_problem(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [
    "Basic dXNlcjpwYXNzd29yZA==",
    "Token abc",
    "Bearer",
    "Bearer    ",
    "mk.key.secret",
    "",
])
def test_authorization_header_without_a_bearer_token_is_refused(
    client: FlaskClient, writes_nothing: Callable[[], Any], header: str
) -> None:
    with writes_nothing():
        response = client.get(f"{API}/me", headers={"Authorization": header})
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", [
    "garbage",
    "mk.only-two",
    "mk.a.b.c",
    "xx.key_01.secret",
    "mk..",
    "mk.key_00000000000000000000000000.secret",
])
def test_malformed_or_unknown_key_is_refused(
    client: FlaskClient, writes_nothing: Callable[[], Any], token: str
) -> None:
    with writes_nothing():
        response = client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "invalid_api_key")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_secret_for_a_real_key_is_refused(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any]
) -> None:
    prefix, key_id, secret = merchant.token.split(".")
    forged = f"{prefix}.{key_id}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    with writes_nothing():
        response = client.get(f"{API}/me", headers={"Authorization": f"Bearer {forged}"})
    assert_problem(response, 401, "invalid_api_key")


def test_bad_key_on_a_public_endpoint_is_not_taken_for_anonymous(
    client: FlaskClient, writes_nothing: Callable[[], Any]
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/participants", json=application(),
                               headers={"Authorization": "Bearer mk.nope.nope"})
    assert_problem(response, 401, "invalid_api_key")


def test_key_stops_working_when_it_expires(
    client: FlaskClient, operator: Party, merchant: Party, clock: FixedClock,
    writes_nothing: Callable[..., Any],
) -> None:
    long_lived = client.post(f"{API}/keys", json={"name": "observer"}, headers=operator.headers)
    assert long_lived.status_code == 201  # the default lifetime is a year
    observer = Party(operator.org_id, operator.user_id, long_lived.json["id"],
                     long_lived.json["token"], operator.roles)
    # make_party issues keys valid for 30 days.
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert client.get(f"{API}/me", headers=merchant.headers).status_code == 200
    clock.advance(timedelta(seconds=1))
    with writes_nothing(observer):
        response = client.get(f"{API}/me", headers=merchant.headers)
        assert_problem(response, 401, "invalid_api_key")
        write = client.post(f"{API}/keys", json={"name": "renew"}, headers=merchant.headers)
        assert_problem(write, 401, "invalid_api_key")


def test_key_with_a_chosen_expiry_stops_working_then(
    client: FlaskClient, merchant: Party, clock: FixedClock
) -> None:
    expires = (clock.now() + timedelta(hours=1)).isoformat()
    created = client.post(f"{API}/keys", json={"name": "short", "expires_at": expires},
                          headers=merchant.headers)
    assert created.status_code == 201, created.get_json()
    short = {"Authorization": f"Bearer {created.json['token']}"}
    assert client.get(f"{API}/me", headers=short).status_code == 200
    clock.advance(timedelta(hours=1))
    assert_problem(client.get(f"{API}/me", headers=short), 401, "invalid_api_key")
    assert client.get(f"{API}/me", headers=merchant.headers).status_code == 200


def test_revoked_key_is_refused_at_once(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any]
) -> None:
    spare = client.post(f"{API}/keys", json={"name": "spare"}, headers=merchant.headers)
    assert spare.status_code == 201
    spare_headers = {"Authorization": f"Bearer {spare.json['token']}"}
    revoked = client.post(f"{API}/keys/{merchant.key_id}/revoke", headers=spare_headers)
    assert revoked.status_code == 200, revoked.get_json()
    assert revoked.json["revoked_at"] is not None

    with writes_nothing():
        response = client.get(f"{API}/me", headers=merchant.headers)
        assert_problem(response, 401, "invalid_api_key")
        write = client.patch(f"{API}/participants/{merchant.org_id}",
                             json={"contact_name": "ghost"}, headers=merchant.headers)
        assert_problem(write, 401, "invalid_api_key")
    assert client.get(f"{API}/me", headers=spare_headers).status_code == 200


def test_key_revoked_by_itself_is_refused_afterwards(
    client: FlaskClient, merchant: Party
) -> None:
    revoked = client.post(f"{API}/keys/{merchant.key_id}/revoke", headers=merchant.headers)
    assert revoked.status_code == 200
    assert_problem(client.get(f"{API}/keys", headers=merchant.headers), 401, "invalid_api_key")


# -- pagination cursors and query parameters --------------------------------------------


BAD_CURSORS = [
    pytest.param("not-a-cursor!!!", id="garbage"),
    pytest.param("e30", id="empty-object"),
    pytest.param(cursor_of({"before": "org_1"}), id="wrong-key"),
    pytest.param(cursor_of({"after": 5}), id="after-not-a-string"),
    pytest.param(cursor_of(None), id="null"),
    pytest.param(cursor_of(["org_1"]), id="list"),
    pytest.param("a", id="truncated-base64"),
    pytest.param("é", id="non-ascii"),
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_invalid_cursor_is_refused_when_listing_participants(
    client: FlaskClient, operator: Party, cursor: str
) -> None:
    response = client.get(f"{API}/participants", query_string={"cursor": cursor},
                          headers=operator.headers)
    body = assert_problem(response, 400, "invalid_cursor")
    assert set(body["errors"]) == {"cursor"}


@pytest.mark.parametrize("path", ["keys", "participants/{org}/users",
                                  "participants/{org}/status-changes", "audit/entries"])
def test_invalid_cursor_is_refused_on_every_list(
    client: FlaskClient, operator: Party, path: str
) -> None:
    url = f"{API}/" + path.format(org=operator.org_id)
    response = client.get(url, query_string={"cursor": "!!!"}, headers=operator.headers)
    assert_problem(response, 400, "invalid_cursor")


def test_audit_cursor_must_be_an_audit_position(client: FlaskClient, operator: Party) -> None:
    response = client.get(f"{API}/audit/entries",
                          query_string={"cursor": cursor_of({"after": "org_01"})},
                          headers=operator.headers)
    assert_problem(response, 400, "invalid_cursor")


@pytest.mark.parametrize(("query", "field"), [
    ({"limit": "0"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "201"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"status": "retired"}, "status"),
    ({"role": "pirate"}, "role"),
    ({"cursor": "c" * 201}, "cursor"),
])
def test_invalid_query_parameters_are_named(
    client: FlaskClient, operator: Party, query: dict[str, str], field: str
) -> None:
    response = client.get(f"{API}/participants", query_string=query, headers=operator.headers)
    body = assert_problem(response, 422, "invalid_query")
    assert set(body["errors"]) == {field}


@pytest.mark.parametrize(("query", "field"), [
    ({"object_type": ""}, "object_type"),
    ({"object_id": "x" * 65}, "object_id"),
    ({"actor_org_id": "x" * 41}, "actor_org_id"),
    ({"limit": "1000"}, "limit"),
])
def test_invalid_audit_filters_are_named(
    client: FlaskClient, operator: Party, query: dict[str, str], field: str
) -> None:
    response = client.get(f"{API}/audit/entries", query_string=query, headers=operator.headers)
    body = assert_problem(response, 422, "invalid_query")
    assert set(body["errors"]) == {field}


def test_unauthenticated_bad_query_is_refused_for_authentication_first(
    client: FlaskClient,
) -> None:
    response = client.get(f"{API}/participants", query_string={"limit": "0"})
    assert_problem(response, 401, "unauthorized")


# -- Idempotency-Key header ------------------------------------------------------------


BAD_IDEMPOTENCY_KEYS = [
    pytest.param("", id="empty"),
    pytest.param("k" * 256, id="too-long"),
    pytest.param("two words", id="space"),
    pytest.param("tab\there", id="tab"),
    pytest.param("clé", id="non-ascii"),
]


@pytest.mark.parametrize("key", BAD_IDEMPOTENCY_KEYS)
def test_bad_idempotency_key_on_an_application_is_refused(
    client: FlaskClient, writes_nothing: Callable[[], Any], key: str
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/participants", json=application(),
                               headers={"Idempotency-Key": key})
    assert_problem(response, 400, "invalid_idempotency_key")


@pytest.mark.parametrize("key", BAD_IDEMPOTENCY_KEYS)
def test_bad_idempotency_key_on_an_authenticated_write_is_refused(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any], key: str
) -> None:
    with writes_nothing():
        response = client.post(f"{API}/keys", json={"name": "k"},
                               headers={**merchant.headers, "Idempotency-Key": key})
    assert_problem(response, 400, "invalid_idempotency_key")


def test_longest_allowed_idempotency_key_is_accepted(client: FlaskClient) -> None:
    response = client.post(f"{API}/participants", json=application(),
                           headers={"Idempotency-Key": "k" * 255})
    assert response.status_code == 201, response.get_json()


def test_refused_body_does_not_use_up_its_idempotency_key(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any]
) -> None:
    headers = {**merchant.headers, "Idempotency-Key": "retry-after-fix"}
    with writes_nothing():
        refused = client.post(f"{API}/keys", json={"name": "k", "scopes": "read"},
                              headers=headers)
        assert_problem(refused, 422, "invalid_input")
        malformed = client.post(f"{API}/keys", data=b"{", content_type=JSON, headers=headers)
        assert_problem(malformed, 400, "malformed_json")
    fixed = client.post(f"{API}/keys", json={"name": "k", "scopes": ["read"]}, headers=headers)
    assert fixed.status_code == 201, fixed.get_json()


# -- unknown routes and wrong methods -----------------------------------------------------


@pytest.mark.parametrize("url", [f"{API}/nope", "/nope", f"{API}/participants/x/unknown",
                                 f"{API}/keys/x/unrevoke", "/api/v2/participants"])
def test_unknown_route_answers_problem_json(
    client: FlaskClient, operator: Party, url: str
) -> None:
    for headers in ({}, operator.headers):
        assert_problem(client.get(url, headers=headers), 404, "not_found")


@pytest.mark.parametrize(("method", "url"), [
    ("DELETE", f"{API}/participants"),
    ("PUT", f"{API}/participants/org_x"),
    ("DELETE", f"{API}/participants/org_x"),
    ("PATCH", f"{API}/keys"),
    ("GET", f"{API}/keys/key_x/revoke"),
    ("POST", f"{API}/me"),
    ("POST", "/healthz"),
    ("DELETE", f"{API}/audit/entries"),
])
def test_wrong_method_is_refused(
    client: FlaskClient, operator: Party, writes_nothing: Callable[[], Any],
    method: str, url: str,
) -> None:
    with writes_nothing():
        response = client.open(url, method=method, json={}, headers=operator.headers)
    assert_problem(response, 405, "method_not_allowed")


def test_wrong_method_answer_names_the_allowed_methods(client: FlaskClient) -> None:
    # RFC 9110 §15.5.6: a 405 response MUST carry an Allow header.
    response = client.delete(f"{API}/participants")
    assert_problem(response, 405, "method_not_allowed")
    assert "Allow" in response.headers
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed


# -- request ids -------------------------------------------------------------------------


def test_problem_names_the_request_id_the_client_sent(client: FlaskClient) -> None:
    response = client.get(f"{API}/me", headers={"X-Request-Id": "client-req-42"})
    body = assert_problem(response, 401, "unauthorized")
    assert body["request_id"] == "client-req-42"


@pytest.mark.parametrize("incoming", ["has spaces", "x" * 129, "<script>"])
def test_unusable_request_id_is_replaced(client: FlaskClient, incoming: str) -> None:
    response = client.get(f"{API}/me", headers={"X-Request-Id": incoming})
    body = assert_problem(response, 401, "unauthorized")
    assert body["request_id"] != incoming


NO_UTC_EQUIVALENT = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.mark.parametrize("value", NO_UTC_EQUIVALENT)
@pytest.mark.parametrize(("method", "path", "field"), [
    ("post", "/rights", "valid_from"),
    ("post", "/rights", "valid_to"),
    ("post", "/grants", "valid_to"),
    ("post", "/products", "temporal_from"),
    ("post", "/products", "temporal_to"),
    ("put", "/products/prd_00000000000000000000000000", "temporal_to"),
])
def test_date_time_without_a_utc_equivalent_is_refused_naming_the_field(
    client: FlaskClient, merchant: Party, writes_nothing: Callable[[], Any],
    method: str, path: str, field: str, value: str,
) -> None:
    # Well-formed and offset-aware, but before year 1 or after year 9999 once in UTC.
    with writes_nothing():
        response = getattr(client, method)(f"{API}{path}", json={field: value},
                                           headers=merchant.headers)
    body = assert_problem(response, 422, "invalid_input")
    assert body["errors"][field] == ["Not a date-time that exists in UTC."]
