"""The facts the compliance rules judge an order by, gathered by trading itself: the listing
on sale (from listing, by value), the rights chain checked now and the resources behind the
product (from rights), both parties' admission (from participants), the merchant's
declaration and the buyer's commitment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from market.compliance import services as compliance
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.participants import services as participants
from market.rights import services as rights


def trade_facts(sale: listing.OnSale, stage: compliance.Stage, *, buyer_org_id: str,
                commitment: Mapping[str, Any] | None, uow: UnitOfWork,
                ) -> tuple[compliance.Facts, rights.ChainCheck]:
    """The facts of ordering or delivering ``sale`` to the buyer, and the chain they were
    judged on (an order's contract freezes it)."""
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
    return facts, found.chain
