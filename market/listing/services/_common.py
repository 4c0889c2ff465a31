"""What the listing use cases share: the view they return, a version's moves with their
history row, audit entry and review tracking, and finding the caller's own product."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from market.compliance import services as compliance
from market.kernel.statemachine import record_move
from market.kernel.uow import UnitOfWork
from market.listing import repository
from market.listing.domain import ListingStatus
from market.listing.errors import ProductNotFound
from market.listing.models import ListingEvent, Offer, Product, ProductVersion

REVIEW_STAGES = frozenset({ListingStatus.SUBMITTED, ListingStatus.UNDER_REVIEW})


@dataclass(frozen=True)
class ProductView:
    product: Product
    version: ProductVersion
    offers: list[Offer]
    listed: ProductVersion | None = None
    listed_offers: list[Offer] = field(default_factory=list)


def view(session: Session, product: Product, version: ProductVersion) -> ProductView:
    """The product with ``version`` and, beside it, the version on sale."""
    listed = repository.get_version(session, product.listed_version_id)
    return ProductView(product, version, repository.offers_of(session, version.id), listed,
                       repository.offers_of(session, listed.id) if listed is not None else [])


def record(uow: UnitOfWork, version: ProductVersion, action: str, previous: str | None,
           reason: str | None) -> None:
    """The version's history row and the audit entry of a change."""
    record_move(uow, ListingEvent, prefix="lev", subject={"version_id": version.id},
                action=action, previous=previous, status=version.status, reason=reason,
                at=uow.clock.now())
    uow.session.flush()
    uow.audit.record(uow.actor, f"listing.{action}", "product_version", version.id,
                     version.state())


def move(uow: UnitOfWork, version: ProductVersion, target: ListingStatus, action: str,
         reason: str | None) -> None:
    """Move the version along its lifecycle; compliance follows it into and out of review.

    Raises:
        InvalidTransition: the lifecycle does not allow ``target``.
    """
    previous = version.move(target, reason=reason, at=uow.clock.now())
    record(uow, version, action, previous, reason)
    if target in REVIEW_STAGES or previous in REVIEW_STAGES:
        compliance.track_review("listing", version.id, version.merchant_org_id, target.value,
                                reason, uow=uow)


def own_product(uow: UnitOfWork, product_id: str) -> Product:
    """The caller's product, locked.

    Raises:
        ProductNotFound: unknown, or another organisation's.
    """
    product = repository.product_for_update(uow.session, product_id)
    if product is None:
        raise ProductNotFound()
    product.check_merchant(uow.actor.org_id, is_system=uow.actor.is_system)
    return product
