"""Shared fixtures.

Integration and API tests run on PostgreSQL when ``MARKET_TEST_DATABASE_URL`` is set (CI
sets it) and on a throwaway SQLite file otherwise. The schema is built once per session
with the real Alembic migrations; each test runs inside a transaction that is rolled back
(the application's commits become savepoint releases), so tests never see each other.
Tests that need real commits across connections (concurrency) use ``committed_engine``,
which empties the tables afterwards. ``count_queries`` records the SQL statements a block of
code runs, to pin how many a request or a service call costs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.kernel import migrate
from market.kernel.actor import system_actor
from market.kernel.audit import GENESIS_HASH
from market.kernel.clock import FixedClock
from market.kernel.config import Settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.uow import UnitOfWork
from market.models import metadata
from market.participants import services as participants
from market.participants.domain import Status, random_credit_code
from market.receipts import services as receipts
from market.receipts import verifier
from market.testing.anvil import ANVIL, anvil_node

TEST_SECRET = "test-secret-key-0123456789abcdef"
TEST_SIGNING_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _postgres_url() -> str | None:
    return os.environ.get("MARKET_TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> str:
    """The session's database. Under pytest-xdist each worker gets its own: a file in its
    own temporary folder, or a PostgreSQL database named after the worker on the server."""
    url = _postgres_url()
    if not url:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'market-test.db'}"
    if worker_id == "master":
        return url
    server = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    name = f"market_test_{worker_id}"
    try:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    if eng.dialect.name == "postgresql":
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _rolled_back(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back when the fixture ends."""
    conn = engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    yield from _rolled_back(engine)


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    return make_session_factory(connection, join_transaction_mode="create_savepoint")


@pytest.fixture(scope="module")
def module_connection(engine: Engine) -> Iterator[Connection]:
    """One connection and transaction for a whole module, rolled back at its end, for
    modules that build their world once and isolate each test in a savepoint."""
    yield from _rolled_back(engine)


@pytest.fixture(scope="module")
def module_session_factory(module_connection: Connection) -> sessionmaker[Session]:
    return make_session_factory(module_connection, join_transaction_mode="create_savepoint")


@pytest.fixture(scope="session", autouse=True)
def receipt_issuer(tmp_path_factory: pytest.TempPathFactory) -> receipts.Issuer:
    """Receipts are signed with the test key in every test (create_app configures the same)."""
    return receipts.configure(Settings(instance_path=tmp_path_factory.mktemp("receipts"),
                                       database_url="sqlite://", secret_key=TEST_SECRET,
                                       signing_key=TEST_SIGNING_KEY))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(instance_path=tmp_path, database_url=database_url, secret_key=TEST_SECRET,
                    signing_key=TEST_SIGNING_KEY, testing=True, check_schema=False)


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session], clock: FixedClock) -> Flask:
    return create_app(settings, session_factory=session_factory, clock=clock)


@pytest.fixture
def system_uow(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(session_factory, clock, system_actor("test"))


@dataclass(frozen=True)
class Party:
    """An organisation made for a test, with its first user's API key."""

    org_id: str
    user_id: str
    key_id: str
    token: str
    roles: tuple[str, ...]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_party(system_uow: Callable[[], UnitOfWork]) -> Callable[..., Party]:
    """Register an organisation through the services (admitted unless told otherwise)."""

    counter = iter(range(10_000))

    def make(*roles: str, status: str = Status.ADMITTED.value, name: str | None = None) -> Party:
        n = next(counter)
        code = random_credit_code()
        data = participants.OrganisationInput(
            name=name or f"{'/'.join(roles)} org {n}", credit_code=code,
            contact_name=f"contact {n}", contact_email=f"c{n}-{code.lower()}@example.cn",
            roles=frozenset(roles),
        )
        if status == Status.APPLIED.value:
            reg = participants.apply_for_admission(data, uow=system_uow(),
                                                   key_ttl=timedelta(days=30))
        else:
            reg = participants.register_organisation(data, uow=system_uow(),
                                                     key_ttl=timedelta(days=30), reason="test")
            if status != Status.ADMITTED.value:
                participants.change_status(reg.organisation.id, Status(status), "test",
                                           uow=system_uow())
        return Party(reg.organisation.id, reg.user.id, reg.api_key.key.id, reg.api_key.token,
                     tuple(sorted(roles)))

    return make


@pytest.fixture
def operator(make_party: Callable[..., Party]) -> Party:
    return make_party("operator")


@pytest.fixture
def committed_engine(engine: Engine) -> Iterator[Engine]:
    """The real engine, for tests whose transactions must commit; tables are emptied after."""
    yield engine
    empty_tables(engine)


def empty_tables(engine: Engine) -> None:
    """Delete every row the tests committed, leaving the migrated singletons as new."""
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " CASCADE"))
        else:
            guarded = conn.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND name LIKE '%_no_delete'")).all()
            for name, _ in guarded:
                conn.execute(text(f"DROP TRIGGER {name}"))
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
            for _, sql in guarded:
                conn.execute(text(sql))
        conn.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"),
                     {"h": GENESIS_HASH})
        conn.execute(text("INSERT INTO catalog_state (id, token, listings) "
                          "VALUES (1, 'emptied-by-tests', 0)"))
        for suite in verifier.SUITES:  # the receipts logs' heads, empty, as migrated
            conn.execute(text("INSERT INTO receipt_logs (suite, origin, size, frontier, root, "
                              "updated_at) VALUES (:suite, '', 0, '[]', :root, :at)"),
                         {"suite": suite, "root": verifier.suite_hash(suite)(b"").hex(),
                          "at": START})


