"""A request takes one pooled connection for everything it does (authenticating the caller
and carrying out the use case) and gives it back when it ends."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from market.app import create_app
from market.kernel import migrate
from market.kernel.actor import system_actor
from market.kernel.clock import SystemClock
from market.kernel.config import Settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.participants.models import ApiKey
from tests.conftest import TEST_SECRET, TEST_SIGNING_KEY


def test_a_request_authenticates_and_works_on_one_pooled_connection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'market.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    code = random_credit_code()
    registered = participants.register_organisation(
        participants.OrganisationInput(
            name="一个连接科技", credit_code=code, contact_name="张三",
            contact_email=f"one-{code.lower()}@example.cn", roles=frozenset(["merchant"])),
        uow=UnitOfWork(make_session_factory(engine), SystemClock(), system_actor("test")),
        key_ttl=timedelta(days=1), reason="test")
    engine.dispose()
    app = create_app(Settings(instance_path=tmp_path, database_url=url, secret_key=TEST_SECRET,
                              signing_key=TEST_SIGNING_KEY, testing=True))
    pool = app.extensions["market"].session_factory.kw["bind"].pool
    taken: list[Any] = []
    given_back: list[Any] = []
    event.listen(pool, "checkout", lambda *_: taken.append(1))
    event.listen(pool, "checkin", lambda *_: given_back.append(1))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {registered.api_key.token}"}

    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200, me.get_json()
    assert (len(taken), len(given_back)) == (1, 1)

    created = client.post("/api/v1/keys", json={"name": "gateway", "scopes": ["read"]},
                          headers=headers)
    assert created.status_code == 201, created.get_json()
    assert (len(taken), len(given_back)) == (2, 2)
    reader = make_engine(url)  # the write was committed, not left to the connection's end
    with reader.connect() as conn:
        assert conn.execute(select(ApiKey.name).where(
            ApiKey.id == created.get_json()["id"])).scalar_one() == "gateway"
    reader.dispose()

    refused = client.post("/api/v1/keys", json={"name": "", "scopes": ["nothing"]},
                          headers=headers)
    assert refused.status_code == 422
    assert (len(taken), len(given_back)) == (3, 3)

    # An idempotent request claims its key, does the work and stores the answer: three
    # short transactions, one connection.
    retried = [client.post("/api/v1/keys", json={"name": "retried", "scopes": ["read"]},
                           headers={**headers, "Idempotency-Key": "key-once"})
               for _ in range(2)]
    assert [r.status_code for r in retried] == [201, 201]
    assert retried[1].headers["Idempotent-Replayed"] == "true"
    assert retried[0].get_json()["id"] == retried[1].get_json()["id"]
    assert (len(taken), len(given_back)) == (5, 5)
    assert pool.checkedout() == 0
