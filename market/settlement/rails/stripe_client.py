"""The Stripe API as the rail uses it, through the official library's ``StripeClient``
(API version pinned here): performing a persisted call with its idempotency key, and
re-reading an object. Nothing here touches the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from market.kernel.config import Settings

API_VERSION = "2026-10-28.endive"  # the Stripe API version the rail is written against
WEBHOOK_TOLERANCE_SECONDS = 300


def client_for(settings: Settings) -> stripe.StripeClient:
    """A client on the configured key; ``MARKET_STRIPE_API_BASE`` points it at a local
    Stripe-compatible server. The worker retries on its own schedule, so the library does
    not."""
    base = settings.stripe_api_base
    addresses: Any = {"api": base, "connect": base, "files": base} if base else None
    return stripe.StripeClient(settings.stripe_secret_key, stripe_version=API_VERSION,
                               base_addresses=addresses, max_network_retries=0)


@dataclass(frozen=True)
class Outcome:
    """What Stripe answered a call: the object, or an error and whether trying again (with
    the same key) may succeed."""

    result: dict[str, Any] | None = None
    error: str | None = None
    retry: bool = False

    @property
    def ok(self) -> bool:
        return self.result is not None


def _split(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rest = dict(params)
    return str(rest.pop("id")), rest


def perform(client: stripe.StripeClient, operation: str, params: dict[str, Any],
            idempotency_key: str) -> Outcome:
    """Make one call with its idempotency key. Connection failures, conflicts, rate limits
    and Stripe's 5xx are worth another try; any other refusal is final."""
    options: Any = {"idempotency_key": idempotency_key}
    v1 = client.v1
    try:
        if operation == "account.create":
            found: Any = v1.accounts.create(params=params, options=options)  # type: ignore[arg-type]
        elif operation == "account_link.create":
            found = v1.account_links.create(params=params, options=options)  # type: ignore[arg-type]
        elif operation == "customer.create":
            found = v1.customers.create(params=params, options=options)  # type: ignore[arg-type]
        elif operation == "payment_intent.create":
            found = v1.payment_intents.create(params=params, options=options)  # type: ignore[arg-type]
        elif operation == "payment_intent.capture":
            pi, rest = _split(params)
            found = v1.payment_intents.capture(pi, params=rest, options=options)  # type: ignore[arg-type]
        elif operation == "payment_intent.cancel":
            pi, rest = _split(params)
            found = v1.payment_intents.cancel(pi, params=rest, options=options)  # type: ignore[arg-type]
        elif operation == "refund.create":
            found = v1.refunds.create(params=params, options=options)  # type: ignore[arg-type]
        elif operation == "transfer.create":
            found = v1.transfers.create(params=params, options=options)  # type: ignore[arg-type]
        elif operation == "transfer_reversal.create":
            transfer, rest = _split(params)
            found = v1.transfers.reversals.create(transfer, params=rest, options=options)  # type: ignore[arg-type]
        else:
            return Outcome(error=f"unknown operation {operation}")
    except stripe.StripeError as exc:
        return _failure(exc)
    return Outcome(result=found.to_dict())


def _failure(exc: stripe.StripeError) -> Outcome:
    status = exc.http_status
    transient = isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError
                           | stripe.AuthenticationError) or status is None or status >= 500 \
        or status in (409, 429)
    error = exc.error
    code = getattr(error, "code", None) if error is not None else None
    return Outcome(error=f"{status or 'network'} {code or type(exc).__name__}: "
                         f"{exc.user_message or str(exc)}"[:1000], retry=transient)


def retrieve(client: stripe.StripeClient, kind: str, object_id: str) -> dict[str, Any]:
    """Stripe's current view of an object (events are only hints).

    Raises:
        stripe.StripeError: Stripe could not be asked or refused.
    """
    v1 = client.v1
    found: Any
    if kind == "payment_intent":
        found = v1.payment_intents.retrieve(object_id, params={"expand": ["latest_charge"]})
    elif kind == "account":
        found = v1.accounts.retrieve(object_id)
    elif kind == "dispute":
        found = v1.disputes.retrieve(object_id)
    elif kind == "charge":
        found = v1.charges.retrieve(object_id)
    else:
        raise ValueError(f"the rail does not read {kind} objects")
    result: dict[str, Any] = found.to_dict()
    return result


def verify_event(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event in ``payload`` once its ``Stripe-Signature`` holds for ``secret`` and is
    fresh (300 s).

    Raises:
        stripe.SignatureVerificationError: forged, tampered with, or stale.
        ValueError: the body is not JSON.
    """
    event: Any = stripe.Webhook.construct_event(payload, signature, secret,
                                                tolerance=WEBHOOK_TOLERANCE_SECONDS)
    result: dict[str, Any] = event.to_dict()
    return result
