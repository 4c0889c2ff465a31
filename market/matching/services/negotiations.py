"""Negotiation (询价 / 议价): a buyer asks a merchant for a quote on a listing, a merchant
answers a demand with an offer, or a broker proposes a match both parties accept; then the
two sides counter on price, quantity, term, delivery mode and use until one agrees to the
other's terms. The agreed terms pass the compliance gate and become a private offer on the
listing's version that only the buyer sees and orders, through the order flow unchanged.

Only the two parties and the broker see a negotiation. Every move keeps its history with
the terms it put on the table, and is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from market.compliance import services as compliance
from market.kernel.actor import Role, require, system_actor
from market.kernel.errors import InvalidInput
from market.kernel.ids import new_id
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.listing.errors import ProductNotFound
from market.matching import repository
from market.matching.domain import LIVE_DEMANDS, OPEN_NEGOTIATIONS, Channel, NegotiationStatus
from market.matching.errors import (
    AgreementRefused,
    DemandClosed,
    NegotiationExpired,
    NotABroker,
    NotYourTurn,
)
from market.matching.models import Negotiation, NegotiationEvent
from market.matching.services import demands as demand_services
from market.matching.services._common import MatchPolicy, move_negotiation, negotiation_moved
from market.matching.services.engine import party_facts
from market.rights import services as rights

N = NegotiationStatus
PRICED = ("one_time", "subscription")


@dataclass(frozen=True)
class NegotiationView:
    negotiation: Negotiation
    private_offer: listing.OfferTerms | None = None  # what the agreement became


def _terms(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**base, **{k: v for k, v in changes.items() if v is not None or k == "period"}}
    merged.setdefault("currency", "CNY")
    merged.setdefault("kind", "one_time")
    merged.setdefault("quantity", 1)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in merged.items()}


def _use(terms: Mapping[str, Any]) -> dict[str, Any]:
    return {"purposes": list(terms.get("purposes") or []),
            "scenarios": list(terms.get("scenarios") or []),
            "cross_border": bool(terms.get("cross_border"))}


def _screened(sale: listing.OnSale, terms: Mapping[str, Any]) -> None:
    """Refuse terms the listing's published policy or the rules forbid, before anyone
    agrees to them (the gate judges them again at agreement, on the record).

    Raises:
        AgreementRefused, InvalidInput (a delivery mode the listing does not offer).
    """
    modes = set(terms.get("delivery_modes") or [])
    outside = sorted(modes - set(sale.delivery_modes))
    if outside:
        raise InvalidInput("delivery modes the listing does not offer",
                           errors={"delivery_modes": ["not offered: " + ", ".join(outside)]})
    facts = compliance.ProductFacts.of(sale.product_facts or {"scenarios": sale.scenarios})
    seller = compliance.PartyFacts(sale.merchant_org_id, "admitted", frozenset())
    _, verdicts = compliance.screen(facts, seller=seller, declaration=sale.declaration,
                                    use=_use(terms), policy=sale.policy)
    blocking = [{"code": "compliance_rule", "rule": v.rule, "message": v.reason}
                for v in verdicts if v.outcome is compliance.Outcome.BLOCK]
    if blocking:
        raise AgreementRefused(blocking)


def _opened(uow: UnitOfWork, negotiation: Negotiation, action: str) -> NegotiationView:
    uow.session.add(negotiation)
    uow.session.flush()
    negotiation_moved(uow, negotiation, None, action, terms=dict(negotiation.terms))
    uow.commit()
    return NegotiationView(negotiation)


def request_quote(product_id: str, terms: Mapping[str, Any], *, policy: MatchPolicy,
                  uow: UnitOfWork, offer_id: str | None = None,
                  note: str | None = None) -> NegotiationView:
    """A buyer asks the merchant of a listed product for a quote (any offer kind, 面议
    included), naming the use and whatever terms it has in mind.

    Raises:
        RoleNotAllowed, ProductNotFound, OfferNotFound, AgreementRefused, InvalidInput.
    """
    require(uow.actor, Role.BUYER)
    actor = uow.actor
    assert actor.org_id is not None
    with uow:
        sale = listing.on_sale(product_id, offer_id=offer_id, buyer_org_id=actor.org_id,
                               uow=uow.joined())
        wanted = _terms({}, terms)
        _screened(sale, wanted)
        now = uow.clock.now()
        negotiation = Negotiation(
            id=new_id("neg"), product_id=sale.product_id, offer_id=offer_id, demand_id=None,
            buyer_org_id=actor.org_id, merchant_org_id=sale.merchant_org_id,
            channel=Channel.NEGOTIATION.value, status=N.REQUESTED.value, status_reason=note,
            terms=wanted, proposed_by="buyer", round=0,
            expires_at=now + policy.negotiation_window, created_at=now, updated_at=now)
        return _opened(uow, negotiation, "requested")


def _live_demand(uow: UnitOfWork, demand_id: str) -> Any:
    demand = repository.get_demand(uow.session, uow.actor, demand_id)
    if demand.status not in {s.value for s in LIVE_DEMANDS} or (
            demand.deadline <= uow.clock.now()):
        raise DemandClosed()
    return demand


def answer_demand(demand_id: str, product_id: str, terms: Mapping[str, Any], *,
                  policy: MatchPolicy, uow: UnitOfWork) -> NegotiationView:
    """A merchant answers a demand it may see with an offer on one of its listed products:
    the negotiation starts at ``offered``, the demand's use on the table.

    Raises:
        RoleNotAllowed, DemandNotFound, DemandClosed, ProductNotFound, AgreementRefused,
        InvalidInput.
    """
    require(uow.actor, Role.MERCHANT)
    actor = uow.actor
    with uow:
        demand = _live_demand(uow, demand_id)
        sale = listing.on_sale(product_id, uow=uow.joined())
        if sale.merchant_org_id != actor.org_id:
            raise ProductNotFound()
        offered = _terms({**demand.want().use(), "currency": demand.currency,
                          "delivery_modes": [m for m in sale.delivery_modes
                                             if not demand.delivery_modes
                                             or m in demand.delivery_modes][:1]}, terms)
        _priced(offered)
        _screened(sale, offered)
        now = uow.clock.now()
        negotiation = Negotiation(
            id=new_id("neg"), product_id=sale.product_id, offer_id=None, demand_id=demand.id,
            buyer_org_id=demand.buyer_org_id, merchant_org_id=sale.merchant_org_id,
            broker_org_id=None, channel=Channel.MATCH.value, status=N.OFFERED.value,
            terms=offered, proposed_by="merchant", round=1,
            expires_at=now + policy.negotiation_window, created_at=now, updated_at=now)
        return _opened(uow, negotiation, "offered")


def propose_match(demand_id: str, product_id: str, commission_bps: int, *,
                  policy: MatchPolicy, uow: UnitOfWork, note: str | None = None,
                  ) -> NegotiationView:
    """An admitted broker proposes a listing for a demand, with its commission in basis
    points of the seller's net share; the negotiation starts once both parties accept.

    Raises:
        NotABroker, DemandNotFound, DemandClosed, ProductNotFound, AgreementRefused,
        InvalidInput.
    """
    actor = uow.actor
    if not actor.has_role(Role.BROKER):
        raise NotABroker()
    with uow:
        demand = _live_demand(uow, demand_id)
        sale = listing.on_sale(product_id, uow=uow.joined())
        if not demand.open_to(sale.merchant_org_id):
            raise ProductNotFound()
        if actor.org_id in (demand.buyer_org_id, sale.merchant_org_id):
            raise InvalidInput("a broker does not broker its own trade",
                               errors={"demand_id": ["the broker is a party"]})
        wanted = _terms({**demand.want().use(), "currency": demand.currency}, {})
        _screened(sale, wanted)
        now = uow.clock.now()
        negotiation = Negotiation(
            id=new_id("neg"), product_id=sale.product_id, offer_id=None, demand_id=demand.id,
            buyer_org_id=demand.buyer_org_id, merchant_org_id=sale.merchant_org_id,
            broker_org_id=actor.org_id, commission_bps=commission_bps,
            channel=Channel.BROKER.value, status=N.PROPOSED.value, status_reason=note,
            terms=wanted, proposed_by=None, round=0,
            expires_at=now + policy.negotiation_window, created_at=now, updated_at=now)
        return _opened(uow, negotiation, "proposed")


def _locked(uow: UnitOfWork, negotiation_id: str) -> tuple[Negotiation, str]:
    negotiation = repository.get_negotiation(uow.session, uow.actor, negotiation_id,
                                             for_update=True)
    side = negotiation.side_of(uow.actor)
    if negotiation.status in {s.value for s in OPEN_NEGOTIATIONS} and (
            uow.clock.now() >= negotiation.expires_at):
        raise NegotiationExpired()
    return negotiation, side


def accept_proposal(negotiation_id: str, *, policy: MatchPolicy,
                    uow: UnitOfWork) -> NegotiationView:
    """The buyer or the merchant accepts a broker's proposal; once both have, the buyer's
    request is on the table for the merchant to answer.

    Raises:
        NegotiationNotFound, NotYourTurn (the broker), NegotiationExpired, InvalidTransition.
    """
    with uow:
        negotiation, side = _locked(uow, negotiation_id)
        negotiation.LIFECYCLE.check(negotiation.status, N.REQUESTED)
        if side == "broker":
            raise NotYourTurn()
        if side == "buyer":
            negotiation.buyer_accepted = True
        else:
            negotiation.merchant_accepted = True
        now = uow.clock.now()
        negotiation.updated_at = now
        if negotiation.buyer_accepted and negotiation.merchant_accepted:
            negotiation.proposed_by = "buyer"
            negotiation.expires_at = now + policy.negotiation_window
            move_negotiation(uow, negotiation, N.REQUESTED, "requested",
                             "both parties accepted the broker's proposal",
                             terms=dict(negotiation.terms))
        else:
            negotiation_moved(uow, negotiation, negotiation.status, f"accepted_by_{side}")
        uow.commit()
        return NegotiationView(negotiation)


def _priced(terms: Mapping[str, Any]) -> None:
    problems: dict[str, list[str]] = {}
    amount = terms.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        problems["amount"] = ["an offer names a positive price in minor units"]
    if terms.get("kind") not in PRICED:
        problems["kind"] = ["one of " + ", ".join(PRICED)]
    elif (terms.get("kind") == "subscription") != bool(terms.get("period")):
        problems["period"] = ["subscriptions, and only they, have a period"]
    if problems:
        raise InvalidInput("the terms are not an offer", errors=problems)


def make_offer(negotiation_id: str, terms: Mapping[str, Any], *, policy: MatchPolicy,
               uow: UnitOfWork) -> NegotiationView:
    """The merchant answers a quote request with its terms (requested → offered).

    Raises:
        NegotiationNotFound, NotYourTurn, NegotiationExpired, InvalidTransition,
        AgreementRefused, InvalidInput.
    """
    return _propose(negotiation_id, terms, N.OFFERED, "offered", policy=policy, uow=uow,
                    sides=("merchant",))


def counter(negotiation_id: str, terms: Mapping[str, Any], *, policy: MatchPolicy,
            uow: UnitOfWork) -> NegotiationView:
    """One side answers the other's terms with its own (offered / countered → countered).

    Raises:
        NegotiationNotFound, NotYourTurn, NegotiationExpired, InvalidTransition,
        AgreementRefused, InvalidInput.
    """
    return _propose(negotiation_id, terms, N.COUNTERED, "countered", policy=policy, uow=uow,
                    sides=("buyer", "merchant"))


def _propose(negotiation_id: str, terms: Mapping[str, Any], target: NegotiationStatus,
             action: str, *, policy: MatchPolicy, uow: UnitOfWork,
             sides: tuple[str, ...]) -> NegotiationView:
    with uow:
        negotiation, side = _locked(uow, negotiation_id)
        negotiation.LIFECYCLE.check(negotiation.status, target)
        if side not in sides:
            raise NotYourTurn()
        negotiation.check_answering(side)
        proposed = _terms(negotiation.terms, terms)
        _priced(proposed)
        sale = listing.on_sale(negotiation.product_id, uow=uow.joined())
        _screened(sale, proposed)
        now = uow.clock.now()
        negotiation.terms = proposed
        negotiation.proposed_by = side
        negotiation.round += 1
        negotiation.expires_at = now + policy.negotiation_window
        move_negotiation(uow, negotiation, target, action, terms=dict(proposed))
        uow.commit()
        return NegotiationView(negotiation)


def agree(negotiation_id: str, *, policy: MatchPolicy, uow: UnitOfWork) -> NegotiationView:
    """The side answering accepts the terms on the table. The agreed terms pass the
    compliance gate (the parties, the data and the use against the listing's published
    policy) and become a private offer on the version on sale, for the buyer alone, until
    it expires; a broker's commission is checked against the merchant's share.

    Raises:
        NegotiationNotFound, NotYourTurn, NegotiationExpired, InvalidTransition,
        AgreementRefused (with the decision on record), InvalidInput.
    """
    with uow:
        negotiation, side = _locked(uow, negotiation_id)
        negotiation.LIFECYCLE.check(negotiation.status, N.AGREED)
        negotiation.check_answering(side)
        terms = dict(negotiation.terms)
        sale = listing.on_sale(negotiation.product_id, uow=uow.joined())
        parties = party_facts([negotiation.buyer_org_id, negotiation.merchant_org_id],
                              uow=uow)
        facts = compliance.use_facts(
            compliance.ProductFacts.of(sale.product_facts or {"scenarios": sale.scenarios}),
            seller=parties[negotiation.merchant_org_id],
            buyer=parties.get(negotiation.buyer_org_id), declaration=sale.declaration,
            use=_use(terms), policy=sale.policy)
        if facts.product.public_resources:  # public data: the agreed price against the
            facts = _public_data(facts, sale, terms, uow=uow)  # published one (非歧视)
        passage = compliance.gate(facts, ("negotiation", negotiation.id),
                                  refusal=AgreementRefused, uow=uow)
        if negotiation.broker_org_id and negotiation.commission_bps:
            # The split is the merchant's to read; either party may agree to it.
            rule, _ = listing.distribution_rule(negotiation.product_id, policy=policy.split,
                                                uow=uow.joined(system_actor("matching")))
            rule.with_commission(negotiation.broker_org_id, negotiation.commission_bps,
                                 merchant_org_id=negotiation.merchant_org_id)
        now = uow.clock.now()
        offer = listing.make_private_offer(negotiation.product_id, listing.PrivateOffer(
            buyer_org_id=negotiation.buyer_org_id, kind=listing.OfferKind(terms["kind"]),
            amount=int(terms["amount"]), currency=str(terms["currency"]),
            period=terms.get("period"), expires_at=now + policy.private_offer_ttl,
            terms=_agreed_usage(sale.terms, terms),
            delivery_modes=tuple(terms.get("delivery_modes") or sale.delivery_modes),
            negotiation_id=negotiation.id, demand_id=negotiation.demand_id,
            channel=negotiation.channel, broker_org_id=negotiation.broker_org_id,
            commission_bps=negotiation.commission_bps), uow=uow.joined())
        negotiation.private_offer_id = offer.id
        negotiation.decision_id = passage.decision_id
        negotiation.expires_at = now + policy.private_offer_ttl
        move_negotiation(uow, negotiation, N.AGREED, "agreed", terms=terms)
        uow.commit()
        return NegotiationView(negotiation, offer)


def _public_data(facts: compliance.Facts, sale: listing.OnSale, terms: Mapping[str, Any],
                 *, uow: UnitOfWork) -> compliance.Facts:
    """The facts of an agreement on public data: the seller's authorisations now, and the
    agreed price and terms beside the published offers and terms."""
    agreed = {"kind": terms.get("kind"), "amount": terms.get("amount"),
              "currency": terms.get("currency"), "period": terms.get("period"),
              "unit": None, "cap_amount": None, "buyer_class": None, "private": True,
              "terms": _agreed_usage(sale.terms, terms)}
    return compliance.with_public_data(
        facts, public_resources=facts.product.public_resources,
        scopes=rights.public_data_scopes(sale.merchant_org_id, at=uow.clock.now(),
                                         uow=uow.joined()),
        pricing={**sale.pricing(), "offer": agreed})


def _agreed_usage(listed: Mapping[str, Any], terms: Mapping[str, Any]) -> dict[str, Any]:
    """The listing's usage terms narrowed to what was agreed: the agreed purposes and
    scenarios, domestic use unless use abroad was agreed, the agreed term and seats."""
    usage = dict(listed)
    if terms.get("purposes"):
        usage["purposes"] = list(terms["purposes"])
    if terms.get("scenarios"):
        usage["scenarios"] = list(terms["scenarios"])
    if not terms.get("cross_border"):
        usage["territory"] = "domestic"
    if terms.get("term_days"):
        usage["duration_days"] = int(terms["term_days"])
    if terms.get("quantity") and int(terms["quantity"]) > 1:
        usage["max_users"] = int(terms["quantity"])
    return usage


def decline(negotiation_id: str, reason: str, *, uow: UnitOfWork) -> NegotiationView:
    """The buyer or the merchant declines the negotiation while it is open.

    Raises:
        NegotiationNotFound, NotYourTurn (the broker), InvalidTransition.
    """
    return _end(negotiation_id, N.DECLINED, "declined", reason, uow=uow,
                sides=("buyer", "merchant"))


def withdraw(negotiation_id: str, reason: str, *, uow: UnitOfWork) -> NegotiationView:
    """A party (or the broker, of its proposal) withdraws while the negotiation is open.

    Raises:
        NegotiationNotFound, NotYourTurn, InvalidTransition.
    """
    return _end(negotiation_id, N.WITHDRAWN, "withdrawn", reason, uow=uow,
                sides=("buyer", "merchant", "broker"))


def _end(negotiation_id: str, target: NegotiationStatus, action: str, reason: str, *,
         uow: UnitOfWork, sides: tuple[str, ...]) -> NegotiationView:
    with uow:
        negotiation = repository.get_negotiation(uow.session, uow.actor, negotiation_id,
                                                 for_update=True)
        side = negotiation.side_of(uow.actor)
        if side not in sides or (side == "broker"
                                 and negotiation.status != N.PROPOSED.value):
            raise NotYourTurn()
        move_negotiation(uow, negotiation, target, action, reason)
        uow.commit()
        return NegotiationView(negotiation)


def get_negotiation(negotiation_id: str, *, uow: UnitOfWork) -> NegotiationView:
    """A negotiation the caller is a party to (or brokers; staff see all).

    Raises:
        NegotiationNotFound.
    """
    with uow:
        negotiation = repository.get_negotiation(uow.session, uow.actor, negotiation_id)
        offer = (listing.private_offer(negotiation.private_offer_id, uow=uow.joined())
                 if negotiation.private_offer_id else None)
        return NegotiationView(negotiation, offer)


def list_negotiations(*, uow: UnitOfWork, status: str | None = None,
                      demand: str | None = None, product: str | None = None,
                      after: str | None = None, limit: int = 50) -> Page[Negotiation]:
    """The negotiations the caller is a party to or brokers (staff: all)."""
    with uow:
        return repository.negotiations(uow.session, uow.actor, status=status, demand=demand,
                                       product=product, after=after, limit=limit)


def negotiation_history(negotiation_id: str, *, uow: UnitOfWork) -> list[NegotiationEvent]:
    """Every move of a negotiation with the terms it put on the table.

    Raises:
        NegotiationNotFound.
    """
    with uow:
        repository.get_negotiation(uow.session, uow.actor, negotiation_id)
        return repository.negotiation_history(uow.session, negotiation_id)


def on_order_placed(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """An order took a negotiated private offer (in the placing transaction): the
    negotiation is ordered and the demand it answered converted."""
    negotiation = repository.negotiation_of_offer(uow.session, str(payload["offer_id"]))
    if negotiation is None or negotiation.status != N.AGREED.value:
        return
    negotiation.order_id = str(payload["order_id"])
    move_negotiation(uow, negotiation, N.ORDERED, "ordered", f"order {payload['order_id']}")
    if negotiation.demand_id is not None:
        demand_services.convert_demand(negotiation.demand_id, negotiation.order_id, uow=uow)


def expire_negotiation(negotiation_id: str, *, uow: UnitOfWork) -> bool:
    """The worker expires an open negotiation nobody answered in time, or an agreement not
    ordered before its private offer expired; False if no longer due."""
    with uow:
        negotiation = uow.session.get(Negotiation, negotiation_id, with_for_update=True)
        live = {s.value for s in OPEN_NEGOTIATIONS} | {N.AGREED.value}
        if negotiation is None or negotiation.status not in live or (
                negotiation.expires_at > uow.clock.now()):
            return False
        move_negotiation(uow, negotiation, N.EXPIRED, "expired", "no answer in time"
                         if negotiation.status != N.AGREED.value else "not ordered in time")
        uow.commit()
        return True
