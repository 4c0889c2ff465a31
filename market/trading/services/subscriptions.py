"""Subscriptions: an order on a subscription offer opens a subscription, which sells periods.

The first order's contract freezes the terms every renewal is placed under, until the
buyer accepts the offer's terms of a later day with a new purchase commitment. The period
starts when the first order is delivered; access to what was delivered (download links,
the API credential, the sandbox grant) lasts while a paid period runs. Before the period
ends the worker places the next period's order (judged by the compliance rules again, under
the frozen terms) awaiting payment and collects it: on the offline rail at once from the
buyer's available balance; on another rail that rail collects it and reports back
(:func:`renewal_paid`, :func:`renewal_failed`). A paid renewal is delivered by the platform
itself in the same mode (access continues) and then accepted, split and filed like any
order. A failed renewal makes the subscription past due; the worker retries until the grace
period after the period's end runs out, and the subscription lapses. With renewal off it
lapses when its period ends.

Lock order: an order before its subscription; the worker takes each subscription in a
transaction of its own, passing over one another transaction holds (``SKIP LOCKED``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from market.compliance import services as compliance
from market.kernel.errors import InvalidTransition
from market.kernel.ids import new_id
from market.kernel.pagination import Page
from market.kernel.statemachine import record_move
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.receipts import services as receipts
from market.settlement import services as settlement
from market.settlement.errors import InsufficientFunds
from market.trading import repository
from market.trading.domain import (
    SUBSCRIPTION,
    DeliveryMode,
    OrderStatus,
    Policy,
    SubscriptionStatus,
    period_end,
)
from market.trading.errors import (
    OfferNotBuyable,
    OrderRefused,
    SubscriptionNotRenewing,
)
from market.trading.models import (
    Contract,
    Delivery,
    Order,
    OrderEvent,
    Subscription,
    SubscriptionEvent,
    SubscriptionTerms,
)
from market.trading.services._common import _cancel, _moved, _receipt
from market.trading.services._subscribed import _digest, _history, _lapse, _move, _of
from market.trading.services.facts import trade_facts
from market.trading.services.placing import _contract_document, _rule, public_data_of

OFFLINE = "offline"
RENEWED = "subscription.renewed"
RENEWAL_FAILED = "subscription.renewal_failed"
RENEWAL_DUE = "subscription.renewal_due"


# -- the buyer --------------------------------------------------------------------------------


def get_subscription(subscription_id: str, *, uow: UnitOfWork) -> Subscription:
    """A subscription its buyer or seller, the operator or a regulator may see.

    Raises:
        SubscriptionNotFound.
    """
    with uow:
        return repository.get_subscription(uow.session, uow.actor, subscription_id)


def list_subscriptions(*, uow: UnitOfWork, status: str | None = None,
                       role: str | None = None, after: str | None = None,
                       limit: int = 50) -> Page[Subscription]:
    """Subscriptions the caller may see (as buyer or seller; all for staff), oldest first."""
    with uow:
        return repository.subscription_page(uow.session, uow.actor, status=status, role=role,
                                            after=after, limit=limit)


def subscription_history(subscription_id: str, *, uow: UnitOfWork, after: str | None = None,
                         limit: int = 50) -> Page[SubscriptionEvent]:
    """A subscription's moves and renewals, oldest first.

    Raises:
        SubscriptionNotFound.
    """
    with uow:
        repository.get_subscription(uow.session, uow.actor, subscription_id)
        return repository.subscription_history_page(uow.session, subscription_id,
                                                    after=after, limit=limit)


def set_renewal(subscription_id: str, renew: bool, *, uow: UnitOfWork) -> Subscription:
    """The buyer turns renewal on or off. Off, the subscription lapses when its paid period
    ends, and a renewal waiting for payment is cancelled; on again while it has not lapsed.

    Raises:
        SubscriptionNotFound, NotAParty, InvalidTransition (lapsed or cancelled).
    """
    with uow:
        found = repository.get_subscription(uow.session, uow.actor, subscription_id)
        found.require_buyer(uow.actor)
        pending = (repository.get_order(uow.session, uow.actor, found.renewal_order_id,
                                        for_update=True)
                   if found.renewal_order_id and not renew else None)
        sub = repository.subscription_for_update(uow.session, found.id)
        assert sub is not None
        if sub.terminal:
            raise InvalidTransition(current=sub.status, target="renewal")
        if sub.renew != renew:
            sub.renew = renew
            sub.updated_at = uow.clock.now()
            if not renew:
                sub.retry_at = None
                if pending is not None and pending.status == OrderStatus.AWAITING_PAYMENT.value:
                    sub.renewal_order_id = None
                    _cancel(uow, pending, "renewal_off", "the buyer turned renewal off")
                if sub.status == SubscriptionStatus.PAST_DUE.value:
                    sub.grace_until = None
                    _move(uow, sub, SubscriptionStatus.ACTIVE, "renewal_off",
                          "the paid period runs to its end")
                else:
                    _history(uow, sub, "renewal_off", sub.status)
            else:
                _history(uow, sub, "renewal_on", sub.status)
        uow.commit()
        return sub


def accept_terms(subscription_id: str, commitment: Mapping[str, Any], *, policy: Policy,
                 uow: UnitOfWork, offer_id: str | None = None,
                 signature: str | None = None) -> SubscriptionTerms:
    """The buyer accepts the terms of the product's subscription offer on sale now (the
    same offer, or ``offer_id`` of the version listed now) with a new purchase commitment:
    the rules judge them as they judge an order, and the next renewals are placed under
    them. A blocking decision refuses them and keeps only the decision.

    Raises:
        SubscriptionNotFound, NotAParty, InvalidTransition (lapsed or cancelled),
        ProductNotFound, OfferNotFound, OfferNotBuyable (not a subscription offer),
        OrderRefused.
    """
    with uow:
        sub = repository.get_subscription(uow.session, uow.actor, subscription_id,
                                          for_update=True)
        sub.require_buyer(uow.actor)
        if sub.terminal:
            raise InvalidTransition(current=sub.status, target="terms_accepted")
        now = uow.clock.now()
        view = listing.on_sale(sub.product_id, offer_id=offer_id or sub.offer_id,
                               buyer_org_id=sub.buyer_org_id, at=now, uow=uow.joined())
        offer = view.offer
        assert offer is not None
        if offer.kind != SUBSCRIPTION or not offer.amount:
            raise OfferNotBuyable(kind=offer.kind)
        terms_id = new_id("sbt")
        facts, chain = trade_facts(view, compliance.Stage.ORDER, buyer_org_id=sub.buyer_org_id,
                                   commitment=commitment, uow=uow)
        passage = compliance.gate(
            facts, ("subscription", sub.id), refusal=OrderRefused, uow=uow,
            declare=compliance.Declare(compliance.DeclarationKind.PURCHASE, commitment,
                                       signature))
        if passage.outcome != compliance.Outcome.PASS.value:
            raise OrderRefused([{"code": "review_needed", "rule": None,
                                 "decision_id": passage.decision_id,
                                 "message": "new terms are accepted only when the rules pass "
                                            "them without a review"}])
        public = public_data_of(facts, offer)
        rule = _rule(uow, view, chain, policy, public_data=public is not None)
        document = _contract_document(
            None, sub.buyer_org_id, sub.seller_org_id, offer.amount, offer.currency, now,
            view, chain, passage.declaration_sha256 or "", rule, policy, public)
        terms = SubscriptionTerms(
            id=terms_id, subscription_id=sub.id, version_id=view.version_id,
            offer_id=offer.id, amount=offer.amount, currency=offer.currency,
            period=str(offer.period), commitment_id=passage.declaration_id or "",
            decision_id=passage.decision_id, document=document, sha256=_digest(document),
            accepted_at=now)
        uow.session.add(terms)
        sub.terms_id, sub.offer_id = terms.id, offer.id
        sub.amount, sub.currency, sub.period = terms.amount, terms.currency, terms.period
        sub.updated_at = now
        uow.session.flush()
        uow.audit.record(uow.actor, "subscription_terms.accepted", "subscription_terms",
                         terms.id, {"subscription_id": sub.id, "sha256": terms.sha256,
                                    "amount": terms.amount, "period": terms.period})
        _history(uow, sub, "terms_accepted", sub.status)
        uow.commit()
        return terms


def current_terms(subscription_id: str, *, uow: UnitOfWork) -> SubscriptionTerms:
    """The terms a subscription renews under now.

    Raises:
        SubscriptionNotFound.
    """
    with uow:
        sub = repository.get_subscription(uow.session, uow.actor, subscription_id)
        return repository.subscription_terms(uow.session, sub.terms_id)


# -- renewals ---------------------------------------------------------------------------------


def _place_renewal(uow: UnitOfWork, sub: Subscription, policy: Policy) -> Order | None:
    """Place the next period's order under the subscription's terms, awaiting payment; the
    rules judge it (the rights chain and both parties now). None when the rules want a
    review: a renewal needs no human, so that is a failed renewal."""
    terms = repository.subscription_terms(uow.session, sub.terms_id)
    first = uow.session.get(Order, sub.first_order_id)
    assert first is not None
    now = uow.clock.now()
    order_id = new_id("ord")
    view = listing.on_sale(sub.product_id, version_id=terms.version_id,
                           offer_id=terms.offer_id, uow=uow.joined())
    declared = compliance.get_declaration_record(terms.commitment_id, uow=uow.joined())
    facts, chain = trade_facts(view, compliance.Stage.ORDER, buyer_org_id=sub.buyer_org_id,
                               commitment=declared.answers if declared else {}, uow=uow)
    passage = compliance.gate(facts, ("order", order_id), refusal=OrderRefused, uow=uow,
                              declaration_id=terms.commitment_id)
    if passage.outcome != compliance.Outcome.PASS.value:
        return None
    order = Order(
        id=order_id, buyer_org_id=sub.buyer_org_id, seller_org_id=sub.seller_org_id,
        product_id=sub.product_id, version_id=terms.version_id, offer_id=terms.offer_id,
        status=OrderStatus.CREATED.value, amount=terms.amount, currency=terms.currency,
        commitment_id=terms.commitment_id, decision_id=passage.decision_id,
        outcome=passage.outcome, cross_border=first.cross_border, refunded_amount=0,
        purpose_class=first.purpose_class,
        subscription_id=sub.id, created_at=now, updated_at=now)
    start = max(sub.current_period_end or now, now)
    order.pay_by = start + policy.renewal_grace
    previous = order.move(OrderStatus.AWAITING_PAYMENT, at=now)
    uow.session.add(order)
    uow.session.flush()
    document = {**terms.document, "order_id": order.id, "created_at": now.isoformat(),
                "price": {"amount": terms.amount, "currency": terms.currency},
                # the chain as judged now: a renewal is a trade of its own day
                "rights_chain": [{k: v.isoformat() if isinstance(v, datetime) else v
                                  for k, v in asdict(link).items()} for link in chain.links],
                "renewal": {"subscription_id": sub.id, "period": sub.periods + 1,
                            "terms_id": terms.id, "terms_sha256": terms.sha256,
                            "first_order_id": sub.first_order_id}}
    contract = Contract(id=new_id("ctr"), order_id=order.id, document=document,
                        sha256=_digest(document), created_at=now)
    uow.session.add(contract)
    record_move(uow, OrderEvent, prefix="oev", subject={"order_id": order.id},
                action="renewal_placed", previous=None, status=OrderStatus.CREATED.value,
                reason=None, at=now)
    uow.audit.record(uow.actor, "order.placed", "order", order.id,
                     {**order.state(), "contract_sha256": contract.sha256})
    _receipt(uow, order, receipts.Kind.ORDER_CONTRACT, {
        "contract_id": contract.id, "contract_sha256": contract.sha256, "contract": document})
    _moved(uow, order, previous, OrderStatus.AWAITING_PAYMENT, "accepted_for_payment")
    return order


def _deliver_renewal(uow: UnitOfWork, sub: Subscription, order: Order, policy: Policy,
                     start: datetime, end: datetime) -> None:
    """The platform delivers a paid renewal in the first order's mode: access continues (the
    file, the credential) or is granted for the new period (API, sandbox)."""
    first = repository.deliveries_of(uow.session, sub.first_order_id)
    model = first[-1] if first else None
    now = uow.clock.now()
    delivery = Delivery(id=new_id("dlv"), order_id=order.id,
                        mode=model.mode if model else DeliveryMode.API.value,
                        decision_id=order.decision_id, delivered_at=now,
                        note=f"period {sub.periods} of subscription {sub.id}")
    if model is not None:
        delivery.file_name, delivery.media_type = model.file_name, model.media_type
        delivery.size, delivery.sha256 = model.size, model.sha256
        delivery.endpoint, delivery.purpose = model.endpoint, model.purpose
    if delivery.mode != DeliveryMode.FILE.value:
        delivery.access_from, delivery.access_to = start, end
    uow.session.add(delivery)
    uow.session.flush()
    uow.audit.record(uow.actor, "delivery.made", "delivery", delivery.id, delivery.state())
    previous = order.deliver(now, accept_by=now + policy.acceptance_window)
    _moved(uow, order, previous, OrderStatus.DELIVERED, "delivered", "renewal")


def _collected(uow: UnitOfWork, sub: Subscription, order: Order, policy: Policy,
               journal_id: str | None) -> None:
    """A renewal's price is in its escrow: the order is paid and delivered, the period
    extended, the subscription active again."""
    now = uow.clock.now()
    previous = order.pay(now, delivery_window=policy.delivery_window)
    _moved(uow, order, previous, OrderStatus.PAID, "paid", "renewal")
    _receipt(uow, order, receipts.Kind.ESCROW_PAYMENT, {
        "journal_id": journal_id, "amount": order.amount, "currency": order.currency,
        "paid_at": now})
    start = max(sub.current_period_end or now, now)
    end = period_end(start, sub.period)
    sub.periods += 1
    sub.current_order_id, sub.renewal_order_id = order.id, None
    sub.current_period_start, sub.current_period_end = start, end
    sub.retry_at = sub.grace_until = sub.last_failure = None
    sub.updated_at = now
    _deliver_renewal(uow, sub, order, policy, start, end)
    if sub.status == SubscriptionStatus.PAST_DUE.value:
        _move(uow, sub, SubscriptionStatus.ACTIVE, "renewed", f"period {sub.periods}")
    else:
        _history(uow, sub, "renewed", sub.status, f"period {sub.periods}")
    uow.outbox.enqueue("subscription.renewed", {"subscription_id": sub.id, "order_id": order.id,
                                 "period_start": start.isoformat(),
                                 "period_end": end.isoformat()})


def _failed(uow: UnitOfWork, sub: Subscription, reason: str, policy: Policy) -> None:
    """A renewal failed: past due, retried until the grace period ends."""
    now = uow.clock.now()
    if sub.grace_until is None:
        sub.grace_until = max(sub.current_period_end or now, now) + policy.renewal_grace
    sub.retry_at = min(now + policy.renewal_retry, sub.grace_until)
    sub.failures += 1
    sub.last_failure = reason
    sub.updated_at = now
    if sub.status == SubscriptionStatus.ACTIVE.value:
        _move(uow, sub, SubscriptionStatus.PAST_DUE, "renewal_failed", reason)
    else:
        _history(uow, sub, "renewal_failed", sub.status, reason)
    uow.outbox.enqueue("subscription.renewal_failed", {"subscription_id": sub.id,
                                        "order_id": sub.renewal_order_id, "reason": reason})


@dataclass
class RenewalRun:
    renewed: list[str] = field(default_factory=list)
    placed: list[str] = field(default_factory=list)  # awaiting another rail's collection
    failed: list[str] = field(default_factory=list)
    lapsed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return asdict(self)


def _charge(uow: UnitOfWork, sub_id: str, policy: Policy, run: RenewalRun) -> None:
    """Collect a placed renewal from the buyer's available balance (the offline rail), or
    record why it could not be."""
    now = uow.clock.now()
    try:
        with uow:
            order_id = repository.due_renewal_order(uow.session, sub_id, now)
            order = repository.renewal_order_for_update(uow.session, order_id) if order_id \
                else None
            sub = (repository.due_charge_for_update(uow.session, sub_id, now)
                   if order is not None else None)
            if order is None or sub is None or sub.renewal_order_id != order.id:
                return
            journal = settlement.pay_into_escrow(
                order_id=order.id, buyer_org_id=order.buyer_org_id, amount=order.amount,
                currency=order.currency, uow=uow.joined())
            _collected(uow, sub, order, policy, journal)
            uow.commit()
        run.renewed.append(sub_id)
    except InsufficientFunds:
        with uow:
            sub = repository.due_charge_for_update(uow.session, sub_id, now)
            if sub is None:
                return
            _failed(uow, sub, "insufficient_funds", policy)
            uow.commit()
        run.failed.append(sub_id)


def run_renewals(*, policy: Policy, uow: UnitOfWork, limit: int = 200) -> RenewalRun:
    """The worker's pass (as the system): subscriptions whose renewal is off lapse when
    their period ends, and past-due ones when their grace ends (a renewal still unpaid is
    cancelled); those due within ``policy.renew_before`` get the next period's order, and
    placed renewals are collected (offline) or announced to the rail that collects them
    (``subscription.renewal_due``). One subscription per transaction, passing over those
    another worker holds, so running the pass twice renews once."""
    run = RenewalRun()
    now = uow.clock.now()
    offline = policy.payment_rail == OFFLINE

    with uow:
        lapsing = repository.subscriptions_to_lapse(uow.session, now, limit)
    for sub_id in lapsing:
        with uow:
            order_id = repository.renewal_order_of(uow.session, sub_id)
            order = (repository.renewal_order_for_update(uow.session, order_id)
                     if order_id else None)
            sub = repository.lapsing_for_update(uow.session, sub_id, now)
            if sub is None:
                continue
            if order is not None and sub.renewal_order_id == order.id and (
                    order.status == OrderStatus.AWAITING_PAYMENT.value):
                sub.renewal_order_id = None
                _cancel(uow, order, "renewal_lapsed", "the subscription lapsed unpaid")
            _lapse(uow, sub, "renewal off" if not sub.renew else "not paid within the grace")
            uow.commit()
        run.lapsed.append(sub_id)

    with uow:
        due = repository.subscriptions_to_renew(uow.session, now, now + policy.renew_before,
                                                limit)

    horizon = now + policy.renew_before
    for sub_id in due:
        try:
            with uow:
                sub = repository.renewing_for_update(uow.session, sub_id, now, horizon)
                if sub is None:
                    continue
                order = _place_renewal(uow, sub, policy)
                if order is None:
                    _failed(uow, sub, "the rules want a review of the renewal", policy)
                    run.failed.append(sub_id)
                else:
                    sub.renewal_order_id = order.id
                    sub.grace_until = order.pay_by
                    sub.retry_at = now if offline else None
                    sub.updated_at = now
                    _history(uow, sub, "renewal_placed", sub.status, order.id)
                    if not offline:
                        uow.outbox.enqueue("subscription.renewal_due", {"subscription_id": sub.id,
                                                         "order_id": order.id})
                        run.placed.append(sub_id)
                uow.commit()
        except OrderRefused as refused:  # the decision alone is on record: a failed renewal
            with uow:
                sub = repository.renewing_for_update(uow.session, sub_id, now, horizon)
                if sub is not None:
                    _failed(uow, sub, "order_refused: " + ", ".join(
                        str(rule.get("rule")) for rule in refused.errors.get("rules", [])),
                        policy)
                    uow.commit()
                    run.failed.append(sub_id)

    with uow:
        to_charge = repository.renewals_to_collect(uow.session, now, limit)
    for sub_id in to_charge:
        if offline:
            _charge(uow, sub_id, policy, run)
            continue
        with uow:  # another rail collects: tell it again
            order_id = repository.due_renewal_order(uow.session, sub_id, now)
            sub = repository.due_charge_for_update(uow.session, sub_id, now)
            if sub is None or order_id is None:
                continue
            sub.retry_at = None
            uow.outbox.enqueue("subscription.renewal_due", {"subscription_id": sub.id,
                                                            "order_id": order_id})
            uow.commit()
        run.placed.append(sub_id)
    return run


def renewal_paid(order_id: str, *, policy: Policy, uow: UnitOfWork,
                 journal_id: str | None = None) -> Subscription:
    """Another rail collected a renewal and put its price in the order's escrow: the order
    is paid and delivered, the period extended. Idempotent: a renewal already paid is left
    as it is.

    Raises:
        OrderNotFound, SubscriptionNotRenewing (the order is not a pending renewal).
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        sub = _of(uow, order)
        if sub is None:
            raise SubscriptionNotRenewing()
        if order.status != OrderStatus.AWAITING_PAYMENT.value or sub.renewal_order_id != order.id:
            if sub.current_order_id == order.id:
                return sub
            raise SubscriptionNotRenewing()
        _collected(uow, sub, order, policy, journal_id)
        uow.commit()
        return sub


def renewal_failed(order_id: str, reason: str, *, policy: Policy,
                   uow: UnitOfWork) -> Subscription:
    """Another rail could not collect a renewal: the subscription is past due and the worker
    retries until the grace period ends. Idempotent: a failure reported again before the
    next attempt changes nothing.

    Raises:
        OrderNotFound, SubscriptionNotRenewing (the order is not a pending renewal).
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        sub = _of(uow, order)
        if sub is None or sub.renewal_order_id != order.id or sub.terminal:
            raise SubscriptionNotRenewing()
        if order.status == OrderStatus.AWAITING_PAYMENT.value and sub.retry_at is None:
            _failed(uow, sub, reason, policy)
            uow.commit()
        return sub
