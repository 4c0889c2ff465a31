"""Rate limits: failed authentications per API key id and per client address, and costly
endpoints (searches, exports) per organisation or address, answer 429 ``rate_limited``
problem+json with ``Retry-After``; forwarded addresses count only behind trusted proxies.

The limits here are a few per hour, so no window passes during a test; the one test that
needs a window to pass moves the clock the limiter's storage reads instead of sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.kernel.clock import FixedClock
from market.kernel.config import Settings, load_settings
from market.kernel.errors import ConfigurationError
from market.kernel.web.ratelimits import RATE_LIMITED, RateLimited
from tests.conftest import Party, problem

API = "/api/v1"
LIMITS = {"rate_limits": True, "rate_limit_auth_per_key": "3 per hour",
          "rate_limit_auth_per_address": "5 per hour", "rate_limit_search": "3 per hour",
          "rate_limit_export": "2 per hour"}
ELSEWHERE = {"REMOTE_ADDR": "198.51.100.23"}


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session], clock: FixedClock) -> Flask:
    return create_app(settings.with_changes(**LIMITS), session_factory=session_factory,
                      clock=clock)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wrong_secret(party: Party) -> str:
    prefix, key_id, _ = party.token.split(".")
    return f"{prefix}.{key_id}.not-the-secret-{key_id}"


def assert_rate_limited(response: Any) -> int:
    """The 429 problem, returning its Retry-After seconds."""
    assert response.status_code == 429, response.get_data(as_text=True)[:300]
    body = problem(response)
    assert body["code"] == RateLimited.code == "rate_limited"
    assert body["title"] == "Too many requests"
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= 3600
    assert f"{seconds} seconds" in body["detail"]
    assert body["request_id"] == response.headers["X-Request-Id"]
    return seconds


class Spy:
    """Counts the calls to the application's authenticator."""

    def __init__(self, app: Flask) -> None:
        self.calls = 0
        state = app.extensions["market"]
        self.real: Callable[..., Any] = state.authenticate
        state.authenticate = self

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.real(*args)


# -- failed authentication ----------------------------------------------------------------


def test_a_key_id_that_keeps_failing_is_refused_before_its_key_is_checked(
    app: Flask, client: FlaskClient, make_party: Callable[..., Party],
) -> None:
    buyer, other = make_party("buyer"), make_party("buyer")
    spy = Spy(app)
    for _ in range(3):
        refused = client.get(f"{API}/me", headers=bearer(wrong_secret(buyer)))
        assert problem(refused)["code"] == "invalid_api_key"
    assert spy.calls == 3

    assert_rate_limited(client.get(f"{API}/me", headers=bearer(wrong_secret(buyer))))
    # The right secret of that key id waits out the window too: the key is not looked at.
    assert_rate_limited(client.get(f"{API}/me", headers=buyer.headers))
    assert spy.calls == 3
    # Another key from the same address is not held back (4 failures < 5 per address).
    assert client.get(f"{API}/me", headers=other.headers).status_code == 200


def test_an_address_that_keeps_failing_is_refused_whatever_key_it_sends(
    client: FlaskClient, make_party: Callable[..., Party],
) -> None:
    buyer = make_party("buyer")
    for n in range(5):
        made_up = f"mk.key{n:04d}.{'x' * 32}"
        assert client.get(f"{API}/me", headers=bearer(made_up)).status_code == 401
    assert client.get(f"{API}/me", headers=bearer("not-a-key")).status_code == 429
    assert_rate_limited(client.get(f"{API}/me", headers=buyer.headers))
    # The same key from another address is served.
    assert client.get(f"{API}/me", headers=buyer.headers,
                      environ_base=ELSEWHERE).status_code == 200


def test_requests_without_a_key_are_neither_counted_nor_refused(
    client: FlaskClient, make_party: Callable[..., Party],
) -> None:
    buyer = make_party("buyer")
    for _ in range(8):
        assert problem(client.get(f"{API}/me"))["code"] == "unauthorized"
    for _ in range(3):
        assert client.get(f"{API}/me", headers=bearer(wrong_secret(buyer))).status_code == 401
    # Refused with a key, the address is still served without one.
    assert_rate_limited(client.get(f"{API}/me", headers=buyer.headers))
    assert client.get(f"{API}/catalog/statistics").status_code == 200


