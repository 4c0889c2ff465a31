"""Filings (登记备案) and the regulator API over HTTP: off-exchange reports, one filing per
concluded order, filters, streamed CSV and JSON Lines exports, statistics, and every
regulator read written to the audit log."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.compliance import services as compliance
from market.compliance.models import Filing
from market.kernel.actor import system_actor
from market.kernel.audit import AuditEntry
from market.kernel.uow import UnitOfWork
from market.listing.domain import OfferKind, OfferSpec
from market.rights.domain import Classification
from market.trading import services as trading
from market.trading.domain import DeliveryMode
from tests.conftest import START, Party, problem
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_listing_services import DECLARATION
from tests.integration.trading_fixtures import Market, market_fixture  # noqa: F401

API = "/api/v1"
DIGEST = "cd" * 32


def report(**overrides: Any) -> dict[str, Any]:
    body = {"role": "seller", "counterparty_org_id": "", "product_title": "城市交通流量",
            "sector": "交通运输", "product_type": "dataset", "amount": 250_000,
            "currency": "CNY", "concluded_at": "2026-11-20T10:00:00+08:00",
            "evidence_sha256": [DIGEST]}
    body.update(overrides)
    return body


@pytest.fixture
def parties(make_party: Callable[..., Party]) -> dict[str, Party]:
    return {"seller": make_party("merchant"), "buyer": make_party("buyer"),
            "stranger": make_party("merchant"), "regulator": make_party("regulator"),
            "operator": make_party("operator")}


def _file(client: FlaskClient, reporter: Party, counterparty: Party, expect: int = 201,
          **overrides: Any) -> dict[str, Any]:
    response = client.post(f"{API}/filings", headers=reporter.headers,
                           json=report(counterparty_org_id=counterparty.org_id, **overrides))
    assert response.status_code == expect, response.get_json()
    return dict(response.json)


def _audit_count(session_factory: sessionmaker[Session], action: str) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)
                                  .where(AuditEntry.action == action)) or 0)


def test_an_off_exchange_trade_is_filed_with_a_yearly_number(client, parties) -> None:
    first = _file(client, parties["seller"], parties["buyer"])
    second = _file(client, parties["buyer"], parties["seller"], role="buyer", amount=1)
    assert (first["number"], second["number"]) == ("FL-2026-000001", "FL-2026-000002")
    assert (first["kind"], first["seller_org_id"], first["buyer_org_id"]) == (
        "off_exchange", parties["seller"].org_id, parties["buyer"].org_id)
    assert second["seller_org_id"] == parties["seller"].org_id  # the buyer reported it
    assert first["concluded_at"] == "2026-11-20T02:00:00+00:00"
    assert first["evidence_sha256"] == [DIGEST]


@pytest.mark.parametrize(("overrides", "field"), [
    ({"counterparty_org_id": "org_01J00000000000000000000000"}, "counterparty_org_id"),
    ({"concluded_at": "2026-11-22T09:00:00+00:00"}, "concluded_at"),  # after the clock
    ({"evidence_sha256": []}, "evidence_sha256"),
    ({"amount": -1}, "amount"),
    ({"amount": "12.50"}, "amount"),
    ({"currency": "rmb"}, "currency"),
    ({"role": "broker"}, "role"),
])
def test_bad_reports_are_refused_naming_the_field(client, parties, session_factory,
                                                  overrides, field) -> None:
    body = report(counterparty_org_id=parties["buyer"].org_id)
    body.update(overrides)
    response = client.post(f"{API}/filings", headers=parties["seller"].headers, json=body)
    assert response.status_code == 422, response.get_json()
    assert field in problem(response)["errors"]
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Filing)) == 0


@pytest.mark.parametrize("counterparty", ["seller", "operator"])
def test_the_counterparty_is_another_trading_organisation(client, parties,
                                                         counterparty) -> None:
    response = client.post(f"{API}/filings", headers=parties["seller"].headers,
                           json=report(counterparty_org_id=parties[counterparty].org_id))
    assert response.status_code == 422
    assert set(problem(response)["errors"]) == {"counterparty_org_id"}


def test_parties_see_their_filings_and_regulators_see_all(client, parties) -> None:
    filed = _file(client, parties["seller"], parties["buyer"])
    for who in ("seller", "buyer", "regulator", "operator"):
        shown = client.get(f"{API}/filings/{filed['id']}", headers=parties[who].headers)
        assert shown.status_code == 200, who
    hidden = client.get(f"{API}/filings/{filed['id']}", headers=parties["stranger"].headers)
    assert problem(hidden)["code"] == "filing_not_found"
    listed = client.get(f"{API}/filings", headers=parties["stranger"].headers).json
    assert listed["items"] == []


def test_a_concluded_order_is_filed_exactly_once(session_factory, clock, parties) -> None:
    trade = compliance.TradeFiling(
        order_id="ord_01J00000000000000000000001", product_id="prd_1", version_id="ver_1",
        product_title="企业用电指数", sector="能源", product_type="api_service",
        seller_org_id=parties["seller"].org_id, buyer_org_id=parties["buyer"].org_id,
        amount=100_000, currency="CNY",
        rights_chain=[{"kind": "product_operation", "right_id": "rgt_1"}],
        declaration_ids=["dcl_1"], decision_ids=["dec_1"], concluded_at=START)

    def file_it() -> str:
        uow = UnitOfWork(session_factory, clock, system_actor("trading"))
        with uow:
            number = compliance.file_trade(trade, uow=uow).number
            uow.commit()
            return number

    assert file_it() == file_it() == "FL-2026-000001"
    with session_factory() as session:
        (filing,) = session.scalars(select(Filing))
        assert (filing.kind, filing.order_id, filing.rights_chain, filing.decision_ids) == (
            "exchange", trade.order_id, trade.rights_chain, ["dec_1"])


def _seed(client: FlaskClient, parties: dict[str, Party]) -> list[dict[str, Any]]:
    day = datetime(2026, 11, 18, 12, tzinfo=UTC)
    filed = []
    for i, (sector, amount) in enumerate([("交通运输", 100), ("交通运输", 300),
                                          ("金融", 5_000), ("金融", 7)]):
        filed.append(_file(client, parties["seller"], parties["buyer"], sector=sector,
                           amount=amount, product_title=f"=HYPERLINK(\"x\") {i}",
                           concluded_at=(day + timedelta(days=i % 2)).isoformat()))
    _file(client, parties["stranger"], parties["buyer"], sector="医疗卫生", amount=9)
    return filed


def test_the_regulator_filters_filings(client, parties) -> None:
    filed = _seed(client, parties)
    headers = parties["regulator"].headers

    def numbers(**query: Any) -> list[str]:
        response = client.get(f"{API}/regulator/filings", headers=headers, query_string=query)
        assert response.status_code == 200, response.get_json()
        return [f["number"] for f in response.json["items"]]

    assert len(numbers()) == 5
    assert numbers(sector="金融") == [filed[2]["number"], filed[3]["number"]]
    assert numbers(min_amount=300, max_amount=5_000) == [filed[1]["number"],
                                                         filed[2]["number"]]
    assert numbers(party=parties["stranger"].org_id) == ["FL-2026-000005"]
    assert numbers(concluded_from="2026-11-19T00:00:00+00:00",
                   concluded_to="2026-11-20T00:00:00+00:00") == [filed[1]["number"],
                                                                 filed[3]["number"]]


def test_the_csv_export_has_every_filing_and_no_formulas(client, parties) -> None:
    filed = _seed(client, parties)
    response = client.get(f"{API}/regulator/filings/export", headers=parties["regulator"].headers,
                          query_string={"party": parties["seller"].org_id})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.is_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["number"] for r in rows] == [f["number"] for f in filed]
    assert rows[2]["amount"] == "5000"
    assert rows[0]["product_title"].startswith("'=HYPERLINK")
    assert rows[0]["evidence_sha256"] == DIGEST


def test_the_json_lines_export_is_one_filing_a_line(client, parties) -> None:
    filed = _seed(client, parties)
    response = client.get(f"{API}/regulator/filings/export",
                          headers=parties["regulator"].headers,
                          query_string={"format": "jsonl", "sector": "交通运输"})
    assert response.headers["Content-Type"] == "application/jsonl; charset=utf-8"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [line["number"] for line in lines] == [filed[0]["number"], filed[1]["number"]]
    assert lines[0]["product_title"] == filed[0]["product_title"]  # JSON needs no escaping


def test_statistics_count_and_sum_by_day_sector_and_type(client, parties) -> None:
    _seed(client, parties)
    stats = client.get(f"{API}/regulator/statistics", headers=parties["regulator"].headers,
                       query_string={"party": parties["seller"].org_id}).json
    assert stats["by_sector"] == [
        {"key": "交通运输", "currency": "CNY", "count": 2, "amount": 400},
        {"key": "金融", "currency": "CNY", "count": 2, "amount": 5_007}]
    assert stats["by_day"] == [
        {"key": "2026-11-18", "currency": "CNY", "count": 2, "amount": 5_100},
        {"key": "2026-11-19", "currency": "CNY", "count": 2, "amount": 307}]
    assert stats["by_product_type"] == [
        {"key": "dataset", "currency": "CNY", "count": 4, "amount": 5_407}]
    assert stats["by_month"] == [
        {"key": "2026-11", "currency": "CNY", "count": 4, "amount": 5_407}]
    # reported from off the exchange: no listed version, so no declared data class
    assert stats["by_classification"] == [
        {"key": "unclassified", "currency": "CNY", "count": 4, "amount": 5_407}]


def test_statistics_count_trades_by_the_data_class_of_the_version_sold(
        client: FlaskClient, market: Market, parties: dict[str, Party]) -> None:
    market.trade(market.listed(amount=1_000))
    rights = market.rights
    holder, grantee = rights.party("holder"), rights.party("grantee")
    resource = rights.resource(holder, classification=Classification.IMPORTANT)
    holding = rights.holding(holder, resource)
    grant = rights.grant(holder, holding, grantee)
    use = rights.use(grantee, holding, grant)
    chain = Chain(holder, grantee, resource, holding, grant, use, rights.product(grantee, use))
    market.shop.draft(chain, offers=[("标准版", OfferSpec(OfferKind.ONE_TIME, amount=2_500))],
                      delivery_modes=["api"])
    market.shop.submit(chain, {**DECLARATION, "contains_important_data": True})
    market.shop.review(chain.product_id)
    order = market.place(chain)
    market.pay(order)
    trading.deliver(order.id, trading.DeliveryInput(
        mode=DeliveryMode.API, endpoint="https://api.example.cn/v1/scores"),
        storage=market.storage, policy=market.policy, uow=market.uow(grantee))
    market.accept(order)
    _file(client, parties["seller"], parties["buyer"], amount=70)
    stats = client.get(f"{API}/regulator/statistics",
                       headers=parties["regulator"].headers).json
    assert stats["by_classification"] == [
        {"key": "general", "currency": "CNY", "count": 1, "amount": 1_000},
        {"key": "important", "currency": "CNY", "count": 1, "amount": 2_500},
        {"key": "unclassified", "currency": "CNY", "count": 1, "amount": 70}]
    assert [(row["count"], row["amount"]) for row in stats["by_month"]] == [(3, 3_570)]


def test_every_regulator_read_is_audited_and_nothing_else_is(client, parties,
                                                            session_factory) -> None:
    regulator, operator = parties["regulator"], parties["operator"]
    before = _audit_count(session_factory, "regulator.read")
    for path in ("/regulator/filings?sector=金融", "/regulator/statistics", "/rights",
                 f"/participants/{parties['seller'].org_id}"):
        assert client.get(f"{API}{path}", headers=regulator.headers).status_code == 200
    exported = client.get(f"{API}/regulator/filings/export", headers=regulator.headers)
    exported.get_data()
    exported.close()  # a streamed read is kept when its stream closes
    assert _audit_count(session_factory, "regulator.read") == before + 5
    # Refused reads, other callers' reads and public reads leave no such entry.
    assert client.get(f"{API}/filings/fil_01J00000000000000000000000",
                      headers=regulator.headers).status_code == 404
    assert client.get(f"{API}/rights", headers=operator.headers).status_code == 200
    assert client.get(f"{API}/regulator/filings", headers=operator.headers).status_code == 403
    assert client.get(f"{API}/catalog").status_code == 200
    assert _audit_count(session_factory, "regulator.read") == before + 5
    with session_factory() as session:
        last = session.scalars(select(AuditEntry).where(AuditEntry.action == "regulator.read")
                               .order_by(AuditEntry.seq.desc())).first()
        assert last is not None
        assert last.actor_org_id == regulator.org_id
        assert (last.object_type, last.object_id) == ("request", f"{API}/regulator/filings/export")


def test_the_supervision_trace_answers_who_looked_at_what(client, parties) -> None:
    regulator, operator = parties["regulator"], parties["operator"]
    for amount in (100, 200, 300):
        _file(client, parties["seller"], parties["buyer"], sector="金融", amount=amount)
    assert len(client.get(f"{API}/regulator/filings?sector=金融&limit=2",
                          headers=regulator.headers).json["items"]) == 2
    seller = parties["seller"].org_id
    assert client.get(f"{API}/participants/{seller}", headers=regulator.headers
                      ).status_code == 200
    exported = client.get(f"{API}/regulator/filings/export?format=jsonl",
                          headers=regulator.headers)
    assert len(exported.get_data(as_text=True).splitlines()) == 3
    exported.close()
    # Not a regulator's read: the operator's own reads are not in the trace.
    assert client.get(f"{API}/participants/{seller}", headers=operator.headers
                      ).status_code == 200

    trace = client.get(f"{API}/regulator/reads?org_id={regulator.org_id}",
                       headers=operator.headers)
    assert trace.status_code == 200, trace.get_json()
    rows = [(r["method"], r["path"], r["query"], r["result_count"])
            for r in trace.json["items"]]
    assert rows == [
        ("GET", f"{API}/regulator/filings", "sector=金融&limit=2", 2),
        ("GET", f"{API}/participants/{seller}", "", 1),
        ("GET", f"{API}/regulator/filings/export", "format=jsonl", 3),
    ]
    assert {r["user_id"] for r in trace.json["items"]} == {regulator.user_id}
    assert all(r["key_id"] and r["status"] == 200 for r in trace.json["items"])
    # Narrowed to what was looked at: who read this participant?
    who = client.get(f"{API}/regulator/reads?path={API}/participants/{seller}",
                     headers=regulator.headers).json["items"]
    assert [(r["org_id"], r["path"]) for r in who] == [
        (regulator.org_id, f"{API}/participants/{seller}")]
    bad = client.get(f"{API}/regulator/reads?since=yesterday", headers=regulator.headers)
    assert bad.status_code == 422
    assert problem(bad)["errors"]["since"]


def test_a_regulator_administers_its_own_users_and_keys_audited(client, parties,
                                                                 session_factory) -> None:
    regulator = parties["regulator"]
    created = client.post(f"{API}/participants/{regulator.org_id}/users",
                          headers=regulator.headers,
                          json={"name": "检查员乙", "email": "inspector@example.gov.cn"})
    assert created.status_code == 201, created.get_json()
    key = client.post(f"{API}/keys", headers=regulator.headers,
                      json={"name": "审计只读", "scopes": ["read"]})
    assert key.status_code == 201, key.get_json()
    revoked = client.post(f"{API}/keys/{key.json['id']}/revoke", headers=regulator.headers)
    assert revoked.status_code == 200, revoked.get_json()
    with session_factory() as session:
        mine = {(e.action, e.object_id) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.actor_org_id == regulator.org_id))}
    assert {("user.created", created.json["id"]), ("api_key.created", key.json["id"]),
            ("api_key.revoked", key.json["id"])} <= mine


# -- public disclosure -----------------------------------------------------------------


def test_sanctioned_participants_are_disclosed_with_since_when_and_why(
    client, parties, make_party, system_uow, clock,
) -> None:
    from market.participants import services as participants
    from market.participants.domain import Status

    barred = make_party("merchant", name="失信数据公司")
    participants.change_status(barred.org_id, Status.BLACKLISTED, "伪造数据来源证明",
                               uow=system_uow())
    clock.advance(timedelta(hours=1))
    participants.change_status(parties["stranger"].org_id, Status.SUSPENDED, "逾期未整改",
                               uow=system_uow())
    items = client.get(f"{API}/disclosure/sanctions").json["items"]
    assert [(i["org_id"], i["status"], i["reason"]) for i in items] == [
        (parties["stranger"].org_id, "suspended", "逾期未整改"),
        (barred.org_id, "blacklisted", "伪造数据来源证明")]
    assert items[1]["name"] == "失信数据公司"
    assert items[0]["since"] == "2026-11-21T10:00:00+00:00"
    participants.change_status(parties["stranger"].org_id, Status.ADMITTED, "整改完毕",
                               uow=system_uow())
    assert [i["org_id"] for i in client.get(f"{API}/disclosure/sanctions").json["items"]] == [
        barred.org_id]


def test_market_statistics_name_no_party_and_hide_the_volume_of_small_cells(
    client, parties,
) -> None:
    _seed(client, parties)  # 交通运输 ×2, 金融 ×2 (seller); 医疗卫生 ×1 (stranger)
    for _ in range(2):
        _file(client, parties["seller"], parties["buyer"], sector="金融", amount=1_000)
    body = client.get(f"{API}/disclosure/market-statistics").json
    assert body["by_sector"] == [
        {"key": "交通运输", "currency": "CNY", "count": 2, "amount": None},
        {"key": "医疗卫生", "currency": "CNY", "count": 1, "amount": None},
        {"key": "金融", "currency": "CNY", "count": 4, "amount": 7_007}]
    assert body["by_month"] == [{"key": "2026-11", "currency": "CNY", "count": 7,
                                 "amount": 7_416}]
    assert parties["seller"].org_id not in json.dumps(body)
