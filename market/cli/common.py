"""The ``market`` command group and what its commands share: settings, sessions, output
and progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

import click
from sqlalchemy.orm import Session, sessionmaker

from market import wiring
from market.compliance import services as compliance
from market.kernel import migrate
from market.kernel.actor import system_actor
from market.kernel.clock import SystemClock
from market.kernel.config import Settings, load_settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.errors import DatabaseNotMigrated, MarketError
from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts


class MarketGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MarketError as exc:
            click.echo(f"error: {exc.code}: {exc}", err=True)
            sys.exit(1)


def _settings() -> Settings:
    settings = load_settings()
    receipts.configure(settings)
    compliance.configure_delivery_matrix(settings.delivery_matrix)
    compliance.configured_years(settings.retention_years)  # an unknown kind or a broken floor
    return settings


def _sessions(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the configured database, which must be migrated."""
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    if not migrate.is_current(engine):
        raise DatabaseNotMigrated("run `market db upgrade` first")
    return make_session_factory(engine)


def _uow(settings: Settings, label: str = "cli") -> UnitOfWork:
    return UnitOfWork(_sessions(settings), SystemClock(), system_actor(label))


def _emit(as_json: bool, data: dict[str, Any], text: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, default=str))
    else:
        text()


def _moved(done: dict[str, Any]) -> str:
    return ", ".join(f"{k} {', '.join(map(str, v))}" for k, v in done.items() if v)


quiet_option = click.option("--quiet", "-q", is_flag=True,
                            help="No progress bar on standard error (for scripts)")


class Progress:
    """A progress bar on standard error for long work, drawn on a terminal unless
    ``--quiet`` (standard output, and so ``--json``, is never touched).

    Called as ``progress(done, total)``, the callback services take; the bar is made at the
    first call, when the total is known. Used as a context manager, it finishes its line.
    """

    def __init__(self, label: str, *, quiet: bool) -> None:
        self.label = label
        self.stream = sys.stderr
        self.shown = not quiet and self.stream.isatty()
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.shown:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=max(total, 1), label=self.label,
                                          file=self.stream, show_pos=True)
            self._bar.__enter__()
        self._bar.length = max(total, 1)
        if done > self._bar.pos:
            self._bar.update(done - self._bar.pos)

    def step(self, n: int = 1, total: int | None = None) -> None:
        """Advance by ``n`` steps of ``total`` (the previous total when not given)."""
        pos = self._bar.pos if self._bar is not None else 0
        length = total or (self._bar.length if self._bar is not None else pos + n)
        self(pos + n, length)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, exc, tb)
            self._bar = None


@click.group(cls=MarketGroup)
def main() -> None:
    """market: a data exchange backend."""
    wiring.connect()
