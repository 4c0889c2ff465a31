"""Trading benchmark: how fast does money move over HTTP, against a raw SQL transfer?

One run against PostgreSQL (``--database-url``, else MARKET_TEST_DATABASE_URL, else
MARKET_DATABASE_URL; SQLite is refused). The database is migrated, not dropped: the run adds
its own organisations, product, orders and journals next to whatever is there. Then:

* seeds through the services: an operator, a resource holder and a merchant with a rights
  chain (resource → holding → grant → processing use → product operation), the merchant's
  product listed with one unlimited one-time offer (100.00 CNY), and ``--clients`` buyers
  with API keys and large top-ups;
* starts the application under gunicorn (``--workers 2``; ``--threads 1``, i.e. sync workers,
  by default: a request that moves money is CPU-bound Python, so threads sharing a worker's
  GIL add contention without adding CPU; gthread did better only on the cheap GETs, thanks
  to keep-alive) on a free local port with MARKET_DATABASE_URL pointed at that database, and
  waits for ``/readyz``;
* warms up (a few whole trades per client, untimed);
* (a) baseline: ``GET /healthz`` (and, for reference, the authenticated ``GET /api/v1/me``)
  at ``--clients`` concurrent clients;
* (b) baseline: a raw SQL double-entry transfer at ``--clients`` threads, each with its own
  psycopg connection, in one transaction what ``ledger.transfer`` does (journal row, two
  conditional balance ``UPDATE … RETURNING`` in account-id order, two postings with
  ``balance_after``) on the real ledger tables, so the deferred balance trigger runs at
  commit; buyer i moves money from its available account to an escrow of its own, so the
  clients never touch the same rows;
* (c) the money-moving endpoints at ``--clients`` clients, each on its own orders: orders are
  placed (timed too), then ``POST /orders/{id}/payment``, then delivered by API (timed too),
  then ``POST /orders/{id}/acceptance`` (which settles and files the trade);
* (d) whole trades (place → pay → deliver by API → accept) per second at ``--clients``;
* stops gunicorn, traces ``--trace`` trades in this process one request at a time
  (statements per request, and how long each holds the ``audit_head`` row every writer
  queues on), checks the ledger (``ledger.verify``) and that every order settled.

Targets: money-moving rate / raw transfer rate >= 0.25, money-moving p99 / minimal p99 <= 5
(each for payment and for acceptance). While each phase runs, ``pg_stat_activity`` is
sampled for the application's connections (state, wait event, and the statement a waiting
session is blocked in), and /proc tells the CPU used by gunicorn, PostgreSQL, this process
and everything else (on a shared machine the last is the noise in the numbers).

    scripts/with-postgres .venv/bin/python bench/trade.py
    scripts/with-postgres .venv/bin/python bench/trade.py --orders 8 --trades 4 --trace 0

Prints one JSON object on stdout; progress goes to stderr. Each client is a thread with a
keep-alive socket speaking just enough HTTP/1.1 (far cheaper than http.client or requests,
which matters on a small machine where the client shares the CPUs with the server).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from bare import CREATE_IDEMPOTENCY
from sqlalchemy import func, select
from sqlalchemy.engine import Engine, make_url

import market.models  # noqa: F401  (every table, so foreign keys resolve)
from market import wiring
from market.cli.common import Progress
from market.kernel import migrate
from market.kernel.actor import Actor, system_actor
from market.kernel.audit import AuditHead
from market.kernel.clock import SystemClock
from market.kernel.config import Settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.listing.domain import (
    DevelopmentLevel,
    OfferKind,
    OfferSpec,
    ProductType,
    UsageTerms,
)
from market.listing.models import Offer, Product
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.receipts import services as receipts
from market.receipts.signing import Signer
from market.rights import services as rights
from market.rights.domain import (
    Classification,
    EvidenceKind,
    Origin,
    PILevel,
    RightKind,
    Scope,
    Term,
    Territory,
)
from market.settlement import ledger
from market.settlement import services as settlement
from market.settlement.domain import AccountKind
from market.settlement.models import Journal
from market.trading.models import Order

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
PRICE = 10_000  # 100.00 CNY in fen
FUNDS = 10**13  # per buyer: never the limit
APP_NAME = "market-bench-app"  # application_name of the server's connections (PGAPPNAME)
RAW_NAME = "market-bench-raw"
# Against the bare stack (bench/bare.py: Flask + SQLAlchemy with text() statements, the
# same gunicorn and clients), each rate at least this share of its bare counterpart's:
TARGETS = {"authenticated_read": 0.6,  # GET /api/v1/me vs the bare authenticated read by id
           "payment": 0.5,  # POST /orders/{id}/payment vs the bare idempotent transfer
           "acceptance": 0.3}  # POST /orders/{id}/acceptance (splits, files, alert rules) too
TARGET_P99_RATIO = 3.0  # each p99 / its bare counterpart's p99, at most
TARGET_TRADES_PER_SECOND = 60.0  # whole trades on the machine, at least
DAY = timedelta(days=1)

# What the rights chain, the listing and the buyers' commitments say (as in the integration
# tests' fixtures): scopes that nest holding ⊇ grant ⊇ use ⊇ product operation.
WIDE = Scope(frozenset({"analytics", "marketing", "risk"}),
             frozenset({"finance", "retail", "health"}), Territory.CROSS_BORDER)
GRANTED = Scope(frozenset({"analytics", "risk"}), frozenset({"finance", "retail"}),
                Territory.DOMESTIC)
USE = Scope(frozenset({"analytics", "risk"}), frozenset({"finance"}), Territory.DOMESTIC)
PRODUCT = Scope(frozenset({"analytics"}), frozenset({"finance"}), Territory.DOMESTIC)
TERMS = UsageTerms(purposes=("信贷风控",), scenarios=("小微企业授信",), territory="domestic",
                   duration_days=365, onward_transfer=False, resale=False, max_users=5,
                   attribution=None)
DECLARATION: dict[str, Any] = {
    "statement": "本公司承诺所售数据来源合法、权属清晰，不含核心数据。",
    "source_is_lawful": True, "contains_personal_information": False,
    "contains_important_data": False, "contains_core_data": False,
    "source_basis": "self_collected", "personal_information_basis": "none",
    "cross_border": False, "third_party_rights_cleared": True,
    "security_measures": ["分级访问控制", "传输加密"], "scenarios": ["企业信用评估"],
    "onward_transfer_commitment": True,
    "commitments": ["按约定用途使用", "不转售"],
}
COMMITMENT: dict[str, Any] = {
    "purpose": "小微企业授信审批", "purposes": ["信贷风控"],
    "scenarios": ["小微企业授信"], "cross_border": False,
    "destination": None, "security_measures": ["加密存储"], "no_onward_transfer": True,
    "no_reidentification": True, "commitments": [],
}


def log(message: str) -> None:
    print(f"[bench/trade] {message}", file=sys.stderr, flush=True)


# -- seeding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    org_id: str
    token: str
    actor: Actor


@dataclass
class Seeded:
    operator: Party
    holder: Party
    merchant: Party
    buyers: list[Party]
    product_id: str
    offer_id: str
    raw_accounts: list[tuple[str, str]]  # per client: (available, escrow of its own)
    seconds: float = 0.0


def _register(factory: Any, label: str, role: str) -> Party:
    code = random_credit_code()
    data = participants.OrganisationInput(
        name=f"bench {label} {code[-6:]}", credit_code=code, contact_name=f"bench {label}",
        contact_email=f"bench-{label}-{code.lower()}@example.cn", roles=frozenset([role]))
    reg = participants.register_organisation(
        data, uow=UnitOfWork(factory, SystemClock(), system_actor("bench")),
        key_ttl=timedelta(days=7), reason="bench/trade")
    actor = Actor(kind="user", label=f"bench {label}", user_id=reg.user.id,
                  org_id=reg.organisation.id, roles=frozenset([role]), org_status="admitted",
                  scopes=frozenset({"read", "write"}), key_id=reg.api_key.key.id)
    return Party(reg.organisation.id, reg.api_key.token, actor)


def _evidence(kind: EvidenceKind) -> rights.EvidenceInput:
    name = f"{kind.value}.pdf"
    return rights.EvidenceInput(kind=kind, name=name, media_type="application/pdf",
                                sha256=hashlib.sha256(name.encode()).hexdigest())


def seed(engine: Engine, signer: Signer, clients: int,
         progress: Callable[[int, int], None] | None = None) -> Seeded:
    """Everything the trades need, through the services (as the API would make it);
    ``progress(done, total)`` is told of each party registered and each buyer funded."""
    started = time.perf_counter()
    factory = make_session_factory(engine)
    clock = SystemClock()
    total, done = 2 * clients + 4, [0]

    def step() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    def uow(party: Party | None = None) -> UnitOfWork:
        return UnitOfWork(factory, clock, party.actor if party else system_actor("bench"))

    operator = _register(factory, "operator", "operator")
    holder = _register(factory, "holder", "merchant")
    merchant = _register(factory, "merchant", "merchant")
    for _ in range(3):
        step()
    buyers = []
    for i in range(clients):
        buyers.append(_register(factory, f"buyer{i}", "buyer"))
        step()

    start = clock.now() - DAY

    def registered(party: Party, data: rights.RightInput) -> Any:
        right = rights.submit_right(data, uow=uow(party))
        rights.claim_review(right.id, uow=uow(operator))
        return rights.decide_review(right.id, approve=True, reason="材料齐全",
                                    uow=uow(operator), signer=signer)

    resource = rights.register_resource(rights.ResourceInput(
        title="企业用电数据", description="月度用电量", origin=Origin.ENTERPRISE,
        classification=Classification.GENERAL, pi_level=PILevel.NONE,
        collection_method="meter", collection_source="grid company",
        scenarios=["finance", "retail"], update_frequency="monthly",
        evidence=[_evidence(EvidenceKind.SOURCE_LEGALITY)]), uow=uow(holder))
    holding = registered(holder, rights.RightInput(
        kind=RightKind.RESOURCE_HOLDING, scope=WIDE, term=Term(start, start + 3 * 365 * DAY),
        resource_id=resource.id))
    grant = rights.create_grant(rights.GrantInput(
        holding_right_id=holding.id, grantee_org_id=merchant.org_id, scope=GRANTED,
        term=Term(start, start + 2 * 365 * DAY)), uow=uow(holder))
    use = registered(merchant, rights.RightInput(
        kind=RightKind.PROCESSING_USE, scope=USE, term=Term(start, start + 2 * 365 * DAY),
        resource_id=resource.id, parent_ids=(holding.id,), grant_id=grant.id))
    operation = registered(merchant, rights.RightInput(
        kind=RightKind.PRODUCT_OPERATION, scope=PRODUCT, term=Term(start, start + 365 * DAY),
        parent_ids=(use.id,), product_title="企业用电风险指数"))
    product_id = operation.product_id
    assert product_id is not None

    listing.create_product(listing.ProductInput(
        title="企业用电风险指数", description="按月更新的企业用电景气与风险指数",
        type=ProductType.DATASET, development_level=DevelopmentLevel.MODELLED,
        sector="finance", region="上海", update_frequency="monthly",
        scenarios=["小微企业授信"], delivery_modes=["api"], derived_from=[resource.id],
        terms=TERMS, offers=[("标准版", OfferSpec(OfferKind.ONE_TIME, amount=PRICE))]),
        uow=uow(merchant), product_id=product_id)
    listing.submit_listing(product_id, DECLARATION, uow=uow(merchant))
    listing.claim_review(product_id, uow=uow(operator))
    listing.decide_review(product_id, "list", "材料齐全", uow=uow(operator))
    with factory() as session:
        offer_id = session.scalars(select(Offer.id).join(
            Product, Product.listed_version_id == Offer.version_id).where(
            Product.id == product_id)).one()

    for buyer in buyers:  # the operator's offline rail, as a system actor would record it
        settlement.record_top_up(buyer.org_id, FUNDS, "CNY", f"BENCH-{buyer.org_id}",
                                 uow=uow())
        step()
    raw_accounts = []
    with uow() as work:  # the raw transfers' accounts, opened the way the ledger opens them
        now = clock.now()
        for i, buyer in enumerate(buyers):
            available = ledger.account(work.session, AccountKind.AVAILABLE, buyer.org_id,
                                       "CNY", at=now)
            escrow = ledger.account(work.session, AccountKind.ESCROW, buyer.org_id, "CNY",
                                    f"bench-raw-{i}", at=now)
            raw_accounts.append((available.id, escrow.id))
        work.commit()
    step()
    return Seeded(operator, holder, merchant, buyers, product_id, offer_id, raw_accounts,
                  round(time.perf_counter() - started, 2))


# -- a cheap HTTP/1.1 client ------------------------------------------------------------------


class Http:
    """One keep-alive connection; reconnects when the server closes it (sync workers close
    after every response)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.auth = f"Authorization: Bearer {token}\r\n".encode() if token else b""
        self.sock: socket.socket | None = None
        self.reader: Any = None
        self.connects = 0

    def close(self) -> None:
        if self.sock is not None:
            self.reader.close()
            self.sock.close()
        self.sock = self.reader = None

    def _open(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.reader = sock, sock.makefile("rb", buffering=65536)
        self.connects += 1

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: bytes = b"") -> tuple[int, bytes]:
        head = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s" % (
            method.encode(), path.encode(), self.auth, headers)
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        elif method != "GET":
            head += b"Content-Length: 0\r\n"
        data = head + b"\r\n" + (body or b"")
        for _ in range(2):
            fresh = self.sock is None
            if fresh:
                self._open()
            assert self.sock is not None
            try:
                self.sock.sendall(data)
                line = self.reader.readline()
                if not line:
                    raise ConnectionResetError("the server closed the connection")
            except OSError:
                self.close()
                if fresh:
                    raise
                continue  # a kept-alive connection the server had closed: once more
            return self._response(line)
        raise ConnectionError("no response")

    def _response(self, line: bytes) -> tuple[int, bytes]:
        status = int(line.split(b" ", 2)[1])
        length, chunked, close = None, False, False
        while True:
            header = self.reader.readline()
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if chunked:
            parts = []
            while (size := int(self.reader.readline().split(b";")[0], 16)):
                parts.append(self.reader.read(size))
                self.reader.readline()
            while self.reader.readline() not in (b"\r\n", b"\n", b""):
                pass
            body = b"".join(parts)
        elif length is not None:
            body = self.reader.read(length)
        else:
            body, close = self.reader.read(), True
        if close:
            self.close()
        return status, body


