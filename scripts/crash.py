"""Crash safety, end to end: kill the server and the worker with SIGKILL under load, then
prove that nothing acknowledged was lost or doubled and nothing unacknowledged half-written.

    scripts/with-postgres .venv/bin/python scripts/crash.py --kills 5 --duration 60
    make crash                      # the same, longer (CRASH_ARGS="--kills 20 ...")

Against a PostgreSQL server (``--database-url``, else MARKET_TEST_DATABASE_URL) the run
makes a database of its own (dropped at the end unless ``--keep-database``), migrates it
with ``market db upgrade``, seeds a merchant, a listed product and one buyer per client
through the services, and starts ``gunicorn wsgi:app`` (2 sync workers, a free loopback
port) and ``market worker`` as subprocesses, with a webhook endpoint per participant
pointing at a sink in this process. ``--clients`` threads then trade for ``--duration``
seconds (place, pay, deliver by API or as a file, accept, goodwill refunds, disputes
answered and decided), while ``--kills`` times, at random moments, the server (master and
workers), the worker or both are killed with SIGKILL and started again. A call that got no
answer is retried with the same Idempotency-Key. At the end the worker drains the outbox,
both are stopped, and :mod:`crash_checks` checks every call against the database,
``market ledger verify`` and ``market audit verify`` run, and one JSON summary is printed;
the exit status is 1 if anything was violated. ``--seed`` replays the same load mix and
kill schedule (the timing of a kill against the requests is not reproducible).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import crash_checks  # noqa: E402
import crash_load  # noqa: E402
from crash_seed import seed  # noqa: E402

from market import wiring  # noqa: E402
from market.kernel.config import load_settings  # noqa: E402
from market.kernel.db import make_engine  # noqa: E402
from market.receipts import services as receipts  # noqa: E402
from market.receipts.signing import Signer  # noqa: E402

BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(f"[crash] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A subprocess in a session of its own, so a kill reaches all its processes."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.cmd, self.env, self.log_path = name, cmd, env, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=ROOT,  # noqa: S603
                                         start_new_session=True, stdout=out,
                                         stderr=subprocess.STDOUT)
        self.starts += 1

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
            with contextlib.suppress(ProcessLookupError):  # no worker outlives its master
                os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        self.signal(signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""


def wait_ready(server: Process, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.proc is not None
        if server.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({server.proc.returncode}):\n{server.tail()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("gunicorn not ready in time:\n" + server.tail())


class Sink:
    """The webhook endpoint: counts each event id it receives."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        lock = threading.Lock()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = str(json.loads(body).get("id"))
                except ValueError:
                    event = "?"
                with lock:
                    received[event] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def kill_plan(rng: random.Random, kills: int, duration: float) -> list[tuple[float, str]]:
    """When (seconds into the load) and what to kill; both kinds appear when kills >= 2."""
    moments = sorted(rng.uniform(0.1 * duration, 0.9 * duration) for _ in range(kills))
    targets = [rng.choice(("server", "server", "worker", "both")) for _ in range(kills)]
    if kills >= 2 and len(set(targets) - {"both"}) < 2 and "both" not in targets:
        targets[rng.randrange(kills)] = "worker" if targets[0] == "server" else "server"
    return list(zip(moments, targets, strict=True))


def cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([str(BIN / "market"), *args, "--json"], env=env, cwd=ROOT,  # noqa: S603
                          capture_output=True, text=True, timeout=300, check=False)
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        report = {"output": done.stdout[-500:], "stderr": done.stderr[-500:]}
    return {"exit_code": done.returncode,
            **{k: v for k, v in report.items() if k in ("ok", "checked", "accounts", "journals",
                                                       "postings", "problems", "reason",
                                                       "first_broken_seq", "output", "stderr")}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=None, help="default: random, printed")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server (default: MARKET_TEST_DATABASE_URL)")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--give-up", type=float, default=120.0,
                        help="seconds a client keeps retrying one call that gets no answer")
    args = parser.parse_args(argv)
    seed_value = args.seed if args.seed is not None else secrets.randbelow(10**9)
    log(f"seed {seed_value}")
    url = args.database_url or os.environ.get("MARKET_TEST_DATABASE_URL")
    if not url or make_url(url).get_backend_name() != "postgresql":
        parser.error("needs a PostgreSQL server: --database-url or MARKET_TEST_DATABASE_URL")
    if make_url(url).host not in (None, "", "localhost", "127.0.0.1", "::1"):
        parser.error("loopback only: the database must be on this machine")
    began = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the processes on the way
    name = f"market_crash_{seed_value}_{secrets.token_hex(3)}"
    server_engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with server_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    server_engine.dispose()  # no idle connection to the server's database during the run
    db_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        return run(args, seed_value, db_url, began)
    finally:
        if not args.keep_database:
            with server_engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            log(f"database kept: {db_url}")
        server_engine.dispose()


