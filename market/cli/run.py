"""``market run``: the exchange as it runs in production, on this machine: gunicorn serving
the application and the worker, started and stopped together.

Each child runs in a process group of its own, so a terminal's Ctrl-C reaches only this
command, which stops both in order: SIGTERM to each (gunicorn stops gracefully, the worker
after the pass it is in), a wait, then SIGKILL to whatever is left of their groups.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from market.cli.common import _settings, main
from market.kernel import migrate
from market.kernel.db import make_engine
from market.kernel.errors import DatabaseNotMigrated

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]

    def exited(self) -> int | None:
        return self.process.poll()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child itself (gunicorn's master passes it on)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, sig)

    def kill_group(self) -> None:
        """SIGKILL the child's whole process group (gunicorn's workers included)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _app_spec() -> list[str]:
    """``wsgi:app`` from the source tree, else the application factory (an installed
    package has no wsgi.py)."""
    if (ROOT / "wsgi.py").is_file():
        return ["--pythonpath", str(ROOT), "wsgi:app"]
    return ["market.app:create_app()"]


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _start(name: str, argv: list[str], env: dict[str, str]) -> Child:
    return Child(name, subprocess.Popen(argv, env=env, process_group=0))  # noqa: S603


def stop_both(children: list[Child], timeout: float,
              again: threading.Event | None = None) -> bool:
    """SIGTERM every child still running, wait up to ``timeout`` seconds (or until ``again``
    is set: a second Ctrl-C), then SIGKILL what is left of their process groups. True when
    every child stopped by itself."""
    for child in children:
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(c.exited() is None for c in children) and time.monotonic() < deadline:
        if again is not None and again.is_set():
            break
        time.sleep(0.05)
    clean = True
    for child in children:
        if child.exited() is None:
            click.echo(f"market run: {child.name} did not stop in time; killing it", err=True)
            clean = False
        child.kill_group()  # also whatever it left behind in its group
    return clean


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", type=click.IntRange(1, 256), envvar="MARKET_WORKERS", default=None,
              help="gunicorn worker processes (MARKET_WORKERS; default: one per core)")
@click.option("--sweep-interval", default=60.0, show_default=True,
              type=click.FloatRange(1, 86400), envvar="MARKET_SWEEP_INTERVAL",
              help="Seconds between the worker's periodic duties, the trade time limits "
                   "among them (MARKET_SWEEP_INTERVAL)")
@click.option("--stop-timeout", default=40.0, show_default=True,
              type=click.FloatRange(1, 3600),
              help="Seconds to wait for both to stop before killing them")
def run(host: str, port: int, workers: int | None, sweep_interval: float,
        stop_timeout: float) -> None:
    """Serve the exchange as in production: gunicorn (wsgi:app) and the worker, together.
    Ctrl-C or SIGTERM stops both (exit 0); if either dies, the other is stopped (exit 1)."""
    settings = _settings()  # makes the instance's keys once, before the children read them
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    try:
        if not migrate.is_current(engine):
            raise DatabaseNotMigrated("run `market db upgrade` first")
    finally:
        engine.dispose()
    count = workers or os.cpu_count() or 1
    env = {**os.environ, "MARKET_INSTANCE_PATH": str(settings.instance_path),
           "MARKET_DATABASE_URL": settings.database_url, "MARKET_WORKERS": str(count)}
    stop = threading.Event()
    again = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        (again if stop.is_set() else stop).set()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    children: list[Child] = []
    try:
        children.append(_start("gunicorn", [
            sys.executable, "-m", "gunicorn", "-c", "python:market.gunicorn_conf",
            "--bind", _bind(host, port), "--workers", str(count), *_app_spec()], env))
        children.append(_start("the worker", [
            sys.executable, "-m", "market", "worker", "--sweep-interval", str(sweep_interval)],
            env))
        click.echo(f"market on http://{_bind(host, port)}/api/v1/docs: gunicorn "
                   f"({count} workers, pid {children[0].process.pid}) and the worker "
                   f"(pid {children[1].process.pid}); Ctrl-C stops both")
        died: Child | None = None
        while died is None and not stop.wait(0.2):
            died = next((c for c in children if c.exited() is not None), None)
        if died is not None:
            others = [c for c in children if c is not died]
            click.echo(f"market run: {died.name} exited (status {died.exited()}); stopping "
                       + ", ".join(c.name for c in others), err=True)
            stop_both(others, stop_timeout, again)
            died.kill_group()
            sys.exit(1)
        name = signal.Signals(received[0]).name
        click.echo(f"market run: {name}, stopping gunicorn and the worker", err=True)
        if not stop_both(children, stop_timeout, again):
            sys.exit(1)
        click.echo("market run: stopped", err=True)
    finally:
        for child in children:  # an unexpected error here leaves nothing running
            if child.exited() is None:
                child.kill_group()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
