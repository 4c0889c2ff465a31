"""The hash-chained audit log: written by services, refused to writers, checked end to end."""

from __future__ import annotations

import gc
import itertools
import json
import os
import threading
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from market.cli import main as cli
from market.kernel.actor import system_actor
from market.kernel.audit import GENESIS_HASH, AuditEntry, AuditHead, entry_hash, verify_chain
from market.kernel.clock import FixedClock
from market.kernel.db import make_engine
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.domain import Status, random_credit_code
from tests.conftest import TEST_SECRET, Party, problem

VERIFY = "/api/v1/audit/verification"
ENTRY_COLUMNS = [c.name for c in AuditEntry.__table__.columns if c.name != "hash"]

requires_postgres = pytest.mark.skipif(
    not os.environ.get("MARKET_TEST_DATABASE_URL"),
    reason="concurrent audit writers need a real PostgreSQL (set MARKET_TEST_DATABASE_URL, "
           "e.g. scripts/with-postgres); SQLite serialises writers so there is no race to test",
)


def allow_tampering(connection: Connection) -> None:
    """Switch off the append-only triggers until the surrounding transaction ends."""
    if connection.dialect.name == "postgresql":
        # Triggers do not fire for replication sessions (the test role is a superuser).
        connection.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        connection.execute(text("DROP TRIGGER audit_log_no_update"))
        connection.execute(text("DROP TRIGGER audit_log_no_delete"))


def verify(session_factory: sessionmaker[Session]) -> Any:
    with session_factory() as session:
        return verify_chain(session)


def entry(connection: Connection, seq: int) -> dict[str, Any]:
    return dict(connection.execute(
        select(AuditEntry.__table__).where(AuditEntry.seq == seq)
    ).mappings().one())


@pytest.fixture
def chain(make_party: Callable[..., Party], system_uow: Callable[[], UnitOfWork],
          clock: FixedClock, session_factory: sessionmaker[Session]) -> int:
    """Entries written by services: two organisations and two admission decisions.

    Returns the head sequence number (eight entries after whatever was there before).
    """
    with session_factory() as session:
        before = int(session.scalar(select(AuditHead.seq)) or 0)
    make_party("operator")
    buyer = make_party("buyer")
    clock.advance(timedelta(minutes=5))
    participants.change_status(buyer.org_id, Status.SUSPENDED, "late filing", uow=system_uow())
    clock.advance(timedelta(minutes=5))
    participants.change_status(buyer.org_id, Status.ADMITTED, "filed", uow=system_uow())
    with session_factory() as session:
        head = int(session.scalar(select(AuditHead.seq)) or 0)
    assert head == before + 8
    return head


# -- a chain written by the services -------------------------------------------------------


def test_services_write_an_unbroken_chain(
    chain: int, connection: Connection, session_factory: sessionmaker[Session]
) -> None:
    result = verify(session_factory)

    assert result.ok, result
    assert (result.checked, result.head_seq) == (chain, chain)
    assert (result.first_broken_seq, result.reason) == (None, None)
    rows = [entry(connection, seq) for seq in range(1, chain + 1)]
    assert [r["seq"] for r in rows] == list(range(1, chain + 1))
    assert rows[0]["prev_hash"] == GENESIS_HASH
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    assert [r["action"] for r in rows[-8:]] == [
        "organisation.admitted", "user.created", "api_key.created",
        "organisation.admitted", "user.created", "api_key.created",
        "organisation.suspended", "organisation.admitted",
    ]
    head = connection.execute(select(AuditHead.seq, AuditHead.hash)).one()
    assert tuple(head) == (chain, rows[-1]["hash"])


