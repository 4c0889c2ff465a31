"""Money: the ledger's verification and the Stripe rail's commands."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from market.cli.common import (
    Progress,
    _emit,
    _moved,
    _sessions,
    _settings,
    _uow,
    main,
    quiet_option,
)
from market.cli.consumers import stripe_rail
from market.kernel.config import Settings
from market.settlement import services as settlement
from market.settlement.rails.stripe_rail import reconcile as stripe_reconcile

# -- the ledger ------------------------------------------------------------------------------


@main.group("ledger")
def ledger_group() -> None:
    """The double-entry ledger."""


@ledger_group.command("verify")
@click.option("--json", "as_json", is_flag=True)
@quiet_option
def ledger_verify(as_json: bool, quiet: bool) -> None:
    """Recompute every balance from the postings and check the ledger's invariants; exit 1
    and name each problem if any is broken."""
    with Progress("ledger", quiet=quiet) as progress:
        result = settlement.verify(uow=_uow(_settings(), "ledger"), progress=progress)
    _emit(as_json, result.as_dict(), lambda: click.echo(
        f"ledger ok: {result.accounts} accounts, {result.journals} journals, "
        f"{result.postings} postings" if result.ok
        else "ledger BROKEN:\n" + "\n".join(f"  {p}" for p in result.problems)))
    if not result.ok:
        sys.exit(1)


# -- the Stripe rail ---------------------------------------------------------------------------


@main.group("stripe")
def stripe_group() -> None:
    """The Stripe rail (MARKET_PAYMENT_RAIL=stripe)."""


def _stripe_settings() -> Settings:
    settings = _settings()
    if settings.payment_rail != "stripe":
        raise click.ClickException("the payment rail is not stripe: set MARKET_PAYMENT_RAIL")
    return settings


@stripe_group.command("tick")
@click.option("--json", "as_json", is_flag=True)
def stripe_tick(as_json: bool) -> None:
    """Perform the pending Stripe calls and apply the stored Stripe events now (the worker
    also does this)."""
    settings = _stripe_settings()
    done = stripe_rail(_sessions(settings), settings).tick().as_dict()
    _emit(as_json, done, lambda: click.echo(_moved(done) or "nothing to do"))


@stripe_group.command("reconcile")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              default=None, help="Only balance transactions and journals from then on (UTC)")
@click.option("--json", "as_json", is_flag=True)
def stripe_reconcile_command(since: datetime | None, as_json: bool) -> None:
    """Compare Stripe's balance transactions and transfers with the ledger's journals on the
    stripe clearing account; print every difference and exit 1 when there is any."""
    settings = _stripe_settings()
    report = stripe_reconcile(_sessions(settings), settings,
                              since=since.replace(tzinfo=UTC) if since else None)
    _emit(as_json, report.as_dict(), lambda: click.echo(
        f"stripe reconciled: {report.balance_transactions} balance transactions, "
        f"{report.transfers} transfers, {report.journals} journals, no differences"
        if report.ok else "stripe and the ledger DIFFER:\n" + "\n".join(
            f"  {d}" for d in report.differences)))
    if not report.ok:
        sys.exit(1)
