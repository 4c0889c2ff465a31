"""The event catalogue (which outbox topic becomes which event about which object), the
signature scheme, endpoint address rules and the retry schedule: pure rules, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

SIGNATURE_HEADER = "Market-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
EXCERPT_BYTES = 1024
MAX_BACKOFF = timedelta(hours=1)


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the retry window ran out, or the endpoint is gone or disabled


class Subject(StrEnum):
    """The kind of object an event is about; each has one API path that shows it."""

    ORDER = "order"
    PRODUCT = "product"
    RIGHT = "right"
    CERTIFICATE = "certificate"
    GRANT = "grant"
    FILING = "filing"
    ALERT = "alert"
    PARTICIPANT = "participant"
    CREDIT = "credit"
    CREDIT_MARK = "credit_mark"
    DEMAND = "demand"
    SAVED_SEARCH = "saved_search"
    NEGOTIATION = "negotiation"
    PAYOUT = "payout"
    REFUND = "refund"
    SUBSCRIPTION = "subscription"
    PUBLIC_DATA = "public_data_authorisation"
    ENDPOINT = "webhook_endpoint"


@dataclass(frozen=True)
class EventSpec:
    """One event a topic makes: its public type, the object it is about and the payload
    key naming that object."""

    type: str
    subject: Subject
    key: str


def _order(kind: str) -> EventSpec:
    return EventSpec(kind, Subject.ORDER, "order_id")


# Outbox topic → the events it makes. Event types are grouped by their first word (the
# category an endpoint may subscribe to with ``category.*``).
CATALOGUE: dict[str, tuple[EventSpec, ...]] = {
    "order.created": (_order("order.created"),),
    "order.awaiting_payment": (_order("order.awaiting_payment"),),
    "order.paid": (_order("payment.succeeded"),),
    "order.delivered": (_order("delivery.completed"),),
    "order.accepted": (_order("acceptance.recorded"),),
    "order.settled": (_order("order.settled"),),
    "order.cancelled": (_order("order.cancelled"),),
    "order.disputed": (_order("dispute.opened"),),
    "order.resolved": (_order("dispute.resolved"),),
    **{f"dispute.{s}": (_order(f"dispute.{s}"),) for s in ("decided", "escalated", "awarded")},
    "order.refunded": (_order("refund.completed"),),
    "order.flagged": (_order("order.flagged"),),
    "order.destruction_due": (_order("order.destruction_due"),),
    "contract.signed": (_order("contract.signed"),),
    "contract.declined": (_order("contract.declined"),),
    "refund.issued": (EventSpec("refund.issued", Subject.REFUND, "refund_id"),),
    **{f"payout.{s}": (EventSpec(f"payout.{s}", Subject.PAYOUT, "payout_id"),)
       for s in ("requested", "paid", "rejected", "expired")},
    "right.registered": (EventSpec("right.registered", Subject.RIGHT, "right_id"),
                         EventSpec("certificate.issued", Subject.CERTIFICATE, "certificate")),
    **{f"right.{s}": (EventSpec(f"right.{s}", Subject.RIGHT, "right_id"),)
       for s in ("suspended", "reinstated", "revoked")},
    **{f"public_data.{s}": (EventSpec(f"public_data.{s}", Subject.PUBLIC_DATA,
                                      "authorisation_id"),)
       for s in ("authorised", "authorisation_revoked")},
    "grant.created": (EventSpec("right.grant_created", Subject.GRANT, "grant_id"),),
    "grant.revoked": (EventSpec("right.grant_revoked", Subject.GRANT, "grant_id"),),
    **{f"listing.{s}": (EventSpec(f"listing.{s}", Subject.PRODUCT, "product_id"),)
       for s in ("listed", "suspended", "reinstated", "delisted")},
    "review.decided": (),  # filled below: the subject depends on what was reviewed
    "compliance.filed": (EventSpec("filing.created", Subject.FILING, "filing_id"),),
    "compliance.alert": (EventSpec("alert.raised", Subject.ALERT, "alert_id"),),
    "compliance.breach_recorded": (EventSpec("participant.breach_recorded", Subject.CREDIT,
                                             "org_id"),),
    **{f"participant.{s}": (EventSpec(f"participant.{s}", Subject.PARTICIPANT,
                                      "organisation_id"),)
       for s in ("applied", "admitted", "suspended", "exited", "blacklisted")},
    "participant.credit_grade_changed": (EventSpec("participant.credit_grade_changed",
                                                   Subject.CREDIT_MARK, "organisation_id"),),
    "organisation.document_expiring": (EventSpec("participant.document_expiring",
                                                 Subject.PARTICIPANT, "organisation_id"),),
    **{f"demand.{s}": (EventSpec(f"demand.{s}", Subject.DEMAND, "demand_id"),)
       for s in ("matched", "candidate_added", "converted", "expired")},
    "saved_search.matched": (EventSpec("demand.saved_search_matched", Subject.SAVED_SEARCH,
                                       "saved_search_id"),),
    **{f"negotiation.{a}": (EventSpec(f"negotiation.{a}", Subject.NEGOTIATION,
                                      "negotiation_id"),)
       for a in ("requested", "proposed", "accepted_by_buyer", "accepted_by_merchant",
                 "offered", "countered", "agreed", "ordered", "declined", "withdrawn",
                 "expired")},
    **{f"subscription.{s}": (EventSpec(f"subscription.{s}", Subject.SUBSCRIPTION,
                                       "subscription_id"),)
       for s in ("renewed", "renewal_due", "renewal_failed", "lapsed", "cancelled")},
    "webhook_endpoint.disabled": (EventSpec("webhook_endpoint.disabled", Subject.ENDPOINT,
                                            "endpoint_id"),),
}
# A review decision is about a product version or a right registration.
REVIEW_EVENTS = {"product": EventSpec("review.decided", Subject.PRODUCT, "subject_id"),
                 "right": EventSpec("review.decided", Subject.RIGHT, "subject_id")}

CATEGORIES = ("order", "payment", "delivery", "acceptance", "dispute", "refund", "payout",
              "right", "certificate", "listing", "review", "filing", "alert", "participant",
              "demand", "negotiation", "subscription", "webhook_endpoint", "contract",
              "public_data")


def event_types() -> list[str]:
    """Every event type an endpoint may subscribe to, sorted."""
    found = {spec.type for specs in CATALOGUE.values() for spec in specs}
    found.update(spec.type for spec in REVIEW_EVENTS.values())
    return sorted(found)


def specs_of(topic: str, payload: dict[str, object]) -> tuple[EventSpec, ...]:
    """The events an outbox message makes (none for a topic outside the catalogue)."""
    if topic == "review.decided":
        spec = REVIEW_EVENTS.get(str(payload.get("subject_type")))
        return (spec,) if spec is not None else ()
    return CATALOGUE.get(topic, ())


def valid_selector(selector: str) -> bool:
    """``*``, a category (``order.*``) or an event type."""
    if selector == "*":
        return True
    if selector.endswith(".*"):
        return selector[:-2] in CATEGORIES
    return selector in event_types()


def selects(selectors: Iterable[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``selectors`` wants ``event_type``."""
    category = event_type.split(".", 1)[0]
    return any(s in ("*", event_type, f"{category}.*") for s in selectors)


