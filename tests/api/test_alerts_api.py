"""Risk monitoring over HTTP: each alert rule fires on a crafted scenario and stays quiet on a
normal one; alerts move open → investigating → closed and reopen when their rule fires
again; regulators' suspension orders are carried out at once and recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from market.compliance import services as compliance
from market.kernel.actor import system_actor
from market.kernel.uow import UnitOfWork
from tests.conftest import START, Party, problem

API = "/api/v1"


@pytest.fixture
def cast(make_party: Callable[..., Party]) -> dict[str, Party]:
    return {"a": make_party("merchant"), "b": make_party("merchant", "buyer"),
            "c": make_party("buyer"), "regulator": make_party("regulator"),
            "operator": make_party("operator")}


def trade(client: FlaskClient, reporter: Party, counterparty: Party, *, role: str = "seller",
          amount: int = 1_000, sector: str = "交通运输", minutes_ago: float = 60) -> str:
    at = START - timedelta(minutes=minutes_ago)
    response = client.post(f"{API}/filings", headers=reporter.headers, json={
        "role": role, "counterparty_org_id": counterparty.org_id, "product_title": "数据",
        "sector": sector, "product_type": "dataset", "amount": amount, "currency": "CNY",
        "concluded_at": at.isoformat(), "evidence_sha256": ["ab" * 32]})
    assert response.status_code == 201, response.get_json()
    return str(response.json["id"])


def alerts(client: FlaskClient, watcher: Party, **query: Any) -> list[dict[str, Any]]:
    response = client.get(f"{API}/alerts", headers=watcher.headers,
                          query_string={"limit": 200, **query})
    assert response.status_code == 200, response.get_json()
    return list(response.json["items"])


def rules(client: FlaskClient, watcher: Party) -> list[str]:
    return [a["rule"] for a in alerts(client, watcher)]


def test_normal_trading_raises_no_alert(client, cast) -> None:
    for i in range(8):
        trade(client, cast["a"], cast["c"], amount=900 + 50 * i, minutes_ago=600 - i)
    trade(client, cast["b"], cast["c"], amount=1_100)
    assert rules(client, cast["regulator"]) == []


@pytest.mark.parametrize(("amount", "fires"), [(20_000, True), (50, True), (2_500, False)])
def test_a_price_far_from_the_sector_median_is_flagged(client, cast, amount, fires) -> None:
    for i in range(5):
        trade(client, cast["a"], cast["c"], amount=1_000 + i, minutes_ago=900 - i)
    filing = trade(client, cast["b"], cast["c"], amount=amount)
    found = alerts(client, cast["regulator"], rule="PriceFarFromSectorMedian")
    assert [a["subject_id"] for a in found] == ([filing] if fires else [])
    if fires:
        detail = client.get(f"{API}/alerts/{found[0]['id']}",
                            headers=cast["regulator"].headers).json
        assert detail["evidence"]["median"] == 1_002
        assert detail["severity"] == "medium"


def test_too_few_trades_give_no_median_to_compare_with(client, cast) -> None:
    for i in range(4):
        trade(client, cast["a"], cast["c"], amount=1_000, minutes_ago=900 - i)
    trade(client, cast["b"], cast["c"], amount=1_000_000)
    assert rules(client, cast["regulator"]) == []


def test_trading_back_and_forth_is_flagged_as_circular(client, cast) -> None:
    first = trade(client, cast["a"], cast["b"], minutes_ago=120)
    trade(client, cast["a"], cast["b"], minutes_ago=100)  # same way again: fine
    assert rules(client, cast["operator"]) == []
    back = trade(client, cast["b"], cast["a"], minutes_ago=90)  # b sells to a
    (alert,) = alerts(client, cast["operator"])
    assert (alert["rule"], alert["severity"], alert["subject_id"]) == (
        "CircularTrading", "high", back)
    assert sorted(alert["org_ids"]) == sorted([cast["a"].org_id, cast["b"].org_id])
    detail = client.get(f"{API}/alerts/{alert['id']}", headers=cast["operator"].headers).json
    assert first in detail["evidence"]["filings"]


def test_a_burst_of_purchases_is_flagged_once(client, cast) -> None:
    for i in range(19):
        trade(client, cast["a"], cast["c"], minutes_ago=50 - i)
    assert rules(client, cast["regulator"]) == []
    trade(client, cast["a"], cast["c"], minutes_ago=30)
    trade(client, cast["a"], cast["c"], minutes_ago=29)  # still bursting: still one alert
    (alert,) = alerts(client, cast["regulator"])
    assert (alert["rule"], alert["subject_type"], alert["subject_id"]) == (
        "OrderBurst", "organisation", cast["c"].org_id)


def test_trading_with_a_suspended_party_is_flagged(client, cast, system_uow) -> None:
    from market.participants import services as participants
    from market.participants.domain import Status

    participants.change_status(cast["c"].org_id, Status.SUSPENDED, "整改", uow=system_uow())
    filing = trade(client, cast["a"], cast["c"])
    (alert,) = alerts(client, cast["regulator"])
    assert (alert["rule"], alert["subject_id"], alert["org_ids"]) == (
        "TradingWhileNotAdmitted", filing, [cast["c"].org_id])


def test_alerts_are_disposed_of_with_notes_and_reopen_when_their_rule_fires_again(
    client, cast, session_factory, clock,
) -> None:
    trade(client, cast["a"], cast["b"], minutes_ago=120)
    trade(client, cast["b"], cast["a"], minutes_ago=90)
    (alert,) = alerts(client, cast["regulator"])
    path = f"{API}/alerts/{alert['id']}/dispositions"
    step = client.post(path, headers=cast["regulator"].headers,
                       json={"status": "investigating", "note": "调取合同"})
    assert step.json["status"] == "investigating"
    wrong = client.post(path, headers=cast["operator"].headers,
                        json={"status": "open", "note": "x"})
    assert problem(wrong)["code"] == "invalid_transition"
    client.post(path, headers=cast["operator"].headers,
                json={"status": "closed", "note": "关联交易已说明"})
    detail = client.get(f"{API}/alerts/{alert['id']}", headers=cast["regulator"].headers).json
    assert [(n["from_status"], n["to_status"], n["by_org_id"]) for n in detail["notes"]] == [
        ("open", "investigating", cast["regulator"].org_id),
        ("investigating", "closed", cast["operator"].org_id)]
    assert alerts(client, cast["regulator"], status="open") == []

    # The periodic pass sees the same trades again: what was closed stays closed.
    scan = UnitOfWork(session_factory, clock, system_actor("monitoring"))
    assert compliance.scan(START - timedelta(days=1), uow=scan) == 0
    assert [a["status"] for a in alerts(client, cast["regulator"])] == ["closed"]


def test_a_closed_alert_reopens_when_its_rule_fires_on_new_evidence(client, cast) -> None:
    for i in range(20):
        trade(client, cast["a"], cast["c"], minutes_ago=300 - i)
    (alert,) = alerts(client, cast["regulator"])
    client.post(f"{API}/alerts/{alert['id']}/dispositions", headers=cast["operator"].headers,
                json={"status": "closed", "note": "批量采购，已核实"})
    for i in range(20):  # another burst, hours later
        trade(client, cast["a"], cast["c"], minutes_ago=40 - i)
    (again,) = alerts(client, cast["regulator"])
    assert (again["id"], again["status"]) == (alert["id"], "open")
    notes = client.get(f"{API}/alerts/{alert['id']}", headers=cast["regulator"].headers
                       ).json["notes"]
    assert [(n["from_status"], n["to_status"]) for n in notes] == [
        ("open", "closed"), ("closed", "open")]


def test_a_regulator_suspends_a_participant_by_order(client, cast) -> None:
    trade(client, cast["a"], cast["b"], minutes_ago=120)
    trade(client, cast["b"], cast["a"], minutes_ago=90)
    (alert,) = alerts(client, cast["regulator"])
    ordered = client.post(f"{API}/suspension-orders", headers=cast["regulator"].headers,
                          json={"subject_type": "participant", "subject_id": cast["b"].org_id,
                                "reason": "涉嫌对倒交易", "alert_id": alert["id"]})
    assert ordered.status_code == 201, ordered.get_json()
    org = client.get(f"{API}/participants/{cast['b'].org_id}",
                     headers=cast["operator"].headers).json
    assert org["status"] == "suspended"
    assert ordered.json["id"] in org["status_reason"]
    # Its key no longer trades, and the public sees the sanction.
    refused = client.post(f"{API}/filings", headers=cast["b"].headers, json={})
    assert problem(refused)["code"] == "participant_not_admitted"
    sanctions = client.get(f"{API}/disclosure/sanctions").json["items"]
    assert [s["org_id"] for s in sanctions] == [cast["b"].org_id]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"subject_type": "listing", "subject_id": "prd_01J00000000000000000000000"}, 404,
     "product_not_found"),
    ({"subject_type": "participant", "subject_id": "org_01J00000000000000000000000"}, 404,
     "organisation_not_found"),
    ({"subject_type": "participant", "subject_id": "", "alert_id": "alr_missing"}, 422,
     "invalid_input"),
    ({"subject_type": "participant", "subject_id": "x", "alert_id": "alr_missing"}, 404,
     "alert_not_found"),
])
def test_an_order_on_nothing_is_refused_and_leaves_no_record(client, cast, body, status,
                                                            code) -> None:
    response = client.post(f"{API}/suspension-orders", headers=cast["regulator"].headers,
                           json={"reason": "核查", **body})
    assert response.status_code == status, response.get_json()
    assert problem(response)["code"] == code
    entries = client.get(f"{API}/audit/entries?limit=200", headers=cast["operator"].headers)
    assert "suspension.ordered" not in {e["action"] for e in entries.json["items"]}
