"""Receipts benchmark: issuing, sequencing into the Merkle log, inclusion proofs and the gas
of anchoring, each against the limit its hashing sets, measured in the same run.

One database per run, migrated from scratch: a temporary SQLite file by default; PostgreSQL
with ``--database-url``, else MARKET_BENCH_DATABASE_URL, else MARKET_TEST_DATABASE_URL (which
``scripts/with-postgres`` exports). PostgreSQL's ``public`` schema is dropped and recreated
first, so never point it at a database you care about. ``--sqlite`` ignores the environment.
``--suite`` picks the signing suite (``configure`` is called with it, as the composition root
does). Measured, in this order:

* ``issue``: ``--receipts`` receipts (default 5,000) through
  :func:`market.receipts.services.issue`, each in a unit of work of its own that commits (a
  system actor; made-up order contracts, each record ~1.2 KB of canonical JSON): receipts
  per second, the latency of each commit, and what signing and hashing alone cost;
* ``raw``: the limit. On the digests the queue holds, the leaf hashes and the RFC 9162 root
  built level by level (:func:`merkle.root`), and the leaf hashes and every node of the tree
  (:func:`merkle.new_nodes`, the hashing the sequencer does), with the suite's hash (SHA-256,
  or SM3 through gmssl) and with SHA-256 for reference; medians of repeated runs;
* ``sequence``: :func:`market.receipts.services.sequence` appending all the queued receipts
  (up to 10,000 per call): leaves per second and where each call's time goes (each statement,
  the commit, the hashing and the checkpoint signature measured alone, the Python rest);
  ``ratios`` divides this rate by the two raw rates (target ≥ 0.5);
* ``sequence_full_call``: one call appending ``--full-call`` queued receipts (default 10,000,
  the sequencer's limit per call), written straight into ``receipts`` and ``receipt_queue``
  (the sequencer reads only the queue); then a second such call under cProfile
  (``profile``: time by kind of work, the functions with the most own time);
* ``proofs``: the log is extended to ``--proof-leaves`` leaves (default 1,000,000) by writing
  the nodes :func:`merkle.new_nodes` computes for synthetic digests straight into
  ``receipt_log_nodes`` (``executemany`` on SQLite, ``COPY`` on PostgreSQL) and moving the
  head. Then, for ``--proof-samples`` random leaves, the inclusion proof against the whole tree
  from the database (``inclusion_proof``: one query) and its check
  (:func:`verifier.verify_inclusion`), and the same from every node held in a dict in memory:
  p50 / p95 / max in ms (target p95 ≤ 1 ms). Proofs from the database stop after
  ``--proof-budget`` seconds (at least 100 of them); ``nodes_at_plan`` is the plan of the
  statement. With ``sm2-sm3`` use ``--proof-leaves 20000``: gmssl's SM3 takes ~0.4 ms a
  hash, so seeding a million leaves would take a quarter of an hour;
* ``gas``: anvil (npm ``@foundry-rs/anvil`` in contracts/node_modules, else "skipped") on a
  free loopback port; the ReceiptAnchor contract deployed (:meth:`ChainClient.deploy`), then
  ``anchor(batchId, root, treeSize)`` signed as the anchoring service signs it
  (:func:`chain.sign_anchor`) for checkpoints of real trees growing by 1 (the first anchor of
  the contract), then 1, 100, 10,000, 10,000, 100 and 1 leaves; ``gasUsed`` from each
  transaction receipt, per batch and per receipt (targets: independent of the batch size,
  ≤ 5 gas per receipt at 10,000, ≤ 50k per anchor). anvil is stopped at the end.

    .venv/bin/python bench/receipts.py                                  # SQLite
    scripts/with-postgres .venv/bin/python bench/receipts.py            # PostgreSQL
    .venv/bin/python bench/receipts.py --receipts 500 --proof-leaves 20000 --full-call 2000

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, event, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

import market.models  # noqa: F401  (every table, so foreign keys resolve)
from market.kernel import migrate
from market.kernel.actor import system_actor
from market.kernel.canonical import dumps
from market.kernel.clock import SystemClock
from market.kernel.config import Settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.participants.domain import random_credit_code
from market.receipts import merkle, verifier
from market.receipts import services as receipts
from market.receipts.chain import (
    ChainClient,
    address_of,
    anchor_calldata,
    anchored_events,
    sign_anchor,
)
from market.receipts.checkpoint import sign_checkpoint
from market.receipts.contract import ABI
from market.receipts.domain import Kind
from market.receipts.models import LogHead, LogNode, Receipt, ReceiptQueue
from market.receipts.services.issuer import receipt_body
from market.receipts.services.log import SEQUENCE_LIMIT, inclusion_proof
from market.receipts.verifier import leaf_hash, sha256, suite_hash
from market.testing.anvil import ANVIL, anvil_node
from market.testing.anvil import CHAIN_ID as ANVIL_CHAIN_ID

ROOT = Path(__file__).resolve().parents[1]
BENCH_SIGNING_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
BENCH_SM2_KEY = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"

TARGET_APPEND_RATIO = 0.5  # append rate ≥ 0.5 × the raw hashing rate
TARGET_PROOF_P95_MS = 1.0  # inclusion proof from the database + its check
TARGET_GAS_PER_RECEIPT_AT_10K = 5.0
TARGET_GAS_PER_ANCHOR = 50_000  # receipts spec: anchor() at most 50k gas, whatever the batch
TARGET_GAS_SPREAD = 0.01  # "independent of size": steady anchors within 1 % of each other
GROWTHS = (1, 1, 100, 10_000, 10_000, 100, 1)  # the first anchor writes the contract's head
NODE_BATCH = 100_000  # leaves per chunk when seeding the proof log

# -- made-up order contracts -----------------------------------------------------------------

PRODUCTS = [
    ("交通运输", "dataset", "武汉市城市道路交通流量逐小时统计数据"),
    ("金融", "api_service", "企业信用评分实时查询API"),
    ("医疗卫生", "dataset", "三甲医院医疗影像脱敏数据集"),
    ("气象", "api_service", "全国逐小时气象观测数据服务"),
    ("能源", "model", "光伏发电功率预测模型"),
    ("商务", "report", "长三角零售门店客流年度分析报告"),
    ("政务", "dataset", "企业工商登记明细数据"),
    ("农业", "sandbox", "农作物长势遥感联合建模沙箱"),
]
REGIONS = ["北京市", "上海市", "深圳市", "武汉市", "杭州市", "成都市", "贵阳市", "全国"]
PURPOSES = ["信贷审批", "风险控制", "交通规划", "学术研究", "产品研发", "市场研究",
            "公共卫生监测", "能源调度"]
SCENARIOS = ["智慧交通", "授信评估", "辅助诊断", "负荷预测", "精准营销", "城市治理"]
BRANDS = ["智行", "数联", "云图", "天衡", "华信", "博远", "中科", "睿博", "星河", "汇通"]
PRICES = ["99.00", "499.00", "1999.00", "4999.00", "19999.00", "99999.00"]


def order_record(rng: random.Random, n: int, at: datetime) -> dict[str, Any]:
    """The snapshot of a concluded order contract, as the trading context would pass it."""
    sector, product_type, title = rng.choice(PRODUCTS)
    seller, buyer = new_id("org"), new_id("org")
    return {
        "order_id": new_id("ord"), "number": f"OD-2026-{n:07d}", "status": "contracted",
        "product": {"id": new_id("prd"), "version_id": new_id("ver"),
                    "version": rng.randint(1, 6), "title": title, "type": product_type,
                    "sector": sector, "region": rng.choice(REGIONS),
                    "development_level": rng.choice(["desensitised", "modelled"])},
        "seller": {"org_id": seller, "name": f"{rng.choice(BRANDS)}数据科技有限公司",
                   "credit_code": random_credit_code(rng)},
        "buyer": {"org_id": buyer, "name": f"{rng.choice(BRANDS)}信息技术有限公司",
                  "credit_code": random_credit_code(rng)},
        "offer": {"id": new_id("ofr"), "pricing": "one_time", "amount": rng.choice(PRICES),
                  "currency": "CNY", "platform_fee_bps": 100},
        "terms": {"purposes": rng.sample(PURPOSES, 2), "scenarios": rng.sample(SCENARIOS, 2),
                  "territory": "中华人民共和国境内", "duration_days": 365,
                  "onward_transfer": False, "delivery_mode": rng.choice(["file", "api"]),
                  "download_limit": 5},
        "rights_chain": [{"kind": kind, "right_id": new_id("rgt")}
                         for kind in ("processing_use", "product_operation")],
        "declaration_id": new_id("dcl"),
        "placed_at": (at - timedelta(hours=2)).isoformat(timespec="microseconds"),
        "contracted_at": at.isoformat(timespec="microseconds"),
    }


# -- plumbing --------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench/receipts] {message}", file=sys.stderr, flush=True)


def database_url(given: str | None, force_sqlite: bool, tmp: str) -> str:
    if given:
        return given
    env = os.environ.get("MARKET_BENCH_DATABASE_URL") or os.environ.get(
        "MARKET_TEST_DATABASE_URL")
    if env and env.startswith("postgresql") and not force_sqlite:
        return env
    return f"sqlite:///{tmp}/receipts.db"


def fresh_engine(url: str) -> Engine:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    migrate.upgrade(engine)
    return engine


def vacuum(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def server_version(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return str(conn.exec_driver_sql("SHOW server_version").scalar())
        return "SQLite " + str(conn.exec_driver_sql("SELECT sqlite_version()").scalar())


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 3), "p95_ms": round(cuts[94], 3),
            "p99_ms": round(cuts[98], 3), "max_ms": round(max(samples), 3),
            "samples": len(samples)}


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def median_seconds(run: Callable[[], object], *, at_least: int = 3,
                   budget: float = 1.0) -> float:
    """The median wall time of ``run``, repeated ``at_least`` times and until ``budget``
    seconds have gone by."""
    took: list[float] = []
    began = time.perf_counter()
    while len(took) < at_least or time.perf_counter() - began < budget:
        t = time.perf_counter()
        run()
        took.append(time.perf_counter() - t)
        if len(took) >= 50:
            break
    return statistics.median(took)


_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?(\w+)', re.IGNORECASE)


class StatementClock:
    """While ``active``: statements (count, rows, ms) by verb and the tables they name, and
    the time the database takes to commit (from the engine's ``commit`` event to the
    session's ``after_commit``)."""

    def __init__(self, engine: Engine, factory: sessionmaker[Session]) -> None:
        self.active = False
        self.by_label: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
        self.commit_ms = 0.0
        self._started: dict[int, float] = {}
        self._commit_started: float | None = None
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "commit", self._commit)
        event.listen(factory, "after_commit", self._committed)

    def _before(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if self.active:
            self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        began = self._started.pop(id(cursor), None)
        if began is None:
            return
        verb = statement.lstrip().split(None, 1)[0].upper()
        named = _TABLE.search(statement)
        table = named.group(1) if named else "-"
        entry = self.by_label[f"{verb} {table}"]
        entry[0] += 1
        entry[1] += len(parameters) if executemany else 1
        entry[2] += (time.perf_counter() - began) * 1000

    def _commit(self, conn: Any) -> None:
        if self.active:
            self._commit_started = time.perf_counter()

    def _committed(self, session: Any) -> None:
        if self._commit_started is not None:
            self.commit_ms += (time.perf_counter() - self._commit_started) * 1000
            self._commit_started = None

    @contextmanager
    def measuring(self) -> Iterator[StatementClock]:
        self.by_label = defaultdict(lambda: [0, 0, 0.0])
        self.commit_ms = 0.0
        self.active = True
        try:
            yield self
        finally:
            self.active = False


@dataclass
class Run:
    """What the measurements share: the database, the suite and the log's leaves so far."""

    engine: Engine
    factory: sessionmaker[Session]
    clock: StatementClock
    issuer: receipts.Issuer
    rng: random.Random
    digests: list[bytes] = field(default_factory=list)

    @property
    def suite(self) -> str:
        return self.issuer.suite.name

    @property
    def h(self) -> Callable[[bytes], bytes]:
        return suite_hash(self.suite)

    def uow(self, label: str) -> UnitOfWork:
        return UnitOfWork(self.factory, SystemClock(), system_actor(label))


# -- 1. issuing ------------------------------------------------------------------------------


def measure_issue(run: Run, n: int) -> dict[str, Any]:
    """``n`` receipts through ``services.issue``, one committed unit of work each."""
    latencies: list[float] = []
    record_bytes = body_bytes = 0
    began = time.perf_counter()
    for i in range(n):
        record = order_record(run.rng, i, datetime.now(UTC))
        t = time.perf_counter()
        with run.uow("bench") as uow:
            receipts.issue(uow, kind=Kind.ORDER_CONTRACT, subject_type="order",
                           subject_id=record["order_id"], record=record,
                           parties=[record["seller"]["org_id"], record["buyer"]["org_id"]])
            uow.commit()
        latencies.append((time.perf_counter() - t) * 1000)
        if i < 200:
            record_bytes += len(dumps(record))
        if (i + 1) % 1000 == 0:
            log(f"issued {i + 1}/{n} ({rate(i + 1, time.perf_counter() - began)}/s)")
    seconds = time.perf_counter() - began
    # What signing and hashing cost alone, on the same kind of body.
    suite, origin = run.issuer.suite, run.issuer.origin
    samples = [order_record(run.rng, i, datetime.now(UTC)) for i in range(200)]
    bodies = [receipt_body(receipt_id=new_id("rcp"), suite=suite.name, origin=origin,
                           kind=Kind.ORDER_CONTRACT.value,
                           subject_ref=f"order:{r['order_id']}", issued_at=int(time.time()),
                           record=r) for r in samples]
    body_bytes = sum(len(dumps(b)) for b in bodies)
    t = time.perf_counter()
    digests = [suite.hash(dumps(b)).hex() for b in bodies]
    hash_ms = (time.perf_counter() - t) * 1000 / len(bodies)
    t = time.perf_counter()
    for body, digest in zip(bodies, digests, strict=True):
        suite.sign_receipt(body["kind"], body["subject"], digest, body["issued_at"])
    sign_ms = (time.perf_counter() - t) * 1000 / len(bodies)
    per_receipt_ms = seconds * 1000 / n
    return {
        "receipts": n, "seconds": round(seconds, 2), "per_second": rate(n, seconds),
        "commit_latency": percentiles(latencies),
        "record_bytes_avg": round(record_bytes / min(n, 200)),
        "body_bytes_avg": round(body_bytes / len(bodies)),
        "alone_ms_per_receipt": {"canonical_json_and_hash": round(hash_ms, 3),
                                 "sign_receipt": round(sign_ms, 3),
                                 "rest_unit_of_work_and_statements": round(
                                     per_receipt_ms - hash_ms - sign_ms, 3)},
        "sign_only_per_second": rate(1, sign_ms / 1000),
    }


# -- 2. sequencing and 3. the raw limit ------------------------------------------------------


def queued_digests(run: Run) -> list[bytes]:
    with run.factory() as session:
        return [bytes.fromhex(d) for d in session.scalars(
            select(ReceiptQueue.digest).where(ReceiptQueue.suite == run.suite)
            .order_by(ReceiptQueue.seq))]


def head_state(run: Run) -> tuple[int, list[bytes], str, str]:
    with run.factory() as session:
        head = session.get(LogHead, run.suite)
        assert head is not None
        return head.size, [bytes.fromhex(f) for f in head.frontier], head.root, head.origin


def measure_raw(h: Callable[[bytes], bytes], digests: Sequence[bytes]) -> dict[str, Any]:
    """Leaf hashes and the root, and leaf hashes and every node, over ``digests``."""
    def leaves() -> list[bytes]:
        return [leaf_hash(h, d) for d in digests]

    def root_only() -> bytes:
        return merkle.root(h, leaves())

    def all_nodes() -> list[tuple[int, int, bytes]]:
        return merkle.new_nodes(h, [], 0, leaves())[0]

    n = len(digests)
    assert merkle.root(h, leaves()) == merkle.root_from_frontier(
        h, merkle.new_nodes(h, [], 0, leaves())[1], n)
    out = {}
    for name, fn in (("leaf_hashes_only", leaves), ("root_only", root_only),
                     ("all_nodes", all_nodes)):
        seconds = median_seconds(fn)
        out[name] = {"ms": round(seconds * 1000, 2), "leaves_per_second": rate(n, seconds)}
    return out


def _breakdown(clock: StatementClock, wall_ms: float, hashing_ms: float,
               signing_ms: float, leaves: int) -> dict[str, Any]:
    sql_ms = sum(v[2] for v in clock.by_label.values())
    rest = wall_ms - sql_ms - clock.commit_ms - hashing_ms - signing_ms
    parts = {
        "hashing (leaf hashes + new nodes, measured alone)": hashing_ms,
        "checkpoint signature (measured alone)": signing_ms,
        "commit": clock.commit_ms,
        **{f"statement {label} ({int(v[0])}×, {int(v[1])} rows)": v[2]
           for label, v in sorted(clock.by_label.items(), key=lambda kv: -kv[1][2])},
        "rest (Python: rows built, SQLAlchemy, results read)": rest,
    }
    return {
        "wall_ms": round(wall_ms, 1),
        "ms": {k: round(v, 1) for k, v in parts.items()},
        "share": {k: round(v / wall_ms, 3) for k, v in parts.items()},
        "us_per_leaf": {k: round(v * 1000 / leaves, 2) for k, v in parts.items()},
    }


def measure_sequence(run: Run, *, profile: bool = False) -> dict[str, Any]:
    """Sequence everything queued, one call at a time; where the time goes."""
    h = run.h
    size, frontier, _, origin = head_state(run)
    digests = queued_digests(run)
    calls: list[dict[str, Any]] = []
    profiler = cProfile.Profile() if profile else None
    total_wall = 0.0
    breakdowns = []
    while True:
        with run.clock.measuring():
            t = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            appended = receipts.sequence(run.uow("receipts"))
            if profiler is not None:
                profiler.disable()
            wall = time.perf_counter() - t
        leaves = appended.tree_size - appended.from_size
        if not leaves:
            break
        total_wall += wall
        calls.append({"leaves": leaves, "ms": round(wall * 1000, 1),
                      "leaves_per_second": rate(leaves, wall)})
        if profiler is None:
            # The same hashing and signing, alone (pure CPU, no profiler).
            chunk = digests[appended.from_size - size:appended.tree_size - size]
            start_frontier = frontier
            hashing = median_seconds(lambda c=chunk, f=start_frontier, s=appended.from_size:
                                     merkle.new_nodes(h, f, s, [leaf_hash(h, d) for d in c]))
            _, frontier = merkle.new_nodes(h, frontier, appended.from_size,
                                           [leaf_hash(h, d) for d in chunk])
            root = merkle.root_from_frontier(h, frontier, appended.tree_size)
            assert root.hex() == appended.root, "the sequencer's root is not the tree's"
            signing = median_seconds(lambda r=root, s=appended.tree_size: sign_checkpoint(
                run.issuer.suite, origin or run.issuer.origin, s, r, int(time.time())),
                at_least=5, budget=0.2)
            breakdowns.append(_breakdown(run.clock, wall * 1000, hashing * 1000,
                                         signing * 1000, leaves))
    run.digests.extend(digests)
    leaves_total = sum(c["leaves"] for c in calls)
    out: dict[str, Any] = {
        "leaves": leaves_total, "calls": calls, "seconds": round(total_wall, 3),
        "leaves_per_second": rate(leaves_total, total_wall),
        "rows_per_leaf": {"receipt_log_nodes": round((2 * leaves_total - 1) / leaves_total, 2)
                          if leaves_total else 0,
                          "receipt_log_entries": 1, "receipt_queue (deleted)": 1},
    }
    if breakdowns:
        out["where_time_goes"] = breakdowns[0] if len(breakdowns) == 1 else breakdowns
    if profiler is not None:
        out["profile"] = profile_summary(profiler, leaves_total)
    return out


def queue_synthetic(run: Run, n: int) -> float:
    """``n`` receipts written straight into ``receipts`` and ``receipt_queue`` (bodies of the
    real shape, unsigned: the sequencer reads only the queue); seconds taken."""
    t = time.perf_counter()
    suite, origin = run.issuer.suite, run.issuer.origin
    now = datetime.now(UTC)
    rows, queued = [], []
    for i in range(n):
        record = order_record(run.rng, i, now)
        receipt_id = new_id("rcp")
        body = receipt_body(receipt_id=receipt_id, suite=suite.name, origin=origin,
                            kind=Kind.ORDER_CONTRACT.value,
                            subject_ref=f"order:{record['order_id']}",
                            issued_at=int(now.timestamp()), record=record)
        digest = run.rng.randbytes(32).hex()
        rows.append({"id": receipt_id, "suite": suite.name, "kind": body["kind"],
                     "subject_type": "order", "subject_id": record["order_id"], "body": body,
                     "digest": digest, "signer": suite.identity, "signature": "synthetic",
                     "issued_at": now, "parties": [], "public": False})
        queued.append({"receipt_id": receipt_id, "suite": suite.name, "digest": digest,
                       "queued_at": now})
    with run.engine.begin() as conn:
        conn.execute(insert(cast(Table, Receipt.__table__)), rows)
        conn.execute(insert(cast(Table, ReceiptQueue.__table__)), queued)
    vacuum(run.engine)
    return time.perf_counter() - t


CATEGORIES: list[tuple[str, tuple[tuple[str, str], ...]]] = [
    ("hashing (leaf_hash, new_nodes, root_from_frontier)", (
        ("market/receipts/verifier.py", "leaf_hash"),
        ("market/receipts/merkle.py", "new_nodes"),
        ("market/receipts/merkle.py", "root_from_frontier"))),
    ("checkpoint signature (sign_checkpoint)", (
        ("market/receipts/checkpoint.py", "sign_checkpoint"),)),
    ("database driver: executemany", (
        ("~", "<method 'executemany' of 'sqlite3.Cursor' objects>"),
        ("psycopg/cursor.py", "executemany"))),
    ("database driver: execute", (
        ("~", "<method 'execute' of 'sqlite3.Cursor' objects>"),
        ("psycopg/cursor.py", "execute"))),
    ("database driver: commit", (
        ("~", "<method 'commit' of 'sqlite3.Connection' objects>"),
        ("psycopg/connection.py", "commit"))),
]


def profile_summary(profiler: cProfile.Profile, leaves: int, limit: int = 15
                    ) -> dict[str, Any]:
    """cProfile's view of the sequencer: time by kind of work (cumulative), and the
    functions with the most own time. The profiler slows Python (the hashing loops most)."""
    stats = pstats.Stats(profiler)
    rows = []
    by_key: dict[tuple[str, str], float] = defaultdict(float)
    total = 0.0
    for (path, line, name), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore
        short = path.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        rows.append((f"{short}:{line}({name})", nc, tt, ct))
        by_key[(short, name)] += ct
        if short == "market/receipts/services/log.py" and name == "sequence":
            total = ct
    categories = {label: sum(by_key.get(k, 0.0) for k in keys) for label, keys in CATEGORIES}
    categories["everything else (SQLAlchemy, building rows, the unit of work)"] = (
        total - sum(categories.values()))
    rows.sort(key=lambda r: -r[2])
    return {
        "sequence_ms": round(total * 1000, 1),
        "by_kind_ms": {k: round(v * 1000, 1) for k, v in categories.items()},
        "by_kind_share": {k: round(v / total, 3) if total else None
                          for k, v in categories.items()},
        "top_own_time": {r[0]: {"calls": r[1], "own_ms": round(r[2] * 1000, 1),
                                "cumulative_ms": round(r[3] * 1000, 1),
                                "own_us_per_leaf": round(r[2] * 1e6 / leaves, 2)}
                         for r in rows[:limit]},
    }


# -- 4. inclusion proofs ---------------------------------------------------------------------


def write_nodes(engine: Engine, suite: str, nodes: Sequence[tuple[int, int, bytes]]) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            raw = conn.connection.driver_connection
            with raw.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
                    'COPY receipt_log_nodes (suite, level, "index", hash) FROM STDIN') as copy:
                for level, index, node in nodes:
                    copy.write_row((suite, level, index, node))
        else:
            conn.exec_driver_sql(
                'INSERT INTO receipt_log_nodes (suite, level, "index", hash) '
                "VALUES (?, ?, ?, ?)", [(suite, lv, ix, nd) for lv, ix, nd in nodes])


