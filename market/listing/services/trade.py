"""What trading asks of listing, in the caller's transaction: the listing as an order sees
it (the version, the offer, the facts the rules judge and the rights chain they were judged
on), and taking or giving back a unit of a limited offer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from market.compliance import services as compliance
from market.kernel.uow import UnitOfWork
from market.listing import repository
from market.listing.domain import ListingStatus
from market.listing.errors import OfferNotFound, ProductNotFound, SoldOut
from market.listing.models import Offer
from market.listing.services.submission import facts_and_chain


@dataclass(frozen=True)
class TradeView:
    """What an order freezes of a listing: the version on sale, the offer, the facts the
    rules judge and the rights chain they were judged on."""

    product_id: str
    version_id: str
    version_number: int
    merchant_org_id: str
    title: str
    sector: str
    type: str
    scenarios: list[str]
    delivery_modes: list[str]
    terms: dict[str, Any]
    declaration_sha256: str | None
    declaration_id: str | None
    offer: Offer | None
    facts: compliance.Facts
    chain: Any


def trade_view(product_id: str, *, stage: compliance.Stage, buyer_org_id: str,
               commitment: Mapping[str, Any] | None, uow: UnitOfWork,
               version_id: str | None = None, offer_id: str | None = None) -> TradeView:
    """The listing as an order sees it, in the caller's transaction: by default the version
    on sale now (ordering); with ``version_id`` the version an order bought (delivery),
    whatever its status. The rules' facts are gathered now, with the buyer and its
    commitment.

    Raises:
        ProductNotFound: no such product, or (without ``version_id``) nothing on sale.
        OfferNotFound: ``offer_id`` is not an offer of that version.
    """
    product = repository.get_product(uow.session, product_id)
    wanted = version_id or (product.listed_version_id if product is not None else None)
    version = repository.get_version(uow.session, wanted)
    if product is None or version is None or version.product_id != product.id or (
        version_id is None and version.status != ListingStatus.LISTED.value
    ):
        raise ProductNotFound()
    offer = None
    if offer_id is not None:
        offer = repository.get_offer(uow.session, offer_id)
        if offer is None or offer.version_id != version.id:
            raise OfferNotFound()
    facts, chain = facts_and_chain(uow, product, version, version.declaration or {},
                                   uow.clock.now(), stage=stage, buyer_org_id=buyer_org_id,
                                   commitment=commitment)
    declaration = compliance.declaration_of("product_version", version.id, uow=uow.joined())
    return TradeView(
        product_id=product.id, version_id=version.id, version_number=version.number,
        merchant_org_id=product.merchant_org_id, title=version.title, sector=version.sector,
        type=version.type, scenarios=list(version.scenarios),
        delivery_modes=list(version.delivery_modes), terms=dict(version.terms),
        declaration_sha256=version.declaration_sha256,
        declaration_id=declaration.id if declaration is not None else None, offer=offer,
        facts=facts, chain=chain)


def reserve_unit(offer_id: str, *, uow: UnitOfWork) -> None:
    """Take one unit of a limited offer for an order, in the caller's transaction; one
    conditional UPDATE, so concurrent buyers never oversell.

    Raises:
        SoldOut: every unit is taken.
    """
    if not repository.take_unit(uow.session, offer_id):
        raise SoldOut()


def release_unit(offer_id: str, *, uow: UnitOfWork) -> None:
    """Give back the unit an order took (the order ended unpaid or was refunded)."""
    repository.give_back_unit(uow.session, offer_id)
