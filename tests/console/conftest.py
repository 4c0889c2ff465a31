"""Console fixtures: a signed-in browser session through the test client."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.conftest import Party

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def login(client: FlaskClient) -> Callable[[Party], FlaskClient]:
    """Sign ``party`` in to the console in the test client (cookies kept by the client)."""

    def sign_in(party: Party) -> FlaskClient:
        page = client.get("/console/login")
        assert page.status_code == 200
        response = client.post("/console/login", data={
            "api_key": party.token, "csrf_token": csrf_of(page.text), "next": ""})
        assert response.status_code == 303, response.text
        return client

    return sign_in
