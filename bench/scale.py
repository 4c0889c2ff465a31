"""How throughput grows with processes: whole trades with 1, 2 and 4 gunicorn workers, and
the outbox drained by 1 and 2 worker processes, on one PostgreSQL.

    scripts/with-postgres .venv/bin/python bench/scale.py
    scripts/with-postgres .venv/bin/python bench/scale.py --workers 1,2 --trades 5

Seeds as ``bench/trade.py`` does, then for each gunicorn worker count starts the application
(sync workers), warms it up and runs ``--trades`` whole trades per client at ``--clients``
clients (place → pay → deliver by API → accept). No outbox worker runs meanwhile, so the
trades leave their events queued; the queue is then drained by 1 and then 2 ``market
worker`` processes (each on a backlog of the same size: the trades of one run), timing from
their start to the last message done. Prints one JSON object; progress goes to stderr. On a
machine with C cores, more than C busy processes only share the same cores: read the numbers
with ``cpu_count``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trade
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from market import wiring
from market.cli.common import Progress
from market.kernel import migrate
from market.kernel.config import Settings
from market.kernel.db import make_engine
from market.kernel.outbox import PENDING, OutboxMessage
from market.receipts import services as receipts
from market.receipts.signing import Signer


def pending(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboxMessage)
                                .where(OutboxMessage.status == PENDING)).scalar_one())


def trades(args: argparse.Namespace, url: str, seeded: trade.Seeded, signing_key: str,
           workers: int, tmp: Path) -> dict[str, Any]:
    server = trade.Server(url, workers, 1, tmp / f"w{workers}", signing_key)
    try:
        server.wait_ready()
        n = args.clients
        buyers = [trade.Http(server.port, b.token) for b in seeded.buyers]
        merchants = [trade.Http(server.port, seeded.merchant.token) for _ in range(n)]
        order = json.dumps({"product_id": seeded.product_id, "offer_id": seeded.offer_id,
                            "commitment": trade.COMMITMENT}, ensure_ascii=False).encode()
        delivery = json.dumps({"mode": "api",
                               "endpoint": "https://api.example.cn/v1/power-risk"}).encode()

        def one(i: int, _: Any, __: Any) -> None:
            api = trade.API
            placed = trade.expect(buyers[i].request("POST", f"{api}/orders", order), 201,
                                  "place")
            order_id = json.loads(placed)["id"]
            trade.expect(buyers[i].request("POST", f"{api}/orders/{order_id}/payment"), 200,
                         "pay")
            trade.expect(merchants[i].request("POST", f"{api}/orders/{order_id}/deliveries",
                                              delivery), 201, "deliver")
            trade.expect(buyers[i].request("POST", f"{api}/orders/{order_id}/acceptance",
                                           b"{}"), 200, "accept")

        trade.run_phase("warmup", [[None] * args.warmup for _ in range(n)], one)
        result = trade.run_phase(f"trades with {workers} workers",
                                 [[None] * args.trades for _ in range(n)], one)
        for http in [*buyers, *merchants]:
            http.close()
        stats = result.stats()
        trade.log(f"{workers} gunicorn workers: {stats.get('per_second')} trades/s")
        return {"gunicorn_workers": workers, "trades_per_second": stats.get("per_second"),
                "p50_ms": stats.get("p50_ms"), "p99_ms": stats.get("p99_ms")}
    finally:
        server.stop()


def drain(url: str, signing_key: str, engine: Engine, processes: int, tmp: Path
          ) -> dict[str, Any]:
    backlog = pending(engine)
    env = {**os.environ, "MARKET_DATABASE_URL": url, "MARKET_INSTANCE_PATH": str(tmp),
           "MARKET_SECRET_KEY": secrets.token_urlsafe(32), "MARKET_SIGNING_KEY": signing_key,
           "MARKET_LOG_LEVEL": "WARNING"}
    market = str(Path(sys.executable).parent / "market")
    began = time.perf_counter()
    procs = [subprocess.Popen([market, "worker", "--interval", "0.05",
                               "--sweep-interval", "3600"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(processes)]
    try:
        started, left = None, backlog
        while left > 0:  # timed from the first message done: process start-up excluded
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("an outbox worker exited")
            time.sleep(0.02)
            now_left = pending(engine)
            if started is None and now_left < backlog:
                started, backlog = time.perf_counter(), left
            left = now_left
        seconds = time.perf_counter() - (started or began)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    trade.log(f"{processes} outbox workers: {backlog} messages in {seconds:.1f}s")
    return {"outbox_workers": processes, "messages": backlog, "seconds": round(seconds, 2),
            "messages_per_second": round(backlog / seconds, 1) if seconds else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", default="1,2,4", help="gunicorn worker counts")
    parser.add_argument("--outbox-workers", default="1,2", help="outbox worker counts")
    parser.add_argument("--trades", type=int, default=10, help="whole trades per client")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar on standard error while seeding")
    args = parser.parse_args(argv)
    url = trade.database_url(args.database_url)
    engine = make_engine(url)
    migrate.upgrade(engine)
    wiring.connect()
    signing_key = "0x" + secrets.token_hex(32)
    tmp = Path(tempfile.mkdtemp(prefix="market-bench-scale-"))
    receipts.configure(Settings(instance_path=tmp, database_url=url,
                                secret_key=secrets.token_urlsafe(32), signing_key=signing_key))
    began = time.perf_counter()
    try:
        with Progress("seeding", quiet=args.quiet) as bar:
            seeded = trade.seed(engine, Signer(signing_key), args.clients, progress=bar)
        drain(url, signing_key, engine, 1, tmp)  # the seeding's own events
        runs = [trades(args, url, seeded, signing_key, int(w), tmp)
                for w in args.workers.split(",")]
        drain(url, signing_key, engine, 2, tmp)  # what those runs queued, unmeasured
        drains = []
        for count in (int(c) for c in args.outbox_workers.split(",")):
            trades(args, url, seeded, signing_key, 2, tmp)  # a backlog of the same size
            drains.append(drain(url, signing_key, engine, count, tmp))
    finally:
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"cpu_count": os.cpu_count(), "clients": args.clients,
                      "trades_per_client": args.trades, "gunicorn": runs, "outbox": drains,
                      "load_average": list(os.getloadavg()),
                      "runtime_seconds": round(time.perf_counter() - began, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
