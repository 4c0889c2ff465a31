"""The periodic duties the worker runs, and the commands that run each of them now: trade
time limits, renewals, rights expiry, alerts, credit marks, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
from sqlalchemy.orm import Session, sessionmaker

from market.cli.common import _emit, _sessions, _settings, _uow, main
from market.compliance import services as compliance
from market.kernel.actor import system_actor
from market.kernel.clock import SystemClock
from market.kernel.config import Settings
from market.kernel.storage import open_file_store
from market.kernel.uow import UnitOfWork
from market.matching import services as matching
from market.participants import services as participants
from market.receipts import services as receipts
from market.rights import services as rights
from market.settlement import services as settlement
from market.trading import services as trading


def _deadlines(sessions: sessionmaker[Session]) -> dict[str, list[str]]:
    """Periodic duty: the trade time limits (payment, delivery, acceptance, dispute answer)
    and payouts nobody confirmed in time."""
    run = trading.run_deadlines(uow=UnitOfWork(sessions, SystemClock(),
                                               system_actor("worker")))
    expired = settlement.expire_payouts(uow=UnitOfWork(sessions, SystemClock(),
                                                       system_actor("worker")))
    lapsed = matching.run_matching_deadlines(
        lambda: UnitOfWork(sessions, SystemClock(), system_actor("worker")))
    return {**run.as_dict(), "payouts_expired": expired,
            "demands_expired": lapsed.demands_expired,
            "negotiations_expired": lapsed.negotiations_expired}


def _rule_duties(sessions: sessionmaker[Session], settings: Settings) -> dict[str, list[str]]:
    """Periodic duties of the market rules: each returns the ids it acted on."""
    def uow(label: str) -> UnitOfWork:
        return UnitOfWork(sessions, SystemClock(), system_actor(label))
    done: dict[str, list[str]] = {}
    # -- admission documents and credit marks --
    done.update(participants.run_document_duties(
        uow=uow("admission documents"), reminder_days=settings.document_reminder_days).as_dict())
    done["credit_marks_changed"] = trading.recompute_credit_marks(uow=uow("credit marks"))
    # -- arbitration --
    # -- retention and destruction --
    done.update(_retention_sweep(sessions, settings))
    return done


def _renewals(sessions: sessionmaker[Session], settings: Settings) -> dict[str, list[str]]:
    """Periodic duty: subscriptions renewed before their period ends (collected at once on
    the offline rail), retried when past due, lapsed when renewal is off or grace is over."""
    run = trading.run_renewals(policy=trading.policy_of(settings),
                               uow=UnitOfWork(sessions, SystemClock(),
                                              system_actor("subscriptions")))
    return {f"subscriptions_{k}": v for k, v in run.as_dict().items()}


@main.group("trading")
def trading_group() -> None:
    """Orders and their time limits."""


@trading_group.command("deadlines")
@click.option("--json", "as_json", is_flag=True)
def trading_deadlines(as_json: bool) -> None:
    """Enforce the time limits now (the worker also does this): cancel orders nobody
    reviewed in time and unpaid ones, refund undelivered ones, auto-accept and settle
    delivered ones, send unanswered disputes to the operator, expire unconfirmed payouts."""
    done = _deadlines(_sessions(_settings()))
    _emit(as_json, done, lambda: click.echo(
        ", ".join(f"{k.replace('_', ' ')}: {len(v)}" for k, v in done.items())))


@trading_group.command("renewals")
@click.option("--json", "as_json", is_flag=True)
def trading_renewals(as_json: bool) -> None:
    """Renew subscriptions now (the worker also does this): place and collect the next
    period of those due, retry past-due ones, lapse those with renewal off or out of grace."""
    settings = _settings()
    done = _renewals(_sessions(settings), settings)
    _emit(as_json, done, lambda: click.echo(
        ", ".join(f"{k.replace('_', ' ')}: {len(v)}" for k, v in done.items())))


def _sweep(sessions: sessionmaker[Session]) -> list[str]:
    """Periodic duties: rights whose term has ended expire, and what rests on them is
    suspended."""
    return rights.expire_due_rights(
        uow=UnitOfWork(sessions, SystemClock(), system_actor("worker"))
    )


@main.group("rights")
def rights_group() -> None:
    """Data rights."""


@rights_group.command("expire")
def rights_expire() -> None:
    """Expire rights whose term has ended (the worker also does this periodically)."""
    expired = _sweep(_sessions(_settings()))
    click.echo(f"expired {len(expired)} rights" + (": " + ", ".join(expired) if expired else ""))


def _scan_alerts(sessions: sessionmaker[Session], hours: float) -> int:
    """Periodic duty: run the alert rules again over recently filed trades."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    return compliance.scan(since, uow=UnitOfWork(sessions, SystemClock(),
                                                 system_actor("monitoring")))