@pytest.fixture
def committed_session_factory(committed_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(committed_engine)


_TRANSACTION_CONTROL = re.compile(
    r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


@dataclass
class CountedStatements:
    """The SQL statements run while a ``count_queries()`` block was open, in order."""

    statements: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.statements)

    @property
    def queries(self) -> list[str]:
        """The statements without transaction control (``BEGIN``, ``SAVEPOINT``, ``RELEASE``,
        ``ROLLBACK [TO SAVEPOINT]``, ``COMMIT``): what a request costs whether its units of
        work are transactions (production) or savepoints (tests)."""
        return [s for s in self.statements if not _TRANSACTION_CONTROL.match(s)]

    def __str__(self) -> str:
        return f"{len(self)} statements, {len(self.queries)} of them queries:\n" + "\n".join(
            f"{n:3}. {' '.join(statement.split())}"
            for n, statement in enumerate(self.statements, 1))


def _engine_of(bind: Any) -> Engine:
    """The engine behind an engine, a connection, a session, a session factory or the
    application (its ``MarketState.session_factory``)."""
    if isinstance(bind, Flask):
        bind = bind.extensions["market"].session_factory
    if isinstance(bind, sessionmaker):
        bind = bind.kw["bind"]
    if isinstance(bind, Session):
        bind = bind.get_bind()
    if isinstance(bind, Connection):
        bind = bind.engine
    if not isinstance(bind, Engine):
        raise TypeError(f"no engine behind {bind!r}")
    return bind


CountQueries = Callable[..., AbstractContextManager[CountedStatements]]


@pytest.fixture
def count_queries(engine: Engine) -> Iterator[CountQueries]:
    """``with count_queries() as counted: ...`` records in ``counted.statements`` the text of
    every statement run on the test engine inside the block, and stops at the block's end:
    ``len(counted)`` is their number, ``counted.queries`` the statements without transaction
    control, ``str(counted)`` a numbered list for assertion messages. ``count_queries(bind)``
    listens on the engine behind ``bind`` instead (an engine, connection, session, session
    factory or Flask app made on another engine).

    It listens to ``before_cursor_execute`` on the engine, so it sees every connection of
    that engine (the rolled-back test connection the app and services are bound to, fresh
    checkouts, other threads) and counts what SQLAlchemy sends through a cursor: ORM and Core
    statements, ``exec_driver_sql`` (SQLite's ``BEGIN``, which ``make_engine`` emits that
    way), and ``SAVEPOINT`` / ``RELEASE SAVEPOINT`` / ``ROLLBACK TO SAVEPOINT`` (each unit of
    work in a test is a savepoint of the test's transaction, where in production it is a
    transaction of its own). An ``executemany`` counts once, an insert SQLAlchemy sends in
    batches ("insertmanyvalues") once per batch. Not counted: what the DBAPI does
    by itself (psycopg's implicit ``BEGIN``, ``commit()``/``rollback()``), pool pre-pings and
    the connect-time SQLite pragmas, which use raw cursors.
    """
    listening: list[tuple[Engine, Callable[..., None]]] = []

    @contextmanager
    def count(bind: Any = None) -> Iterator[CountedStatements]:
        target = engine if bind is None else _engine_of(bind)
        counted = CountedStatements()

        def record(_conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
            counted.statements.append(statement)

        event.listen(target, "before_cursor_execute", record)
        listening.append((target, record))
        try:
            yield counted
        finally:
            listening.remove((target, record))
            event.remove(target, "before_cursor_execute", record)

    yield count
    for target, record in listening:  # a block entered by hand and never left
        event.remove(target, "before_cursor_execute", record)


def problem(response: Any) -> dict[str, Any]:
    """The problem+json body of an error response, checking its media type."""
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json(force=True)
    assert body["status"] == response.status_code
    return body


@pytest.fixture(scope="session")
def anvil() -> Iterator[str]:
    """A real anvil (npm ``@foundry-rs/anvil``, ``npm install --prefix contracts``) on a free
    loopback port, chain id 31337, for the session; yields its URL. Missing binary: a skip,
    a failure in CI."""
    if not ANVIL.exists():
        reason = f"anvil not installed at {ANVIL}: run `npm install --prefix contracts`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with anvil_node() as url:
        yield url
