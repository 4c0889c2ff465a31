"""Listing queries: products and versions as the acting principal may see them, the offers
of a version, the rows a use case locks before changing them, and the one-statement unit
counts of limited offers. Never commits."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from market.kernel.actor import Actor, Role
from market.kernel.pagination import Page, keyset_page
from market.listing.domain import SUPERSEDABLE, ListingStatus
from market.listing.models import ListingEvent, Offer, Product, ProductVersion

# Duties that need every product: the venue and assessors review, regulators inspect.
SEE_ALL = (Role.OPERATOR, Role.ASSESSOR, Role.REGULATOR)


def sees_all(actor: Actor) -> bool:
    return actor.is_system or actor.has_role(*SEE_ALL)


# -- products -------------------------------------------------------------------------------


def get_product(session: Session, product_id: str) -> Product | None:
    return session.get(Product, product_id)


def visible_product(session: Session, actor: Actor, product_id: str) -> Product | None:
    """The product if the actor may see it in full: its own, or any by duty."""
    product = session.get(Product, product_id)
    if product is None or not (sees_all(actor) or product.merchant_org_id == actor.org_id):
        return None
    return product


def product_for_update(session: Session, product_id: str) -> Product | None:
    """The product, its row locked until the transaction ends."""
    stmt = select(Product).where(Product.id == product_id).with_for_update()
    return session.scalars(stmt).one_or_none()


def products_page(session: Session, actor: Actor, *, status: str | None, after: str | None,
                  limit: int) -> Page[Product]:
    """Products the actor may see in full, optionally only those whose latest version has
    ``status``."""
    stmt = select(Product)
    if not sees_all(actor):
        stmt = stmt.where(Product.merchant_org_id == (actor.org_id or ""))
    if status:
        stmt = stmt.join(ProductVersion, ProductVersion.id == Product.latest_version_id)
        stmt = stmt.where(ProductVersion.status == status)
    return keyset_page(session, stmt, Product.id, after=after, limit=limit)


# -- versions -------------------------------------------------------------------------------


def get_version(session: Session, version_id: str | None) -> ProductVersion | None:
    return session.get(ProductVersion, version_id) if version_id else None


def classifications(session: Session, version_ids: list[str]) -> dict[str, str]:
    """The classification each of these versions was declared with (undeclared: left out)."""
    found: dict[str, str] = {}
    for start in range(0, len(version_ids), 500):
        for version_id, classification in session.execute(
                select(ProductVersion.id, ProductVersion.classification)
                .where(ProductVersion.id.in_(version_ids[start:start + 500]),
                       ProductVersion.classification.is_not(None))):
            found[version_id] = str(classification)
    return found


def latest_version(session: Session, product: Product) -> ProductVersion:
    """The product's newest version (every product has one from its creation)."""
    version = session.get(ProductVersion, product.latest_version_id)
    assert version is not None
    return version


def pending_review_for_update(session: Session, product_id: str) -> list[ProductVersion]:
    """The product's versions waiting for or in review, newest first, locked."""
    return list(session.scalars(
        select(ProductVersion)
        .where(ProductVersion.product_id == product_id,
               ProductVersion.status.in_([ListingStatus.SUBMITTED.value,
                                          ListingStatus.UNDER_REVIEW.value]))
        .order_by(ProductVersion.number.desc())
        .with_for_update()))


def supersedable(session: Session, product_id: str, listed: ProductVersion,
                 ) -> list[ProductVersion]:
    """Every other version of the product that was on sale and is not closed yet (on sale,
    suspended, or returned after a review), oldest first."""
    return list(session.scalars(
        select(ProductVersion)
        .where(ProductVersion.product_id == product_id,
               ProductVersion.id != listed.id,
               ProductVersion.listed_at.is_not(None),
               ProductVersion.status.in_([s.value for s in SUPERSEDABLE]))
        .order_by(ProductVersion.number)))


def versions_for_update(session: Session, product_ids: Iterable[str], status: ListingStatus,
                        *, suspended_by_rights: bool = False) -> list[ProductVersion]:
    """The versions of these products in ``status`` (only those suspended for their rights,
    if asked), locked."""
    stmt = select(ProductVersion).where(ProductVersion.product_id.in_(sorted(product_ids)),
                                        ProductVersion.status == status.value)
    if suspended_by_rights:
        stmt = stmt.where(ProductVersion.suspended_by_rights.is_(True))
    return list(session.scalars(stmt.with_for_update()))


def history_page(session: Session, product_id: str, *, after: str | None,
                 limit: int) -> Page[ListingEvent]:
    """Every change of every version of a product, oldest first."""
    stmt = (select(ListingEvent).join(ProductVersion,
                                      ProductVersion.id == ListingEvent.version_id)
            .where(ProductVersion.product_id == product_id))
    return keyset_page(session, stmt, ListingEvent.id, after=after, limit=limit)


# -- offers ---------------------------------------------------------------------------------


def offers_of(session: Session, version_id: str) -> list[Offer]:
    """The version's public offers (private offers are shown only to their buyer)."""
    stmt = (select(Offer).where(Offer.version_id == version_id, Offer.buyer_org_id.is_(None))
            .order_by(Offer.id))
    return list(session.scalars(stmt))


def private_offers_of(session: Session, org_id: str, *, version_id: str | None = None,
                      ) -> list[Offer]:
    """The private offers made to ``org_id`` (of one version, if given)."""
    stmt = select(Offer).where(Offer.buyer_org_id == org_id)
    if version_id is not None:
        stmt = stmt.where(Offer.version_id == version_id)
    return list(session.scalars(stmt.order_by(Offer.id)))


def get_offer(session: Session, offer_id: str) -> Offer | None:
    return session.get(Offer, offer_id)


def take_unit(session: Session, offer_id: str) -> bool:
    """Count one more unit sold unless the offer's quantity is exhausted; one conditional
    UPDATE, so concurrent buyers never oversell. False if nothing was left."""
    taken = session.execute(
        update(Offer).where(Offer.id == offer_id,
                            or_(Offer.quantity.is_(None), Offer.sold < Offer.quantity))
        .values(sold=Offer.sold + 1).returning(Offer.id)
        .execution_options(synchronize_session=False)).scalar_one_or_none()
    return taken is not None


def give_back_unit(session: Session, offer_id: str) -> None:
    session.execute(
        update(Offer).where(Offer.id == offer_id, Offer.sold > 0)
        .values(sold=Offer.sold - 1).execution_options(synchronize_session=False))
