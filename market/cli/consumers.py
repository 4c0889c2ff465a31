"""The worker's consumers: every outbox topic and what the worker does with it, and the
Stripe rail's duties."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.kernel.actor import system_actor
from market.kernel.clock import Clock, SystemClock
from market.kernel.config import Settings
from market.kernel.outbox import Consumer, Delivery, noop_consumer
from market.kernel.uow import UnitOfWork
from market.kernel.web.internal import get_as
from market.matching import services as matching
from market.participants import services as participants
from market.settlement.rails.stripe_rail import StripeRail, stripe_consumers
from market.trading import services as trading
from market.trading.domain import OrderStatus
from market.webhooks import services as webhooks

# Topics the worker knows. Every one becomes webhook events for the organisations it
# concerns (their event feed, and their endpoints that chose the type); listing events also
# re-match demands and saved searches. Receipts are issued in their record's transaction,
# and the worker's every pass sequences them.
NEGOTIATION_ACTIONS = ("requested", "proposed", "accepted_by_buyer", "accepted_by_merchant",
                       "offered", "countered", "agreed", "ordered", "declined", "withdrawn",
                       "expired")
TOPICS = (
    *(f"participant.{s}" for s in ("applied", "admitted", "suspended", "exited", "blacklisted")),
    *(f"right.{s}" for s in ("registered", "suspended", "reinstated", "revoked")),
    "grant.created", "grant.revoked",
    "public_data.authorised", "public_data.authorisation_revoked",
    *(f"listing.{s}" for s in ("listed", "suspended", "reinstated", "delisted")),
    "review.decided",
    "compliance.breach_recorded", "compliance.filed", "compliance.alert",
    *(f"order.{s}" for s in OrderStatus), "order.flagged", "order.destruction_due",
    *(f"payout.{s}" for s in ("requested", "paid", "rejected", "expired")),
    "demand.matched", "demand.candidate_added", "demand.converted", "demand.expired",
    "saved_search.matched", *(f"negotiation.{a}" for a in NEGOTIATION_ACTIONS),
    "webhook_endpoint.disabled",
    "refund.issued",
    *(f"dispute.{s}" for s in ("decided", "escalated", "awarded")),
    "contract.signed", "contract.declined",
    participants.EXPIRING_TOPIC, participants.GRADE_CHANGED_TOPIC,
    *(f"subscription.{s}" for s in ("renewed", "renewal_failed", "lapsed", "cancelled",
                                    "renewal_due")),
)
LISTING_CHANGES = ("listing.listed", "listing.reinstated")


def _renderer(sessions: sessionmaker[Session], settings: Settings, clock: Clock,
              ) -> webhooks.Render:
    """Answers ``GET path`` as a participant, through the application's own views (built
    once, on the worker's sessions, when the first event needs it)."""
    built: list[Any] = []

    def render(actor: Any, path: str) -> tuple[int, Any]:
        if not built:
            built.append(create_app(settings, session_factory=sessions, clock=clock))
        return get_as(built[0], actor, path)

    return render


def consumers(sessions: sessionmaker[Session] | None, settings: Settings | None,
              clock: Clock | None = None) -> dict[str, Consumer]:
    """The worker's consumer of every topic: each makes the webhook events it means (and a
    listing listed or reinstated is offered to the live demands and saved searches it
    answers first)."""
    found: dict[str, Consumer] = dict.fromkeys(TOPICS, noop_consumer)
    if sessions is None or settings is None:
        return found
    policy = matching.match_policy_of(settings)
    hooks = webhooks.policy_of(settings)
    clock = clock or SystemClock()
    render = _renderer(sessions, settings, clock)
    uows = webhooks.system_uows(sessions, clock)

    def notify(delivery: Delivery) -> None:
        webhooks.fan_out(delivery.id, delivery.topic, delivery.payload, render=render,
                         policy=hooks, uows=uows)

    def listing_changed(delivery: Delivery) -> None:
        product_id = str(delivery.payload["product_id"])
        actor = system_actor("matching")
        matching.rematch_product(product_id, policy=policy,
                                 uow=UnitOfWork(sessions, clock, actor))
        matching.announce_listing(product_id, uow=UnitOfWork(sessions, clock, actor))
        notify(delivery)

    for topic in TOPICS:
        found[topic] = listing_changed if topic in LISTING_CHANGES else notify
    if settings.payment_rail == "stripe":  # the order's money at Stripe follows it first
        for topic, money in stripe_consumers(sessions, settings, clock=clock).items():
            found[topic] = _both(money, found[topic])
    return found


def _both(first: Consumer, then: Consumer) -> Consumer:
    """Both consumers, in turn (each idempotent, so a retry after the second failed is
    harmless)."""

    def consume(delivery: Delivery) -> None:
        first(delivery)
        then(delivery)

    return consume


CONSUMERS: dict[str, Consumer] = consumers(None, None)


def stripe_rail(sessions: sessionmaker[Session], settings: Settings,
                clock: Clock | None = None) -> StripeRail:
    """The worker's Stripe duties, with trading's use cases for what Stripe reports (a card
    paid an order, a chargeback, a renewal's saved card declined) and for renewals due."""
    policy = trading.policy_of(settings)

    def paid(order_id: str, uow: UnitOfWork) -> bool:
        return trading.record_card_payment(order_id, policy=policy, uow=uow)

    def chargeback(order_id: str, dispute_id: str, what: str, uow: UnitOfWork) -> None:
        trading.record_chargeback(order_id, dispute_id, what, uow=uow)

    def renewal_due(order_id: str, uow: UnitOfWork) -> str | None:
        return trading.collect_renewal_by_card(order_id, policy=policy, uow=uow)

    def renewal_declined(order_id: str, reason: str, uow: UnitOfWork) -> bool:
        return trading.card_renewal_declined(order_id, reason, policy=policy, uow=uow)

    return StripeRail(sessions, settings, on_paid=paid, on_chargeback=chargeback,
                      on_renewal_due=renewal_due, on_renewal_failed=renewal_declined,
                      clock=clock, backoff_seconds=settings.outbox_backoff_base_seconds)
