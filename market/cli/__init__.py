"""The ``market`` console command.

Commands that create things take ``--json`` and then print exactly one JSON object. Every
failure exits non-zero with a one-line message on standard error. Long work draws a progress
bar on standard error when it is a terminal; ``--quiet`` turns it off.

The commands live in modules by topic; importing them registers them on :data:`main`.
"""

from __future__ import annotations

from market.cli import admin, catalog, demo, duties, payments, receipts, run, worker
from market.cli.common import main
from market.cli.consumers import (
    CONSUMERS,
    LISTING_CHANGES,
    NEGOTIATION_ACTIONS,
    TOPICS,
    consumers,
    stripe_rail,
)

__all__ = ["CONSUMERS", "LISTING_CHANGES", "NEGOTIATION_ACTIONS", "TOPICS", "admin", "catalog",
           "consumers", "demo", "duties", "main", "payments", "receipts", "run",
           "stripe_rail", "worker"]
