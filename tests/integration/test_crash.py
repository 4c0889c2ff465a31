"""Crash safety end to end, short: ``scripts/crash.py`` kills gunicorn and the worker with
SIGKILL under a mixed load on a real PostgreSQL, restarts them, and checks that every
acknowledged call took effect exactly once, nothing unacknowledged is half-written, the
ledger and the audit chain verify and the outbox drains (``make crash`` is the long run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("MARKET_TEST_DATABASE_URL"),
                       reason="the crash run needs a real PostgreSQL server (set "
                              "MARKET_TEST_DATABASE_URL, e.g. scripts/with-postgres)"),
]


def test_kills_under_load_lose_and_double_nothing() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "crash.py"), "--kills", "3", "--duration",
         "12", "--clients", "3", "--seed", "17", "--drain-timeout", "45", "--give-up", "60"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.stdout, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["violations"] == [], summary
    assert done.returncode == 0, done.stderr[-3000:]
    assert summary["ok"] is True
    assert summary["seed"] == 17
    assert summary["kills"]["total"] == 3
    assert summary["kills"]["gunicorn_starts"] + summary["kills"]["worker_starts"] == 2 + sum(
        2 if k["target"] == "both" else 1 for k in summary["kills"]["schedule"])
    requests = summary["requests"]
    assert requests["acknowledged"] > 0
    assert requests["server_errors"] == 0
    assert summary["effects_checked"]["calls"] == requests["sent"]
    assert summary["effects_checked"]["orders"] > 0
    assert summary["verification"]["ledger"]["exit_code"] == 0
    assert summary["verification"]["audit"]["exit_code"] == 0
    assert summary["verification"]["outbox"]["drained"] is True