# -- addresses ---------------------------------------------------------------------------

LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def address_allowed(address: str) -> bool:
    """A public unicast address: not loopback, private, link-local, shared (CGNAT),
    multicast, reserved or unspecified."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why ``url`` cannot receive webhooks, or None. HTTPS only, no credentials in it, and
    no local or private host unless ``allow_private`` (development, tests)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    del port
    if parts.scheme not in (("https", "http") if allow_private else ("https",)):
        return "must be an https:// URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "must name a host"
    if parts.fragment:
        return "must not have a fragment"
    if allow_private:
        return None
    single_label = "." not in host and ":" not in host
    if host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES) or single_label:
        return "must not name a local host"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: its addresses are checked again at every delivery
    return None if address_allowed(host) else "must not be a private or local address"


# -- signatures --------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 of ``timestamp.body`` under the endpoint's secret, hex."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body,
                    hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """``t=…,v1=…[,v1=…]``: one v1 per live secret (two while a rotation overlaps)."""
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}"
                                         for s in secrets)])


def verify(body: bytes, header: str, secret: str, *, now: float,
           tolerance: int = 300) -> bool:
    """The receiver's check, as the README shows it."""
    pairs = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [v for k, v in pairs if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    expected = signature(secret, int(stamps[0]), body)
    fresh = abs(now - int(stamps[0])) <= tolerance
    return fresh and any(hmac.compare_digest(expected, v) for k, v in pairs if k == "v1")


# -- retries -----------------------------------------------------------------------------


def next_attempt(attempts: int, now: datetime, *, base: timedelta,
                 rng: random.Random | None = None) -> datetime:
    """When to try again after ``attempts`` failures: exponential from ``base``, at most an
    hour apart, with full jitter in the upper half so endpoints that failed together do not
    get their retries together."""
    delay = min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF)
    factor = 0.5 + 0.5 * (rng or random).random()
    result: datetime = now + delay * factor
    return result