def run(args: argparse.Namespace, seed_value: int, db_url: str, began: float) -> int:
    rng = random.Random(seed_value)  # noqa: S311  (a kill schedule, not a secret)
    tmp = Path(tempfile.mkdtemp(prefix="market-crash-"))
    port = free_port()
    signing_key = "0x" + secrets.token_hex(32)
    env = {**os.environ, "MARKET_DATABASE_URL": db_url,
           "MARKET_INSTANCE_PATH": str(tmp / "instance"),
           "MARKET_SECRET_KEY": secrets.token_urlsafe(32), "MARKET_SIGNING_KEY": signing_key,
           "MARKET_IDEMPOTENCY_LEASE_SECONDS": "5", "MARKET_OUTBOX_LEASE_SECONDS": "3",
           "MARKET_OUTBOX_BACKOFF_BASE_SECONDS": "0.5", "MARKET_WEBHOOKS_ALLOW_PRIVATE": "1",
           "MARKET_WEBHOOKS_BACKOFF_BASE_SECONDS": "1", "MARKET_ARBITRATION_WINDOW_HOURS": "0"}
    env.pop("MARKET_TEST_DATABASE_URL", None)
    migrated = subprocess.run([str(BIN / "market"), "db", "upgrade"], env=env, cwd=ROOT,  # noqa: S603
                              capture_output=True, text=True, timeout=300, check=False)
    if migrated.returncode:
        raise RuntimeError(f"market db upgrade failed:\n{migrated.stderr[-2000:]}")
    engine = make_engine(db_url)
    wiring.connect()
    receipts.configure(load_settings(env))
    server = Process("gunicorn", [str(BIN / "gunicorn"), "--workers", "2",
                                  "--bind", f"127.0.0.1:{port}", "--timeout", "60",
                                  "--graceful-timeout", "5", "--log-level", "warning",
                                  "wsgi:app"], env, tmp / "gunicorn.log")
    worker = Process("worker", [str(BIN / "market"), "worker", "--interval", "0.2",
                                "--sweep-interval", "5"], env, tmp / "worker.log")
    sink = Sink()
    stats = crash_load.Stats()
    stop = threading.Event()
    kills: list[dict[str, Any]] = []
    drained: dict[str, Any] = {}
    try:
        server.start()  # boots while the world is seeded
        worker.start()
        world = seed(engine, Signer(signing_key), args.clients)
        wait_ready(server, port)
        phases: dict[str, float] = {"migrate_seed_start": round(time.monotonic() - began, 1)}
        log(f"migrated, seeded {args.clients} buyers, started in {phases['migrate_seed_start']}s")
        base = f"http://127.0.0.1:{port}"
        for party in [world.operator, world.holder, world.merchant, *world.buyers]:
            answer = httpx.post(f"{base}/api/v1/webhooks/endpoints", json={
                "url": sink.url, "event_types": ["*"], "description": "crash sink"},
                headers={"Authorization": f"Bearer {party.token}",
                         "Idempotency-Key": f"endpoint-{party.org_id}"}, timeout=30)
            if answer.status_code != 201:
                raise RuntimeError(f"webhook endpoint: {answer.status_code} {answer.text[:300]}")
        give_up = args.give_up
        clients = [crash_load.Client(i, base, world, stats, seed_value, stop, give_up)
                   for i in range(args.clients)]
        threads = [threading.Thread(target=c.run, name=f"client-{c.index}", daemon=True)
                   for c in clients]
        load_began = time.monotonic()
        for t in threads:
            t.start()
        for at, target in kill_plan(rng, args.kills, args.duration):
            time.sleep(max(0.0, load_began + at - time.monotonic()))
            actual = time.monotonic() - load_began  # later than planned if a restart was slow
            victims = [server, worker] if target == "both" else (
                [server] if target == "server" else [worker])
            for victim in victims:
                victim.kill()
            down = rng.uniform(0.0, 1.0)
            time.sleep(down)
            for victim in victims:
                victim.start()
            if server in victims:
                wait_ready(server, port)
            kills.append({"at_seconds": round(actual, 2), "target": target,
                          "down_seconds": round(down, 2),
                          "restart_seconds": round(time.monotonic() - load_began - actual, 2)})
            log(f"kill {len(kills)}/{args.kills} at {actual:.1f}s: {target}")
        time.sleep(max(0.0, load_began + args.duration - time.monotonic()))
        stop.set()
        for t in threads:
            t.join(timeout=give_up * 4)
        if any(t.is_alive() for t in threads):
            raise RuntimeError("a client did not stop: its calls cannot be checked")
        phases["load"] = round(time.monotonic() - load_began, 1)
        log(f"load over after {phases['load']}s; draining")
        mark = time.monotonic()
        drained = crash_checks.wait_drained(engine, args.drain_timeout)
        phases["drain"] = round(time.monotonic() - mark, 1)
    finally:
        stop.set()
        server.stop()
        worker.stop()
        sink.server.shutdown()
    mark = time.monotonic()
    with ThreadPoolExecutor(2) as pool:  # the two commands side by side, and the checks
        ledger = pool.submit(cli, env, "ledger", "verify")
        audit = pool.submit(cli, env, "audit", "verify")
        checked, violations = crash_checks.check(engine, stats.calls, world, sink.received)
        verify = {"ledger": ledger.result(), "audit": audit.result()}
    phases["verify_and_check"] = round(time.monotonic() - mark, 1)
    engine.dispose()
    violations += [f"market {name} verify exited {v['exit_code']}: {v}"
                   for name, v in verify.items() if v["exit_code"] != 0]
    violations += [f"outbox not drained: {drained}"] if not drained.get("drained") else []
    violations += [f"{c.kind} {c.key}: answered {c.status} {c.code}" for c in stats.calls
                   if c.outcome == "error"]
    log(f"checked {len(stats.calls)} calls: {len(violations)} violations")
    calls = stats.calls
    (tmp / "calls.json").write_text(json.dumps([vars(c) for c in calls], indent=1))
    outcomes = Counter(c.outcome for c in calls)
    summary = {
        "seed": seed_value,
        "parameters": {"kills": args.kills, "duration": args.duration,
                       "clients": args.clients, "gunicorn_workers": 2},
        "requests": {
            "sent": len(calls), "http_attempts": sum(c.attempts for c in calls),
            "acknowledged": outcomes["acked"], "refused": outcomes["refused"],
            "unresolved": outcomes["unresolved"], "server_errors": outcomes["error"],
            "interrupted": sum(c.interrupted for c in calls),
            "replayed": sum(c.replayed for c in calls),
            "done_by_earlier_attempt": sum(c.done_before for c in calls),
            "trades_started": stats.flows,
            "slowest_seconds": {k: round(max(c.seconds for c in calls if c.kind == k), 2)
                                for k in sorted({c.kind for c in calls})},
            "by_kind": {k: dict(Counter(c.outcome for c in calls if c.kind == k))
                        for k in sorted({c.kind for c in calls})},
            "refused_codes": dict(Counter(f"{c.kind}:{c.status}:{c.code}" for c in calls
                                          if c.outcome in ("refused", "error"))),
        },
        "kills": {"total": len(kills), "server": sum(k["target"] != "worker" for k in kills),
                  "worker": sum(k["target"] != "server" for k in kills), "schedule": kills,
                  "gunicorn_starts": server.starts, "worker_starts": worker.starts},
        "effects_checked": checked,
        "verification": {**verify, "outbox": drained},
        "violations": violations[:50],
        "violation_count": len(violations),
        "ok": not violations,
        "phases_seconds": phases,
        "duration_seconds": round(time.monotonic() - began, 1),
    }
    output = json.dumps(summary, ensure_ascii=False, indent=2)
    (tmp / "summary.json").write_text(output)
    print(output, flush=True)
    if violations:
        log(f"{len(violations)} violations; logs, calls and summary in {tmp}")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