def seed_proof_log(run: Run, target: int) -> tuple[dict[tuple[int, int], bytes], dict[str, Any]]:
    """Extend the log to ``target`` leaves with synthetic digests: nodes written in bulk,
    the head moved. Returns every node of the log (for the in-memory comparison)."""
    h = run.h
    t = time.perf_counter()
    with run.factory() as session:
        memory = {(int(lv), int(ix)): bytes(nd) for lv, ix, nd in session.execute(
            select(LogNode.level, LogNode.index, LogNode.hash)
            .where(LogNode.suite == run.suite))}
    size, frontier, _, origin = head_state(run)
    started_at = size
    written = 0
    hash_seconds = 0.0
    chunks = 0
    while size < target:
        count = min(NODE_BATCH, target - size)
        th = time.perf_counter()
        leaves = [leaf_hash(h, run.rng.randbytes(32)) for _ in range(count)]
        nodes, frontier = merkle.new_nodes(h, frontier, size, leaves)
        hash_seconds += time.perf_counter() - th
        write_nodes(run.engine, run.suite, nodes)
        memory.update(((lv, ix), nd) for lv, ix, nd in nodes)
        written += len(nodes)
        size += count
        chunks += 1
        if chunks % 3 == 0 or size == target:
            log(f"proof log: {size:,}/{target:,} leaves, {written:,} node rows written")
    if size > started_at:
        root = merkle.root_from_frontier(h, frontier, size)
        with run.engine.begin() as conn:
            conn.execute(LogHead.__table__.update().where(LogHead.suite == run.suite).values(
                size=size, frontier=[f.hex() for f in frontier], root=root.hex(),
                origin=origin or run.issuer.origin, updated_at=datetime.now(UTC)))
    tv = time.perf_counter()
    vacuum(run.engine)
    seconds = time.perf_counter() - t
    with run.factory() as session:
        rows = session.scalar(select(func.count()).select_from(LogNode)
                              .where(LogNode.suite == run.suite))
    return memory, {"leaves": target, "leaves_from_the_sequencer": min(started_at, target),
                    "node_rows": rows, "node_rows_written": written,
                    "seconds": round(seconds, 1), "hashing_seconds": round(hash_seconds, 1),
                    "vacuum_analyze_seconds": round(time.perf_counter() - tv, 1),
                    "written_with": ("COPY" if run.engine.dialect.name == "postgresql"
                                     else "executemany")}