def test_a_wrong_key_sent_to_a_public_view_counts_too(
    client: FlaskClient, make_party: Callable[..., Party],
) -> None:
    buyer = make_party("buyer")
    for _ in range(3):
        assert client.get(f"{API}/catalog/statistics",
                          headers=bearer(wrong_secret(buyer))).status_code == 401
    assert_rate_limited(client.get(f"{API}/catalog/statistics", headers=buyer.headers))
    assert_rate_limited(client.get(f"{API}/me", headers=buyer.headers))


def test_the_refusal_ends_when_the_window_has_passed(
    client: FlaskClient, make_party: Callable[..., Party], monkeypatch: pytest.MonkeyPatch,
) -> None:
    buyer = make_party("buyer")
    for _ in range(3):
        client.get(f"{API}/me", headers=bearer(wrong_secret(buyer)))
    seconds = assert_rate_limited(client.get(f"{API}/me", headers=buyer.headers))
    real = time.time
    # Two windows later (the sliding window weighs the previous one), the storage's clock.
    monkeypatch.setattr(time, "time", lambda: real() + 2 * 3600 + seconds)
    assert client.get(f"{API}/me", headers=buyer.headers).status_code == 200


def test_a_rate_limited_bad_key_never_reaches_the_logs(
    client: FlaskClient, make_party: Callable[..., Party], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    buyer = make_party("buyer")
    wrong = wrong_secret(buyer)
    for _ in range(4):
        client.get(f"{API}/me", headers=bearer(wrong))
    assert_rate_limited(client.get(f"{API}/me", headers=buyer.headers))
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    for secret in (wrong, buyer.token):
        assert secret not in logged
        assert secret.split(".")[-1] not in logged


# -- costly endpoints -------------------------------------------------------------------------


def test_catalogue_search_is_limited_per_address_for_the_public(client: FlaskClient) -> None:
    for _ in range(3):
        assert client.get(f"{API}/catalog", query_string={"q": "数据"}).status_code == 200
    assert_rate_limited(client.get(f"{API}/catalog"))
    # The JSON-LD catalogue is the same search: one budget.
    assert_rate_limited(client.get(f"{API}/catalog.jsonld"))
    assert client.get(f"{API}/catalog", environ_base=ELSEWHERE).status_code == 200
    # Views that are not costly are not held back.
    assert client.get(f"{API}/catalog/statistics").status_code == 200


def test_exports_are_limited_per_organisation_not_per_address(
    client: FlaskClient, make_party: Callable[..., Party],
) -> None:
    first, second = make_party("regulator"), make_party("regulator")
    for _ in range(2):
        exported = client.get(f"{API}/regulator/filings/export", headers=first.headers)
        assert exported.status_code == 200
        exported.get_data()
    assert_rate_limited(client.get(f"{API}/regulator/filings/export", headers=first.headers))
    assert_rate_limited(client.get(f"{API}/regulator/filings/export", headers=first.headers,
                                   environ_base=ELSEWHERE))
    # Another regulator from the same address has its own budget.
    exported = client.get(f"{API}/regulator/filings/export", headers=second.headers,
                          query_string={"format": "jsonl"})
    assert exported.status_code == 200
    exported.get_data()
    # The search budget is another one.
    assert client.get(f"{API}/supply", headers=make_party("buyer").headers).status_code == 200


def test_the_costly_views_are_marked(app: Flask) -> None:
    marked = {endpoint: getattr(view, "_market_rate_limit", None)
              for endpoint, view in app.view_functions.items()}
    assert {e: k for e, k in marked.items() if k} == {
        "listing.search_catalog": "search", "listing.dcat_catalog": "search",
        "matching.search_supply": "search", "regulator.export_filings": "export",
        "trading.evidence_bundle": "export"}


def test_an_unreachable_store_falls_back_to_counting_in_memory(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = app.extensions["market.limiter"].storage

    def unreachable(*_: Any, **__: Any) -> Any:
        raise ConnectionError("the shared store is down")

    for name in ("get_sliding_window", "acquire_sliding_window_entry", "incr", "get"):
        monkeypatch.setattr(storage, name, unreachable)
    monkeypatch.setattr(storage, "check", lambda: False)
    for _ in range(3):
        assert client.get(f"{API}/catalog").status_code == 200
    assert_rate_limited(client.get(f"{API}/catalog"))


# -- proxies ---------------------------------------------------------------------------------


def test_forwarded_addresses_are_ignored_unless_proxies_are_trusted(
    client: FlaskClient,
) -> None:
    for n in range(3):
        client.get(f"{API}/catalog", headers={"X-Forwarded-For": f"203.0.113.{n}"})
    assert_rate_limited(client.get(f"{API}/catalog",
                                   headers={"X-Forwarded-For": "203.0.113.99"}))


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(
    settings: Settings, session_factory: sessionmaker[Session], clock: FixedClock,
) -> None:
    app = create_app(settings.with_changes(**LIMITS, trusted_proxies=1),
                     session_factory=session_factory, clock=clock)
    client = app.test_client()
    spoofed = {"X-Forwarded-For": "192.0.2.1, 203.0.113.5"}  # the proxy appended the last
    for _ in range(3):
        assert client.get(f"{API}/catalog", headers=spoofed).status_code == 200
    assert_rate_limited(client.get(f"{API}/catalog",
                                   headers={"X-Forwarded-For": "192.0.2.2, 203.0.113.5"}))
    assert client.get(f"{API}/catalog",
                      headers={"X-Forwarded-For": "203.0.113.6"}).status_code == 200


# -- switched off, configured, documented ---------------------------------------------------------


def test_limits_switched_off_never_answer_429(
    settings: Settings, session_factory: sessionmaker[Session], clock: FixedClock,
    make_party: Callable[..., Party],
) -> None:
    app = create_app(settings.with_changes(**{**LIMITS, "rate_limits": False}),
                     session_factory=session_factory, clock=clock)
    client = app.test_client()
    buyer = make_party("buyer")
    for _ in range(8):
        assert client.get(f"{API}/me", headers=bearer(wrong_secret(buyer))).status_code == 401
        assert client.get(f"{API}/catalog").status_code == 200
    assert client.get(f"{API}/me", headers=buyer.headers).status_code == 200


def test_settings_turn_limits_on_by_default_and_check_them(tmp_path: Any) -> None:
    base = {"MARKET_INSTANCE_PATH": str(tmp_path), "MARKET_SECRET_KEY": "s" * 32}
    loaded = load_settings(base)
    assert loaded.rate_limits
    assert loaded.rate_limit_storage == "memory://"
    assert loaded.trusted_proxies == 0
    custom = load_settings({**base, "MARKET_RATE_LIMITS": "off",
                            "MARKET_RATE_LIMIT_EXPORT": "5/minute;50/day",
                            "MARKET_RATE_LIMIT_STORAGE": "redis://cache:6379/0",
                            "MARKET_TRUSTED_PROXIES": "2"})
    assert not custom.rate_limits
    assert custom.rate_limit_export == "5/minute;50/day"
    assert custom.rate_limit_storage == "redis://cache:6379/0"
    assert custom.trusted_proxies == 2
    for name, value in [("RATE_LIMIT_SEARCH", "lots"), ("RATE_LIMIT_STORAGE", "ftp://x"),
                        ("RATE_LIMIT_STORAGE", "async+redis://x"), ("TRUSTED_PROXIES", "-1"),
                        ("RATE_LIMITS", "sometimes")]:
        with pytest.raises(ConfigurationError, match=name):
            load_settings({**base, f"MARKET_{name}": value})


def test_the_429_answer_is_documented_where_it_can_happen(client: FlaskClient) -> None:
    spec = client.get(f"{API}/openapi.json").json
    component = spec["components"]["responses"][RATE_LIMITED]
    assert component["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert "application/problem+json" in component["content"]
    ref = {"$ref": f"#/components/responses/{RATE_LIMITED}"}
    # Every operation: any request presenting a key may be refused, costly ones also for
    # their budget.
    operations = [(method, path, operation) for path, item in spec["paths"].items()
                  for method, operation in item.items()
                  if isinstance(operation, dict) and "responses" in operation]
    assert len(operations) > 150
    for method, path, operation in operations:
        assert operation["responses"].get("429") == ref, (method, path)


def test_failed_console_logins_count_like_failed_api_authentications(
    client: FlaskClient, make_party: Callable[..., Party],
) -> None:
    buyer = make_party("buyer")
    page = client.get("/console/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    def log_in(key: str) -> Any:
        return client.post("/console/login", data={"api_key": key, "csrf_token": token})

    for _ in range(3):
        assert log_in(wrong_secret(buyer)).status_code == 401
    assert_rate_limited(log_in(wrong_secret(buyer)))
    # the right key waits out the window too; the API counts the same failures
    assert_rate_limited(log_in(buyer.token))
    assert_rate_limited(client.get(f"{API}/me", headers=buyer.headers))
    # a login without a key is not counted against anyone
    assert log_in("").status_code == 422
