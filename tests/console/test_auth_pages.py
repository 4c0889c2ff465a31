"""The console's own pages (home, logout) in the authorization matrix: anyone signed in;
nobody else."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.conftest import Party
from tests.console.conftest import csrf_of

LOGIN = 302
ROLES = ("merchant", "buyer", "operator", "regulator", "assessor", "broker")

MATRIX = {
    ("GET", "/console/"): {"anonymous": LOGIN, **{role: (200, 302) for role in ROLES}},
    ("GET", "/console/<path:unknown>"): {"anonymous": LOGIN, **{role: 404 for role in ROLES}},
    ("POST", "/console/logout"): {"anonymous": LOGIN, **{role: 303 for role in ROLES}},
}


@pytest.mark.parametrize("caller", ["anonymous", *ROLES])
@pytest.mark.parametrize("route", sorted(MATRIX))
def test_console_pages_answer_each_caller_as_the_matrix_says(
    client: FlaskClient, login: Callable[[Party], FlaskClient],
    make_party: Callable[..., Party], route: tuple[str, str], caller: str,
) -> None:
    method, rule = route
    path = rule.replace("<path:unknown>", "no/such/page")
    expected = MATRIX[route][caller]
    data = {}
    if caller != "anonymous":
        login(make_party(caller))
        data = {"csrf_token": csrf_of(client.get("/console/", follow_redirects=True).text)}
    response = client.open(path, method=method, data=data)
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert response.status_code in allowed, response.text[:500]
    if expected == LOGIN:
        assert response.headers["Location"].startswith("/console/login")
    if expected == 404:  # the console's page, not the API's problem+json
        assert response.mimetype == "text/html"
        assert 'id="problem-code">console_page_not_found<' in response.text