def explain_nodes_at(run: Run, index: int, size: int) -> list[str]:
    """The plan of the statement ``inclusion_proof`` runs (``nodes_at``): EXPLAIN QUERY PLAN
    on SQLite, EXPLAIN ANALYZE on PostgreSQL."""
    captured: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "receipt_log_nodes" in statement:
            captured.append((statement, parameters))

    event.listen(run.engine, "before_cursor_execute", grab)
    try:
        with run.uow("bench") as uow:
            inclusion_proof(uow, run.suite, index, size)
    finally:
        event.remove(run.engine, "before_cursor_execute", grab)
    statement, parameters = captured[0]
    postgres = run.engine.dialect.name == "postgresql"
    with run.engine.connect() as conn:
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
        rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    return [str(r[0]) if postgres else str(r[-1]) for r in rows]


def measure_proofs(run: Run, leaves: int, samples: int, budget: float) -> dict[str, Any]:
    h = run.h
    size = leaves
    memory, seeded = seed_proof_log(run, leaves)
    root = merkle.subtree_root(h, 0, size, memory)
    gc.collect()
    gc.freeze()  # the millions of nodes held in memory are not the proofs' garbage
    indices = [run.rng.randrange(size) for _ in range(samples)]
    log(f"proofs: {samples} random leaves of {size:,}, from the database (for at most "
        f"{budget:.0f} s) and from memory")
    db_proof: list[float] = []
    db_total: list[float] = []
    mem_proof: list[float] = []
    mem_total: list[float] = []
    lengths: list[int] = []
    stopped = False
    with run.uow("bench") as uow:
        for index in indices[:10]:  # warm-up: statement cache, pages
            inclusion_proof(uow, run.suite, index, size)
        began = time.perf_counter()
        for n, index in enumerate(indices):
            t0 = time.perf_counter()
            proof = inclusion_proof(uow, run.suite, index, size)
            t1 = time.perf_counter()
            ok = verifier.verify_inclusion(h, index, size, memory[(0, index)], proof, root)
            t2 = time.perf_counter()
            assert ok, f"the proof of leaf {index} does not verify"
            db_proof.append((t1 - t0) * 1000)
            db_total.append((t2 - t0) * 1000)
            lengths.append(len(proof))
            if n >= 100 and time.perf_counter() - began > budget:
                stopped = True
                log(f"proofs: stopped after {n + 1} from the database (--proof-budget)")
                break
    for index in indices:
        t0 = time.perf_counter()
        proof = merkle.inclusion_proof(h, index, size, memory)
        t1 = time.perf_counter()
        ok = verifier.verify_inclusion(h, index, size, memory[(0, index)], proof, root)
        t2 = time.perf_counter()
        assert ok
        mem_proof.append((t1 - t0) * 1000)
        mem_total.append((t2 - t0) * 1000)
    verify = [b - a for a, b in zip(db_proof, db_total, strict=True)]
    total = percentiles(db_total)
    return {
        "tree_size": size, "seed": seeded, "proof_length": {
            "min": min(lengths), "max": max(lengths)},
        "database_samples_stopped_by_budget": stopped,
        "database_proof_and_verify": total,
        "database_proof_only": percentiles(db_proof),
        "verify_only": percentiles(verify),
        "memory_proof_and_verify": percentiles(mem_total),
        "memory_proof_only": percentiles(mem_proof),
        "ratio_p50_database_to_memory": round(total["p50_ms"]
                                              / percentiles(mem_total)["p50_ms"], 1),
        "nodes_at_plan": explain_nodes_at(run, indices[0], size),
    }


