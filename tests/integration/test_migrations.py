"""Alembic migrations: build, tear down and rebuild the schema; refuse a stale database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine

from market.app import create_app
from market.kernel import migrate
from market.kernel.actor import system_actor
from market.kernel.audit import GENESIS_HASH, AuditHead, verify_chain
from market.kernel.clock import FixedClock
from market.kernel.config import Settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.errors import DatabaseNotMigrated
from market.kernel.uow import UnitOfWork
from market.models import metadata
from tests.conftest import START, TEST_SECRET, TEST_SIGNING_KEY, problem

requires_postgres = pytest.mark.skipif(
    not os.environ.get("MARKET_TEST_DATABASE_URL"),
    reason="no PostgreSQL server (set MARKET_TEST_DATABASE_URL, e.g. scripts/with-postgres); "
           "the SQLite variant still runs",
)

RECORDS = ("declarations", "declaration_breaches", "decisions", "filings", "alert_notes",
           "suspension_orders", "assessment_reports", "ledger_journals", "ledger_postings",
           "contracts", "trade_incidents", "usage_records", "receipts", "receipt_log_entries",
           "receipt_log_nodes", "receipt_checkpoints", "refunds", "refund_lines",
           "filing_refunds", "subscription_terms", "webhook_attempts",
           "supervision_reads", "contract_signatures")
# Record tables that are not append-only: deleting a row younger than its retention is refused.
RETAINED = ("top_ups", "payouts", "ledger_allocations", "orders", "order_events", "deliveries",
            "disputes", "subscriptions", "subscription_events", "destruction_requests",
            "alerts")
APPEND_ONLY_TRIGGERS = {
    "sqlite": {"audit_log_no_update", "audit_log_no_delete", "audit_head_no_delete"}
    | {f"{t}_no_{e}" for t in RECORDS for e in ("update", "delete")}
    | {f"{t}_retention_no_delete" for t in RETAINED},
    "postgresql": {"audit_log_append_only", "audit_head_append_only"}
    | {f"{t}_append_only" for t in RECORDS} | {"ledger_postings_balance"}
    | {f"{t}_retention" for t in RETAINED},
}


def downgrade(engine: Engine, revision: str = "base") -> None:
    config = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def triggers(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
        else:
            rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        return set(rows.scalars())


@pytest.fixture(params=[
    "sqlite",
    pytest.param("postgresql", marks=[requires_postgres, pytest.mark.postgres]),
])
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a brand-new, empty database (a file, or a database created here)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield engine
        engine.dispose()
        return
    server: Engine = request.getfixturevalue("committed_engine")
    admin = server.execution_options(isolation_level="AUTOCOMMIT")
    name = f"market_migrations_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(server.url.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def unmigrated_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'unmigrated.db'}"


def settings_for(tmp_path: Path, url: str, *, check_schema: bool) -> Settings:
    return Settings(instance_path=tmp_path, database_url=url, secret_key=TEST_SECRET,
                    signing_key=TEST_SIGNING_KEY,
                    testing=True, check_schema=check_schema)


# -- upgrade and downgrade -----------------------------------------------------------------


def test_upgrade_from_empty_builds_the_whole_schema_at_head(fresh_engine: Engine) -> None:
    assert migrate.current_revision(fresh_engine) is None
    assert not migrate.is_current(fresh_engine)

    migrate.upgrade(fresh_engine)

    assert migrate.current_revision(fresh_engine) == migrate.head_revision()
    assert migrate.is_current(fresh_engine)
    assert tables(fresh_engine) == set(metadata.tables) | {"alembic_version"}
    assert triggers(fresh_engine) == APPEND_ONLY_TRIGGERS[fresh_engine.dialect.name]
    with make_session_factory(fresh_engine)() as session:
        head = session.execute(select(AuditHead.id, AuditHead.seq, AuditHead.hash)).all()
        assert [tuple(h) for h in head] == [(1, 0, GENESIS_HASH)]
        assert verify_chain(session).ok


def test_upgrade_at_head_is_a_no_op(fresh_engine: Engine) -> None:
    migrate.upgrade(fresh_engine)
    migrate.upgrade(fresh_engine)

    assert migrate.is_current(fresh_engine)
    with fresh_engine.connect() as conn:
        assert conn.execute(select(AuditHead.seq)).scalars().all() == [0]


def test_downgrade_to_base_removes_everything_and_upgrade_rebuilds_it(
    fresh_engine: Engine,
) -> None:
    migrate.upgrade(fresh_engine)

    downgrade(fresh_engine, "base")

    assert migrate.current_revision(fresh_engine) is None
    assert tables(fresh_engine) == {"alembic_version"}
    assert triggers(fresh_engine) == set()
    if fresh_engine.dialect.name == "postgresql":
        with fresh_engine.connect() as conn:
            functions = conn.execute(text(
                "SELECT proname FROM pg_proc WHERE proname LIKE '%append_only'"
            )).scalars().all()
        assert functions == []

    migrate.upgrade(fresh_engine)

    assert migrate.is_current(fresh_engine)
    assert tables(fresh_engine) == set(metadata.tables) | {"alembic_version"}
    assert triggers(fresh_engine) == APPEND_ONLY_TRIGGERS[fresh_engine.dialect.name]
    clock = FixedClock(START)
    factory = make_session_factory(fresh_engine)
    with UnitOfWork(factory, clock, system_actor("test")) as uow:
        uow.audit.record(uow.actor, "schema.rebuilt", "schema", "1", {})
        assert uow.audit.write() == 1
        uow.commit()
    with factory() as session:
        result = verify_chain(session)
    assert (result.ok, result.checked) == (True, 1)


def test_migrated_schema_matches_the_models(fresh_engine: Engine) -> None:
    migrate.upgrade(fresh_engine)

    with fresh_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": True})
        differences = compare_metadata(context, metadata)

    assert differences == []


def test_test_database_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    assert migrate.is_current(engine)


# -- refusing a database that is not migrated ----------------------------------------------


def test_create_app_refuses_an_unmigrated_database(tmp_path: Path, unmigrated_url: str) -> None:
    with pytest.raises(DatabaseNotMigrated) as raised:
        create_app(settings_for(tmp_path, unmigrated_url, check_schema=True))

    message = str(raised.value)
    assert "run `market db upgrade`" in message
    assert "revision none" in message
    assert f"expected {migrate.head_revision()}" in message
    assert raised.value.code == "database_not_migrated"


def test_create_app_accepts_a_current_database(tmp_path: Path, unmigrated_url: str) -> None:
    engine = make_engine(unmigrated_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()

    app = create_app(settings_for(tmp_path, unmigrated_url, check_schema=True))

    answer = app.test_client().get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json()["schema_revision"] == migrate.head_revision()
    app.extensions["market"].session_factory.kw["bind"].dispose()


def test_readyz_reports_a_database_behind_head_until_it_is_upgraded(
    tmp_path: Path, unmigrated_url: str
) -> None:
    engine = make_engine(unmigrated_url)
    try:
        app = create_app(settings_for(tmp_path, unmigrated_url, check_schema=False),
                         session_factory=make_session_factory(engine))
        client = app.test_client()

        behind = client.get("/readyz")
        assert behind.status_code == 503
        body = problem(behind)
        assert body["code"] == "database_not_migrated"
        assert body["detail"] == "run `market db upgrade`"

        migrate.upgrade(engine)
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.get_json() == {"status": "ok", "database": "ok",
                                    "schema_revision": migrate.head_revision()}

        downgrade(engine, "base")  # the version table stays, empty
        again = client.get("/readyz")
        assert again.status_code == 503
        assert problem(again)["code"] == "database_not_migrated"
    finally:
        engine.dispose()


def test_readyz_reports_an_unreachable_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no-such-dir' / 'market.db'}"
    engine = make_engine(url)
    try:
        app = create_app(settings_for(tmp_path, url, check_schema=False),
                         session_factory=make_session_factory(engine))
        answer = app.test_client().get("/readyz")
    finally:
        engine.dispose()

    assert answer.status_code == 503
    assert problem(answer)["code"] == "database_unavailable"



def test_catalog_search_revision_backfills_an_existing_catalogue(fresh_engine: Engine) -> None:
    from market.listing import catalog

    migrate.upgrade(fresh_engine, "0003")
    at = "2026-11-20 08:00:00.000000"
    with fresh_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO organisations (id, credit_code, name, contact_name, contact_email, "
            "status, created_at, updated_at, version) VALUES ('org_1', '91420100000000000X', "
            "'示例', 'a', 'a@example.cn', 'admitted', :at, :at, 1)"), {"at": at})
        conn.execute(text(
            "INSERT INTO products (id, merchant_org_id, created_at) VALUES ('prd_1', 'org_1', "
            ":at)"), {"at": at})
        conn.execute(text(
            "INSERT INTO catalog_entries (product_id, version_id, merchant_org_id, title, "
            "title_key, type, sector, region, development_level, classification, "
            "delivery_modes, delivers_file, delivers_api, delivers_sandbox, has_free, "
            "listed_at) VALUES ('prd_1', 'ver_1', 'org_1', 'Traffic 交通', 'traffic 交通', "
            "'dataset', '交通运输', '武汉市', 'raw', 'general', '[]', true, false, false, "
            "false, :at)"), {"at": at})
        conn.execute(text(
            "INSERT INTO catalog_terms (term, product_id, weight) VALUES ('交通', 'prd_1', 8), "
            "('traffic', 'prd_1', 8)"))

    migrate.upgrade(fresh_engine)

    with fresh_engine.connect() as conn:
        postings = conn.execute(text(
            "SELECT term, weight FROM catalog_terms ORDER BY term")).all()
        assert [tuple(p) for p in postings] == [
            (catalog.exact_term("Traffic 交通"), 0), ("traffic", 8), ("交通", 8)]
        assert conn.execute(text(
            "SELECT COUNT(*) FROM catalog_terms WHERE listed_at IS NULL")).scalar() == 0
        assert dict(conn.execute(text("SELECT term, listings FROM catalog_term_counts")).all()) \
            == {term: 1 for term, _ in postings}
        assert conn.execute(text("SELECT listings FROM catalog_state")).scalar() == 1
        assert [tuple(r) for r in conn.execute(text(
            "SELECT type, sector, region, listings FROM catalog_facet_counts")).all()] == [
            ("dataset", "交通运输", "武汉市", 1)]
