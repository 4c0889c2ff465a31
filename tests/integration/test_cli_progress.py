"""Progress bars of the long commands: drawn on standard error when it is a terminal (a real
pseudo-terminal here), never with ``--quiet``, never on standard output, so ``--json`` stays
one JSON object; not drawn when standard error is not a terminal (pipes, CliRunner)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from market.cli import main
from market.kernel.config import Settings
from market.receipts import services as receipts

# These run the commands on an instance folder and SQLite file of their own, whatever
# database the suite is on: the PostgreSQL pass would only repeat the SQLite pass's run.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MARKET_TEST_DATABASE_URL")),
    reason="runs on its own SQLite file (the embedded default); the SQLite pass runs it")

ROOT = Path(__file__).resolve().parents[2]
MARKET = str(Path(sys.executable).parent / "market")


@pytest.fixture(autouse=True)
def _restore_receipt_issuer(settings: Settings) -> Iterator[None]:
    """Commands configure receipts with their instance's keys; later tests sign with the
    test key again."""
    yield
    receipts.configure(settings)


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh instance folder, migrated, with the demo's records in it (the demo drawing
    its bar on a terminal)."""
    folder = tmp_path_factory.mktemp("progress") / "instance"
    env = {k: v for k, v in os.environ.items()
           if k not in {"MARKET_DATABASE_URL", "MARKET_TEST_DATABASE_URL"}}
    env["MARKET_INSTANCE_PATH"] = str(folder)
    upgraded = subprocess.run([MARKET, "db", "upgrade"], env=env, capture_output=True,
                              cwd=ROOT, text=True)
    assert upgraded.returncode == 0, upgraded.stderr
    return env


def on_a_terminal(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run ``market ARGS`` with standard error on a pseudo-terminal; its exit status,
    standard output and what the terminal showed."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([MARKET, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=terminal, stdin=subprocess.DEVNULL)
    os.close(terminal)
    shown = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's other side closed (EIO)
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    stdout, _ = process.communicate(timeout=120)
    reader.join(10)
    os.close(controller)
    return process.returncode, stdout.decode(), shown.decode(errors="replace")


def test_demo_draws_its_bar_on_the_terminal_and_prints_clean_json(instance):
    status, stdout, shown = on_a_terminal(instance, "demo", "--json")
    assert status == 0, shown
    assert {"operator", "merchant", "buyer"} <= set(json.loads(stdout))
    assert "demo" in shown
    assert "25/25" in shown  # every step of the demo, counted
    assert "{" not in shown


def test_ledger_and_audit_verification_draw_bars_unless_quiet(instance):
    status, stdout, shown = on_a_terminal(instance, "ledger", "verify", "--json")
    assert status == 0, shown
    assert json.loads(stdout)["ok"] is True
    assert "ledger" in shown
    assert "[" in shown
    assert "#" in shown

    status, stdout, shown = on_a_terminal(instance, "audit", "verify")
    assert status == 0, shown
    assert stdout.startswith("audit chain ok")
    assert "audit chain" in shown
    assert "#" in shown

    for command in (["ledger", "verify", "--json", "--quiet"], ["audit", "verify", "-q"]):
        status, stdout, shown = on_a_terminal(instance, *command)
        assert status == 0, shown
        assert shown == ""
        assert stdout


def test_no_bar_when_standard_error_is_not_a_terminal(instance):
    result = CliRunner().invoke(main, ["audit", "verify", "--json"], env=instance)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert json.loads(result.stdout)["ok"] is True


def test_catalogue_reindex_draws_its_bar_and_rebuilds_a_damaged_index(instance):
    import sqlalchemy as sa

    database = sa.create_engine(f"sqlite:///{instance['MARKET_INSTANCE_PATH']}/market.db")
    with database.connect() as conn:
        empty = not conn.execute(sa.text("SELECT count(*) FROM catalog_entries")).scalar_one()
    if empty:  # the demo ran in another process's copy of this module
        seeded = subprocess.run([MARKET, "demo", "--json", "--quiet"], env=instance, cwd=ROOT,
                                capture_output=True, text=True)
        assert seeded.returncode == 0, seeded.stderr
    with database.begin() as conn:  # the index written around the services, then lost
        listed = conn.execute(sa.text("SELECT count(*) FROM catalog_entries")).scalar_one()
        assert listed >= 1
        conn.execute(sa.text("DELETE FROM catalog_terms"))
        conn.execute(sa.text("DELETE FROM catalog_entries"))
    status, stdout, shown = on_a_terminal(instance, "catalog", "reindex", "--json")
    assert status == 0, shown
    rebuilt = json.loads(stdout)
    assert rebuilt["listed"] == listed
    assert rebuilt["products"] >= listed
    assert "catalogue" in shown
    assert "#" in shown
    with database.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM catalog_terms")).scalar_one() > 0
    database.dispose()
    status, stdout, shown = on_a_terminal(instance, "catalog", "reindex", "--quiet")
    assert status == 0
    assert shown == ""
    assert stdout.startswith("catalogue rebuilt")