@main.group("alerts")
def alerts_group() -> None:
    """Risk monitoring."""


@alerts_group.command("scan")
@click.option("--hours", default=24.0, show_default=True, type=click.FloatRange(0.01, 24 * 366),
              help="Look at trades filed this many hours back")
@click.option("--json", "as_json", is_flag=True)
def alerts_scan(hours: float, as_json: bool) -> None:
    """Run the alert rules over recently filed trades (the worker also does this)."""
    opened = _scan_alerts(_sessions(_settings()), hours)
    _emit(as_json, {"opened": opened}, lambda: click.echo(f"opened {opened} alerts"))


@main.group("credit")
def credit_group() -> None:
    """Public credit marks (信用评价)."""


@credit_group.command("recompute")
@click.option("--org", "org_ids", multiple=True, help="Only these organisations")
@click.option("--json", "as_json", is_flag=True)
def credit_recompute(org_ids: tuple[str, ...], as_json: bool) -> None:
    """Recompute participants' credit marks from their current records (the worker also
    does this every sweep)."""
    changed = trading.recompute_credit_marks(
        uow=_uow(_settings(), "credit marks"), org_ids=list(org_ids) or None)
    _emit(as_json, {"changed": changed}, lambda: click.echo(
        f"{len(changed)} credit marks changed" + (": " + ", ".join(changed) if changed else "")))


def _retention_sweep(sessions: sessionmaker[Session], settings: Settings,
                     ) -> dict[str, list[str]]:
    """Periodic duty: keep the retention policy as configured, ask for the destructions now
    due, alert the overdue ones, delete the stored files nothing needs any more."""
    def uow() -> UnitOfWork:
        return UnitOfWork(sessions, SystemClock(), system_actor("retention"))
    applied = compliance.apply_retention(settings.retention_years, uow=uow())
    files = open_file_store(settings)
    try:
        return {"retention_applied": applied, **trading.sweep_retention(
            uow, storage=files.under("deliveries"), sample_dir=files.under("samples"),
            grace=timedelta(days=settings.destruction_grace_days))}
    finally:
        files.close()


@main.group("retention")
def retention_group() -> None:
    """Retention of records and destruction of delivered copies."""


@retention_group.command("apply")
@click.option("--json", "as_json", is_flag=True)
def retention_apply(as_json: bool) -> None:
    """Write the configured retention years (MARKET_RETENTION_YEARS) into the policy the
    database enforces; never below a kind's floor."""
    settings = _settings()
    changed = compliance.apply_retention(settings.retention_years, uow=UnitOfWork(
        _sessions(settings), SystemClock(), system_actor("retention")))
    _emit(as_json, {"changed": changed},
          lambda: click.echo("changed: " + (", ".join(changed) or "nothing")))


@retention_group.command("sweep")
@click.option("--json", "as_json", is_flag=True)
def retention_sweep(as_json: bool) -> None:
    """Apply the policy, ask for the destructions now due, alert the overdue ones and delete
    the delivered files and samples no contract needs (the worker also does this)."""
    settings = _settings()
    done = _retention_sweep(_sessions(settings), settings)
    _emit(as_json, done, lambda: click.echo(", ".join(
        f"{k.replace('_', ' ')}: {len(v)}" for k, v in done.items())))


def _sequence(sessions: sessionmaker[Session]) -> receipts.Appended:
    """Periodic duty (every loop of the worker): append the queued receipts to the log."""
    return receipts.sequence(UnitOfWork(sessions, SystemClock(), system_actor("receipts")))


def _anchor(sessions: sessionmaker[Session], settings: Settings) -> dict[str, Any]:
    """Periodic duty when anchoring is on: move the anchoring batches one tick along."""
    from market.receipts.services import anchoring

    return anchoring.tick(sessions, SystemClock(), settings)
