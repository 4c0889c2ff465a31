"""Placing an order under the compliance rules and freezing its contract (the version, offer,
price, usage terms, both declarations' digests, the rights chain and the distribution rule
the chain implies unless the merchant set one); the review of an order the rules sent to
review; cancelling before payment."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from market.compliance import services as compliance
from market.kernel import canonical, events
from market.kernel.actor import Role, require
from market.kernel.ids import new_id
from market.kernel.statemachine import record_move
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.receipts import services as receipts
from market.rights import services as rights
from market.settlement import services as settlement
from market.settlement.services import DistributionRule
from market.trading import repository
from market.trading.domain import BUYABLE_OFFERS, METERED, SUBSCRIPTION, OrderStatus, Policy
from market.trading.errors import OfferNeedsCap, OfferNotBuyable, OrderRefused
from market.trading.models import Contract, Order, OrderEvent
from market.trading.services import _subscribed
from market.trading.services._common import OrderView, _cancel, _moved, _receipt
from market.trading.services.facts import trade_facts

# Published in the placing transaction when an order takes a private offer that came out of
# a negotiation: {order_id, offer_id, negotiation_id, demand_id}.
ORDER_PLACED = "trading.order_placed"


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def public_data_of(facts: compliance.Facts, offer: listing.OfferTerms,
                   ) -> dict[str, Any] | None:
    """What a trade of public data records (None: not public data): the buyer class it was
    bought for, the public resources and the seller's authorisations covering them."""
    if not facts.product.public_resources:
        return None
    purpose = offer.buyer_class or ("commercial" if offer.amount else "public_interest")
    return {"purpose_class": purpose,
            "resources": sorted(rid for rid, _ in facts.product.public_resources),
            "authorisation_ids": sorted(str(s["id"]) for s in
                                        facts.seller.public_data_scopes or ())}


def _rule(uow: UnitOfWork, sale: listing.OnSale, chain: rights.ChainCheck,
          policy: Policy, *, public_data: bool = False) -> DistributionRule:
    """The merchant's rule for the product, or the one its rights chain implies; with the
    broker's commission taken from the merchant's share when a broker made the deal, and
    for public data the public-service fund's earmark."""
    rule, _ = settlement.rule_for(
        sale.product_id, chain=[(link.kind, link.holder_org_id) for link in chain.links],
        merchant_org_id=sale.merchant_org_id,
        policy=settlement.SplitPolicy(policy.platform_fee_bps, policy.holder_bps,
                                      policy.processor_bps), uow=uow.joined())
    offer = sale.offer
    if offer is not None and offer.broker_org_id and offer.commission_bps:
        rule = rule.with_commission(offer.broker_org_id, offer.commission_bps,
                                    merchant_org_id=sale.merchant_org_id)
    if public_data:
        rule = rule.with_public_fund(policy.public_fund_bps)
    return rule


def origin_of(offer: listing.OfferTerms) -> dict[str, Any]:
    """How the trade came about, as the contract and the filing record it."""
    return {"channel": offer.channel or "catalogue", "private_offer": offer.buyer_org_id
            is not None, "negotiation_id": offer.negotiation_id,
            "demand_id": offer.demand_id, "broker_org_id": offer.broker_org_id,
            "commission_bps": offer.commission_bps}


