"""Retention and destruction against the database: the database itself refuses deleting a
record younger than its kind's retention (the years the application writes into
``retention_policies``), append-only records are never deleted; an order whose term ended
asks its buyer for a destruction declaration, an overdue one raises one alert; a delivered
file no contract needs any more is deleted from storage and audited, a needed one kept.

Runs on SQLite, and on PostgreSQL when ``MARKET_TEST_DATABASE_URL`` is set
(``scripts/with-postgres``): the triggers differ by backend, the answers must not.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from market.compliance import services as compliance
from market.compliance.models import Alert, Declaration, Filing
from market.compliance.retention import RECORD_KINDS
from market.kernel.actor import system_actor
from market.kernel.audit import AuditEntry, digest
from market.kernel.errors import ConfigurationError
from market.kernel.outbox import OutboxMessage
from market.kernel.uow import UnitOfWork
from market.trading import services as trading
from market.trading.domain import DisputeOutcome
from market.trading.errors import (
    DeliveryFileDeleted,
    DestructionAlreadyDeclared,
    DestructionNotDue,
)
from market.trading.models import Delivery, DestructionRequest, Order, OrderEvent
from tests.conftest import START
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.trading_fixtures import Market, market_fixture  # noqa: F401

GRACE = timedelta(days=30)
FILE = b"id,score\n1,0.9\n"
FILE_SHA = hashlib.sha256(FILE).hexdigest()
OTHER = b"id,score\n2,0.1\n"
OTHER_SHA = hashlib.sha256(OTHER).hexdigest()
# Every record table, and one row of it the trade below makes, by the column naming it.
ROW_OF = {"contracts": "order_id", "declarations": "subject_id", "filings": "order_id",
          "decisions": "subject_id", "ledger_allocations": "order_id",
          "orders": "id", "order_events": "order_id", "deliveries": "order_id",
          "top_ups": None, "audit_log": None, "ledger_journals": None,
          "ledger_postings": None}


def delete_refused(market: Market, sql: str, **params: object) -> bool:
    """Whether the database refuses the DELETE (nothing is deleted either way after)."""
    with market.rights.session_factory() as session:
        nested = session.begin_nested()
        try:
            deleted = session.execute(text(sql), params).rowcount
        except DBAPIError:
            nested.rollback()
            return True
        nested.rollback()
        assert deleted, f"{sql} deleted nothing: the test looks at no row"
        return False


def traded(market: Market, chain: Chain | None = None, *, buyer: str = "buyer",
           content: bytes = FILE) -> Order:
    order = market.place(chain or market.listed(), market.buyer(buyer))
    market.pay(order)
    market.deliver_file(order, content)
    return market.accept(order)


def deliveries(market: Market, order_id: str) -> list[Delivery]:
    with market.rights.session_factory() as session:
        return list(session.scalars(select(Delivery).where(Delivery.order_id == order_id)))


def sweep(market: Market) -> dict[str, list[str]]:
    def uow() -> UnitOfWork:
        return UnitOfWork(market.rights.session_factory, market.rights.clock,
                          system_actor("retention"))
    return trading.sweep_retention(uow, storage=market.storage,
                                   sample_dir=market.storage.parent / "samples", grace=GRACE)


def audited(market: Market, action: str) -> list[AuditEntry]:
    with market.rights.session_factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.seq)))


# -- the database refuses deleting records within their retention ---------------------------


def test_every_record_kind_names_its_tables_and_defaults_to_at_least_five_years() -> None:
    for kind in RECORD_KINDS:
        assert kind.default_years >= kind.floor_years >= 5, kind.kind
        assert kind.tables, kind.kind


@pytest.mark.postgres
def test_the_database_refuses_deleting_each_kind_of_record_within_its_retention(
        market: Market) -> None:
    order = traded(market)
    assert market.filings(order.id)
    for table, column in ROW_OF.items():
        where = f" WHERE {column} = :id" if column else ""
        assert delete_refused(market, f"DELETE FROM {table}{where}", id=order.id), table


@pytest.mark.postgres
def test_a_filing_older_than_its_retention_still_cannot_be_deleted(market: Market) -> None:
    order = traded(market)
    assert delete_refused(market, "DELETE FROM filings WHERE order_id = :id", id=order.id)
    # A filing of 2015, older than any retention: filings are append-only, kept for ever
    # (the audit chain and the receipts commit to them), so its age does not free it.
    old = datetime(2015, 1, 1, tzinfo=UTC)
    copied = [c.name for c in Filing.__table__.columns
              if c.name not in ("id", "number", "order_id", "concluded_at", "filed_at")]
    with market.rights.session_factory() as session, session.begin():
        session.execute(text(
            f"INSERT INTO filings (id, number, order_id, concluded_at, filed_at, "
            f"{', '.join(copied)}) SELECT 'fil_old', 'FL-2015-000001', NULL, :at, :at, "
            f"{', '.join(copied)} FROM filings WHERE order_id = :order"),
            {"order": order.id, "at": old})
    assert delete_refused(market, "DELETE FROM filings WHERE id = 'fil_old'")
    with market.rights.session_factory() as session:
        assert session.get(Filing, "fil_old") is not None
    kinds = {t.kind: t for t in compliance.retention_policy(uow=market.system())}
    assert kinds["filing"].append_only
    assert kinds["contract"].append_only
    assert not kinds["order"].append_only


@pytest.mark.postgres
def test_a_record_past_its_retention_may_be_deleted_where_its_kind_is_not_append_only(
        market: Market) -> None:
    order = traded(market)
    old = datetime(2015, 1, 1, tzinfo=UTC)
    columns = [c.name for c in OrderEvent.__table__.columns if c.name not in ("id", "at")]
    with market.rights.session_factory() as session, session.begin():
        session.execute(text(  # a copy of one of the order's events, made in 2015
            f"INSERT INTO order_events (id, at, {', '.join(columns)}) "
            f"SELECT 'oev_old', :at, {', '.join(columns)} FROM order_events "
            f"WHERE order_id = :order AND to_status = 'delivered'"),
            {"order": order.id, "at": old})

    assert not delete_refused(market, "DELETE FROM order_events WHERE id = 'oev_old'")
    assert delete_refused(market, "DELETE FROM order_events WHERE id <> 'oev_old' "
                                  "AND order_id = :id", id=order.id)

    # the configured years reach the database: kept 20 years, the 2015 row is young again
    compliance.apply_retention("", uow=market.system())  # the defaults, as migrated
    before = len(audited(market, "retention.applied"))
    assert compliance.apply_retention("order=20", uow=market.system()) == ["order"]
    assert delete_refused(market, "DELETE FROM order_events WHERE id = 'oev_old'")
    assert compliance.apply_retention("order=20", uow=market.system()) == []
    assert [e.object_id for e in audited(market, "retention.applied")[before:]] == ["order"]


def test_retention_never_goes_below_a_floor_nor_names_an_unknown_kind(market: Market) -> None:
    compliance.apply_retention("", uow=market.system())
    with pytest.raises(ConfigurationError, match="floor"):
        compliance.apply_retention("filing=3", uow=market.system())
    with pytest.raises(ConfigurationError, match="unknown"):
        compliance.apply_retention("receipts=10", uow=market.system())
    with pytest.raises(DBAPIError), market.rights.session_factory() as session, \
            session.begin():
        session.execute(text("UPDATE retention_policies SET years = 2 WHERE kind = 'order'"))
    assert {t.kind: t.years for t in compliance.retention_policy(uow=market.system())
            }["order"] == 5


# -- destruction declarations -----------------------------------------------------------------


def test_a_destruction_is_asked_for_when_the_term_ends_signed_and_never_alerted(
        market: Market) -> None:
    order = traded(market)
    buyer = market.party_of(order.buyer_org_id)
    with pytest.raises(DestructionNotDue):
        trading.declare_destruction(order.id, START, "安全擦除", grace=GRACE,
                                    uow=market.uow(buyer))
    assert sweep(market)["destructions_requested"] == []

    market.rights.clock.advance(timedelta(days=366))  # the licence and the terms ended
    assert sweep(market)["destructions_requested"] == [order.id]
    assert sweep(market)["destructions_requested"] == []  # asked once
    with market.rights.session_factory() as session:
        asked = session.scalars(select(OutboxMessage.payload).where(
            OutboxMessage.topic == "order.destruction_due")).all()
    assert [m["order_id"] for m in asked] == [order.id]

    shown = trading.declare_destruction(order.id, market.rights.clock.now(), "安全擦除",
                                        grace=GRACE, uow=market.uow(buyer))
    assert shown["declared_at"] is not None
    assert shown["overdue"] is False
    with market.rights.session_factory() as session:
        declaration = session.get(Declaration, shown["declaration_id"])
        assert declaration is not None
        assert (declaration.kind, declaration.template, declaration.subject_id) == (
            "destruction", "destruction@1", order.id)
    with pytest.raises(DestructionAlreadyDeclared):
        trading.declare_destruction(order.id, market.rights.clock.now(), "再次", grace=GRACE,
                                    uow=market.uow(buyer))

    market.rights.clock.advance(GRACE + timedelta(days=1))
    assert sweep(market)["destructions_overdue"] == []


def test_an_overdue_destruction_declaration_raises_one_alert(market: Market) -> None:
    order = traded(market)
    market.rights.clock.advance(timedelta(days=366))
    sweep(market)
    market.rights.clock.advance(GRACE - timedelta(seconds=1))
    assert sweep(market)["destructions_overdue"] == []

    market.rights.clock.advance(timedelta(seconds=1))
    assert sweep(market)["destructions_overdue"] == [order.id]
    market.rights.clock.advance(timedelta(days=30))
    assert sweep(market)["destructions_overdue"] == []

    with market.rights.session_factory() as session:
        alerts = session.scalars(select(Alert).where(
            Alert.rule == "DestructionDeclarationOverdue")).all()
        request = session.get(DestructionRequest, order.id)
    assert [(a.subject_id, a.status) for a in alerts] == [(order.id, "open")]
    assert request is not None
    assert request.alert_id == alerts[0].id
    # an alert and the request are records too: kept for their retention
    assert delete_refused(market, "DELETE FROM alerts WHERE id = :id", id=alerts[0].id)
    assert delete_refused(market, "DELETE FROM destruction_requests WHERE order_id = :id",
                          id=order.id)


# -- deleting stored files ---------------------------------------------------------------------


def test_a_file_past_its_contract_is_deleted_and_audited_while_a_needed_one_is_kept(
        market: Market) -> None:
    chain = market.listed()
    kept = traded(market, chain, buyer="keeper")
    refunded = market.place(chain, market.buyer("refunded"))
    market.pay(refunded)
    market.deliver_file(refunded, FILE)  # the same file as the order still running
    other = market.place(chain, market.buyer("other"))
    market.pay(other)
    market.deliver_file(other, OTHER)
    for order in (refunded, other):
        dispute = trading.open_dispute(order.id, "数据缺字段", ["ab" * 32],
                                       policy=market.policy,
                                       uow=market.uow(market.party_of(order.buyer_org_id)))
        trading.answer_dispute(dispute.id, "字段齐全", ["cd" * 32],
                               uow=market.uow(market.party_of(order.seller_org_id)))
        trading.decide_dispute(dispute.id, DisputeOutcome.FULL_REFUND, "经核查",
                               uow=market.uow(market.rights.operator))

    assert sweep(market)["delivery_files_deleted"] == [OTHER_SHA]
    assert not (market.storage / OTHER_SHA).exists()
    assert (market.storage / FILE_SHA).exists()  # the running order still needs it
    [entry] = audited(market, "delivery.file_deleted")
    [other_delivery] = deliveries(market, other.id)
    assert (entry.actor_kind, entry.actor_label) == ("system", "retention")
    assert (entry.object_type, entry.object_id) == ("delivery", other_delivery.id)
    assert entry.state_digest == digest({  # who, what, its fingerprint and why
        "order_id": other.id, "sha256": OTHER_SHA, "size": len(OTHER),
        "file_name": "scores.csv", "reason": "the order is refunded", "was_stored": True})

    market.rights.clock.advance(timedelta(days=366))
    assert sweep(market)["delivery_files_deleted"] == [FILE_SHA]
    assert not (market.storage / FILE_SHA).exists()
    with market.rights.session_factory() as session:
        rows = session.scalars(select(Delivery).where(Delivery.sha256 == FILE_SHA)).all()
    assert {r.order_id for r in rows} == {kept.id, refunded.id}
    assert all(r.file_deleted_at is not None and r.sha256 == FILE_SHA for r in rows)
    assert {e.object_id for e in audited(market, "delivery.file_deleted")} == {
        r.id for o in (kept, refunded, other) for r in deliveries(market, o.id)}
    assert sweep(market)["delivery_files_deleted"] == []


def test_a_deleted_file_answers_gone(market: Market) -> None:
    order = traded(market)
    buyer = market.party_of(order.buyer_org_id)
    lasting = replace(market.policy, download_ttl=timedelta(days=400))
    token, _ = trading.issue_download_token(order.id, policy=lasting, uow=market.uow(buyer))
    market.rights.clock.advance(timedelta(days=366))
    sweep(market)

    with pytest.raises(DeliveryFileDeleted) as gone:
        trading.redeem_download(token, counted=True, storage=market.storage,
                                uow=market.system())
    assert gone.value.status == 410
    assert FILE_SHA in str(gone.value)
    with pytest.raises(DeliveryFileDeleted):
        trading.issue_download_token(order.id, policy=market.policy, uow=market.uow(buyer))