class UnexpectedResponse(RuntimeError):
    pass


def expect(response: tuple[int, bytes], status: int, what: str) -> bytes:
    if response[0] != status:
        raise UnexpectedResponse(f"{what}: HTTP {response[0]}: {response[1][:500]!r}")
    return response[1]


# -- measuring ------------------------------------------------------------------------------


def percentiles(samples: Sequence[float], seconds: float | None = None) -> dict[str, Any]:
    """Count, rate (over ``seconds`` of wall time) and latency percentiles in ms."""
    ms = sorted(s * 1000 for s in samples)
    if len(ms) < 2:
        return {"count": len(ms)}
    q = statistics.quantiles(ms, n=100, method="inclusive")
    out: dict[str, Any] = {"count": len(ms)}
    if seconds:
        out["seconds"] = round(seconds, 3)
        out["per_second"] = round(len(ms) / seconds, 1)
    out.update({"p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2), "p99_ms": round(q[98], 2),
                "max_ms": round(ms[-1], 2), "mean_ms": round(statistics.fmean(ms), 2)})
    return out


@dataclass
class PhaseResult:
    latencies: list[float]
    seconds: float
    steps: dict[str, list[float]] = field(default_factory=dict)

    def stats(self) -> dict[str, Any]:
        return percentiles(self.latencies, self.seconds)