def _contract_document(order_id: str | None, buyer_org_id: str, seller_org_id: str,
                       amount: int, currency: str, created_at: datetime,
                       view: listing.OnSale, chain: rights.ChainCheck, commitment_sha256: str,
                       rule: DistributionRule, policy: Policy,
                       public_data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The contract document of an order (``order_id``), or of terms a subscription renews
    under (no order yet); a trade of public data records what :func:`public_data_of`
    says, in its origin too (so its filing carries it)."""
    offer = view.offer
    assert offer is not None
    origin, public = origin_of(offer), {}
    if public_data is not None:
        origin |= {"public_data": True, "purpose_class": public_data["purpose_class"]}
        public = {"public_data": public_data}
    return {
        "order_id": order_id, "buyer_org_id": buyer_org_id,
        "seller_org_id": seller_org_id,
        "product": {"id": view.product_id, "version_id": view.version_id,
                    "version": view.version_number, "title": view.title,
                    "sector": view.sector, "type": view.type},
        "offer": {"id": offer.id, "kind": offer.kind, "name": offer.name,
                  "amount": offer.amount, "currency": offer.currency, "period": offer.period,
                  "unit": offer.unit, "cap_amount": offer.cap_amount},
        "price": {"amount": amount, "currency": currency},
        "terms": view.terms,
        "declarations": {"listing_sha256": view.declaration_sha256,
                         "purchase_sha256": commitment_sha256},
        "rights_chain": [{k: _iso(v) for k, v in asdict(link).items()} for link in chain.links],
        "distribution": rule.as_dict(),
        "origin": origin,
        **public,
        "windows_hours": {
            "payment": policy.payment_window.total_seconds() / 3600,
            "delivery": policy.delivery_window.total_seconds() / 3600,
            "acceptance": policy.acceptance_window.total_seconds() / 3600},
        "created_at": created_at.isoformat(),
    }


def place_order(product_id: str, offer_id: str, commitment: Mapping[str, Any], *,
                policy: Policy, uow: UnitOfWork, signature: str | None = None) -> OrderView:
    """Order one offer of a listed product with the buyer's purchase commitment.

    The compliance rules judge the order (both parties admitted and not barred, the rights
    chain unbroken and in term now, the buyer's scenarios among the listing's, cross-border
    use allowed by the terms, …). A blocking decision refuses the order and writes nothing
    but the decision. Otherwise one unit of a limited offer is taken, the commitment is
    signed (purchase@1), and the contract freezes the version, offer, price, usage terms,
    both declarations' digests, the rights chain and the distribution rule. An order the
    rules send to review waits in ``created``; otherwise it awaits payment, or, free, is
    ready for delivery at once. An order on a subscription offer opens the subscription.

    Raises:
        RoleNotAllowed, ProductNotFound, OfferNotFound, OfferNotBuyable, SoldOut,
        OrderRefused, InvalidDeclarationSignature.
    """
    require(uow.actor, Role.BUYER)
    actor = uow.actor
    assert actor.org_id is not None
    with uow:
        now = uow.clock.now()
        view = listing.on_sale(product_id, offer_id=offer_id, buyer_org_id=actor.org_id,
                               at=now, uow=uow.joined())
        offer = view.offer
        assert offer is not None
        if offer.kind not in BUYABLE_OFFERS:
            raise OfferNotBuyable(kind=offer.kind)
        if offer.kind == METERED and not offer.cap_amount:
            raise OfferNeedsCap()
        order_id = new_id("ord")
        facts, chain = trade_facts(view, compliance.Stage.ORDER, buyer_org_id=actor.org_id,
                                   commitment=commitment, uow=uow,
                                   delivery_modes=view.delivery_modes)
        passage = compliance.gate(
            facts, ("order", order_id), refusal=OrderRefused, uow=uow,
            declare=compliance.Declare(compliance.DeclarationKind.PURCHASE, commitment,
                                       signature))
        public = public_data_of(facts, offer)
        rule = _rule(uow, view, chain, policy, public_data=public is not None)
        order = Order(
            id=order_id, buyer_org_id=actor.org_id, seller_org_id=view.merchant_org_id,
            product_id=view.product_id, version_id=view.version_id, offer_id=offer.id,
            status=OrderStatus.CREATED.value,
            amount=(offer.cap_amount if offer.kind == METERED else offer.amount) or 0,
            currency=offer.currency, commitment_id=passage.declaration_id,
            decision_id=passage.decision_id,
            outcome=passage.outcome, cross_border=bool(commitment.get("cross_border")),
            purpose_class=public["purpose_class"] if public is not None else None,
            refunded_amount=0, placed_by_user_id=actor.user_id, created_at=now,
            updated_at=now,
            subscription_id=new_id("sub") if offer.kind == SUBSCRIPTION else None)
        uow.session.add(order)
        document = _contract_document(order.id, order.buyer_org_id, order.seller_org_id,
                                      order.amount, order.currency, now, view, chain,
                                      passage.declaration_sha256 or "", rule, policy,
                                      public)
        contract = Contract(id=new_id("ctr"), order_id=order.id, document=document,
                            sha256=hashlib.sha256(canonical.dumps(document)).hexdigest(),
                            created_at=now)
        uow.audit.record(actor, "order.placed", "order", order.id,
                         {**order.state(), "contract_sha256": contract.sha256})
        _receipt(uow, order, receipts.Kind.ORDER_CONTRACT, {
            "contract_id": contract.id, "contract_sha256": contract.sha256,
            "contract": document})
        passed = passage.outcome == compliance.Outcome.PASS.value
        free = order.amount == 0
        if passed and free:  # nothing to pay: ready for delivery at once
            previous = order.pay(now, delivery_window=policy.delivery_window)
        elif passed:
            order.pay_by = now + policy.payment_window
            previous = order.move(OrderStatus.AWAITING_PAYMENT, at=now)
        else:
            order.review_by = now + policy.review_window
        uow.session.flush()  # the order, once, as it leaves placement; then what refers to it
        uow.session.add(contract)
        record_move(uow, OrderEvent, prefix="oev", subject={"order_id": order.id},
                    action="placed", previous=None, status=OrderStatus.CREATED.value,
                    reason=None, at=now)
        uow.outbox.enqueue("order.created", {"order_id": order.id})
        if order.subscription_id is not None:
            uow.session.flush()
            _subscribed.open_subscription(uow, order, contract)
        if passed and free:
            _moved(uow, order, previous, OrderStatus.PAID, "free", "a free order: no payment")
        elif passed:
            _moved(uow, order, previous, OrderStatus.AWAITING_PAYMENT, "accepted_for_payment")
        else:
            compliance.track_review("order", order.id, order.buyer_org_id, "submitted", None,
                                    uow=uow.joined())
        if offer.negotiation_id is not None:
            events.publish(uow, ORDER_PLACED, {"order_id": order.id, "offer_id": offer.id,
                                               "negotiation_id": offer.negotiation_id,
                                               "demand_id": offer.demand_id})
        # The offer's row is shared by every buyer of it: taken last, held only to commit.
        listing.reserve_unit(offer.id, uow=uow.joined())
        uow.commit()
        return OrderView(order, contract)


def review_order(order_id: str, approve: bool, reason: str, *, policy: Policy,
                 uow: UnitOfWork) -> OrderView:
    """The operator or an assessor decides an order the rules sent to review: approved, it
    awaits payment; rejected, it is cancelled and its unit given back. An order that needs
    an assessment is approved only once a compliance or security report is attached.

    Raises:
        RoleNotAllowed, OrderNotFound, InvalidTransition, OrderRefused (an assessment
        report is missing), ReviewWindowClosed.
    """
    require(uow.actor, Role.OPERATOR, Role.ASSESSOR)
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        order.check_reviewable(uow.clock.now())
        if approve:
            missing = compliance.missing_assessment(order.id, uow=uow.joined())
            if missing:
                raise OrderRefused([{
                    "code": "assessment_missing", "rule": rule, "decision_id": order.decision_id,
                    "message": "a compliance or security assessment report must be attached "
                               "to the review first"} for rule in missing])
            if order.amount == 0:  # a free order: nothing to pay
                previous = order.pay(uow.clock.now(), delivery_window=policy.delivery_window)
                order.review_by = None
                _moved(uow, order, previous, OrderStatus.PAID, "approved", reason)
            else:
                previous = order.approve(uow.clock.now(),
                                         payment_window=policy.payment_window)
                _moved(uow, order, previous, OrderStatus.AWAITING_PAYMENT, "approved",
                       reason)
            compliance.track_review("order", order.id, order.buyer_org_id, "approved", reason,
                                    uow=uow.joined())
        else:
            _cancel(uow, order, "rejected", reason)
            compliance.track_review("order", order.id, order.buyer_org_id, "rejected", reason,
                                    uow=uow.joined())
        uow.commit()
        return OrderView(order)


def cancel_order(order_id: str, reason: str, *, uow: UnitOfWork) -> OrderView:
    """The buyer (or the seller) cancels an order before it is paid; a limited offer gets
    its unit back.

    Raises:
        OrderNotFound, NotAParty, InvalidTransition (already paid, or terminal).
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        order.require_party(uow.actor)
        in_review = order.status == OrderStatus.CREATED.value
        _cancel(uow, order, "cancelled", reason)
        if in_review:  # withdrawn while waiting for its review: take it off the queue
            compliance.track_review("order", order.id, order.buyer_org_id, "cancelled",
                                    reason, uow=uow.joined())
        uow.commit()
        return OrderView(order)
