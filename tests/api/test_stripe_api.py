"""The Stripe rail at the HTTP edge: Stripe's webhooks verified on the raw body (forged,
tampered, stale or wrongly signed ones answer 400 and store nothing; a repeat is stored
once), card payments refused on the offline rail, and the startup check of the keys."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.kernel.clock import FixedClock
from market.kernel.config import Settings, load_settings
from market.kernel.errors import ConfigurationError
from market.settlement.rails.models import StripeEvent
from market.testing.stripe_fake import signature_header
from tests.conftest import Party, problem

SECRET = "whsec_test_api"
URL = "/api/v1/webhooks/stripe"
EVENT = {"id": "evt_test_1", "object": "event", "type": "payment_intent.succeeded",
         "created": 1_800_000_000, "livemode": False, "api_version": "2026-10-28.endive",
         "data": {"object": {"id": "pi_test_1", "object": "payment_intent",
                             "status": "succeeded"}}}


@pytest.fixture
def stripe_app(settings: Settings, session_factory: sessionmaker[Session],
               clock: FixedClock) -> Flask:
    return create_app(settings.with_changes(payment_rail="stripe",
                                            stripe_secret_key="sk_test_api",
                                            stripe_webhook_secret=SECRET),
                      session_factory=session_factory, clock=clock)


def _post(app: Flask, body: bytes, header: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return app.test_client().post(URL, data=body, headers=headers)


def _stored(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(StripeEvent)) or 0)


def test_a_signed_event_is_stored_once_and_a_repeat_is_acknowledged(
        stripe_app: Flask, session_factory: sessionmaker[Session]) -> None:
    body = json.dumps(EVENT).encode()
    first = _post(stripe_app, body, signature_header(body, SECRET))
    again = _post(stripe_app, body, signature_header(body, SECRET))

    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {"received": "evt_test_1", "duplicate": False}
    assert again.get_json() == {"received": "evt_test_1", "duplicate": True}
    assert _stored(session_factory) == 1


@pytest.mark.parametrize("case", ["forged", "tampered", "stale", "wrong secret", "unsigned"])
def test_forged_or_stale_webhooks_answer_400_and_store_nothing(
        case: str, stripe_app: Flask, session_factory: sessionmaker[Session]) -> None:
    body = json.dumps(EVENT).encode()
    header: str | None = {
        "forged": f"t={int(time.time())},v1={'0' * 64}",
        "tampered": signature_header(body, SECRET),
        "stale": signature_header(body, SECRET, timestamp=int(time.time()) - 301),
        "wrong secret": signature_header(body, "whsec_someone_else"),
        "unsigned": None,
    }[case]
    sent = body.replace(b"succeeded", b"canceled") if case == "tampered" else body

    answer = _post(stripe_app, sent, header)

    assert answer.status_code == 400
    assert problem(answer)["code"] == "stripe_signature_invalid"
    assert _stored(session_factory) == 0


def test_card_payment_is_refused_on_the_offline_rail(app: Flask, make_party: Any) -> None:
    buyer: Party = make_party("buyer")
    answer = app.test_client().post("/api/v1/orders/ord_unknown/card-payment",
                                    headers=buyer.headers)

    assert answer.status_code == 409
    assert problem(answer)["code"] == "card_payments_unavailable"


def test_the_stripe_rail_does_not_start_without_its_keys(tmp_path: Path,
                                                         settings: Settings) -> None:
    env = {"MARKET_INSTANCE_PATH": str(tmp_path), "MARKET_PAYMENT_RAIL": "stripe",
           "MARKET_STRIPE_SECRET_KEY": "sk_test_x"}
    with pytest.raises(ConfigurationError, match="MARKET_STRIPE_WEBHOOK_SECRET"):
        load_settings(env)
    with pytest.raises(ConfigurationError, match="MARKET_STRIPE_SECRET_KEY"):
        create_app(settings.with_changes(payment_rail="stripe"))
    assert load_settings({**env, "MARKET_STRIPE_WEBHOOK_SECRET": "whsec_x"}).payment_rail \
        == "stripe"
