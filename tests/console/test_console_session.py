"""Console sessions: an API key exchanged for a server-side session; its cookie, timeouts,
logout, CSRF on every form and the page's security headers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.clock import FixedClock
from market.participants.models import ConsoleSession
from tests.conftest import Party
from tests.console.conftest import csrf_of


def _cookie(response: object, name: str) -> str:
    for header in response.headers.getlist("Set-Cookie"):  # type: ignore[attr-defined]
        if header.startswith(name + "="):
            return str(header)
    raise AssertionError(f"no {name} cookie set")


def _in(response: object) -> bool:
    """Whether the page answered as to someone signed in (not sent to the login page)."""
    location = response.headers.get("Location", "")  # type: ignore[attr-defined]
    return not location.startswith("/console/login")


def test_login_exchanges_the_key_for_an_httponly_strict_session_cookie(
    client: FlaskClient, make_party: Callable[..., Party],
    session_factory: sessionmaker[Session],
) -> None:
    buyer = make_party("buyer")
    page = client.get("/console/login")
    response = client.post("/console/login", data={
        "api_key": buyer.token, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    cookie = _cookie(response, "market_console")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS it is Secure
    assert buyer.token not in cookie  # the browser never holds the key
    with session_factory() as session:
        row = session.scalars(select(ConsoleSession)).one()
    assert row.key_id == buyer.key_id
    assert row.ended_at is None


def test_session_cookie_is_secure_over_https(
    client: FlaskClient, make_party: Callable[..., Party],
) -> None:
    buyer = make_party("buyer")
    page = client.get("/console/login", base_url="https://localhost")
    response = client.post("/console/login", base_url="https://localhost", data={
        "api_key": buyer.token, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    assert "Secure" in _cookie(response, "market_console")


def test_a_wrong_key_is_refused_and_opens_nothing(
    client: FlaskClient, session_factory: sessionmaker[Session],
) -> None:
    page = client.get("/console/login")
    response = client.post("/console/login", data={
        "api_key": "mk.key_nope.secret", "csrf_token": csrf_of(page.text)})
    assert response.status_code == 401
    assert "market_console=" not in " ".join(response.headers.getlist("Set-Cookie"))
    with session_factory() as session:
        assert session.scalars(select(ConsoleSession)).all() == []


def test_login_without_its_csrf_token_is_refused(
    client: FlaskClient, make_party: Callable[..., Party],
    session_factory: sessionmaker[Session],
) -> None:
    buyer = make_party("buyer")
    client.get("/console/login")
    response = client.post("/console/login", data={"api_key": buyer.token})
    assert response.status_code == 400
    assert 'id="problem-code">csrf_failed<' in response.text
    with session_factory() as session:
        assert session.scalars(select(ConsoleSession)).all() == []


def test_pages_need_a_session(client: FlaskClient) -> None:
    response = client.get("/console/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login?next=")


def test_logout_ends_the_session_on_the_server(
    login: Callable[[Party], FlaskClient], make_party: Callable[..., Party],
    session_factory: sessionmaker[Session],
) -> None:
    client = login(make_party("buyer"))
    home = client.get("/console/", follow_redirects=True)
    token = csrf_of(home.text)
    stolen = client.get_cookie("market_console", path="/console")
    assert stolen is not None
    response = client.post("/console/logout", data={"csrf_token": token})
    assert response.status_code == 303
    with session_factory() as session:
        row = session.scalars(select(ConsoleSession)).one()
    assert row.ended_at is not None
    assert row.end_reason == "logout"
    # the old cookie, replayed, opens nothing
    client.set_cookie("market_console", stolen.value, path="/console")
    assert not _in(client.get("/console/"))


def test_logout_without_csrf_is_refused_and_the_session_stays(
    login: Callable[[Party], FlaskClient], make_party: Callable[..., Party],
    session_factory: sessionmaker[Session],
) -> None:
    client = login(make_party("buyer"))
    response = client.post("/console/logout", data={})
    assert response.status_code == 400
    with session_factory() as session:
        assert session.scalars(select(ConsoleSession)).one().ended_at is None


def test_idle_and_absolute_timeouts_end_the_session(
    login: Callable[[Party], FlaskClient], make_party: Callable[..., Party],
    clock: FixedClock,
) -> None:
    client = login(make_party("buyer"))
    assert _in(client.get("/console/"))
    clock.advance(timedelta(minutes=29))
    assert _in(client.get("/console/"))  # used: the idle clock starts again
    clock.advance(timedelta(minutes=29))
    assert _in(client.get("/console/"))
    clock.advance(timedelta(minutes=31))
    assert not _in(client.get("/console/"))  # idle too long


def test_the_absolute_lifetime_ends_a_session_in_use(
    login: Callable[[Party], FlaskClient], make_party: Callable[..., Party],
    clock: FixedClock,
) -> None:
    client = login(make_party("buyer"))
    for _ in range(12 * 3):
        assert _in(client.get("/console/"))
        clock.advance(timedelta(minutes=20))
    assert not _in(client.get("/console/"))


def test_revoking_the_key_ends_its_console_sessions(
    login: Callable[[Party], FlaskClient], make_party: Callable[..., Party],
) -> None:
    buyer = make_party("buyer")
    client = login(buyer)
    assert _in(client.get("/console/"))
    revoked = client.post(f"/api/v1/keys/{buyer.key_id}/revoke", headers=buyer.headers)
    assert revoked.status_code == 200, revoked.text
    assert not _in(client.get("/console/"))


def test_pages_carry_a_csp_without_script_and_refuse_framing(
    login: Callable[[Party], FlaskClient], make_party: Callable[..., Party],
) -> None:
    client = login(make_party("buyer"))
    for path in ("/console/login", "/console/"):
        response = client.get(path, follow_redirects=True)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src" not in csp
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "<script" not in response.text
        assert " style=" not in response.text


def test_language_follows_the_browser_then_the_switch(client: FlaskClient) -> None:
    assert "Log in" in client.get("/console/login").text
    zh = client.get("/console/login", headers={"Accept-Language": "zh-CN"}).text
    assert "登录" in zh
    client.get("/console/language/zh?next=/console/login")
    assert "登录" in client.get("/console/login").text
    client.get("/console/language/en?next=/console/login")
    assert "Log in" in client.get("/console/login",
                                  headers={"Accept-Language": "zh-CN"}).text


def test_redirects_after_login_stay_in_the_console(
    client: FlaskClient, make_party: Callable[..., Party],
) -> None:
    buyer = make_party("buyer")
    page = client.get("/console/login")
    response = client.post("/console/login", data={
        "api_key": buyer.token, "csrf_token": csrf_of(page.text),
        "next": "https://evil.example/console"})
    assert response.headers["Location"] == "/console/"


def test_a_key_the_database_cannot_store_is_refused_like_a_wrong_one(
    client: FlaskClient, session_factory: sessionmaker[Session],
) -> None:
    page = client.get("/console/login")
    response = client.post("/console/login", data={
        "api_key": "mk.key_\x00nul.secret", "csrf_token": csrf_of(page.text)})
    assert response.status_code == 401
    assert 'id="login-error"' in response.text
    with session_factory() as session:
        assert session.scalars(select(ConsoleSession)).all() == []


def test_the_stylesheet_is_served_without_looking_up_the_session(
    login: Callable[[Party], FlaskClient], make_party: Callable[..., Party],
    count_queries: Any,
) -> None:
    client = login(make_party("buyer"))
    with count_queries() as counted:
        response = client.get("/console/static/console.css")
        assert response.status_code == 200
        response.close()
    assert counted.queries == []
    with count_queries() as counted:
        assert _in(client.get("/console/"))
    assert counted.queries  # a page does look the session up
