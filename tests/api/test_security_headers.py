"""Every response carries the security headers, errors and the documentation page included
(HSTS only over HTTPS), and no API key or signing secret ever reaches the logs."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from market.kernel.config import Settings
from market.kernel.web.context import API_CSP, DOCS_CSP, HSTS, SECURITY_HEADERS
from tests.conftest import Party

API = "/api/v1"


@pytest.fixture
def app(settings: Settings, session_factory, clock) -> Flask:  # type: ignore[no-untyped-def]
    from market.app import create_app

    return create_app(settings.with_changes(webhooks_allow_private=False),
                      session_factory=session_factory, clock=clock)


@pytest.mark.parametrize(("method", "path", "status", "csp"), [
    ("GET", f"{API}/catalog", 200, API_CSP),
    ("GET", f"{API}/me", 401, API_CSP),
    ("GET", f"{API}/no-such-thing", 404, API_CSP),
    ("DELETE", f"{API}/catalog", 405, API_CSP),
    ("POST", f"{API}/participants", 415, API_CSP),
    ("GET", f"{API}/openapi.json", 200, API_CSP),
    ("GET", f"{API}/docs", 200, DOCS_CSP),
    ("GET", "/healthz", 200, API_CSP),
])
def test_every_response_carries_the_security_headers(
    client: FlaskClient, method: str, path: str, status: int, csp: str,
) -> None:
    response = client.open(path, method=method, data="x" if method == "POST" else None,
                           content_type="text/plain" if method == "POST" else None)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name
    assert response.headers["Content-Security-Policy"] == csp
    assert "frame-ancestors 'none'" in csp
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP: not heeded


def test_hsts_is_sent_over_https(client: FlaskClient) -> None:
    secure = client.get(f"{API}/catalog", base_url="https://market.example")
    assert secure.headers["Strict-Transport-Security"] == HSTS
    assert client.get(f"{API}/me", base_url="https://market.example"
                      ).headers["Strict-Transport-Security"] == HSTS


def test_no_api_key_or_secret_reaches_the_logs(
    client: FlaskClient, make_party, caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    buyer: Party = make_party("buyer")
    secrets = [buyer.token]
    made = client.post(f"{API}/keys", headers=buyer.headers, json={"name": "脚本"})
    assert made.status_code == 201, made.get_json()
    secrets.append(made.json["token"])
    wrong = buyer.token[:-4] + ("AAAA" if not buyer.token.endswith("AAAA") else "BBBB")
    secrets.append(wrong)
    assert client.get(f"{API}/me", headers={"Authorization": f"Bearer {wrong}"}
                      ).status_code == 401
    assert client.get(f"{API}/me", headers={"Authorization": "Bearer not-a-key"}
                      ).status_code == 401
    hook = client.post(f"{API}/webhooks/endpoints", headers=buyer.headers,
                       json={"url": "https://hooks.example.com/in", "event_types": ["*"]})
    assert hook.status_code == 201, hook.get_json()
    secrets.append(hook.json["secret"])
    rotated = client.post(f"{API}/webhooks/endpoints/{hook.json['id']}/secret-rotations",
                          headers=buyer.headers)
    assert rotated.status_code == 201, rotated.get_json()
    secrets.append(rotated.json["secret"])
    assert client.get(f"{API}/me", headers=buyer.headers).status_code == 200
    assert client.post(f"{API}/keys/{made.json['id']}/revoke", headers=buyer.headers
                       ).status_code == 200

    # An unexpected failure in an authenticated request is logged with its traceback, and
    # still without the key that made it.
    from market.participants import services as participants

    def broken(**_: object) -> None:
        raise RuntimeError("the directory is unreachable")

    monkeypatch.setattr(participants, "whoami", broken)
    failed = client.get(f"{API}/me", headers=buyer.headers)
    assert failed.status_code == 500
    assert buyer.token not in failed.get_data(as_text=True)
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "the directory is unreachable" in logged  # the failure itself is logged
    for secret in secrets:
        assert secret not in logged
        assert secret.split(".")[-1] not in logged  # nor the secret part alone
