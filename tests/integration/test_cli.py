"""The console command end to end on a fresh SQLite database (the embedded default)."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from market.cli import main
from market.kernel.config import Settings
from market.kernel.migrate import head_revision
from market.receipts import services as receipts


@pytest.fixture(autouse=True)
def _restore_receipt_issuer(settings: Settings) -> Iterator[None]:
    """Commands configure receipts with their instance's keys; later tests sign with the
    test key again."""
    yield
    receipts.configure(settings)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"MARKET_INSTANCE_PATH": str(tmp_path / "instance")}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def migrated(env: dict[str, str]) -> dict[str, str]:
    result = run(env, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return env


def test_db_upgrade_creates_the_sqlite_file_under_instance(env, tmp_path):
    assert run(env, "db", "current").exit_code == 1
    assert run(env, "db", "upgrade").exit_code == 0
    assert (tmp_path / "instance" / "market.db").exists()
    current = run(env, "db", "current")
    assert current.exit_code == 0
    assert f"current {head_revision()}" in current.output


def test_bootstrap_operator_prints_one_json_object_with_a_working_key(migrated):
    result = run(migrated, "participants", "create", "--operator", "--name", "运营方",
                 "--credit-code", "91350100M000100Y43", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["roles"] == ["operator"]
    assert out["api_key"].startswith(f"mk.{out['api_key_id']}.")
    assert out["organisation_id"].startswith("org_")


def test_invalid_credit_code_exits_non_zero_with_a_message(migrated):
    result = CliRunner().invoke(main, ["participants", "create", "--operator", "--name", "x",
                                       "--credit-code", "91350100M000100Y44", "--json"],
                                env=migrated)
    assert result.exit_code == 1
    assert "invalid_credit_code" in result.output
    assert "check character" in result.output


def test_operator_cannot_also_take_trading_roles_from_the_cli(migrated):
    result = CliRunner().invoke(main, ["participants", "create", "--operator", "--role", "buyer",
                                       "--name", "x", "--credit-code", "91350100M000100Y43"],
                                env=migrated)
    assert result.exit_code != 0
    assert "no other role" in result.output


def test_keys_create_issues_a_scoped_key_for_a_user(migrated):
    created = json.loads(run(migrated, "participants", "create", "--role", "merchant",
                             "--name", "数据商", "--credit-code", "91110000802100433B",
                             "--json").output)
    result = run(migrated, "keys", "create", "--user-id", created["user_id"], "--scope", "read",
                 "--expires-in-days", "7", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["scopes"] == ["read"]
    assert out["organisation_id"] == created["organisation_id"]
    revoked = run(migrated, "keys", "revoke", out["api_key_id"])
    assert revoked.exit_code == 0
    assert "revoked" in revoked.output


def test_keys_create_for_unknown_user_fails(migrated):
    result = CliRunner().invoke(main, ["keys", "create", "--user-id", "usr_nope"], env=migrated)
    assert result.exit_code == 1
    assert "user_not_found" in result.output


def test_demo_creates_the_cast_and_the_audit_chain_verifies(migrated):
    result = run(migrated, "demo", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert {"operator", "merchant", "processor", "buyer"} <= set(out)
    assert all(line.startswith("curl ") for line in out["examples"])
    verify = run(migrated, "audit", "verify", "--json")
    assert verify.exit_code == 0
    report = json.loads(verify.output)
    assert report["ok"] is True
    assert report["checked"] == report["head_seq"] > 0


def test_demo_registers_a_rights_chain_with_three_certificates(migrated):
    out = json.loads(run(migrated, "demo", "--json").output)
    certificates = out["rights"]["certificates"]
    assert len(certificates) == 3
    assert all(re.fullmatch(r"DR-\d{4}-\d{6}", number) for number in certificates)
    assert len(set(certificates)) == 3
    assert out["rights"]["chain_ok"] is True
    assert out["rights"]["product_id"].startswith("prd_")
    text = run(migrated, "demo")
    assert "DR-" in text.output
    assert "/certificates/DR-" in text.output


def test_worker_once_delivers_every_event_of_the_demo(migrated):
    run(migrated, "demo")
    result = run(migrated, "worker", "--once")
    assert result.exit_code == 0, result.output
    claimed = int(re.search(r"claimed (\d+)", result.output).group(1))
    assert claimed >= 4
    assert f"done {claimed}," in result.output
    assert "dead 0" in result.output
    again = run(migrated, "worker", "--once")
    assert "claimed" not in again.output


def test_rights_expire_reports_what_it_expired(migrated):
    run(migrated, "demo")
    result = run(migrated, "rights", "expire")
    assert result.exit_code == 0, result.output
    assert "expired 0 rights" in result.output


def test_commands_refuse_an_unmigrated_database(env):
    result = CliRunner().invoke(main, ["participants", "create", "--operator", "--name", "x",
                                       "--credit-code", "91350100M000100Y43"], env=env)
    assert result.exit_code == 1
    assert "market db upgrade" in result.output


def test_alerts_scan_reports_what_it_opened(migrated):
    run(migrated, "demo")
    result = run(migrated, "alerts", "scan", "--hours", "1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"opened": 0}


def test_demo_trade_completes_end_to_end(migrated):
    out = json.loads(run(migrated, "demo", "--json").output)
    trade = out["trade"]
    assert trade["status"] == "settled"
    assert re.fullmatch(r"FL-\d{4}-\d{6}", trade["filing_number"])
    assert trade["ledger_ok"] is True
    assert sum(a["amount"] for a in trade["allocations"]) == 500_000
    roles = {a["role"] for a in trade["allocations"]}
    assert roles == {"platform", "resource_holder", "processor", "merchant"}
    text = run(migrated, "demo").output
    for step in ("listed", "moved into escrow", "order settled", "FL-", "balanced"):
        assert step in text


def test_demo_on_the_stripe_rail_buys_by_card_against_the_local_fake(migrated):
    result = run(migrated, "demo", "--rail", "stripe")
    assert result.exit_code == 0, result.output
    text = result.output
    steps = ["local fake at http://127.0.0.1:", "payouts enabled", "PaymentIntent pi_",
             "card authorised", "captured", "transfer  tr_", "reconcile no differences",
             "ledger    balanced"]
    at = 0
    for step in steps:  # each step printed, in the order it happens
        at = text.index(step, at) + len(step)
    card = json.loads(run(migrated, "demo", "--rail", "stripe", "--json").output)["card_trade"]
    assert card["status"] == "settled"
    assert card["payment_intent_id"].startswith("pi_")
    assert card["captured"] == 500_000
    assert sum(t["amount"] for t in card["transfers"]) == 500_000 - 5_000  # less the fee
    assert card["reconciled"] is True
    assert card["ledger_ok"] is True


def test_ledger_verify_recomputes_the_ledger_and_fails_when_tampered(migrated, tmp_path):
    run(migrated, "demo")
    result = run(migrated, "ledger", "verify", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["journals"] == 5  # a top-up, then payment and settlement of two trades
    with sqlite3.connect(tmp_path / "instance" / "market.db") as db:
        db.execute("UPDATE ledger_accounts SET balance = balance + 1 "
                   "WHERE kind = 'fee_revenue'")
    broken = CliRunner().invoke(main, ["ledger", "verify", "--json"], env=migrated)
    assert broken.exit_code == 1
    (problem,) = json.loads(broken.output)["problems"]
    assert problem["problem"] == "balance_differs"
    assert problem["cached"] == problem["postings"] + 1


def test_trading_deadlines_reports_what_it_did(migrated):
    run(migrated, "demo")
    result = run(migrated, "trading", "deadlines", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"unreviewed": [], "cancelled": [], "refunded": [],
                                         "auto_accepted": [], "unanswered": [],
                                         "decisions_carried_out": [],
                                         "payouts_expired": [], "demands_expired": [],
                                         "negotiations_expired": []}


def test_demo_matches_negotiates_and_buys_as_the_readme_works_it_out(migrated):
    """The README's worked example of a match score is the demo's, component by component."""
    match = json.loads(run(migrated, "demo", "--json").output)["match"]
    assert match["components"] == {"text": 3333, "budget": 1500, "region": 1000,
                                   "freshness": 1000, "credit": 1000, "fulfilment": 1000}
    assert match["top_score"] == 8833 == sum(match["components"].values())
    assert match["private_offer_id"].startswith("ofr_")
    assert match["order_status"] == "settled"
    assert match["demand_status"] == "converted"
