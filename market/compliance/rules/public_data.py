"""Public-data authorised operation (公共数据授权运营): who may offer public data, and on
what terms.

Public data (resources registered with origin ``public_authorised``) is operated only by an
organisation the exchange authorised, within the categories or resources and the scenarios
of an in-term authorisation (授权范围、授权场景). It is priced by purpose: free for public
governance and public-interest use (公共治理、公益事业 有条件无偿使用), at no more than a
declared cost-recovery basis for industrial and commercial use (产业发展 有条件有偿使用);
and without discrimination (非歧视): one price and one set of terms per buyer class.

The callers pass what these rules judge by value (:func:`with_public_data`): the public
resources behind the product, the seller's authorisation scopes (None: not gathered, the
rules pass) and what is priced (the offer taken or agreed, the version's public offers, its
cost basis and usage terms).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from market.compliance.domain import (
    BLOCK,
    MATCH_RULES,
    PASS,
    Facts,
    Outcome,
    Stage,
    rule,
)

PUBLIC_INTEREST = "public_interest"  # public governance and public-interest use
COMMERCIAL = "commercial"  # industrial and commercial use
BUYER_CLASSES = (PUBLIC_INTEREST, COMMERCIAL)

# The purposes a public-interest buyer may declare (公共治理、公益事业; seeds 002:36338:
# 政府决策、公共安全、国防建设、环境保护、防灾减灾、公益性科学研究).
PUBLIC_INTEREST_PURPOSES = frozenset({
    "public_governance", "public_welfare", "government_decision", "public_safety",
    "national_defence", "environmental_protection", "disaster_prevention",
    "public_research",
})

# What makes two offers the same price, and the conditions of use every buyer of one class
# gets alike (the buyer's own purposes, scenarios and place of use are its declared use).
PRICE_FIELDS = ("kind", "amount", "currency", "period", "unit", "cap_amount")
CONDITIONS = ("duration_days", "onward_transfer", "resale", "max_users", "attribution")

Result = tuple[Outcome, str] | tuple[Outcome, str, Mapping[str, Any]]


def with_public_data(facts: Facts, *, public_resources: Iterable[tuple[str, str]],
                     scopes: Iterable[Mapping[str, Any]] | None,
                     pricing: Mapping[str, Any] | None) -> Facts:
    """``facts`` with what the public-data rules judge: the (resource id, category) of each
    public resource behind the product, the seller's in-term authorisation scopes and what
    is priced."""
    return replace(
        facts, product=replace(facts.product, public_resources=tuple(public_resources)),
        seller=replace(facts.seller, public_data_scopes=None if scopes is None
                       else tuple(dict(s) for s in scopes)),
        pricing=dict(pricing) if pricing is not None else None)


def covers(scope: Mapping[str, Any], resource_id: str, category: str) -> bool:
    """Whether an authorisation's scope names the resource or its category."""
    return (resource_id in (scope.get("resource_ids") or ())
            or (bool(category) and category in (scope.get("categories") or ())))