def test_rolled_back_unit_of_work_leaves_no_entry_and_no_gap(
    chain: int, session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    with UnitOfWork(session_factory, clock, system_actor("test")) as uow:
        uow.audit.record(uow.actor, "thing.discarded", "thing", "t1", {"n": 1})
        # leaving without commit rolls the entry and the head back

    with UnitOfWork(session_factory, clock, system_actor("test")) as uow:
        uow.audit.record(uow.actor, "thing.kept", "thing", "t2", {"n": 2})
        assert uow.audit.pending == 1
        uow.commit()
        assert uow.audit.pending == 0

    with session_factory() as session:
        kept = session.execute(select(AuditEntry.seq, AuditEntry.object_id)
                               .where(AuditEntry.seq > chain)).all()
    assert [tuple(row) for row in kept] == [(chain + 1, "t2")]
    result = verify(session_factory)
    assert result.ok, result
    assert result.checked == chain + 1


# -- the database refuses changes ----------------------------------------------------------


@pytest.mark.parametrize("statement", [
    pytest.param(update(AuditEntry).values(action="organisation.tampered"), id="update-entry"),
    pytest.param(delete(AuditEntry), id="delete-entry"),
    pytest.param(delete(AuditHead), id="delete-head"),
])
def test_database_refuses_to_rewrite_the_audit_log(
    chain: int, connection: Connection, session_factory: sessionmaker[Session],
    statement: Any,
) -> None:
    with pytest.raises(DBAPIError, match="append-only"), connection.begin_nested():
        connection.execute(statement)

    assert verify(session_factory).ok


def test_application_session_cannot_edit_an_entry(
    chain: int, session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    with UnitOfWork(session_factory, clock, system_actor("test")) as uow:
        loaded = uow.session.get(AuditEntry, 2)
        assert loaded is not None
        loaded.action = "organisation.tampered"
        with pytest.raises(DBAPIError, match="append-only"):
            uow.commit()

    assert verify(session_factory).ok


def test_tampering_switch_is_undone_when_the_transaction_rolls_back(engine: Engine) -> None:
    """The tampering tests rely on the test transaction's rollback restoring the guards."""

    def guards(conn: Connection) -> set[str]:
        if conn.dialect.name == "postgresql":
            return {str(conn.execute(text("SHOW session_replication_role")).scalar())}
        return set(conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'"
        )).scalars())

    with engine.connect() as conn:
        before = guards(conn)
        conn.rollback()
        transaction = conn.begin()
        allow_tampering(conn)
        assert guards(conn) != before
        transaction.rollback()
        assert guards(conn) == before
    assert before in ({"origin"}, {"audit_log_no_update", "audit_log_no_delete"})


# -- tampering is detected -----------------------------------------------------------------


@pytest.mark.parametrize(("column", "value"), [
    ("action", "organisation.blacklisted"),
    ("object_id", "org_someone_else"),
    ("state_digest", "f" * 64),
    ("actor_label", "somebody else"),
    ("request_id", "req_forged"),
    ("at", None),  # moved one second later
])
def test_edited_entry_is_named_as_altered(
    chain: int, connection: Connection, session_factory: sessionmaker[Session],
    column: str, value: Any,
) -> None:
    k = 4
    if column == "at":
        value = entry(connection, k)["at"] + timedelta(seconds=1)
    allow_tampering(connection)
    connection.execute(update(AuditEntry).where(AuditEntry.seq == k).values({column: value}))

    result = verify(session_factory)

    assert not result.ok
    assert result.first_broken_seq == k
    assert result.reason == f"entry {k} was altered"
    assert result.checked == k - 1


def test_deleted_entry_is_named_as_missing(
    chain: int, connection: Connection, session_factory: sessionmaker[Session]
) -> None:
    k = 5
    allow_tampering(connection)
    connection.execute(delete(AuditEntry).where(AuditEntry.seq == k))

    result = verify(session_factory)

    assert not result.ok
    assert result.first_broken_seq == k
    assert result.reason == f"entry {k} is missing"


def test_deleted_first_entry_is_named_as_missing(
    chain: int, connection: Connection, session_factory: sessionmaker[Session]
) -> None:
    allow_tampering(connection)
    connection.execute(delete(AuditEntry).where(AuditEntry.seq == 1))

    result = verify(session_factory)

    assert (result.ok, result.first_broken_seq, result.reason) == (False, 1, "entry 1 is missing")


def test_deleted_last_entry_is_detected(
    chain: int, connection: Connection, session_factory: sessionmaker[Session]
) -> None:
    allow_tampering(connection)
    connection.execute(delete(AuditEntry).where(AuditEntry.seq == chain))

    result = verify(session_factory)

    assert not result.ok
    assert result.first_broken_seq == chain
    assert result.reason == f"entry {chain} is missing"
    assert (result.checked, result.head_seq) == (chain - 1, chain)


def test_edited_entry_with_recomputed_hash_breaks_the_next_link(
    chain: int, connection: Connection, session_factory: sessionmaker[Session]
) -> None:
    k = 3
    forged = entry(connection, k)
    forged["action"] = "api_key.revoked"
    forged_hash = entry_hash(**{c: forged[c] for c in ENTRY_COLUMNS})
    allow_tampering(connection)
    connection.execute(update(AuditEntry).where(AuditEntry.seq == k)
                       .values(action=forged["action"], hash=forged_hash))

    result = verify(session_factory)

    assert not result.ok
    assert result.first_broken_seq == k + 1
    assert result.reason == f"entry {k + 1} does not link to entry {k}"
    assert result.checked == k


