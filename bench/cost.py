"""What one request costs in CPU: the application's Python and PostgreSQL's backend, per
request kind, in this process (Flask's test client, one request at a time).

    scripts/with-postgres .venv/bin/python bench/cost.py
    scripts/with-postgres .venv/bin/python bench/cost.py --trades 300 --cprofile /tmp/prof

For ``--trades`` whole trades (place → pay → deliver by API → accept, then ``GET /me``)
it measures each request's CPU time in this process (``time.process_time``) and the CPU
time PostgreSQL's processes used meanwhile (``/proc/<pid>/schedstat``, nanoseconds, summed
over the server's processes, so run it against a server nothing else uses), and counts
statements, transactions (commits, rollbacks) and pool checkouts. CPU time, unlike wall
time, hardly moves with the machine's load, so two versions of the code can be compared on
a busy machine. ``--cprofile DIR`` also writes one cProfile file per request kind (read
them with ``python -m pstats DIR/payment.prof`` and ``sort cumtime``/``stats 30``).

Prints one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trade
from sqlalchemy import event

from market import wiring
from market.app import create_app
from market.kernel import migrate
from market.kernel.config import Settings
from market.kernel.db import make_engine
from market.receipts.signing import Signer

API = trade.API


def server_processes(postmaster: int | None) -> list[int]:
    if postmaster is None:
        return []
    found = [postmaster]
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        if int(raw[raw.rindex(b")") + 2:].split()[1]) == postmaster:
            found.append(int(name))
    return found


def server_cpu_ns(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/schedstat", "rb") as fh:
                total += int(fh.read().split()[0])
        except OSError:
            continue
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--trades", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--cprofile", type=Path, default=None,
                        help="write one cProfile file per request kind into this folder")
    args = parser.parse_args(argv)

    url = trade.database_url(args.database_url)
    engine = make_engine(url)
    migrate.upgrade(engine)
    wiring.connect()
    signing_key = "0x" + secrets.token_hex(32)
    instance = Path(tempfile.mkdtemp(prefix="market-bench-cost-"))
    app = create_app(Settings(instance_path=instance, database_url=url,
                              secret_key=secrets.token_urlsafe(32), signing_key=signing_key))
    seeded = trade.seed(engine, Signer(signing_key), 1)
    postmaster = trade.postmaster_pid(engine)
    engine.dispose()
    bind = app.extensions["market"].session_factory.kw["bind"]
    counts: dict[str, int] = {}

    def count(name: str) -> Any:
        def listener(*_: Any) -> None:
            counts[name] = counts.get(name, 0) + 1
        return listener

    event.listen(bind, "before_cursor_execute", count("statements"))
    event.listen(bind, "commit", count("commits"))
    event.listen(bind, "rollback", count("rollbacks"))
    event.listen(bind.pool, "checkout", count("checkouts"))
    client = app.test_client()
    buyer = {"Authorization": f"Bearer {seeded.buyers[0].token}"}
    merchant = {"Authorization": f"Bearer {seeded.merchant.token}"}
    order = {"product_id": seeded.product_id, "offer_id": seeded.offer_id,
             "commitment": trade.COMMITMENT}
    delivery = {"mode": "api", "endpoint": "https://api.example.cn/v1/power-risk"}
    rows: dict[str, list[dict[str, float]]] = {}
    profiles: dict[str, cProfile.Profile] = {}
    pids = server_processes(postmaster)

    def step(name: str, status: int, method: str, path: str, headers: dict[str, str],
             body: Any = None, *, timed: bool) -> Any:
        counts.clear()
        profile = profiles.setdefault(name, cProfile.Profile(time.process_time)) if (
            timed and args.cprofile) else None
        server_before = server_cpu_ns(pids)
        cpu_before = time.process_time()
        if profile is not None:
            profile.enable()
        response = client.open(path, method=method, json=body, headers=headers)
        if profile is not None:
            profile.disable()
        cpu = time.process_time() - cpu_before
        server = server_cpu_ns(pids) - server_before
        if response.status_code != status:
            raise SystemExit(f"{name}: HTTP {response.status_code}: {response.data[:300]!r}")
        if timed:
            rows.setdefault(name, []).append({
                "app_cpu_ms": cpu * 1000, "postgres_cpu_ms": server / 1e6,
                "statements": counts.get("statements", 0),
                "commits": counts.get("commits", 0), "rollbacks": counts.get("rollbacks", 0),
                "pool_checkouts": counts.get("checkouts", 0)})
        return response

    for i in range(args.warmup + args.trades):
        timed = i >= args.warmup
        order_id = step("place_order", 201, "POST", f"{API}/orders", buyer, order,
                        timed=timed).get_json()["id"]
        step("payment", 200, "POST", f"{API}/orders/{order_id}/payment", buyer, timed=timed)
        step("delivery", 201, "POST", f"{API}/orders/{order_id}/deliveries", merchant,
             delivery, timed=timed)
        step("acceptance", 200, "POST", f"{API}/orders/{order_id}/acceptance", buyer, {},
             timed=timed)
        step("me", 200, "GET", f"{API}/me", buyer, timed=timed)
        if (i + 1) % 50 == 0:
            print(f"[bench/cost] {i + 1} trades", file=sys.stderr, flush=True)
    bind.dispose()
    if args.cprofile:
        args.cprofile.mkdir(parents=True, exist_ok=True)
        for name, profile in profiles.items():
            profile.dump_stats(args.cprofile / f"{name}.prof")
    out = {}
    for name, found in rows.items():
        out[name] = {key: round(statistics.mean(r[key] for r in found), 3) for key in found[0]}
    print(json.dumps({"trades": args.trades, "postgres_measured": bool(pids),
                      "load_average": list(os.getloadavg()), "mean_per_request": out},
                     indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
