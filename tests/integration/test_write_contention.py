"""Concurrent writers queue instead of failing: on the embedded SQLite default a writer waits
for the one before it, a use case another transaction got in the way of runs again, and a
request that cannot get through in time answers 503 with Retry-After and writes nothing."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from market.app import create_app
from market.kernel import migrate
from market.kernel.actor import system_actor
from market.kernel.clock import SystemClock
from market.kernel.config import Settings
from market.kernel.db import is_contention, make_engine, make_session_factory
from market.kernel.idempotency import IdempotencyRecord, IdempotencyStore
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.participants.models import ApiKey
from tests.conftest import TEST_SECRET, TEST_SIGNING_KEY

BIN = Path(sys.executable).parent


def _merchant(url: str) -> str:
    engine = make_engine(url)
    migrate.upgrade(engine)
    code = random_credit_code()
    registered = participants.register_organisation(
        participants.OrganisationInput(
            name="排队科技", credit_code=code, contact_name="张三",
            contact_email=f"queue-{code.lower()}@example.cn", roles=frozenset(["merchant"])),
        uow=UnitOfWork(make_session_factory(engine), SystemClock(), system_actor("test")),
        key_ttl=timedelta(days=1), reason="test")
    engine.dispose()
    return registered.api_key.token


def _count(url: str, stmt: Any) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_file(tmp_path: Path) -> tuple[str, str, Path]:
    url = f"sqlite:///{tmp_path / 'market.db'}"
    return url, _merchant(url), tmp_path / "market.db"


def _app(tmp_path: Path, url: str, **settings: Any) -> Any:
    return create_app(Settings(instance_path=tmp_path, database_url=url, secret_key=TEST_SECRET,
                               signing_key=TEST_SIGNING_KEY, testing=True, **settings))


def _holding_the_write_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE audit_head SET seq = seq WHERE 1 = 0")
    return holder


def test_a_writer_waits_for_the_one_before_it(sqlite_file, tmp_path):
    url, token, path = sqlite_file
    app = _app(tmp_path, url, db_busy_timeout_ms=10_000)
    holder = _holding_the_write_lock(path)
    release = threading.Timer(0.3, holder.rollback)
    release.start()
    try:
        created = app.test_client().post(
            "/api/v1/keys", json={"name": "queued"},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "queued-1"})
    finally:
        release.join()
        holder.close()
    assert created.status_code == 201, created.get_json()
    assert _count(url, select(func.count()).select_from(ApiKey)
                  .where(ApiKey.name == "queued")) == 1


def test_a_request_that_cannot_get_the_database_in_time_gets_503_and_writes_nothing(
    sqlite_file, tmp_path,
):
    url, token, path = sqlite_file
    app = _app(tmp_path, url, db_busy_timeout_ms=50, db_attempts=2)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "busy-1"}
    keys_before = _count(url, select(func.count()).select_from(ApiKey))
    holder = _holding_the_write_lock(path)
    try:
        busy = client.post("/api/v1/keys", json={"name": "busy"}, headers=headers)
    finally:
        holder.rollback()
        holder.close()

    assert busy.status_code == 503
    assert busy.mimetype == "application/problem+json"
    assert busy.get_json()["code"] == "database_busy"
    assert busy.headers["Retry-After"] == "1"
    assert _count(url, select(func.count()).select_from(ApiKey)) == keys_before
    assert _count(url, select(func.count()).select_from(IdempotencyRecord)
                  .where(IdempotencyRecord.key == "busy-1")) == 0

    again = client.post("/api/v1/keys", json={"name": "busy"}, headers=headers)
    assert again.status_code == 201, again.get_json()
    assert _count(url, select(func.count()).select_from(ApiKey)) == keys_before + 1


def test_a_read_that_writes_after_another_writer_committed_runs_again(
    sqlite_file, tmp_path, monkeypatch,
):
    """A safe request reads without the write lock; when it then writes and SQLite refuses
    (its snapshot is stale), its use case runs again from the start, lock taken up front."""
    url, token, _path = sqlite_file
    app = _app(tmp_path, url)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    begun: list[str] = []
    bind = app.extensions["market"].session_factory.kw["bind"]
    from sqlalchemy import event

    event.listen(bind, "begin", lambda conn: begun.append(
        "immediate" if _immediate(conn) else "deferred"))
    calls = {"n": 0}
    original = participants.whoami

    def whoami_meeting_a_writer(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("UPDATE …", {}, sqlite3.OperationalError("database is locked"))
        return original(*args, **kwargs)

    monkeypatch.setattr(participants, "whoami", whoami_meeting_a_writer)
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200, me.get_json()
    assert calls["n"] == 2
    assert begun[0] == "deferred"
    assert begun[-1] == "immediate"


def test_an_idempotent_request_runs_again_under_the_claim_it_made(
    sqlite_file, tmp_path, monkeypatch,
):
    """The claim is made once; the use case that met another transaction runs again under
    it (neither released nor refused as 'in flight'), and has one effect."""
    url, token, _path = sqlite_file
    client = _app(tmp_path, url).test_client()
    calls = {"n": 0}
    original = participants.create_api_key

    def meeting_a_writer_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked"))
        return original(*args, **kwargs)

    monkeypatch.setattr(participants, "create_api_key", meeting_a_writer_once)
    released: list[str] = []
    monkeypatch.setattr(IdempotencyStore, "release",
                        lambda _store, record_id: released.append(record_id))
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "rerun-1"}
    created = client.post("/api/v1/keys", json={"name": "rerun"}, headers=headers)
    assert created.status_code == 201, created.get_json()
    assert calls["n"] == 2
    assert released == []
    assert _count(url, select(func.count()).select_from(ApiKey)
                  .where(ApiKey.name == "rerun")) == 1
    replay = client.post("/api/v1/keys", json={"name": "rerun"}, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_data() == created.get_data()


def _immediate(conn: Any) -> bool:
    from market.kernel import db

    return db._write_intent.get()


def test_only_contention_is_run_again(engine: Engine, is_postgres: bool) -> None:
    """A real lock timeout (SQLite) or deadlock (PostgreSQL) is contention; a constraint
    violation is not."""
    error = _deadlock(engine) if is_postgres else _locked(engine)
    assert is_contention(error)
    with engine.connect() as conn, pytest.raises(DBAPIError) as violated:
        conn.execute(text("SELECT 1 / 0" if is_postgres else "SELECT abs(-9223372036854775808)"))
    assert not is_contention(violated.value)
    assert not is_contention(ValueError("database is locked"))


def _locked(engine: Engine) -> BaseException:
    path = engine.url.database
    assert path
    assert path != ":memory:"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    impatient = make_engine(str(engine.url), busy_timeout_ms=10)
    try:
        with impatient.connect() as conn, pytest.raises(OperationalError) as raised:
            conn.execute(text("UPDATE audit_head SET seq = seq"))
        return raised.value
    finally:
        holder.rollback()
        holder.close()
        impatient.dispose()


def _deadlock(engine: Engine) -> BaseException:
    table = f"deadlock_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id int PRIMARY KEY, n int)"))
        conn.execute(text(f"INSERT INTO {table} VALUES (1, 0), (2, 0)"))
    first_locked = threading.Event()
    failures: list[BaseException] = []

    def one(first: int, second: int, wait: threading.Event | None) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = :id"), {"id": first})
                if wait is None:
                    first_locked.set()
                    time.sleep(0.2)
                else:
                    wait.wait(5)
                conn.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = :id"), {"id": second})
        except Exception as error:  # one of the two is chosen as the deadlock victim
            failures.append(error)

    try:
        threads = [threading.Thread(target=one, args=(1, 2, None)),
                   threading.Thread(target=one, args=(2, 1, first_locked))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {table}"))
    assert len(failures) == 1, failures
    return failures[0]


# -- several processes writing one SQLite file ----------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(sqlite_file: tuple[str, str, Path], tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    url, token, _path = sqlite_file
    port = _free_port()
    env = {**os.environ, "MARKET_DATABASE_URL": url, "MARKET_INSTANCE_PATH": str(tmp_path),
           "MARKET_SECRET_KEY": TEST_SECRET, "MARKET_SIGNING_KEY": TEST_SIGNING_KEY,
           "MARKET_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", "4", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "wsgi:app"],
        env=env, cwd=Path(__file__).resolve().parents[2], start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        yield base, token, url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def test_four_processes_writing_one_sqlite_file_never_answer_500(served):
    """Eight clients against four gunicorn processes on the embedded default: every write
    either lands exactly once (201) or is refused whole; none answers 5xx."""
    base, token, url = served
    headers = {"Authorization": f"Bearer {token}"}

    def client(n: int) -> list[tuple[int, str, str]]:
        seen = []
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            for i in range(30):
                key = f"c{n}-{i}"
                created = http.post("/api/v1/keys", json={"name": key},
                                    headers={"Idempotency-Key": key})
                seen.append((created.status_code, key, created.text))
                read = http.get("/api/v1/me")
                seen.append((read.status_code, "me", read.text))
        return seen

    with ThreadPoolExecutor(8) as pool:
        answers = [a for batch in pool.map(client, range(8)) for a in batch]
    failed = [a for a in answers if a[0] >= 500]
    assert not failed, failed[:3]
    created = {key for status, key, _ in answers if status == 201}
    assert len(created) == 8 * 30
    assert _count(url, select(func.count()).select_from(ApiKey)
                  .where(ApiKey.name.in_(created))) == len(created)
    verified = subprocess.run([str(BIN / "market"), "audit", "verify"], capture_output=True,
                              text=True, env={**os.environ, "MARKET_DATABASE_URL": url,
                                              "MARKET_INSTANCE_PATH": str(Path(url[10:]).parent),
                                              "MARKET_SECRET_KEY": TEST_SECRET,
                                              "MARKET_SIGNING_KEY": TEST_SIGNING_KEY})
    assert verified.returncode == 0, verified.stdout + verified.stderr