def run_phase(name: str, work: Sequence[Sequence[Any]],
              op: Callable[[int, Any, dict[str, list[float]]], None]) -> PhaseResult:
    """Run ``op(client, item, steps)`` for every item of every client's list, one thread per
    client, all released together; the wall time runs from the release to the last
    client's end."""
    n = len(work)
    latencies: list[list[float]] = [[] for _ in range(n)]
    steps: list[dict[str, list[float]]] = [{} for _ in range(n)]
    ends = [0.0] * n
    errors: list[str] = []
    barrier = threading.Barrier(n + 1)

    def client(i: int) -> None:
        try:
            barrier.wait()
            for item in work[i]:
                t = time.perf_counter()
                op(i, item, steps[i])
                latencies[i].append(time.perf_counter() - t)
        except BaseException as exc:  # reported below, and the run fails
            errors.append(f"client {i}: {exc!r}")
            barrier.abort()
        finally:
            ends[i] = time.perf_counter()

    threads = [threading.Thread(target=client, args=(i,), name=f"{name}-{i}", daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{name} failed: " + "; ".join(errors[:3]))
    merged: dict[str, list[float]] = {}
    for s in steps:
        for key, values in s.items():
            merged.setdefault(key, []).extend(values)
    return PhaseResult([x for lat in latencies for x in lat], max(ends) - started, merged)


class Sampler:
    """Samples pg_stat_activity for the bench's connections while a phase runs: how many
    are in a transaction, executing, or waiting on a lock (and in which statement)."""

    def __init__(self, conninfo: str, interval: float) -> None:
        self.interval = interval
        self.conninfo = conninfo
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._samples = 0
        self._backends = 0
        self._stop = threading.Event()
        self._active = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval > 0:
            self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        query = ("SELECT state, wait_event_type, wait_event, left(query, 200) "
                 "FROM pg_stat_activity WHERE application_name IN (%s, %s) "
                 "AND pid <> pg_backend_pid()")
        with psycopg.connect(self.conninfo, autocommit=True,
                             application_name="market-bench-sampler") as conn:
            while not self._stop.wait(self.interval):
                if not self._active:
                    continue
                rows = conn.execute(query, (APP_NAME, RAW_NAME)).fetchall()
                with self._lock:
                    if not self.active():  # the phase ended during the query
                        continue
                    self._samples += 1
                    self._backends += len(rows)
                    for state, wtype, wevent, text in rows:
                        self._counts[_category(state, wtype, wevent, text)] += 1

    def active(self) -> bool:
        return self._active

    def begin(self) -> None:
        with self._lock:
            self._counts.clear()
            self._samples = self._backends = 0
            self._active = True

    def end(self) -> dict[str, Any] | None:
        with self._lock:
            self._active = False
            if not self._samples:
                return None
            busy = {k: v for k, v in self._counts.items() if not k.startswith("idle |")}
            per_sample = {k: round(v / self._samples, 2)
                          for k, v in sorted(busy.items(), key=lambda kv: -kv[1])[:10]}
            return {
                "samples": self._samples,
                "avg_connections": round(self._backends / self._samples, 2),
                "avg_in_transaction": round(sum(busy.values()) / self._samples, 2),
                "avg_waiting_on_locks": round(sum(
                    v for k, v in busy.items() if "| Lock:" in k) / self._samples, 2),
                "avg_sessions_by_state": per_sample,
            }

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _category(state: str | None, wtype: str | None, wevent: str | None,
              text: str | None) -> str:
    wait = f"{wtype}:{wevent}" if wtype else "-"
    if state == "idle":
        return "idle | -"
    if state == "idle in transaction":
        return "idle in transaction | (the application works between statements)"
    if state == "active" and wtype == "Lock":
        statement = " ".join((text or "").split())[:70]
        return f"active | {wait} | {statement}"
    if state == "active" and wtype is None and text:
        if text.lstrip().upper().startswith("COMMIT"):
            return "active | - | COMMIT (deferred triggers)"
        return "active | - | executing"
    return f"{state} | {wait}"


class CpuMeter:
    """Where the machine's CPU went during a phase, from /proc: gunicorn (master and
    workers), PostgreSQL (the postmaster and its children, when it runs here), this process
    (the clients, the raw SQL transfers and the sampler) and everything else on the machine
    (other people's work: the numbers are only as good as that is small)."""

    def __init__(self, gunicorn_pid: int, postmaster_pid: int | None) -> None:
        self.gunicorn_pid = gunicorn_pid
        self.postmaster_pid = postmaster_pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def _processes(self) -> dict[int, tuple[int, float]]:
        found: dict[int, tuple[int, float]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    raw = fh.read()
            except OSError:
                continue
            fields = raw[raw.rindex(b")") + 2:].split()
            found[int(entry.name)] = (int(fields[1]),
                                      (int(fields[11]) + int(fields[12])) / self.tick)
        return found

    def snapshot(self) -> dict[str, float]:
        with open("/proc/stat") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
        procs = self._processes()

        def tree(root: int | None) -> float:
            if root is None or root not in procs:
                return 0.0
            return procs[root][1] + sum(cpu for ppid, cpu in procs.values() if ppid == root)

        return {"wall": time.perf_counter(),
                "busy": (user + nice + system + irq + softirq) / self.tick,
                "steal": steal / self.tick,
                "gunicorn": tree(self.gunicorn_pid), "postgres": tree(self.postmaster_pid),
                "bench_client": procs.get(os.getpid(), (0, 0.0))[1]}

    @staticmethod
    def cores(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """Average CPUs used per consumer over the interval."""
        wall = after["wall"] - before["wall"]
        used = {k: (after[k] - before[k]) / wall for k in before if k != "wall"}
        used["other"] = max(used["busy"] - used["gunicorn"] - used["postgres"]
                            - used["bench_client"], 0.0)
        return {k: round(v, 2) for k, v in used.items()}


    @staticmethod
    def ms_per_op(before: dict[str, float], after: dict[str, float], ops: int
                  ) -> dict[str, float]:
        """CPU milliseconds per operation of the server, the database and the client."""
        return {f"{k}_cpu_ms": round((after[k] - before[k]) * 1000 / ops, 2)
                for k in ("gunicorn", "postgres", "bench_client")}


def postmaster_pid(engine: Engine) -> int | None:
    """The local PostgreSQL server's postmaster, if the database runs on this machine."""
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pid FROM pg_stat_activity "
                                   "WHERE backend_type = 'checkpointer'").scalar()
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"postgres" not in fh.read():
                return None
    except (OSError, TypeError):
        return None
    return int(raw[raw.rindex(b")") + 2:].split()[1])


def audit_seq(engine: Engine) -> tuple[int, int]:
    """(audit entries, journals) so far."""
    with engine.connect() as conn:
        seq = conn.execute(select(AuditHead.seq)).scalar() or 0
        journals = conn.execute(select(func.count()).select_from(Journal)).scalar() or 0
    return int(seq), int(journals)


# -- the raw SQL transfer ---------------------------------------------------------------------

RAW_JOURNAL = ("INSERT INTO ledger_journals (id, key, kind, order_id, memo, actor_label, "
               "posted_at) VALUES (%s, %s, 'payment', NULL, NULL, 'bench raw transfer', %s)")
RAW_MOVE = ("UPDATE ledger_accounts SET balance = balance + %s WHERE id = %s "
            "AND (NOT non_negative OR balance - pending_out + %s >= 0) RETURNING balance")
RAW_POSTING = ("INSERT INTO ledger_postings (journal_id, account_id, amount, currency, "
               "balance_after, posted_at) VALUES (%s, %s, %s, 'CNY', %s, %s)")


def raw_transfer(conn: psycopg.Connection[Any], source: str, target: str, amount: int) -> None:
    """What ``ledger.transfer`` writes for a two-leg journal, in one transaction."""
    journal_id = new_id("jrn")
    now = datetime.now(UTC)
    with conn.cursor() as cur:
        cur.execute(RAW_JOURNAL, (journal_id, f"bench-raw:{journal_id}", now))
        postings = []
        for account_id, leg in sorted([(source, -amount), (target, amount)]):
            cur.execute(RAW_MOVE, (leg, account_id, leg))
            row = cur.fetchone()
            if row is None:
                raise RuntimeError(f"insufficient funds on {account_id}")
            postings.append((journal_id, account_id, leg, row[0], now))
        cur.executemany(RAW_POSTING, postings)
    conn.commit()  # the deferred trigger checks the journal balances here


# -- one request at a time, in process, traced ---------------------------------------------------


def trace(url: str, signing_key: str, instance: Path, seeded: Seeded, trades: int
          ) -> dict[str, Any]:
    """Whole trades through the application in this process (Flask's test client, no
    concurrency), counting per request the SQL statements, the pool checkouts (each is a
    ``SELECT 1`` pre-ping round trip too), and how long the transaction holds the
    ``audit_head`` row: from its ``UPDATE audit_head`` to the end of its commit. Every
    writer queues on that row, so 1000 / hold ms bounds the writes per second of the whole
    exchange, however many workers serve it. A last few trades, untimed, count the Python
    function calls of each request: the interpreter's work, which unlike time does not move
    with a shared machine's load, so two versions can be compared run against run."""
    from sqlalchemy import event

    from market.app import create_app

    app = create_app(Settings(instance_path=instance, database_url=url,
                              secret_key=secrets.token_urlsafe(32), signing_key=signing_key))
    factory = app.extensions["market"].session_factory
    engine = factory.kw["bind"]
    now: dict[str, Any] = {}

    def reset() -> None:
        now.update(statements=0, held=0, checkouts=0, lock_at=None, hold=0.0)

    def before_execute(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        now["statements"] += 1
        if now["lock_at"] is None and statement.lstrip().startswith("UPDATE audit_head"):
            now["lock_at"] = time.perf_counter()
        if now["lock_at"] is not None:
            now["held"] += 1

    def ended(*_: Any) -> None:
        if now["lock_at"] is not None:
            now["hold"] += time.perf_counter() - now["lock_at"]
            now["lock_at"] = None

    def checkout(*_: Any) -> None:
        now["checkouts"] += 1

    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine.pool, "checkout", checkout)
    event.listen(factory, "after_commit", ended)
    event.listen(factory, "after_rollback", ended)
    client = app.test_client()
    buyer = {"Authorization": f"Bearer {seeded.buyers[0].token}"}
    merchant = {"Authorization": f"Bearer {seeded.merchant.token}"}
    order = {"product_id": seeded.product_id, "offer_id": seeded.offer_id,
             "commitment": COMMITMENT}
    delivery = {"mode": "api", "endpoint": "https://api.example.cn/v1/power-risk"}
    found: dict[str, list[dict[str, float]]] = {}

    calls: dict[str, list[int]] = {}
    counting = [False]

    def step(name: str, status: int, method: str, path: str, headers: dict[str, str],
             body: Any = None) -> Any:
        reset()
        if counting[0]:  # a pass of its own: the profile hook slows the request down
            count = [0]

            def profile(_frame: Any, event: str, _arg: Any) -> None:
                if event in ("call", "c_call"):
                    count[0] += 1

            sys.setprofile(profile)
            try:
                response = client.open(path, method=method, json=body, headers=headers)
            finally:
                sys.setprofile(None)
            calls.setdefault(name, []).append(count[0])
            return response
        t = time.perf_counter()
        response = client.open(path, method=method, json=body, headers=headers)
        wall = time.perf_counter() - t
        if response.status_code != status:
            raise UnexpectedResponse(f"traced {name}: HTTP {response.status_code}: "
                                     f"{response.data[:300]!r}")
        found.setdefault(name, []).append({
            "wall_ms": wall * 1000, "statements": now["statements"],
            "pool_checkouts": now["checkouts"], "statements_holding_audit_head": now["held"],
            "audit_head_held_ms": now["hold"] * 1000})
        return response

    counted = min(trades, 5)
    for i in range(trades + 3 + counted):  # the first three warm the process up
        counting[0] = i >= trades + 3  # the last few count Python calls instead
        order_id = step("place_order", 201, "POST", f"{API}/orders", buyer,
                        order).get_json()["id"]
        step("payment", 200, "POST", f"{API}/orders/{order_id}/payment", buyer)
        step("delivery", 201, "POST", f"{API}/orders/{order_id}/deliveries", merchant,
             delivery)
        step("acceptance", 200, "POST", f"{API}/orders/{order_id}/acceptance", buyer, {})
        step("me", 200, "GET", f"{API}/me", buyer)
        if i < 3:
            found.clear()
    engine.dispose()
    out: dict[str, Any] = {}
    for name, rows in found.items():
        medians = {k: round(statistics.median(r[k] for r in rows), 2) for k in rows[0]}
        if name in calls:  # function calls the interpreter made: the request's Python work,
            medians["python_calls"] = statistics.median(calls[name])  # immune to CPU noise
        held = medians["audit_head_held_ms"]
        out[name] = {**medians, "serial_ceiling_per_second": round(1000 / held, 1)
                     if held else None}
    return {"trades": trades, "medians_per_request": out}


# -- gunicorn -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, url: str, workers: int, threads: int, instance: Path,
                 signing_key: str, *, bare: bool = False) -> None:
        self.port = free_port()
        self.ready_path = "/healthz" if bare else "/readyz"
        instance.mkdir(parents=True, exist_ok=True)
        self.log_path = instance / ("gunicorn-bare.log" if bare else "gunicorn.log")
        cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers),
               "--bind", f"127.0.0.1:{self.port}",
               "--chdir", str(ROOT / "bench" if bare else ROOT),
               "--log-level", "warning", "--error-logfile", str(self.log_path),
               "--graceful-timeout", "5"]
        if threads > 1:
            cmd += ["--worker-class", "gthread", "--threads", str(threads)]
        cmd.append("bare:app" if bare else "wsgi:app")
        env = {**os.environ, "MARKET_DATABASE_URL": url,
               "MARKET_INSTANCE_PATH": str(instance / "instance"),
               "MARKET_SECRET_KEY": secrets.token_urlsafe(32),
               "MARKET_SIGNING_KEY": signing_key, "PGAPPNAME": APP_NAME}
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n"
                                   + self.log_tail())
            probe = Http(self.port)
            try:
                if probe.request("GET", self.ready_path)[0] == 200:
                    return
            except OSError:
                pass
            finally:
                probe.close()
            time.sleep(0.2)
        raise RuntimeError("gunicorn not ready in time:\n" + self.log_tail())

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-30:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the master (a graceful stop of its workers), then SIGKILL to whatever
        of its process group is left."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        for _ in range(50):
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# -- the run --------------------------------------------------------------------------------


