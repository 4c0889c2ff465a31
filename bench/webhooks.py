"""Webhook benchmark: what making and sending events costs, against the bare stack.

Builds a fresh SQLite database (PostgreSQL too when MARKET_BENCH_DATABASE_URL or
MARKET_TEST_DATABASE_URL points at one, whose ``public`` schema is dropped and recreated
first) with ``--orgs`` admitted organisations, each with one endpoint on a loopback receiver
(a threaded HTTP server answering 204, in its own process), and measures in one run:

* fan-out: outbox messages about the organisations (``participant.suspended``) turned into
  events, each rendered through the API as that organisation sees itself, and deliveries
  queued (messages per second);
* delivery: those deliveries claimed, signed, POSTed and recorded by the worker's pass
  (deliveries per second);
* the baseline: the same bodies signed and POSTed to the same receiver with the same thread
  pool and pooled HTTP client, with nothing read or recorded; ``delivery_ratio`` is
  delivery over baseline.

    scripts/with-postgres python bench/webhooks.py
    python bench/webhooks.py --orgs 300                # SQLite only, quick

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, text

import market.models  # noqa: F401  (every table, so foreign keys resolve)
from market.app import create_app
from market.kernel import migrate
from market.kernel.actor import Actor, system_actor
from market.kernel.clock import SystemClock
from market.kernel.config import Settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.kernel.web.internal import get_as
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.webhooks import services as webhooks
from market.webhooks.domain import signature_header
from market.webhooks.models import Event
from market.webhooks.services.sender import PARALLEL, event_body, http_client

SECRET = "bench-secret-key-0123456789abcdef"
SIGNING = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _serve(port: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    port.value = server.server_address[1]
    server.serve_forever()


class Receiver:
    """A receiver answering 204, in a process of its own so that it does not share the
    benchmark's interpreter lock."""

    def __init__(self) -> None:
        port = multiprocessing.Value("i", 0)
        self.process = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
        self.process.start()
        while not port.value:
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port.value}/hooks"

    def stop(self) -> None:
        self.process.terminate()
        self.process.join()


def _fresh(url: str | None, workdir: Path) -> str:
    if url is None:
        return f"sqlite:///{workdir / 'bench.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def run(database_url: str, workdir: Path, orgs: int) -> dict[str, Any]:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "head")
    sessions = make_session_factory(engine)
    settings = Settings(instance_path=workdir, database_url=database_url, secret_key=SECRET,
                        signing_key=SIGNING, check_schema=False, webhooks_allow_private=True)
    clock = SystemClock()
    app = create_app(settings, session_factory=sessions, clock=clock)
    policy = webhooks.policy_of(settings)
    receiver = Receiver()
    say(f"{engine.dialect.name}: {orgs} organisations with an endpoint each")
    ids = []
    for n in range(orgs):
        reg = participants.register_organisation(participants.OrganisationInput(
            name=f"bench org {n}", credit_code=random_credit_code(), contact_name="bench",
            contact_email=f"bench{n}@example.cn", roles=frozenset({"buyer"})),
            uow=UnitOfWork(sessions, clock, system_actor("bench")),
            key_ttl=timedelta(days=1), reason="bench")
        org_id = reg.organisation.id
        actor = Actor(kind="user", label="bench", org_id=org_id, roles=frozenset({"buyer"}),
                      org_status="admitted", scopes=frozenset({"read", "write"}))
        webhooks.create_endpoint(receiver.url, ["participant.*"], policy=policy,
                                 uow=UnitOfWork(sessions, clock, actor))
        ids.append(org_id)

    uows = webhooks.system_uows(sessions, clock)

    def render(actor: Actor, path: str) -> tuple[int, Any]:
        return get_as(app, actor, path)

    started = time.perf_counter()
    for org_id in ids:
        webhooks.fan_out(new_id("msg"), "participant.suspended", {"organisation_id": org_id},
                         render=render, policy=policy, uows=uows)
    fanout = time.perf_counter() - started
    say(f"  fan-out: {orgs / fanout:,.0f} messages/s")

    started = time.perf_counter()
    sent = 0
    while True:
        result = webhooks.deliver_due(sessions, clock, policy, worker_id="bench", limit=100)
        sent += result.succeeded
        if not result.claimed:
            break
    delivery = time.perf_counter() - started
    assert sent == orgs, (sent, orgs)
    say(f"  delivery: {sent / delivery:,.0f} deliveries/s")

    with sessions() as session:
        bodies = [event_body(e) for e in session.scalars(select(Event).order_by(Event.id))]
    secret = "whsec_bench"

    def post(client: httpx.Client, body: bytes) -> int:
        stamp = int(time.time())
        return client.post(receiver.url, content=body, headers={
            "Content-Type": "application/json",
            "Market-Signature": signature_header([secret], stamp, body)}).status_code

    started = time.perf_counter()
    for chunk in range(0, len(bodies), 100):  # as the worker: a pooled client per 100
        with http_client(policy) as client, ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            codes = list(pool.map(lambda b: post(client, b), bodies[chunk:chunk + 100]))
        assert set(codes) == {204}
    baseline = time.perf_counter() - started
    say(f"  baseline: {len(bodies) / baseline:,.0f} posts/s")
    receiver.stop()
    engine.dispose()
    return {"database": engine.dialect.name, "orgs": orgs,
            "fanout_per_second": round(orgs / fanout, 1),
            "fanout_ms_per_message": round(fanout / orgs * 1000, 2),
            "delivery_per_second": round(sent / delivery, 1),
            "baseline_posts_per_second": round(len(bodies) / baseline, 1),
            "delivery_ratio": round(baseline / delivery, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=1000)
    args = parser.parse_args()
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="market-bench-webhooks-"))
    try:
        results.append(run(_fresh(None, workdir), workdir, args.orgs))
        url = os.environ.get("MARKET_BENCH_DATABASE_URL") or os.environ.get(
            "MARKET_TEST_DATABASE_URL")
        if url:
            results.append(run(_fresh(url, workdir), workdir, args.orgs))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps({"benchmark": "webhooks", "results": results}, indent=2))


if __name__ == "__main__":
    main()
