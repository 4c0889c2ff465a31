"""A request that only reads ends its transactions with COMMIT, never ROLLBACK: on PostgreSQL a
ROLLBACK makes psycopg forget the connection's prepared statements, so every statement would
be parsed and planned again on every request. A request that fails still rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from market.app import create_app
from market.kernel.actor import system_actor
from market.kernel.clock import SystemClock
from market.kernel.config import Settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.domain import random_credit_code
from tests.conftest import TEST_SECRET, TEST_SIGNING_KEY


@pytest.fixture
def served(committed_engine: Engine, tmp_path: Path) -> Iterator[tuple[Any, str, Engine]]:
    code = random_credit_code()
    registered = participants.register_organisation(
        participants.OrganisationInput(
            name="只读科技", credit_code=code, contact_name="李四",
            contact_email=f"reads-{code.lower()}@example.cn", roles=frozenset(["merchant"])),
        uow=UnitOfWork(make_session_factory(committed_engine), SystemClock(),
                       system_actor("test")),
        key_ttl=timedelta(days=1), reason="test")
    url = committed_engine.url.render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    app = create_app(Settings(instance_path=tmp_path, database_url=url, secret_key=TEST_SECRET,
                              signing_key=TEST_SIGNING_KEY, testing=True),
                     session_factory=make_session_factory(engine))
    yield app.test_client(), registered.api_key.token, engine
    engine.dispose()


def _ends(engine: Engine) -> list[str]:
    ends: list[str] = []
    event.listen(engine, "commit", lambda _conn: ends.append("commit"))
    event.listen(engine, "rollback", lambda _conn: ends.append("rollback"))
    return ends


def test_reading_requests_commit_and_keep_their_statements_prepared(served, is_postgres):
    client, token, engine = served
    ends = _ends(engine)
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(8):  # psycopg prepares a statement on its fifth use
        me = client.get("/api/v1/me", headers=headers)
        assert me.status_code == 200, me.get_json()

    assert ends
    assert set(ends) == {"commit"}
    if is_postgres:
        with engine.connect() as conn:  # the pool's one connection: the requests' own
            prepared = conn.execute(text("SELECT count(*) FROM pg_prepared_statements"))
            assert prepared.scalar_one() >= 2


def test_authenticating_opens_no_transaction_of_its_own_on_postgresql(served, is_postgres):
    """The key is read in autocommit: one round trip, no BEGIN and COMMIT around it."""
    client, token, engine = served
    begun: list[int] = []
    event.listen(engine, "begin", lambda conn: begun.append(1) if conn.get_execution_options()
                 .get("isolation_level") != "AUTOCOMMIT" else None)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.get_json()
    assert len(begun) == (1 if is_postgres else 2)


def test_a_request_that_fails_rolls_back(served):
    client, token, engine = served
    ends = _ends(engine)
    created = client.post("/api/v1/keys", json={"name": "x", "user_id": "usr_unknown"},
                          headers={"Authorization": f"Bearer {token}"})
    assert created.status_code in (404, 422), created.get_json()
    assert "rollback" in ends
