"""Order, delivery and dispute rules as plain values."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class OrderStatus(StrEnum):
    CREATED = "created"  # placed; waiting for a compliance review when the rules ask one
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"  # the price is in the order's escrow
    DELIVERED = "delivered"
    ACCEPTED = "accepted"  # by the buyer, or automatically when the window ends
    SETTLED = "settled"  # escrow split among the parties (terminal)
    CANCELLED = "cancelled"  # before payment (terminal)
    DISPUTED = "disputed"  # funds stay frozen until the operator decides
    RESOLVED = "resolved"  # the operator decided the dispute
    REFUNDED = "refunded"  # the whole price went back to the buyer (terminal)


S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.CREATED: frozenset({S.AWAITING_PAYMENT, S.PAID, S.CANCELLED}),  # paid: a free order
    S.AWAITING_PAYMENT: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.DELIVERED, S.DISPUTED, S.REFUNDED}),
    S.DELIVERED: frozenset({S.ACCEPTED, S.DISPUTED}),
    S.ACCEPTED: frozenset({S.SETTLED}),
    S.DISPUTED: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset({S.SETTLED, S.REFUNDED}),
    S.SETTLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}
TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
OPEN = frozenset(OrderStatus) - TERMINAL


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target in TRANSITIONS[current]


class DeliveryMode(StrEnum):
    FILE = "file"  # uploaded to platform storage, downloaded with expiring tokens
    API = "api"  # a per-order credential the merchant's API checks against the exchange
    SANDBOX = "sandbox"  # access to a controlled environment for a term and purpose


class DisputeStatus(StrEnum):
    OPEN = "open"  # waiting for the merchant's answer
    ANSWERED = "answered"
    UNANSWERED = "unanswered"  # the answer window ended without an answer
    DECIDED = "decided"  # carried out when its escalation window ends (or at once)
    ESCALATED = "escalated"  # a party took the decision to arbitration: frozen until the award
    AWARDED = "awarded"  # the arbitration award is recorded and carried out


# The operator has decided: the dispute is not decided again.
DECIDED_STATUSES = frozenset({DisputeStatus.DECIDED.value, DisputeStatus.ESCALATED.value,
                              DisputeStatus.AWARDED.value})


class DisputeOutcome(StrEnum):
    RELEASE = "release"  # the merchant is paid in full
    PARTIAL_REFUND = "partial_refund"
    FULL_REFUND = "full_refund"


BUYABLE_OFFERS = frozenset({"one_time", "subscription", "free", "pay_per_use"})
METERED = "pay_per_use"
SUBSCRIPTION = "subscription"


class SubscriptionStatus(StrEnum):
    PENDING = "pending"  # the first order is not delivered yet: no period runs
    ACTIVE = "active"  # a paid period runs
    PAST_DUE = "past_due"  # a renewal failed: retried until the grace period ends
    LAPSED = "lapsed"  # renewal off, or not paid in grace: access ended with the period
    CANCELLED = "cancelled"  # its paying order was cancelled or refunded in full


U = SubscriptionStatus
SUBSCRIPTION_TRANSITIONS: dict[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    U.PENDING: frozenset({U.ACTIVE, U.CANCELLED}),
    U.ACTIVE: frozenset({U.PAST_DUE, U.LAPSED, U.CANCELLED}),
    U.PAST_DUE: frozenset({U.ACTIVE, U.LAPSED, U.CANCELLED}),
    U.LAPSED: frozenset(),
    U.CANCELLED: frozenset(),
}
LIVE_SUBSCRIPTIONS = frozenset({U.ACTIVE, U.PAST_DUE})

_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def period_end(start: datetime, period: str) -> datetime:
    """The end of a subscription period of ``period`` (month, quarter, year) from ``start``:
    the same day of the month so many months on, the month's last day when it has none."""
    months = start.month - 1 + _MONTHS[period]
    year, month = start.year + months // 12, months % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return start.replace(year=year, month=month, day=min(start.day, last))


@dataclass(frozen=True)
class Policy:
    """The time limits of a trade and the split defaults, from the settings."""

    review_window: timedelta = timedelta(hours=72)  # for an order the rules sent to review
    payment_window: timedelta = timedelta(hours=24)
    delivery_window: timedelta = timedelta(days=7)
    acceptance_window: timedelta = timedelta(hours=72)
    answer_window: timedelta = timedelta(hours=72)
    download_ttl: timedelta = timedelta(hours=1)
    download_limit: int = 5
    metering_period: timedelta = timedelta(days=30)  # one pay-per-use order's period
    renew_before: timedelta = timedelta(days=1)  # a subscription renews this long before
    renewal_grace: timedelta = timedelta(days=3)  # a failed renewal is retried this long
    renewal_retry: timedelta = timedelta(hours=6)  # between attempts in the grace period
    payment_rail: str = "offline"  # offline: renewals are paid from the available balance
    platform_fee_bps: int = 100
    holder_bps: int = 1000
    processor_bps: int = 1000
    card_payments: bool = False  # the Stripe rail is configured: orders may be paid by card
    card_auth_window: timedelta = timedelta(days=7)  # how long a card authorisation holds
    # Both parties must sign the contract (or have declined) before the first delivery.
    contract_signatures_required: bool = False
    # After the operator decides a dispute, either party may take the decision to one of the
    # institutions for this long; the escrow stays frozen meanwhile (0: carried out at once).
    arbitration_window: timedelta = timedelta(days=7)
    arbitration_institutions: tuple[str, ...] = ("武汉仲裁委员会",)
    # The share of a public-data trade's price earmarked for the public-service fund.
    public_fund_bps: int = 1000


@dataclass(frozen=True)
class OrderFilters:
    """What a list of orders is narrowed to, besides what the caller may see."""

    status: str | None = None
    role: str | None = None  # buyer or seller: the caller's side
    product: str | None = None
    party: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    min_amount: int | None = None
    max_amount: int | None = None


