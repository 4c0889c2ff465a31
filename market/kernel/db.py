"""Database plumbing shared by every context: metadata, column types, engines, sessions."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    DateTime,
    MetaData,
    Select,
    Table,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from market.kernel.clock import as_utc

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


T = TypeVar("T")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (``timestamptz`` on PostgreSQL)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        converted = as_utc(value)
        return converted.replace(tzinfo=None) if dialect.name == "sqlite" else converted

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


JSONType = JSON().with_variant(JSON(none_as_null=True), "postgresql")


# Whether the transactions begun in this context may write. SQLite lets one writer at a time:
# a transaction that reads first and writes later fails at once ("database is locked") when
# another wrote in between, so every transaction that may write takes the write lock when it
# begins (``BEGIN IMMEDIATE``), queueing behind the current writer for the busy timeout. Only
# safe requests (GET, HEAD, OPTIONS) read without it; should one write after all and meet a
# locked database, its use case is run again with the lock taken up front.
_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "market_write_intent", default=True)


def expect_writes(writes: bool = True) -> None:
    """Declare whether the transactions this context begins from now on may write."""
    _write_intent.set(writes)


@contextlib.contextmanager
def reading() -> Iterator[None]:
    """The transactions begun inside only read (on SQLite: without taking the write lock)."""
    token = _write_intent.set(False)
    try:
        yield
    finally:
        _write_intent.reset(token)


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """The transactions begun inside may write (on SQLite: they take the write lock)."""
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


def _sqlite_connect(busy_timeout_ms: int) -> Any:
    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
    return pragmas


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


# PostgreSQL's "run it again" errors: serialization failure, deadlock detected.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
_SQLITE_BUSY = ("database is locked", "database table is locked")


def is_contention(error: BaseException) -> bool:
    """Whether ``error`` means another transaction was in the way (a locked SQLite database,
    a PostgreSQL serialization failure or deadlock): the use case rolled back and may be run
    again as it is."""
    if not isinstance(error, DBAPIError):
        return False
    orig = error.orig
    if getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    return type(orig).__module__ == "sqlite3" and any(
        text in str(orig) for text in _SQLITE_BUSY)


# Whether the connection's current transaction has sent anything but a read. A transaction
# that only read ends with COMMIT rather than ROLLBACK (see :func:`end_reading`): on
# PostgreSQL a ROLLBACK makes psycopg forget every prepared statement of the connection, so
# nothing would ever stay prepared and each statement would be parsed and planned again.
_WROTE = "market_wrote"
_READS = ("SELECT", "select", "WITH", "with")


def _track_writes(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
    if not statement.lstrip().startswith(_READS):
        conn.info[_WROTE] = True


def _transaction_begun(conn: Any) -> None:
    conn.info[_WROTE] = False


def wrote(session: Session) -> bool:
    """Whether the session's transaction may have written (True when unknown)."""
    if not session.in_transaction():
        return False
    return bool(session.connection().info.get(_WROTE, True))


def end_reading(session: Session) -> None:
    """Commit the session's transaction if it only read; one that wrote is left for
    ``close()`` to roll back (without expiring what was loaded)."""
    transaction = session.get_transaction()
    if transaction is None or not transaction.is_active:  # none, or failed: close() ends it
        return
    if not session.new and not session.dirty and not session.deleted and not wrote(session):
        session.commit()


def make_engine(url: str, *, busy_timeout_ms: int = 5000, **kwargs: Any) -> Engine:
    """An engine with the per-backend settings market relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_connect(busy_timeout_ms))
        event.listen(engine, "begin", _sqlite_begin)
    else:
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(url, **kwargs)
    event.listen(engine, "begin", _transaction_begun)
    event.listen(engine, "before_cursor_execute", _track_writes)
    return engine


def make_session_factory(bind: Any, **kwargs: Any) -> sessionmaker[Session]:
    return sessionmaker(bind=bind, expire_on_commit=False, **kwargs)


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else (
        session_or_engine
    )
    return bind.dialect.name == "postgresql"


def lock_name(session: Session, name: str) -> None:
    """Hold a lock named ``name`` until the session's transaction ends, for work that has no
    row to lock (a file in content-addressed storage). PostgreSQL takes a transaction-level
    advisory lock; SQLite has one writer at a time, so a transaction that has written holds
    every name already."""
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"),
                        {"name": name})


def sql_values(enum: Any) -> str:
    """An enumeration's values as a SQL list for CHECK constraints: ``'a', 'b'``."""
    return ", ".join(f"'{member.value}'" for member in enum)


def insert_or_ignore(session: Session, table: Table, *returning: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING [RETURNING …]`` for the session's backend: a row that
    would break a unique constraint is skipped (after waiting for a concurrent transaction
    inserting the same key to end) instead of failing the transaction. Built once per
    backend, table and returned columns."""
    return _insert_or_ignore(is_postgres(session), table, returning)


@functools.cache
def _insert_or_ignore(postgres: bool, table: Table, returning: tuple[Any, ...]) -> Any:
    stmt = (postgresql if postgres else sqlite).insert(table).on_conflict_do_nothing()
    return stmt.returning(*returning) if returning else stmt


def serialise_on(session: Session, key: str) -> None:
    """Queue this transaction behind any other that asked for the same ``key`` until it ends
    (a PostgreSQL transaction-level advisory lock). SQLite lets one writer at a time anyway."""
    if is_postgres(session):
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(number)))


@functools.cache
def record_type(model: type[Base]) -> type[Any]:
    """The frozen dataclass :func:`record` copies ``model``'s rows into."""
    names = [column.key for column in model.__mapper__.column_attrs]
    return dataclasses.make_dataclass(f"{model.__name__}Record", names, frozen=True)


def record(row: Base) -> Any:
    """A frozen copy of ``row``'s column values (a dataclass named ``<Model>Record``), for a
    service that hands a row to another context: it can be read like the row, but not
    changed, lazy-loaded or flushed."""
    model = type(row)
    return record_type(model)(**{column.key: getattr(row, column.key)
                                  for column in model.__mapper__.column_attrs})


def one_or_none(session: Session, stmt: Select[Any], *, for_update: bool = False) -> Any:
    """The one row ``stmt`` selects (row-locked with ``for_update``), or None."""
    return session.scalars(stmt.with_for_update() if for_update else stmt).one_or_none()


def present(found: T | None, missing: type[Exception]) -> T:
    """``found``, or raise ``missing`` when there is none."""
    if found is None:
        raise missing()
    return found


def one_or(session: Session, stmt: Select[Any], missing: type[Exception], *,
           for_update: bool = False) -> Any:
    """The one row ``stmt`` selects (row-locked with ``for_update``), or raise ``missing``
    (a repository's "no such object, or none the caller may see")."""
    return present(one_or_none(session, stmt, for_update=for_update), missing)
