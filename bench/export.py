"""Regulator export benchmark: does the CSV export of filings stream in bounded memory?

Builds a fresh database (a temporary SQLite file; PostgreSQL too when
MARKET_BENCH_DATABASE_URL or MARKET_TEST_DATABASE_URL points at one, whose ``public`` schema
is dropped and recreated first), seeds filings in bulk, and reads
``GET /api/v1/regulator/filings/export`` as a regulator through the WSGI application, chunk by
chunk, the way a server sends it. It measures, in one run:

* the peak Python heap (tracemalloc) while streaming the export of ``--small`` and of
  ``--large`` filings: bounded memory means the two peaks are about the same;
* the same peak for the baseline a naive export would be: every filing loaded at once and the
  whole CSV built in memory;
* export throughput (rows per second) without tracing.

    scripts/with-postgres python bench/export.py                  # SQLite and PostgreSQL
    python bench/export.py --small 2000 --large 20000             # SQLite only, quick

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

import market.models  # noqa: F401  (every table, so foreign keys resolve)
from market.app import create_app
from market.compliance.models import Filing
from market.kernel import migrate
from market.kernel.actor import system_actor
from market.kernel.clock import SystemClock
from market.kernel.config import Settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.regulator.services import EXPORT_COLUMNS, _csv_cell, _row

SECTORS = ["交通运输", "金融", "医疗卫生", "能源", "气象", "商务", "农业", "教育"]
TYPES = ["dataset", "api_service", "report", "model", "sandbox"]
BATCH = 5_000
# Bounded: the large export's peak may exceed the small one's by at most this factor.
TARGET_PEAK_RATIO = 1.5


def log(message: str) -> None:
    print(f"[bench/export] {message}", file=sys.stderr, flush=True)


def fresh_engine(url: str) -> Engine:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    migrate.upgrade(engine)
    return engine


def _party(engine: Engine, *roles: str) -> tuple[str, str]:
    """An admitted organisation with ``roles``: (org id, API key)."""
    factory = make_session_factory(engine)
    code = random_credit_code()
    data = participants.OrganisationInput(
        name=f"{'/'.join(roles)} {code[-6:]}", credit_code=code, contact_name="bench",
        contact_email=f"bench-{code.lower()}@example.cn", roles=frozenset(roles))
    uow = UnitOfWork(factory, SystemClock(), system_actor("bench"))
    reg = participants.register_organisation(data, uow=uow, key_ttl=timedelta(days=1),
                                             reason="bench")
    return reg.organisation.id, reg.api_key.token


def seed(engine: Engine, first: int, n: int, seller: str, buyer: str,
         rng: random.Random) -> float:
    """Add ``n`` generated filings numbered from ``first`` (filings are append-only);
    returns seconds taken."""
    started = time.perf_counter()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        rows: list[dict[str, Any]] = []
        for i in range(first, first + n):
            at = start + timedelta(seconds=rng.randrange(320 * 86_400))
            rows.append({
                "id": new_id("fil"), "number": f"FL-2026-{i + 1:06d}",
                "kind": "exchange", "order_id": new_id("ord"), "product_id": new_id("prd"),
                "version_id": new_id("ver"), "product_title": f"{rng.choice(SECTORS)}数据产品 {i}",
                "sector": rng.choice(SECTORS), "product_type": rng.choice(TYPES),
                "seller_org_id": seller, "buyer_org_id": buyer,
                "amount": rng.randrange(100, 10_000_000), "currency": "CNY",
                "rights_chain": [{"kind": "product_operation", "right_id": new_id("rgt")}],
                "declaration_ids": [new_id("dcl")], "decision_ids": [new_id("dec")],
                "evidence_sha256": [], "note": None, "concluded_at": at,
                "filed_at": at + timedelta(hours=1), "filed_by_org_id": seller,
            })
            if len(rows) >= BATCH:
                conn.execute(insert(Filing), rows)
                rows = []
        if rows:
            conn.execute(insert(Filing), rows)
    return time.perf_counter() - started


def _peak(run: Callable[[], int]) -> tuple[int, int]:
    """(peak traced bytes above the start, result of ``run``)."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = run()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, result