def test_edited_last_entry_with_recomputed_hash_breaks_the_head(
    chain: int, connection: Connection, session_factory: sessionmaker[Session]
) -> None:
    forged = entry(connection, chain)
    forged["state_digest"] = "e" * 64
    forged_hash = entry_hash(**{c: forged[c] for c in ENTRY_COLUMNS})
    allow_tampering(connection)
    connection.execute(update(AuditEntry).where(AuditEntry.seq == chain)
                       .values(state_digest=forged["state_digest"], hash=forged_hash))

    result = verify(session_factory)

    assert not result.ok
    assert result.first_broken_seq == chain
    assert result.reason == f"entry {chain} does not match the chain head"


def test_relinked_entry_is_named_as_not_linking(
    chain: int, connection: Connection, session_factory: sessionmaker[Session]
) -> None:
    """An entry re-hashed onto another predecessor is caught at its own link."""
    k = 6
    forged = entry(connection, k)
    forged["prev_hash"] = entry(connection, k - 2)["hash"]
    forged_hash = entry_hash(**{c: forged[c] for c in ENTRY_COLUMNS})
    allow_tampering(connection)
    connection.execute(update(AuditEntry).where(AuditEntry.seq == k)
                       .values(prev_hash=forged["prev_hash"], hash=forged_hash))

    result = verify(session_factory)

    assert (result.ok, result.first_broken_seq) == (False, k)
    assert result.reason == f"entry {k} does not link to entry {k - 1}"


def test_entry_appended_behind_the_heads_back_is_named(
    chain: int, connection: Connection, session_factory: sessionmaker[Session]
) -> None:
    """The triggers allow INSERT, so a forged, correctly hashed entry can be appended
    without moving the head; verification must name that entry, not a missing one."""
    last = entry(connection, chain)
    forged = {**last, "seq": chain + 1, "action": "organisation.blacklisted",
              "prev_hash": last["hash"]}
    forged["hash"] = entry_hash(**{c: forged[c] for c in ENTRY_COLUMNS})
    connection.execute(insert(AuditEntry).values(forged))

    result = verify(session_factory)

    assert not result.ok
    assert result.head_seq == chain
    assert result.first_broken_seq == chain + 1, result
    assert result.reason is not None
    assert "missing" not in result.reason, result.reason


def test_verifying_a_broken_chain_leaves_no_database_cursor_open(
    chain: int, connection: Connection, session_factory: sessionmaker[Session]
) -> None:
    """verify_chain stops at the first bad entry; the rows it did not read must be released.

    On PostgreSQL the entries are streamed through a server-side cursor (yield_per); leaving
    the loop early must close it rather than leave it to the garbage collector.
    """
    allow_tampering(connection)
    connection.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(action="x.y"))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with session_factory() as session:
            result = verify_chain(session)
        gc.collect()

    assert (result.ok, result.first_broken_seq) == (False, 2)
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


# -- the API -------------------------------------------------------------------------------


def test_verification_endpoint_reports_a_good_then_a_broken_chain(
    chain: int, client: FlaskClient, operator: Party, connection: Connection
) -> None:
    head = chain + 3  # the operator fixture registered one more organisation

    good = client.get(VERIFY, headers=operator.headers)
    assert good.status_code == 200
    assert good.get_json() == {"ok": True, "checked": head, "head_seq": head,
                               "first_broken_seq": None, "reason": None}

    allow_tampering(connection)
    connection.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(action="x.y"))
    broken = client.get(VERIFY, headers=operator.headers)

    assert broken.status_code == 200
    body = broken.get_json()
    assert body["ok"] is False
    assert body["first_broken_seq"] == 2
    assert body["reason"] == "entry 2 was altered"


def test_verification_endpoint_is_for_operator_and_regulators_only(
    client: FlaskClient, make_party: Callable[..., Party]
) -> None:
    assert client.get(VERIFY, headers=make_party("regulator").headers).status_code == 200
    refused = client.get(VERIFY, headers=make_party("buyer").headers)
    assert refused.status_code == 403
    assert problem(refused)["code"] == "role_not_allowed"
    assert problem(client.get(VERIFY))["code"] == "unauthorized"


def test_entries_written_through_the_api_carry_the_request_id(
    client: FlaskClient, operator: Party, session_factory: sessionmaker[Session]
) -> None:
    body = {"name": "申请方", "credit_code": random_credit_code(), "contact_name": "张三",
            "contact_email": "zhang-audit@example.cn", "roles": ["buyer"]}
    created = client.post("/api/v1/participants", json=body,
                          headers={"X-Request-Id": "req-audit-1"})
    assert created.status_code == 201

    listed = client.get("/api/v1/audit/entries",
                        query_string={"object_id": created.get_json()["organisation"]["id"]},
                        headers=operator.headers)
    assert listed.status_code == 200
    [item] = listed.get_json()["items"]
    assert (item["action"], item["request_id"]) == ("organisation.applied", "req-audit-1")
    assert item["actor_kind"] == "anonymous"
    assert verify(session_factory).ok


