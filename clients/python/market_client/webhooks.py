"""Checking a webhook delivery before trusting it: the exchange signs ``t.body`` with
HMAC-SHA256 under the endpoint's secret and sends ``Market-Signature: t=<unix time>,v1=<hex>``
(two ``v1`` while a secret rotation overlaps)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from market_client.errors import ClientError

SIGNATURE_HEADER = "Market-Signature"
EVENT_ID_HEADER = "Market-Event-Id"
EVENT_TYPE_HEADER = "Market-Event-Type"


class InvalidSignature(ClientError):
    """A webhook delivery whose signature is missing, wrong or too old."""


def verify_signature(payload: bytes, header: str, secret: str, *, tolerance: int = 300,
                     now: float | None = None) -> bool:
    """Whether ``header`` (the ``Market-Signature`` value) signs ``payload`` (the raw request
    body, before any JSON parsing) under ``secret`` within ``tolerance`` seconds of ``now``
    (default: the current time). Any ``v1`` may match: during a rotation one signature per
    live secret is sent."""
    pairs = [part.strip().split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for name, value in pairs if name == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    expected = hmac.new(secret.encode(), str(timestamp).encode() + b"." + payload,
                        hashlib.sha256).hexdigest()
    moment = time.time() if now is None else now
    if abs(moment - timestamp) > tolerance:
        return False
    return any(hmac.compare_digest(expected, value) for name, value in pairs if name == "v1")


def parse_event(payload: bytes, header: str, secret: str, *, tolerance: int = 300,
                now: float | None = None) -> dict[str, Any]:
    """The event ``{"id", "type", "created", "data"}`` of a delivery whose signature holds.
    Deduplicate on ``id``: a delivery may arrive more than once.

    Raises:
        InvalidSignature: the signature does not hold (or the body is not an event).
    """
    if not verify_signature(payload, header, secret, tolerance=tolerance, now=now):
        raise InvalidSignature("the Market-Signature header does not sign this body "
                               "with this secret within the tolerance")
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise InvalidSignature(f"the signed body is not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise InvalidSignature("the signed body is not an event object")
    return event
