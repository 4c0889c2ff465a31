"""``market worker``: the outbox, webhooks, receipts' log and the periodic duties, in one
loop."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session, sessionmaker

from market.cli.common import _moved, _settings, main
from market.cli.consumers import consumers, stripe_rail
from market.cli.duties import (
    _anchor,
    _deadlines,
    _renewals,
    _rule_duties,
    _scan_alerts,
    _sequence,
    _sweep,
)
from market.kernel import migrate
from market.kernel.clock import SystemClock
from market.kernel.config import Settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.outbox import Worker
from market.settlement.rails.stripe_rail import StripeRail
from market.webhooks import services as webhooks

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def _stopped_by_signals(wanted: bool) -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT (while in the block), so the loop ends after the
    pass it is in rather than in the middle of a transaction."""
    stop = threading.Event()
    if not wanted or threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@main.command()
@click.option("--once", is_flag=True, help="Drain what is due, then exit")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 10000))
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 3600))
@click.option("--sweep-interval", default=60.0, show_default=True,
              type=click.FloatRange(1, 86400), help="Seconds between periodic duties")
def worker(once: bool, batch: int, interval: float, sweep_interval: float) -> None:
    """Drain the outbox (with retries), send due webhooks, and run periodic duties: rights
    expiry, a pass of the alert rules over recently filed trades, and the trade time limits
    (payment, delivery, acceptance, dispute answers, payouts). SIGTERM or SIGINT stops it
    after the pass it is in (exit 0)."""
    settings = _settings()
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    if not migrate.is_current(engine):
        raise click.ClickException("database not migrated: run `market db upgrade` first")
    sessions = make_session_factory(engine)
    w = Worker(sessions, SystemClock(), consumers(sessions, settings),
               lease_seconds=settings.outbox_lease_seconds,
               max_attempts=settings.outbox_max_attempts,
               backoff_base_seconds=settings.outbox_backoff_base_seconds)
    rail = stripe_rail(sessions, settings) if settings.payment_rail == "stripe" else None
    click.echo(f"worker {w.worker_id} draining the outbox")
    with _stopped_by_signals(not once) as stop:
        _loop(stop, sessions, settings, w, rail, once=once, batch=batch, interval=interval,
              sweep_interval=sweep_interval)
    if stop.is_set():
        click.echo(f"worker {w.worker_id} stopped")


def _loop(stop: threading.Event, sessions: sessionmaker[Session], settings: Settings,
          w: Worker, rail: StripeRail | None, *, once: bool, batch: int, interval: float,
          sweep_interval: float) -> None:
    hooks = webhooks.policy_of(settings)
    next_sweep = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_sweep:
            expired = _sweep(sessions)
            if expired:
                click.echo(f"expired {len(expired)} rights")
            opened = _scan_alerts(sessions, hours=2 * sweep_interval / 3600)
            if opened:
                click.echo(f"opened {opened} alerts")
            done = {k: v for k, v in {**_deadlines(sessions),
                                      **_renewals(sessions, settings),
                                      **_rule_duties(sessions, settings)}.items() if v}
            if done:
                click.echo(", ".join(f"{k.replace('_', ' ')}: {len(v)}"
                                     for k, v in done.items()))
            moved = _moved(_anchor(sessions, settings)) if settings.anchoring else ""
            if moved:
                click.echo(f"anchoring: {moved}")
            next_sweep = time.monotonic() + sweep_interval
        _sequence(sessions)
        if rail is not None:
            paid = rail.tick()
            if paid.busy:
                click.echo("stripe: " + _moved(paid.as_dict()))
        result = w.drain_once(batch)
        if result.claimed:
            click.echo(f"claimed {result.claimed}: done {result.done}, retried {result.retried}, "
                       f"dead {result.dead}")
        sent = webhooks.deliver_due(sessions, SystemClock(), hooks, worker_id=w.worker_id,
                                    limit=batch)
        if sent.claimed:
            click.echo(f"webhooks: {sent.succeeded} delivered, {sent.retrying} to retry, "
                       f"{sent.failed} failed" + (f", disabled {', '.join(sent.disabled)}"
                                                  if sent.disabled else ""))
        busy = result.claimed >= batch or sent.claimed >= batch
        if once and not busy:
            return
        if not busy:
            stop.wait(interval)
