"""``make run`` / ``market run``: gunicorn and the worker, started and stopped together.

Each test starts the real thing as a subprocess in a process group of its own, on a fresh
instance folder with its own SQLite file, which is what ``make run`` promises (the embedded
default). So these tests run on SQLite even when ``MARKET_TEST_DATABASE_URL`` points the rest
of the suite at PostgreSQL: that variable, and ``MARKET_DATABASE_URL``, are left out of the
children's environment.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from market.demo import PURCHASE_COMMITMENT
from market.kernel import migrate
from market.kernel.db import make_engine

# These run the commands on an instance folder and SQLite file of their own, whatever
# database the suite is on: the PostgreSQL pass would only repeat the SQLite pass's run.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MARKET_TEST_DATABASE_URL")),
    reason="runs on its own SQLite file (the embedded default); the SQLite pass runs it")

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VENV = Path(sys.prefix)
STARTED = re.compile(r"gunicorn \((\d+) workers, pid (\d+)\) and the worker \(pid (\d+)\)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(instance: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"MARKET_DATABASE_URL", "MARKET_TEST_DATABASE_URL"}}
    return {**env, "MARKET_INSTANCE_PATH": str(instance), "MARKET_LOG_LEVEL": "WARNING",
            "MARKET_WORKERS": "2", **extra}


def _migrated(instance: Path) -> None:
    """What ``market db upgrade`` does to a fresh instance folder (in this process)."""
    instance.mkdir()
    engine = make_engine(f"sqlite:///{instance / 'market.db'}")
    migrate.upgrade(engine)
    engine.dispose()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@dataclass
class Running:
    """The started command (leader of its process group), its output so far, and the
    children it named."""

    process: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)
    gunicorn: int = 0
    worker: int = 0

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, self.output
            try:
                return httpx.get(self.base + "/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        _wait_until(ready, 60, "the exchange did not become ready")
        found = STARTED.search(self.output)
        assert found is not None, self.output
        self.gunicorn, self.worker = int(found.group(2)), int(found.group(3))

    def groups(self) -> list[int]:
        """The process groups that must all be gone at the end."""
        return [self.process.pid, self.gunicorn, self.worker]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[tuple[Running, threading.Thread]] = []

    def run(argv: list[str], **env: str) -> Running:
        port = _free_port()
        argv = [a.replace("{port}", str(port)) for a in argv]
        process = subprocess.Popen(argv, cwd=ROOT, env=_env(tmp_path / "instance", **env),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
        running = Running(process, port)
        assert process.stdout is not None
        reader = threading.Thread(target=lambda: running.lines.extend(process.stdout or ()),
                                  daemon=True)
        reader.start()
        started.append((running, reader))
        return running

    yield run
    for running, reader in started:  # whatever a failed test left behind
        for pgid in running.groups():
            if pgid and _group_alive(pgid):
                os.killpg(pgid, signal.SIGKILL)
        running.process.wait(10)
        reader.join(10)
        if running.process.stdout is not None:
            running.process.stdout.close()


def _api(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base + "/api/v1", timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def _delivered_order(running: Running, instance: Path) -> tuple[str, str]:
    """The demo's cast, then an order placed, paid and delivered through the API and left
    unaccepted; its id and the buyer's key."""
    demo = subprocess.run([str(BIN / "market"), "demo", "--json", "--quiet"], cwd=ROOT,
                          env=_env(instance), capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    made = json.loads(demo.stdout)
    with _api(running.base, made["operator"]["api_key"]) as operator:
        topped = operator.post("/ledger/top-ups", json={
            "org_id": made["buyer"]["organisation_id"], "amount": 500_000,
            "currency": "CNY", "reference": "RUN-TEST-1"})
        assert topped.status_code == 201, topped.text
    with _api(running.base, made["buyer"]["api_key"]) as buyer:
        placed = buyer.post("/orders", json={
            "product_id": made["rights"]["product_id"], "offer_id": made["trade"]["offer_id"],
            "commitment": PURCHASE_COMMITMENT})
        assert placed.status_code == 201, placed.text
        order_id = str(placed.json()["id"])
        paid = buyer.post(f"/orders/{order_id}/payment")
        assert paid.status_code == 200, paid.text
    with _api(running.base, made["processor"]["api_key"]) as merchant:
        delivered = merchant.post(f"/orders/{order_id}/deliveries/file", files={
            "file": ("congestion.csv", io.BytesIO(b"segment,index\nS1,0.8\n"), "text/csv")})
        assert delivered.status_code == 201, delivered.text
        assert delivered.json()["order"]["status"] == "delivered"
    return order_id, str(made["buyer"]["api_key"])


def _order(running: Running, token: str, order_id: str) -> dict[str, Any]:
    with _api(running.base, token) as client:
        found = client.get(f"/orders/{order_id}")
        assert found.status_code == 200, found.text
        return dict(found.json())


def test_make_run_serves_and_its_worker_auto_accepts_an_order_left_unaccepted(start, tmp_path):
    """On a fresh instance folder: ``make run`` migrates, serves and runs the worker; an
    order delivered and never accepted is accepted and settled by the worker once its
    (shortened) acceptance window ends; Ctrl-C (SIGINT to the foreground process group, as
    a terminal sends it) stops gunicorn and the worker and leaves no process behind."""
    running = start(["make", "--no-print-directory", "-o", str(VENV / ".installed"), "run",
                     f"VENV={VENV}", "HOST=127.0.0.1", "PORT={port}"],
                    MARKET_ACCEPTANCE_WINDOW_SECONDS="2", MARKET_SWEEP_INTERVAL="1")
    running.wait_ready()
    assert (tmp_path / "instance" / "market.db").exists()
    order_id, buyer = _delivered_order(running, tmp_path / "instance")

    def accepted() -> bool:
        return _order(running, buyer, order_id)["status"] == "settled"

    _wait_until(accepted, 30, "the worker did not auto-accept the delivered order")
    order = _order(running, buyer, order_id)
    assert order["accepted_at"] is not None

    os.killpg(running.process.pid, signal.SIGINT)
    running.process.wait(60)
    _wait_until(lambda: not any(map(_group_alive, running.groups())), 10,
                "a process was left behind")
    assert "market run: SIGINT, stopping gunicorn and the worker" in running.output
    assert "market run: stopped" in running.output
    assert f"worker {os.uname().nodename}:{running.worker} stopped" in running.output


def test_sigint_to_market_run_stops_both_and_exits_zero(start, tmp_path):
    _migrated(tmp_path / "instance")
    running = start([str(BIN / "market"), "run", "--port", "{port}", "--workers", "1"])
    running.wait_ready()
    assert _group_alive(running.gunicorn)
    assert _group_alive(running.worker)

    os.kill(running.process.pid, signal.SIGINT)
    assert running.process.wait(60) == 0, running.output
    _wait_until(lambda: not any(map(_group_alive, running.groups())), 10,
                "a process was left behind")
    assert "market run: stopped" in running.output


def test_when_the_worker_dies_market_run_stops_gunicorn_and_exits_non_zero(start, tmp_path):
    _migrated(tmp_path / "instance")
    running = start([str(BIN / "market"), "run", "--port", "{port}", "--workers", "1"])
    running.wait_ready()

    os.kill(running.worker, signal.SIGKILL)
    assert running.process.wait(60) == 1, running.output
    _wait_until(lambda: not any(map(_group_alive, running.groups())), 10,
                "a process was left behind")
    assert "market run: the worker exited (status -9); stopping gunicorn" in running.output
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{running.base}/healthz", timeout=2)
