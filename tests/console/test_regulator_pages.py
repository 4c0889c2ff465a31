"""The regulator's console pages: who may open them, what they show (charts of filed
trades, filings with filters, paging and exports, an order's whole record with its
receipts verified, alerts, sanctions, the audit chain), every view kept in the supervision
trace with its console path, and the pages in Chinese."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from market.console.views import regulator as views
from market.kernel.actor import system_actor
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.domain import Status
from market.receipts import services as receipts
from tests.conftest import START, Party
from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa: F401
from tests.integration.trading_fixtures import PRICE, Market, market_fixture  # noqa: F401

API = "/api/v1"
LOGIN = 302
ROLES = ("merchant", "buyer", "operator", "regulator", "assessor", "broker")
MISSING = "regulator, unknown object"


def _only_regulators(ok: int = 200) -> dict[str, Any]:
    return {"anonymous": LOGIN, **{role: ok if role == "regulator" else 403
                                   for role in ROLES}}


MATRIX = {
    ("GET", "/console/regulator"): _only_regulators(),
    ("GET", "/console/regulator/filings"): _only_regulators(),
    ("GET", "/console/regulator/filings/export"): _only_regulators(),
    ("GET", "/console/regulator/orders"): _only_regulators(),
    ("GET", "/console/regulator/orders/<order_id>"): {**_only_regulators(), MISSING: 404},
    ("GET", "/console/regulator/receipts/<receipt_id>"): {**_only_regulators(),
                                                          MISSING: 404},
    ("GET", "/console/regulator/alerts"): _only_regulators(),
    ("GET", "/console/regulator/alerts/<alert_id>"): {**_only_regulators(), MISSING: 404},
    ("GET", "/console/regulator/sanctions"): _only_regulators(),
    ("GET", "/console/regulator/audit"): _only_regulators(),
}
UNKNOWN = {"order_id": "ord_01J00000000000000000000000",
           "receipt_id": "rcp_01J00000000000000000000000",
           "alert_id": "alt_01J00000000000000000000000"}


@dataclass
class Seen:
    """What the regulator's pages are shown on: a settled order with its receipts in the
    log, a filed off-exchange round trip raising an alert that was taken up, a suspended
    and a blacklisted participant."""

    order_id: str
    receipt_id: str
    alert_id: str
    suspended: Party
    blacklisted: Party
    seller: Party
    buyer: Party


def _report(client: FlaskClient, reporter: Party, counterparty: Party, *, amount: int,
            sector: str, minutes_ago: float) -> dict[str, Any]:
    response = client.post(f"{API}/filings", headers=reporter.headers, json={
        "role": "seller", "counterparty_org_id": counterparty.org_id,
        "product_title": "城市交通流量", "sector": sector, "product_type": "dataset",
        "amount": amount, "currency": "CNY",
        "concluded_at": (START - timedelta(minutes=minutes_ago)).isoformat(),
        "evidence_sha256": ["ab" * 32]})
    assert response.status_code == 201, response.get_json()
    return dict(response.json)


@pytest.fixture
def seen(client: FlaskClient, market: Market, make_party: Callable[..., Party],
         session_factory: Any, clock: Any) -> Seen:
    order = market.trade()
    receipts.sequence(UnitOfWork(session_factory, clock, system_actor("sequencer")))
    seller, buyer = make_party("merchant", "buyer"), make_party("merchant", "buyer")
    _report(client, seller, buyer, amount=1_200, sector="交通运输", minutes_ago=120)
    _report(client, buyer, seller, amount=800, sector="交通运输", minutes_ago=90)
    operator = market.rights.operator
    alert = client.get(f"{API}/alerts", headers=operator.headers).json["items"][0]
    taken = client.post(f"{API}/alerts/{alert['id']}/dispositions", headers=operator.headers,
                        json={"status": "investigating", "note": "调取双方合同"})
    assert taken.status_code == 200, taken.get_json()
    uow = lambda: UnitOfWork(session_factory, clock, system_actor("test"))  # noqa: E731
    suspended, blacklisted = make_party("merchant"), make_party("buyer")
    participants.change_status(suspended.org_id, Status.SUSPENDED, "整改期间暂停",
                               uow=uow())
    participants.change_status(blacklisted.org_id, Status.BLACKLISTED, "虚假交易",
                               uow=uow())
    found = client.get(f"{API}/orders/{order.id}", headers=operator.headers)
    return Seen(order.id, found.json["receipts"][0]["id"], alert["id"], suspended,
                blacklisted, seller, buyer)


@pytest.fixture
def regulator(login: Callable[[Party], FlaskClient], market: Market) -> FlaskClient:
    return login(market.rights.regulator)


@pytest.mark.parametrize("caller", ["anonymous", *ROLES, MISSING])
def test_regulator_pages_answer_each_caller_as_the_matrix_says(
    request: pytest.FixtureRequest, client: FlaskClient,
    login: Callable[[Party], FlaskClient], make_party: Callable[..., Party], caller: str,
) -> None:
    values = dict(UNKNOWN)
    if caller == "regulator":
        found: Seen = request.getfixturevalue("seen")
        values = {"order_id": found.order_id, "receipt_id": found.receipt_id,
                  "alert_id": found.alert_id}
    if caller != "anonymous":
        login(make_party("regulator" if caller == MISSING else caller))
    for (method, rule), callers in sorted(MATRIX.items()):
        if caller not in callers:
            continue
        expected = callers[caller]
        path = re.sub(r"<(\w+)>", lambda hit: values[hit.group(1)], rule)
        response = client.open(path, method=method)
        response.get_data()
        response.close()  # a streamed export is read and closed, as a server would
        assert response.status_code == expected, (rule, response.text[:500])
        if expected == LOGIN:
            assert response.headers["Location"].startswith("/console/login"), rule
        if expected == 403:
            assert "console_role_not_allowed" in response.text, rule
        if caller == MISSING:
            assert 'id="problem-code"' in response.text, rule


def test_the_dashboard_draws_trades_and_volume_by_month_sector_type_and_data_class(
    regulator: FlaskClient, seen: Seen,
) -> None:
    page = regulator.get("/console/regulator")
    assert page.status_code == 200
    html = page.text
    assert re.search(r'id="trades">3<', html)  # the order and the two reports
    assert fmt_money(PRICE + 2_000) in html
    for chart in ("by_month", "by_sector", "by_product_type", "by_classification"):
        assert f'id="chart-{chart}"' in html
    assert html.count('<svg class="chart"') == 8  # trades and CNY volume, four ways
    assert "General data" in html
    assert "Unclassified (off-exchange)" in html
    assert "交通运输" in html
    assert "2026-11" in html
    assert "style=" not in html
    assert "<script" not in html
    narrowed = regulator.get("/console/regulator?concluded_from=2030-01-01")
    assert 'id="no-trades"' in narrowed.text


def fmt_money(amount: int) -> str:
    from market.console import format as fmt

    return fmt.money(amount, "CNY")


def test_filings_are_filtered_and_paged_and_a_bad_filter_is_shown_beside_its_field(
    regulator: FlaskClient, seen: Seen, monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = regulator.get("/console/regulator/filings")
    assert page.text.count('class="filing"') == 3
    only = regulator.get("/console/regulator/filings",
                         query_string={"sector": "交通运输", "min_amount": "5.00"})
    assert only.text.count('class="filing"') == 2
    assert fmt_money(1_200) in only.text
    assert fmt_money(PRICE) not in only.text
    assert "sector=%E4%BA%A4%E9%80%9A%E8%BF%90%E8%BE%93" in only.text  # the export keeps it
    by_party = regulator.get("/console/regulator/filings",
                             query_string={"party": seen.seller.org_id, "max_amount": "10"})
    assert by_party.text.count('class="filing"') == 1
    assert fmt_money(800) in by_party.text

    monkeypatch.setattr(views, "LIMIT", 2)
    first = regulator.get("/console/regulator/filings?sector=交通运输")
    assert first.text.count('class="filing"') == 2
    assert 'id="next-page"' not in first.text
    paged = regulator.get("/console/regulator/filings")
    assert paged.text.count('class="filing"') == 2
    following = re.search(r'id="next-page" href="([^"]+)"', paged.text)
    assert following
    rest = regulator.get(following.group(1).replace("&amp;", "&"))
    assert rest.text.count('class="filing"') == 1

    bad = regulator.get("/console/regulator/filings",
                        query_string={"concluded_from": "2026-13-01", "min_amount": "lots"})
    assert bad.status_code == 422
    assert bad.text.count('class="field-error"') == 2
    refused = regulator.get("/console/regulator/filings", query_string={"kind": "barter"})
    assert refused.status_code == 422
    assert 'class="field-error"' in refused.text


def test_the_export_streams_the_filtered_filings_as_csv_and_json_lines(
    regulator: FlaskClient, seen: Seen,
) -> None:
    exported = regulator.get("/console/regulator/filings/export",
                             query_string={"format": "csv", "sector": "交通运输"})
    assert exported.status_code == 200
    assert exported.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="filings.csv"' in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert sorted(int(r["amount"]) for r in rows) == [800, 1_200]
    assert {r["sector"] for r in rows} == {"交通运输"}
    lines = regulator.get("/console/regulator/filings/export",
                          query_string={"format": "jsonl", "party": seen.buyer.org_id,
                                        "max_amount": "10"})
    found = [json.loads(line) for line in lines.get_data(as_text=True).splitlines()]
    assert [(f["amount"], f["seller_org_id"]) for f in found] == [(800, seen.buyer.org_id)]
    wrong = regulator.get("/console/regulator/filings/export?format=xlsx")
    assert wrong.status_code == 422
    assert 'id="problem-code"' in wrong.text


def test_an_order_record_shows_everything_and_its_receipts_verify(
    regulator: FlaskClient, seen: Seen,
) -> None:
    page = regulator.get(f"/console/regulator/orders/{seen.order_id}")
    assert page.status_code == 200
    html = page.text
    for part in ("summary", "contract", "declarations", "ledger", "filing", "receipts",
                 "history"):
        assert f'id="{part}"' in html
    assert "DR-2026-000001" in html  # the rights chain in the contract
    assert "FL-2026-" in html
    assert "purchase@1" in html
    assert "settlement" in html
    assert "resource_holder" in html
    assert html.count('class="receipt"') == 4  # contract, payment, settlement, filing
    assert "accepted → settled" in html
    listed = regulator.get("/console/regulator/orders?status=settled")
    assert seen.order_id in listed.text
    none = regulator.get("/console/regulator/orders?status=refunded")
    assert 'id="no-orders"' in none.text

    verified = regulator.get(f"/console/regulator/receipts/{seen.receipt_id}",
                             query_string={"order": seen.order_id})
    assert verified.status_code == 200
    assert re.search(r'id="verdict">Valid|id="verdict">valid', verified.text)
    for part in ("format", "body", "signature", "signer", "log", "checkpoint", "inclusion",
                 "anchor"):
        assert f"<code>{part}</code>" in verified.text
    assert verified.text.count('class="part"') == 8


def test_alerts_with_their_dispositions_sanctions_and_the_audit_chain(
    regulator: FlaskClient, seen: Seen,
) -> None:
    alerts = regulator.get("/console/regulator/alerts?status=investigating")
    assert "CircularTrading" in alerts.text
    assert 'id="no-alerts"' in regulator.get("/console/regulator/alerts?status=closed").text
    alert = regulator.get(f"/console/regulator/alerts/{seen.alert_id}")
    assert "调取双方合同" in alert.text
    assert "open → investigating" in alert.text

    sanctions = regulator.get("/console/regulator/sanctions")
    assert re.search(r'id="suspended-count">1<', sanctions.text)
    assert re.search(r'id="blacklisted-count">1<', sanctions.text)
    assert "整改期间暂停" in sanctions.text
    assert "虚假交易" in sanctions.text
    assert seen.blacklisted.org_id in sanctions.text

    audit = regulator.get("/console/regulator/audit")
    assert 'id="verdict"' not in audit.text  # recomputed only when asked
    checked = regulator.get("/console/regulator/audit?verify=1")
    assert 'id="verdict">intact<' in checked.text
    assert int(re.search(r'id="checked">(\d+)<', checked.text).group(1)) > 10  # type: ignore[union-attr]


def test_a_page_view_is_kept_in_the_supervision_trace_with_its_console_path(
    regulator: FlaskClient, seen: Seen, market: Market,
) -> None:
    assert regulator.get("/console/regulator/filings?sector=交通运输").status_code == 200
    assert regulator.get(f"/console/regulator/orders/{seen.order_id}").status_code == 200
    trace = regulator.get(f"{API}/regulator/reads",
                          headers=market.rights.operator.headers,
                          query_string={"org_id": market.rights.regulator.org_id,
                                        "limit": 200}).json["items"]
    rows = [(r["method"], r["path"], r["query"], r["status"]) for r in trace]
    assert ("GET", "/console/regulator/filings", "sector=交通运输", 200) in rows
    assert ("GET", f"/console/regulator/orders/{seen.order_id}", "", 200) in rows
    # the page's own API calls are the page's read, not reads of their own
    assert not [r for r in rows if r[1].startswith(API)]


def test_the_pages_speak_chinese(regulator: FlaskClient, seen: Seen) -> None:
    regulator.get("/console/language/zh")
    page = regulator.get("/console/regulator/filings")
    assert page.status_code == 200
    assert 'lang="zh-CN"' in page.text
    assert "退出登录" in page.text  # the console's own words
    assert "登记备案" in page.text  # the page's
