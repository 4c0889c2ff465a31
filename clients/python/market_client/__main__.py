"""``python -m market_client``: the ``market-client`` command."""

from market_client.cli import run

run()
