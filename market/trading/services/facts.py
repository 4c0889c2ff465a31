"""The facts the compliance rules judge an order by, gathered by trading itself: the listing
on sale (from listing, by value), the rights chain checked now and the resources behind the
product (from rights), both parties' admission (from participants), the merchant's
declaration and the buyer's commitment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from market.compliance import services as compliance
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.participants import services as participants
from market.rights import services as rights


def trade_facts(sale: listing.OnSale, stage: compliance.Stage, *, buyer_org_id: str,
                commitment: Mapping[str, Any] | None, uow: UnitOfWork,
                delivery_modes: Sequence[str] | None = None,
                ) -> tuple[compliance.Facts, rights.ChainCheck]:
    """The facts of ordering or delivering ``sale`` to the buyer, and the chain they were
    judged on (an order's contract freezes it); ``delivery_modes``: those the order may be
    delivered by (ordering) or the one used (delivery), for the delivery matrix."""
    found = rights.product_chain(sale.product_id, derived_from=sale.derived_from,
                                 merchant_org_id=sale.merchant_org_id, at=uow.clock.now(),
                                 uow=uow.joined())
    parties = participants.organisation_facts([sale.merchant_org_id, buyer_org_id],
                                              uow=uow.joined())
    facts = compliance.gather(
        stage, seller=parties[sale.merchant_org_id], buyer=parties.get(buyer_org_id),
        resources=found.resources.values(), scenarios=sale.scenarios, terms=sale.terms,
        broken_link=found.broken, declaration=sale.declaration, commitment=commitment,
        policy=sale.policy)
    facts = compliance.describe_product(
        facts, development_level=sale.development_level,
        storage_location=sale.storage_location, delivery_modes=delivery_modes)
    papers = participants.standing([sale.merchant_org_id, buyer_org_id], uow=uow.joined())
    seller, buyer = papers.get(sale.merchant_org_id), papers.get(buyer_org_id)
    facts = compliance.with_parties(  # 主体资格 in force; related parties (关联方)
        facts, expired={org: p.expired_documents for org, p in papers.items()},
        related=participants.relation_links(seller.identity, buyer.identity)
        if seller is not None and buyer is not None else None)
    public = rights.public_resources(found.resources, uow=uow.joined())
    if public:  # public data: the seller's authorisations and the price, for the rules
        facts = compliance.with_public_data(
            facts, public_resources=public, pricing=sale.pricing(),
            scopes=rights.public_data_scopes(sale.merchant_org_id, at=uow.clock.now(),
                                             uow=uow.joined()))
    return facts, found.chain
