"""``market demo``: a demo cast, a rights chain and whole trades, printed with the calls to
try next."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import click

from market.cli.common import Progress, _emit, _sessions, _settings, main, quiet_option
from market.cli.consumers import stripe_rail
from market.demo import CAST, run_card_trade, run_demo
from market.kernel.clock import SystemClock
from market.kernel.config import Settings
from market.kernel.storage import open_file_store
from market.participants.domain import random_credit_code
from market.receipts.signing import Signer
from market.testing.stripe_fake import FakeStripe
from market.trading import services as trading

# How many lines the demo and its card trade say, one step of the progress bar each.
DEMO_STEPS = 25
CARD_STEPS = 12


def _card_demo(settings: Settings, made: dict[str, Any], say: Callable[[str], None],
               ) -> dict[str, Any]:
    """The card trade of ``market demo --rail stripe``, against the local fake of Stripe
    started in-process on a free loopback port."""
    if settings.stripe_api_base:
        raise click.ClickException(
            "the card demo drives its own local Stripe fake (it confirms the card and opens "
            "onboarding as the card holder would): unset MARKET_STRIPE_API_BASE")
    fake = FakeStripe()
    with fake.serve() as url:
        say(f"\nstripe    local fake at {url}")
        stripe_settings = settings.with_changes(
            payment_rail="stripe", stripe_secret_key=fake.api_key,
            stripe_webhook_secret=fake.webhook_secret, stripe_api_base=url,
            delivery_window_hours=48)
        sessions = _sessions(stripe_settings)
        return run_card_trade(sessions, SystemClock(), made,
                              rail=stripe_rail(sessions, stripe_settings), fake=fake,
                              webhook_secret=fake.webhook_secret,
                              storage=open_file_store(settings).under("deliveries"),
                              policy=trading.policy_of(stripe_settings), say=say)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True)
@click.option("--rail", type=click.Choice(["offline", "stripe"]), default="offline",
              show_default=True, help="stripe: also buy the product by card against a local "
              "Stripe-compatible server started in-process")
@quiet_option
def demo(as_json: bool, base_url: str, rail: str, quiet: bool) -> None:
    """Create a demo cast and a registered rights chain; print keys, certificates and calls."""
    settings = _settings()
    lines: list[str] = []
    steps = DEMO_STEPS + (CARD_STEPS if rail == "stripe" else 0)
    with Progress("demo", quiet=quiet) as progress:

        def say(line: str) -> None:
            lines.append(line)
            progress.step(total=max(steps, len(lines)))

        made = run_demo(_sessions(settings), SystemClock(), Signer(settings.signing_key),
                        key_ttl=timedelta(days=settings.api_key_default_ttl_days),
                        storage=open_file_store(settings).under("deliveries"),
                        policy=trading.policy_of(settings), say=say)
        if rail == "stripe":
            made["card_trade"] = _card_demo(settings, made, say)
    api = f"{base_url}/api/v1"
    operator_key, merchant_key = made["operator"]["api_key"], made["merchant"]["api_key"]
    certificate = made["rights"]["certificates"][0]
    made["examples"] = [
        f"curl -s {api}/me -H 'Authorization: Bearer {merchant_key}'",
        f"curl -s {api}/certificates/{certificate}",
        f"curl -s {api}/certificates/{certificate}/verification",
        f"curl -s {api}/products/{made['rights']['product_id']}/rights-chain "
        f"-H 'Authorization: Bearer {merchant_key}'",
        f"curl -s '{api}/participants?status=admitted' -H 'Authorization: Bearer {operator_key}'",
        f"curl -s -X POST {api}/participants -H 'Content-Type: application/json' "
        f"-d '{{\"name\": \"申请方\", \"credit_code\": \"{random_credit_code()}\", "
        f"\"contact_name\": \"张三\", \"contact_email\": \"zhang@example.cn\", "
        f"\"roles\": [\"buyer\"]}}'",
        f"curl -s {api}/audit/verification -H 'Authorization: Bearer {operator_key}'",
    ]

    def text() -> None:
        for line in lines:
            click.echo(line)
        click.echo("\nAPI keys (shown once):")
        for label, _, _ in CAST:
            click.echo(f"  {label:9} {made[label]['api_key']}")
        click.echo("certificates: " + ", ".join(made["rights"]["certificates"]))
        click.echo("\ntry:")
        for line in made["examples"]:
            click.echo("  " + line)
        click.echo(f"\ndocs: {api}/docs")

    _emit(as_json, made, text)