def database_url(explicit: str | None) -> str:
    url = (explicit or os.environ.get("MARKET_TEST_DATABASE_URL")
           or os.environ.get("MARKET_DATABASE_URL"))
    if not url:
        raise SystemExit("bench/trade: no database: set MARKET_TEST_DATABASE_URL (e.g. run "
                         "under scripts/with-postgres) or MARKET_DATABASE_URL")
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if not url.startswith("postgresql"):
        raise SystemExit(f"bench/trade: PostgreSQL only, refusing {url.split(':', 1)[0]}")
    return url


def ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=None,
                        help="default: MARKET_TEST_DATABASE_URL, then MARKET_DATABASE_URL")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help=(
        "threads per gunicorn worker; 1 (sync workers, the default) measured best for the "
        "money-moving endpoints, whose requests are CPU-bound Python: more (gthread) adds "
        "GIL contention without adding CPU"))
    parser.add_argument("--requests", type=int, default=400,
                        help="minimal-endpoint requests per client (a quarter as many GET /me)")
    parser.add_argument("--transfers", type=int, default=400,
                        help="raw SQL transfers per client")
    parser.add_argument("--orders", type=int, default=20,
                        help="orders per client for the payment and acceptance phases")
    parser.add_argument("--trades", type=int, default=10, help="whole trades per client")
    parser.add_argument("--warmup", type=int, default=2, help="untimed trades per client")
    parser.add_argument("--trace", type=int, default=10,
                        help="trades traced in process after the HTTP phases (0: none)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar on standard error while seeding")
    parser.add_argument("--sample-ms", type=float, default=20.0,
                        help="pg_stat_activity sampling interval (0: off)")
    args = parser.parse_args(argv)
    if min(args.clients, args.workers, args.threads) < 1:
        parser.error("--clients, --workers and --threads are at least 1")

    url = database_url(args.database_url)
    began = time.perf_counter()
    load_before = list(os.getloadavg())
    engine = make_engine(url)
    migrate.upgrade(engine)
    wiring.connect()
    signing_key = "0x" + secrets.token_hex(32)
    receipts.configure(Settings(instance_path=Path(tempfile.gettempdir()), database_url=url,
                                secret_key=secrets.token_urlsafe(32), signing_key=signing_key))
    with Progress("seeding", quiet=args.quiet) as bar:
        seeded = seed(engine, Signer(signing_key), args.clients, progress=bar)
    log(f"seeded product {seeded.product_id}, {args.clients} buyers in {seeded.seconds}s")
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with engine.connect() as conn:
        server_version = conn.exec_driver_sql("SHOW server_version").scalar()

    tmp = Path(tempfile.mkdtemp(prefix="market-bench-trade-"))
    server: Server | None = None
    sampler = Sampler(conninfo, args.sample_ms / 1000)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with engine.begin() as conn:
        conn.exec_driver_sql(CREATE_IDEMPOTENCY)
    try:
        bare_server = Server(url, args.workers, args.threads, tmp, signing_key, bare=True)
        try:
            bare_server.wait_ready()
            log(f"bare stack on port {bare_server.port}")
            local = make_url(url).host in (None, "", "localhost", "127.0.0.1", "::1")
            bare = measure_bare(args, bare_server.port, seeded, CpuMeter(
                bare_server.proc.pid, postmaster_pid(engine) if local else None))
        finally:
            bare_server.stop()
        try:
            server = Server(url, args.workers, args.threads, tmp, signing_key)
            server.wait_ready()
            log(f"gunicorn on port {server.port}: {args.workers} workers × "
                f"{args.threads} threads")
            sampler.start()
            local = make_url(url).host in (None, "", "localhost", "127.0.0.1", "::1")
            cpu = CpuMeter(server.proc.pid, postmaster_pid(engine) if local else None)
            report = measure(args, server.port, seeded, engine, conninfo, sampler, cpu)
        except BaseException:
            if server is not None and server.log_tail():
                log("gunicorn's log ends:\n" + server.log_tail())
            raise
        finally:
            sampler.stop()
            if server is not None:
                server.stop()
                log("gunicorn stopped")
        traced = None
        if args.trace:
            log(f"tracing {args.trace} trades in process, one request at a time")
            traced = trace(url, signing_key, tmp / "trace", seeded, args.trace)
        with make_session_factory(engine)() as session:
            checked = ledger.verify(session)
            statuses = dict(session.execute(
                select(Order.status, func.count()).where(Order.product_id == seeded.product_id)
                .group_by(Order.status)).all())
    finally:
        signal.signal(signal.SIGTERM, previous)
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)

    output = {
        "parameters": {
            "clients": args.clients, "requests_per_client": args.requests,
            "me_requests_per_client": max(args.requests // 4, 2),
            "raw_transfers_per_client": args.transfers, "orders_per_client": args.orders,
            "trades_per_client": args.trades, "warmup_trades_per_client": args.warmup,
            "gunicorn": {"workers": args.workers, "threads": args.threads,
                         "worker_class": "gthread" if args.threads > 1 else "sync"},
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "postgresql": server_version, "price": {"amount": PRICE, "currency": "CNY"},
            "http_client": "one thread per client, raw HTTP/1.1 over a keep-alive socket",
            "seed_seconds": seeded.seconds,
            "load_average_before": load_before, "load_average_after": list(os.getloadavg()),
        },
        "bare_stack": bare,
        **compare(bare, report.pop("_results")),
        **report,
        "in_process_trace": traced,
        "checks": {"ledger_ok": checked.ok, "ledger_problems": checked.problems[:5],
                   "accounts": checked.accounts, "journals": checked.journals,
                   "orders_by_status": statuses},
        "runtime_seconds": round(time.perf_counter() - began, 1),
    }
    print(json.dumps(output, ensure_ascii=False, indent=2))
    return 0 if checked.ok else 1


def compare(bare: dict[str, Any], market: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each request's rate and p99 against its bare counterpart's, and the targets."""
    pairs = {"authenticated_read": ("me", "read"), "payment": ("payment", "transfer"),
             "acceptance": ("acceptance", "transfer")}
    ratios: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    for name, (ours, theirs) in pairs.items():
        rate = ratio(market[ours].get("per_second"), bare[theirs].get("per_second"), 3)
        p99 = ratio(market[ours].get("p99_ms"), bare[theirs].get("p99_ms"))
        ratios[f"{name}_rate"] = rate
        ratios[f"{name}_p99"] = p99
        targets[name] = {"rate_at_least": TARGETS[name], "rate_met": rate is not None
                         and rate >= TARGETS[name], "p99_at_most": TARGET_P99_RATIO,
                         "p99_met": p99 is not None and p99 <= TARGET_P99_RATIO}
    trades = market["trade"].get("per_second")
    targets["whole_trades"] = {"per_second_at_least": TARGET_TRADES_PER_SECOND,
                               "met": trades is not None and trades >= TARGET_TRADES_PER_SECOND}
    targets["all_met"] = all(v.get("met", v.get("rate_met") and v.get("p99_met"))
                             for v in targets.values())
    return {"ratios_to_bare_stack": ratios, "targets": targets}


def measure_bare(args: argparse.Namespace, port: int, seeded: Seeded, cpu: CpuMeter
                 ) -> dict[str, Any]:
    """The bare stack (bench/bare.py) under the same clients: health, the authenticated read
    by id, and the idempotent double-entry transfer."""
    n = args.clients
    anon = [Http(port) for _ in range(n)]
    buyers = [Http(port, b.token) for b in seeded.buyers]
    counter = [0] * n

    def healthz(i: int, _: Any, __: Any) -> None:
        expect(anon[i].request("GET", "/healthz"), 200, "bare healthz")

    def read(i: int, _: Any, __: Any) -> None:
        expect(buyers[i].request("GET", f"/orgs/{seeded.buyers[i].org_id}"), 200, "bare read")

    def transfer(i: int, _: Any, __: Any) -> None:
        counter[i] += 1
        source, target = seeded.raw_accounts[i]
        body = json.dumps({"source": source, "target": target, "amount": PRICE}).encode()
        key = b"Idempotency-Key: bare-%d-%d\r\n" % (i, counter[i])
        expect(buyers[i].request("POST", "/transfers", body, key), 200, "bare transfer")

    run_phase("bare-warmup", [[None] * 20 for _ in range(n)], transfer)
    out: dict[str, Any] = {}
    for name, op, count in (("healthz", healthz, args.requests), ("read", read, args.requests),
                            ("transfer", transfer, args.transfers)):
        before = cpu.snapshot()
        result = run_phase(f"bare {name}", [[None] * count for _ in range(n)], op)
        after = cpu.snapshot()
        stats = result.stats()
        log(f"bare {name}: {stats.get('per_second')}/s p99 {stats.get('p99_ms')} ms")
        out[name] = {**stats, "per_op": CpuMeter.ms_per_op(before, after, n * count),
                     "cpus_used": CpuMeter.cores(before, after)}
    for http in [*anon, *buyers]:
        http.close()
    return out


def measure(args: argparse.Namespace, port: int, seeded: Seeded, engine: Engine,
            conninfo: str, sampler: Sampler, cpu: CpuMeter) -> dict[str, Any]:
    n = args.clients
    buyer_http = [Http(port, b.token) for b in seeded.buyers]
    merchant_http = [Http(port, seeded.merchant.token) for _ in range(n)]
    anon_http = [Http(port) for _ in range(n)]
    order_body = json.dumps({"product_id": seeded.product_id, "offer_id": seeded.offer_id,
                             "commitment": COMMITMENT}, ensure_ascii=False).encode()
    delivery_body = json.dumps({"mode": "api",
                                "endpoint": "https://api.example.cn/v1/power-risk"}).encode()

    def place(i: int) -> str:
        body = expect(buyer_http[i].request("POST", f"{API}/orders", order_body), 201,
                      "place order")
        order = json.loads(body)
        if order["status"] != "awaiting_payment":
            raise UnexpectedResponse(f"order {order['id']} is {order['status']}")
        return str(order["id"])

    def pay(i: int, order_id: str) -> None:
        expect(buyer_http[i].request("POST", f"{API}/orders/{order_id}/payment"), 200, "pay")

    def deliver(i: int, order_id: str) -> None:
        expect(merchant_http[i].request("POST", f"{API}/orders/{order_id}/deliveries",
                                        delivery_body), 201, "deliver")

    def accept(i: int, order_id: str) -> None:
        expect(buyer_http[i].request("POST", f"{API}/orders/{order_id}/acceptance", b"{}"),
               200, "accept")

    def healthz(i: int, _: Any, steps: dict[str, list[float]]) -> None:
        expect(anon_http[i].request("GET", "/healthz"), 200, "healthz")

    def whoami(i: int, _: Any, steps: dict[str, list[float]]) -> None:
        expect(buyer_http[i].request("GET", f"{API}/me"), 200, "me")

    def trade(i: int, _: Any, steps: dict[str, list[float]]) -> None:
        t0 = time.perf_counter()
        order_id = place(i)
        t1 = time.perf_counter()
        pay(i, order_id)
        t2 = time.perf_counter()
        deliver(i, order_id)
        t3 = time.perf_counter()
        accept(i, order_id)
        t4 = time.perf_counter()
        for name, d in (("place", t1 - t0), ("payment", t2 - t1), ("delivery", t3 - t2),
                        ("acceptance", t4 - t3)):
            steps.setdefault(name, []).append(d)

    def phase(name: str, work: Sequence[Sequence[Any]],
              op: Callable[[int, Any, dict[str, list[float]]], None]) -> PhaseResult:
        before, cpu_before = audit_seq(engine), cpu.snapshot()
        sampler.begin()
        result = run_phase(name, work, op)
        db = sampler.end()
        cpu_after, after = cpu.snapshot(), audit_seq(engine)
        ops = sum(len(w) for w in work)
        stats = result.stats()
        log(f"{name}: {stats.get('per_second')}/s p50 {stats.get('p50_ms')} ms "
            f"p99 {stats.get('p99_ms')} ms")
        notes[name] = {
            "per_op": {"audit_entries": round((after[0] - before[0]) / ops, 2),
                       "journals": round((after[1] - before[1]) / ops, 2),
                       **CpuMeter.ms_per_op(cpu_before, cpu_after, ops)},
            "cpus_used": CpuMeter.cores(cpu_before, cpu_after),
            "db_sessions": db}
        return result

    notes: dict[str, Any] = {}
    out: dict[str, Any] = {}

    log(f"warming up: {args.warmup} trades per client")
    run_phase("warmup", [[None] * args.warmup for _ in range(n)], trade)
    run_phase("warmup-healthz", [[None] * 20 for _ in range(n)], healthz)

    # (a) the minimal endpoint, and the cheapest authenticated GET for reference
    minimal = phase("minimal", [[None] * args.requests for _ in range(n)], healthz)
    me = phase("me", [[None] * max(args.requests // 4, 2) for _ in range(n)], whoami)
    out["minimal_endpoint"] = {"request": "GET /healthz", **minimal.stats()}
    out["authenticated_get"] = {"request": "GET /api/v1/me", **me.stats()}

    # (b) the raw SQL transfer
    connections = [psycopg.connect(conninfo, application_name=RAW_NAME) for _ in range(n)]
    try:
        for i, conn in enumerate(connections):  # warm: prepared statements, caches
            for _ in range(10):
                raw_transfer(conn, *seeded.raw_accounts[i], PRICE)
        raw = phase("raw_transfer", [[None] * args.transfers for _ in range(n)],
                    lambda i, _, s: raw_transfer(connections[i], *seeded.raw_accounts[i],
                                                 PRICE))
    finally:
        for conn in connections:
            conn.close()
    out["raw_sql_transfer"] = {
        "transaction": "INSERT journal; 2 × UPDATE ledger_accounts … RETURNING balance "
                       "(account-id order); 2 × INSERT posting (pipelined); COMMIT "
                       "(deferred balance trigger)",
        **raw.stats()}

    # (c) the money-moving endpoints, each client on its own orders
    orders: list[list[str]] = [[] for _ in range(n)]

    def place_op(i: int, _: Any, s: dict[str, list[float]]) -> None:
        orders[i].append(place(i))

    placed = phase("place_order", [[None] * args.orders for _ in range(n)], place_op)
    paid = phase("payment", orders, lambda i, order_id, s: pay(i, order_id))
    delivered = phase("delivery", orders, lambda i, order_id, s: deliver(i, order_id))
    accepted = phase("acceptance", orders, lambda i, order_id, s: accept(i, order_id))
    out["money_moving"] = {
        "payment": {"request": "POST /api/v1/orders/{id}/payment", **paid.stats()},
        "acceptance": {"request": "POST /api/v1/orders/{id}/acceptance (settles and files)",
                       **accepted.stats()},
    }
    out["other_trade_steps"] = {
        "place_order": {"request": "POST /api/v1/orders", **placed.stats()},
        "delivery": {"request": "POST /api/v1/orders/{id}/deliveries (mode api)",
                     **delivered.stats()},
    }

    # (d) whole trades
    trades = phase("trade", [[None] * args.trades for _ in range(n)], trade)
    out["whole_trades"] = {
        "trade": "place → pay → deliver (api) → accept, 4 requests",
        "trades_per_second": trades.stats().get("per_second"),
        **{k: v for k, v in trades.stats().items() if k != "per_second"},
        "steps": {k: percentiles(v) for k, v in trades.steps.items()},
    }
    for http in [*buyer_http, *merchant_http, *anon_http]:
        http.close()
    out["connections_opened"] = sum(h.connects for h in [*buyer_http, *merchant_http,
                                                          *anon_http])

    out["_results"] = {"me": me.stats(), "payment": paid.stats(),
                       "acceptance": accepted.stats(), "trade": trades.stats()}
    other = max(v["cpus_used"]["other"] for v in notes.values())
    out["machine"] = {
        "max_cpus_used_by_other_work": other,
        "noisy": other > 0.25,
        "note": "other processes on the machine took CPU during the run: absolute numbers "
                "and ratios are skewed; compare runs on a quiet machine" if other > 0.25
                else "quiet"}
    out["where_time_goes"] = notes
    return out


if __name__ == "__main__":
    raise SystemExit(main())