def _price(offer: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(offer.get(name) for name in PRICE_FIELDS)


def _class_of(offer: Mapping[str, Any]) -> str:
    """A negotiated offer's buyer class: as it names, else commercial when it is priced."""
    named = offer.get("buyer_class")
    if named in BUYER_CLASSES:
        return str(named)
    return COMMERCIAL if offer.get("amount") else PUBLIC_INTEREST


@rule
def public_data_needs_authorised_operator(facts: Facts) -> Result:
    """Public data is listed and sold only by an operator the exchange authorised, within
    the resources or categories and the scenarios of an in-term authorisation (授权运营).
    What was sold under an authorisation is still delivered after it ends."""
    public = facts.product.public_resources
    scopes = facts.seller.public_data_scopes
    if not public:
        return PASS, "no public data"
    if facts.stage is Stage.DELIVERY:
        return PASS, "judged when listed, sold and agreed"
    if scopes is None:
        return PASS, "judged where the seller's authorisations are gathered"
    uncovered = sorted(rid for rid, category in public
                       if not any(covers(s, rid, category) for s in scopes))
    if uncovered:
        return BLOCK, ("the seller holds no in-term public-data authorisation covering "
                       + ", ".join(uncovered)), {"resources": uncovered}
    allowed = {scenario for s in scopes
               if any(covers(s, rid, category) for rid, category in public)
               for scenario in s.get("scenarios") or ()}
    outside = sorted(set(facts.product.scenarios) - allowed)
    if outside:
        return BLOCK, ("scenarios outside the seller's public-data authorisation: "
                       + ", ".join(outside)), {"scenarios": outside}
    return PASS, "an in-term authorisation covers the public data and its scenarios"


@rule
def public_data_priced_by_purpose(facts: Facts) -> Result:
    """Public data is free for public governance and public-interest use and priced at no
    more than its declared cost-recovery basis for commercial use (有条件无偿/有偿使用)."""
    if (not facts.product.public_resources or facts.pricing is None
            or facts.stage is not Stage.LISTING):
        return PASS, "judged at listing, for public data"
    offers = list(facts.pricing.get("offers") or ())
    unclassed = [str(o.get("name") or o.get("id")) for o in offers
                 if o.get("buyer_class") not in BUYER_CLASSES]
    if unclassed:
        return BLOCK, ("every offer of public data names its buyer class (public_interest "
                       "or commercial): " + ", ".join(unclassed))
    charged = [str(o.get("name") or o.get("id")) for o in offers
               if o.get("buyer_class") == PUBLIC_INTEREST
               and (o.get("kind") != "free" or o.get("amount"))]
    if charged:
        return BLOCK, "public-interest offers of public data are free: " + ", ".join(charged)
    commercial = [o for o in offers if o.get("buyer_class") == COMMERCIAL]
    if not commercial:
        return PASS, "public data offered for public-interest use only, free"
    basis = facts.pricing.get("cost_basis")
    if not basis:
        return BLOCK, "commercial offers of public data need a declared cost-recovery basis"
    cap, currency = int(basis.get("amount") or 0), basis.get("currency")
    over = [str(o.get("name") or o.get("id")) for o in commercial
            if o.get("currency") != currency or int(o.get("amount") or 0) > cap]
    if over:
        return BLOCK, (f"commercial offers above the cost-recovery basis of {cap} "
                       f"{currency}: " + ", ".join(over)), {"cap": cap, "currency": currency,
                                                             "offers": over}
    return PASS, "commercial offers within the cost-recovery basis"


@rule
def public_data_one_price_per_buyer_class(facts: Facts) -> Result:
    """Public data is sold without discrimination (非歧视): one price and one set of terms
    per buyer class, so a negotiated offer is the published offer of its class."""
    if not facts.product.public_resources or facts.pricing is None:
        return PASS, "judged for public data"
    offers = list(facts.pricing.get("offers") or ())
    prices: dict[str, set[tuple[Any, ...]]] = {}
    for offer in offers:
        if offer.get("buyer_class") in BUYER_CLASSES:
            prices.setdefault(str(offer["buyer_class"]), set()).add(_price(offer))
    differing = sorted(c for c, found in prices.items() if len(found) > 1)
    if differing:
        return BLOCK, ("offers of one buyer class at different prices: "
                       + ", ".join(differing)), {"buyer_classes": differing}
    taken = facts.pricing.get("offer")
    if taken is None or not taken.get("private"):
        return PASS, "one price per buyer class"
    wanted = _class_of(taken)
    published = [o for o in offers if o.get("buyer_class") == wanted]
    if not published:
        return BLOCK, f"no published {wanted} offer a negotiated price could match"
    if _price(taken) != _price(published[0]):
        return BLOCK, (f"the negotiated price differs from the published {wanted} offer"), {
            "published": dict(zip(PRICE_FIELDS, _price(published[0]), strict=True)),
            "negotiated": dict(zip(PRICE_FIELDS, _price(taken), strict=True))}
    terms, agreed = facts.pricing.get("terms") or {}, taken.get("terms") or {}
    changed = sorted(name for name in CONDITIONS
                     if agreed and terms and agreed.get(name) != terms.get(name))
    if changed:
        return BLOCK, ("the negotiated terms differ from the published ones: "
                       + ", ".join(changed)), {"conditions": changed}
    return PASS, "the negotiated offer is the published offer of its buyer class"


@rule
def public_interest_use_must_be_declared(facts: Facts) -> Result:
    """A buyer taking public data free for public-interest use declares that purpose class
    in its commitment, and only public-interest purposes."""
    if (not facts.product.public_resources or facts.pricing is None
            or facts.commitment is None):
        return PASS, "judged when public data is ordered"
    taken = facts.pricing.get("offer")
    if taken is None or _class_of(taken) != PUBLIC_INTEREST:
        return PASS, "not a public-interest offer"
    if facts.commitment.get("purpose_class") != PUBLIC_INTEREST:
        return BLOCK, "a public-interest offer needs purpose_class public_interest declared"
    outside = sorted(set(facts.commitment.get("purposes") or ()) - PUBLIC_INTEREST_PURPOSES)
    if outside:
        return BLOCK, ("purposes that are not public-interest ones: " + ", ".join(outside)), {
            "purposes": outside, "allowed": sorted(PUBLIC_INTEREST_PURPOSES)}
    return PASS, "public-interest use declared"


# An agreement in a negotiation is judged by these too (the parties' authorisation, the
# price against the published one, the declared purpose).
MATCH_RULES.extend([public_data_needs_authorised_operator,
                    public_data_one_price_per_buyer_class,
                    public_interest_use_must_be_declared])