# -- 5. gas ----------------------------------------------------------------------------------


def calldata_gas(data: bytes) -> int:
    return sum(16 if b else 4 for b in data)


def measure_gas(h: Callable[[bytes], bytes], rng: random.Random) -> dict[str, Any]:
    if not ANVIL.exists():
        return {"skipped": f"anvil not installed at {ANVIL.relative_to(ROOT)}: run "
                           "`npm install --prefix contracts`"}
    # Real trees: the roots of one growing tree at the sizes the anchors record.
    sizes, size = [], 0
    for growth in GROWTHS:
        size += growth
        sizes.append(size)
    leaves = [leaf_hash(h, rng.randbytes(32)) for _ in range(sizes[-1])]
    roots: list[bytes] = []
    frontier: list[bytes] = []
    size = 0
    for target in sizes:
        _, frontier = merkle.new_nodes(h, frontier, size, leaves[size:target])
        size = target
        roots.append(merkle.root_from_frontier(h, frontier, size))
    assert roots[-1] == merkle.root(h, leaves)
    with anvil_node() as url, ChainClient.connect(url) as client:
        version = client.request("web3_clientVersion")
        key = "0x" + rng.randbytes(32).hex()
        sender = address_of(key)
        client.request("anvil_setBalance", [sender, hex(10**21)])
        deployed = client.deploy(key)
        contract = deployed.contract_address
        assert contract is not None
        anchors = []
        for batch_id, (growth, tree_size, root) in enumerate(
                zip(GROWTHS, sizes, roots, strict=True), start=1):
            signed = sign_anchor(key, chain_id=ANVIL_CHAIN_ID, contract=contract,
                                 nonce=client.pending_nonce(sender), fees=client.suggest_fees(),
                                 batch_id=batch_id, root=root, tree_size=tree_size)
            found = client.wait_for_receipt(client.send_raw(signed.raw_tx))
            events = anchored_events(found, contract)
            seen = [(e.batch_id, e.root, e.tree_size) for e in events]
            if found.status != 1 or seen != [(batch_id, root, tree_size)]:
                raise RuntimeError(f"anchor {batch_id} failed: {found}")
            intrinsic = 21_000 + calldata_gas(anchor_calldata(batch_id, root, tree_size))
            anchors.append({"batch_id": batch_id, "receipts": growth, "tree_size": tree_size,
                            "first_anchor": batch_id == 1, "gas_used": found.gas_used,
                            "intrinsic_gas": intrinsic,
                            "execution_gas": found.gas_used - intrinsic,
                            "gas_per_receipt": round(found.gas_used / growth, 3),
                            "block": found.block_number})
        head = client.w3.eth.contract(address=client.w3.to_checksum_address(contract),
                                      abi=ABI).functions.head().call()
    assert (int(head[0]), int(head[1]), bytes(head[2])) == (len(sizes), sizes[-1], roots[-1])
    steady = [a for a in anchors if not a["first_anchor"]]
    by_size: dict[int, list[int]] = defaultdict(list)
    for a in steady:
        by_size[a["receipts"]].append(a["gas_used"])
    low, high = min(a["gas_used"] for a in steady), max(a["gas_used"] for a in steady)
    return {
        "node": version, "chain_id": ANVIL_CHAIN_ID, "contract": contract,
        "deploy_gas": deployed.gas_used, "anchors": anchors,
        "first_anchor_gas": anchors[0]["gas_used"],
        "per_batch_size": {str(k): {"gas_per_batch": round(statistics.mean(v)),
                                    "gas_per_receipt": round(statistics.mean(v) / k, 3),
                                    "gas_used": v}
                           for k, v in sorted(by_size.items())},
        "steady_spread_gas": high - low,
        "steady_spread_share": round((high - low) / low, 4),
        "head_after": {"batch_id": int(head[0]), "tree_size": int(head[1])},
    }


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=None, help=(
        "dropped and recreated if PostgreSQL (default: MARKET_BENCH_DATABASE_URL, then "
        "MARKET_TEST_DATABASE_URL if PostgreSQL, else a temporary SQLite file)"))
    parser.add_argument("--sqlite", action="store_true",
                        help="a temporary SQLite file whatever the environment says")
    parser.add_argument("--suite", choices=("secp256k1-sha256", "sm2-sm3"),
                        default="secp256k1-sha256")
    parser.add_argument("--receipts", type=int, default=5_000,
                        help="receipts issued through the services, then sequenced (5000)")
    parser.add_argument("--full-call", type=int, default=SEQUENCE_LIMIT,
                        help="queued receipts one more sequencer call appends, and one "
                             f"more under cProfile ({SEQUENCE_LIMIT}; 0 skips)")
    parser.add_argument("--proof-leaves", type=int, default=1_000_000,
                        help="leaves of the log proofs are measured in (1000000; 0 skips)")
    parser.add_argument("--proof-samples", type=int, default=1_000)
    parser.add_argument("--proof-budget", type=float, default=120.0,
                        help="seconds of proofs from the database at most, after 100 (120)")
    parser.add_argument("--no-gas", action="store_true", help="skip anvil")
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    load_before = list(os.getloadavg())
    tmp = tempfile.mkdtemp(prefix="market-bench-receipts-")
    timings: dict[str, float] = {}
    report: dict[str, Any] = {}
    try:
        url = database_url(args.database_url, args.sqlite, tmp)
        t = time.perf_counter()
        engine = fresh_engine(url)
        timings["migrate"] = time.perf_counter() - t
        factory = make_session_factory(engine)
        issuer = receipts.configure(Settings(
            instance_path=Path(tmp), database_url=url, secret_key="bench-secret-0123456789abcdef",
            signing_key=BENCH_SIGNING_KEY, sm2_signing_key=BENCH_SM2_KEY,
            receipt_suite=args.suite))
        run = Run(engine, factory, StatementClock(engine, factory), issuer,
                  random.Random(args.seed))
        database = {"dialect": engine.dialect.name, "version": server_version(engine)}
        log(f"{database['version']}, suite {args.suite}, {os.cpu_count()} cores")

        t = time.perf_counter()
        log(f"issuing {args.receipts} receipts, one unit of work each …")
        issued = measure_issue(run, args.receipts)
        timings["issue"] = time.perf_counter() - t
        log(f"issue: {issued['per_second']}/s")
        vacuum(engine)

        t = time.perf_counter()
        digests = queued_digests(run)
        raw = {"suite_hash": measure_raw(run.h, digests)}
        if args.suite != "secp256k1-sha256":
            raw["sha256"] = measure_raw(sha256, digests)
        timings["raw"] = time.perf_counter() - t
        log(f"raw: {raw}")

        t = time.perf_counter()
        gc.collect()
        sequenced = measure_sequence(run)
        timings["sequence"] = time.perf_counter() - t
        log(f"sequence: {sequenced['leaves_per_second']} leaves/s")

        full_call = None
        if args.full_call:
            t = time.perf_counter()
            log(f"queueing {args.full_call} synthetic receipts for one full sequencer call …")
            queue_seconds = queue_synthetic(run, args.full_call)
            full_digests = queued_digests(run)
            full_raw = measure_raw(run.h, full_digests)
            full_call = measure_sequence(run)
            full_call["queued_in_seconds"] = round(queue_seconds, 1)
            full_call["raw"] = full_raw
            full_call["ratio_to_root_only"] = round(
                full_call["leaves_per_second"] / full_raw["root_only"]["leaves_per_second"], 4)
            full_call["ratio_to_all_nodes"] = round(
                full_call["leaves_per_second"] / full_raw["all_nodes"]["leaves_per_second"], 4)
            log(f"full call: {full_call['leaves_per_second']} leaves/s; profiling one more …")
            queue_synthetic(run, args.full_call)
            profiled = measure_sequence(run, profile=True)
            full_call["profile"] = profiled["profile"]
            timings["sequence_full_call"] = time.perf_counter() - t

        proofs = None
        if args.proof_leaves:
            t = time.perf_counter()
            log(f"seeding a log of {args.proof_leaves:,} leaves …")
            proofs = measure_proofs(run, args.proof_leaves, args.proof_samples,
                                    args.proof_budget)
            timings["proofs"] = time.perf_counter() - t
            log(f"proofs: {proofs['database_proof_and_verify']}")

        gas: dict[str, Any] = {"skipped": "--no-gas"}
        if not args.no_gas:
            t = time.perf_counter()
            log("anchoring on anvil …")
            try:
                gas = measure_gas(run.h, run.rng)
            except Exception as exc:  # report, as for a missing anvil, rather than lose the run
                gas = {"skipped": f"{type(exc).__name__}: {exc}"}
            timings["gas"] = time.perf_counter() - t
            log(f"gas: {gas.get('per_batch_size', gas)}")

        append_rate = sequenced["leaves_per_second"]
        root_rate = raw["suite_hash"]["root_only"]["leaves_per_second"]
        nodes_rate = raw["suite_hash"]["all_nodes"]["leaves_per_second"]
        ratios = {"append_to_raw_root_only": round(append_rate / root_rate, 4),
                  "append_to_raw_all_nodes": round(append_rate / nodes_rate, 4)}
        targets: dict[str, Any] = {
            "append_ratio_at_least": TARGET_APPEND_RATIO,
            "append_ratio_root_only_met": ratios["append_to_raw_root_only"]
            >= TARGET_APPEND_RATIO,
            "append_ratio_all_nodes_met": ratios["append_to_raw_all_nodes"]
            >= TARGET_APPEND_RATIO,
            "proof_p95_ms_at_most": TARGET_PROOF_P95_MS,
            "proof_met": None if proofs is None else
            proofs["database_proof_and_verify"]["p95_ms"] <= TARGET_PROOF_P95_MS,
            "proof_max_met": None if proofs is None else
            proofs["database_proof_and_verify"]["max_ms"] <= TARGET_PROOF_P95_MS,
            "proof_applies_at_1m": bool(proofs and proofs["tree_size"] >= 1_000_000),
        }
        if "skipped" not in gas:
            at_10k = gas["per_batch_size"]["10000"]["gas_per_receipt"]
            targets.update({
                "gas_independent_of_batch_size_within": TARGET_GAS_SPREAD,
                "gas_independent_met": gas["steady_spread_share"] <= TARGET_GAS_SPREAD,
                "gas_per_receipt_at_10k_at_most": TARGET_GAS_PER_RECEIPT_AT_10K,
                "gas_per_receipt_at_10k_met": at_10k <= TARGET_GAS_PER_RECEIPT_AT_10K,
                "gas_per_anchor_at_most": TARGET_GAS_PER_ANCHOR,
                "gas_per_anchor_met": max(a["gas_used"] for a in gas["anchors"])
                <= TARGET_GAS_PER_ANCHOR,
            })
        report = {
            "parameters": {"suite": args.suite, "receipts": args.receipts,
                           "full_call": args.full_call, "proof_leaves": args.proof_leaves,
                           "proof_samples": args.proof_samples, "seed": args.seed},
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform(), "database": database,
                        "load_average_before": load_before},
            "issue": issued,
            "sequence": sequenced,
            "raw": raw,
            "ratios": ratios,
            "sequence_full_call": full_call,
            "proofs": proofs,
            "gas": gas,
            "targets": targets,
            "timings_seconds": {k: round(v, 1) for k, v in timings.items()},
            "load_average_after": list(os.getloadavg()),
            "runtime_seconds": round(time.perf_counter() - began, 1),
        }
        engine.dispose()
        if args.keep and url.startswith("sqlite"):
            report["sqlite_path"] = f"{tmp}/receipts.db"
        print(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