def streamed(client: Any, token: str) -> Callable[[], int]:
    def run() -> int:
        response = client.get("/api/v1/regulator/filings/export",
                              headers={"Authorization": f"Bearer {token}"}, buffered=False)
        assert response.status_code == 200, response.status_code
        size = 0
        for chunk in response.iter_encoded():
            size += len(chunk)  # a server would write the chunk to the socket here
        response.close()
        return size
    return run


def naive(engine: Engine) -> Callable[[], int]:
    """The baseline: load every filing, then build the whole CSV in memory."""
    def run() -> int:
        factory = make_session_factory(engine)
        with factory() as session:
            filings = list(session.scalars(select(Filing).order_by(Filing.id)))
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(EXPORT_COLUMNS)
            for filing in filings:
                row = _row(filing)
                writer.writerow([_csv_cell(row[c]) for c in EXPORT_COLUMNS])
            return len(buffer.getvalue().encode())
    return run


def measure(engine: Engine, url: str, small: int, large: int, seed_value: int,
            instance: str) -> dict[str, Any]:
    seller, _ = _party(engine, "merchant")
    buyer, _ = _party(engine, "buyer")
    _, token = _party(engine, "regulator")
    settings = Settings(instance_path=instance, database_url=url, secret_key="bench" * 8,
                        signing_key="0x" + "42" * 32, check_schema=False)
    client = create_app(settings).test_client()
    out: dict[str, Any] = {}
    rng = random.Random(seed_value)
    have = 0
    for n in (small, large):
        seconds = seed(engine, have, n - have, seller, buyer, rng)
        have = n
        log(f"seeded {n} filings in {seconds:.1f}s")
        peak, size = _peak(streamed(client, token))
        t = time.perf_counter()
        streamed(client, token)()
        elapsed = time.perf_counter() - t
        out[f"stream_{n}"] = {"filings": n, "peak_mib": round(peak / 2**20, 2),
                              "bytes": size, "seconds": round(elapsed, 2),
                              "rows_per_second": round(n / elapsed)}
        log(f"streamed {n}: {out[f'stream_{n}']}")
    peak, size = _peak(naive(engine))
    out[f"naive_{large}"] = {"filings": large, "peak_mib": round(peak / 2**20, 2),
                             "bytes": size}
    log(f"naive {large}: {out[f'naive_{large}']}")
    s, big = out[f"stream_{small}"]["peak_mib"], out[f"stream_{large}"]["peak_mib"]
    out["ratio_peak_large_to_small"] = round(big / s, 2) if s else None
    out["ratio_peak_naive_to_stream"] = round(out[f"naive_{large}"]["peak_mib"] / big, 1) \
        if big else None
    out["bounded"] = out["ratio_peak_large_to_small"] is not None and \
        out["ratio_peak_large_to_small"] <= TARGET_PEAK_RATIO
    return out


def _postgres_url() -> str | None:
    url = os.environ.get("MARKET_BENCH_DATABASE_URL") or os.environ.get(
        "MARKET_TEST_DATABASE_URL")
    return url if url and url.startswith("postgresql") else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="market-bench-export-")
    report: dict[str, Any] = {"small": args.small, "large": args.large, "seed": args.seed,
                              "target_peak_ratio": TARGET_PEAK_RATIO,
                              "sqlite": None, "postgresql": None}
    try:
        urls: dict[str, str] = {}
        if not args.no_sqlite:
            urls["sqlite"] = f"sqlite:///{tmp}/export.db"
        pg = _postgres_url()
        if pg:
            urls["postgresql"] = pg
        for name, url in urls.items():
            log(f"{name} …")
            engine = fresh_engine(url)
            report[name] = measure(engine, url, args.small, args.large, args.seed,
                                   f"{tmp}/{name}")
            engine.dispose()
        print(json.dumps(report, ensure_ascii=False, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
