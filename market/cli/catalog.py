"""``market catalog``: the search catalogue's upkeep."""

from __future__ import annotations

import click

from market.cli.common import Progress, _emit, _sessions, _settings, main, quiet_option
from market.kernel.actor import system_actor
from market.kernel.clock import SystemClock
from market.kernel.uow import UnitOfWork
from market.listing import services as listing


@main.group("catalog")
def catalog_group() -> None:
    """The public catalogue's search index."""


@catalog_group.command("reindex")
@click.option("--batch", default=200, show_default=True, type=click.IntRange(1, 10_000),
              help="Products per transaction")
@click.option("--json", "as_json", is_flag=True)
@quiet_option
def catalog_reindex(batch: int, as_json: bool, quiet: bool) -> None:
    """Rebuild every product's catalogue entry and search terms (after a dictionary change,
    or to repair the index); searches keep answering meanwhile."""
    sessions = _sessions(_settings())
    actor = system_actor("cli")
    with Progress("catalogue", quiet=quiet) as progress:
        done = listing.reindex_catalog(uow=lambda: UnitOfWork(sessions, SystemClock(), actor),
                                       batch=batch, progress=progress)
    _emit(as_json, {"products": done.products, "listed": done.listed}, lambda: click.echo(
        f"catalogue rebuilt: {done.products} products, {done.listed} listed"))