# -- the command line ----------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {"MARKET_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
            "MARKET_INSTANCE_PATH": str(tmp_path / "instance"),
            "MARKET_SECRET_KEY": TEST_SECRET}


def run_cli(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_cli_verify_passes_on_a_good_chain_and_names_the_broken_entry(
    cli_env: dict[str, str]
) -> None:
    assert run_cli(cli_env, "db", "upgrade").exit_code == 0
    for args in (["--operator", "--name", "运营方"], ["--role", "merchant", "--name", "数据商"]):
        made = run_cli(cli_env, "participants", "create", "--credit-code",
                       random_credit_code(), "--json", *args)
        assert made.exit_code == 0, made.output

    good = run_cli(cli_env, "audit", "verify")
    assert good.exit_code == 0, good.output
    assert "audit chain ok: 6 entries" in good.output
    good_json = json.loads(run_cli(cli_env, "audit", "verify", "--json").stdout)
    assert good_json["ok"] is True
    assert good_json["checked"] == 6

    engine = make_engine(cli_env["MARKET_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            allow_tampering(conn)
            conn.execute(update(AuditEntry).where(AuditEntry.seq == 4)
                         .values(actor_label="somebody else"))
    finally:
        engine.dispose()

    broken = run_cli(cli_env, "audit", "verify")
    assert broken.exit_code == 1
    assert "audit chain BROKEN at entry 4: entry 4 was altered" in broken.output
    broken_json = run_cli(cli_env, "audit", "verify", "--json")
    assert broken_json.exit_code == 1
    assert json.loads(broken_json.stdout)["first_broken_seq"] == 4


def test_cli_verify_names_a_deleted_entry(cli_env: dict[str, str]) -> None:
    assert run_cli(cli_env, "db", "upgrade").exit_code == 0
    made = run_cli(cli_env, "participants", "create", "--credit-code", random_credit_code(),
                   "--role", "buyer", "--name", "需求方")
    assert made.exit_code == 0, made.output
    engine = make_engine(cli_env["MARKET_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            allow_tampering(conn)
            conn.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    finally:
        engine.dispose()

    broken = run_cli(cli_env, "audit", "verify")

    assert broken.exit_code == 1
    assert "audit chain BROKEN at entry 2: entry 2 is missing" in broken.output


def test_cli_verify_refuses_an_unmigrated_database(cli_env: dict[str, str]) -> None:
    refused = run_cli(cli_env, "audit", "verify")

    assert refused.exit_code == 1
    assert "database_not_migrated" in refused.stderr
    assert "market db upgrade" in refused.stderr


# -- concurrency (PostgreSQL) --------------------------------------------------------------


@requires_postgres
@pytest.mark.postgres
def test_concurrent_writers_produce_one_contiguous_chain(
    committed_session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    writers, transactions, per_transaction = 6, 12, 3
    start = threading.Barrier(writers)
    errors: list[BaseException] = []
    kept: list[str] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        try:
            start.wait(timeout=30)
            for t in range(transactions):
                object_id = f"w{n}-t{t}"
                with UnitOfWork(committed_session_factory, clock,
                                system_actor(f"writer-{n}")) as uow:
                    for i in range(per_transaction):
                        uow.audit.record(uow.actor, "thing.touched", "thing", object_id,
                                         {"writer": n, "transaction": t, "i": i})
                    if t % 4 == 3:
                        uow.rollback()  # abandoned: must leave no entry and no gap
                        continue
                    uow.commit()
                with lock:
                    kept.append(object_id)
        except BaseException as exc:  # surfaced below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    expected = len(kept) * per_transaction
    assert expected == writers * (transactions - transactions // 4) * per_transaction
    with committed_session_factory() as session:
        result = verify_chain(session)
        rows = session.execute(
            select(AuditEntry.seq, AuditEntry.object_id).order_by(AuditEntry.seq)
        ).all()
    assert result.ok, result
    assert (result.checked, result.head_seq) == (expected, expected)
    assert [r.seq for r in rows] == list(range(1, expected + 1))
    assert sorted({r.object_id for r in rows}) == sorted(kept)
    # each transaction's entries are contiguous: writers queue behind the head row
    by_object: dict[str, list[int]] = {}
    for row in rows:
        by_object.setdefault(row.object_id, []).append(row.seq)
    for object_id, seqs in by_object.items():
        assert seqs == list(range(seqs[0], seqs[0] + per_transaction)), object_id
