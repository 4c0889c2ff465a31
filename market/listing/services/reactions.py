"""What listing does when other contexts report, in their transaction: a broken rights
chain suspends the versions on sale, restored rights send them back to review (never
straight back on sale), and a regulator's order suspends a listing. Subscribed by
:mod:`market.wiring`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from market.kernel.errors import InvalidTransition
from market.kernel.uow import UnitOfWork
from market.listing import catalog, repository
from market.listing.domain import ListingStatus
from market.listing.errors import ProductNotFound
from market.listing.services._common import move
from market.rights import services as rights


def on_rights_unavailable(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Suspend the versions on sale of products whose rights chain just broke."""
    products = rights.operated_products(payload["right_ids"], uow=uow.joined())
    if not products:
        return
    for version in repository.versions_for_update(uow.session, products, ListingStatus.LISTED):
        version.suspended_by_rights = True
        move(uow, version, ListingStatus.SUSPENDED, "suspended",
             f"rights chain broken: {payload.get('reason', '')}".strip())
        catalog.refresh(uow.session, version.product_id)
        uow.outbox.enqueue("listing.suspended", {"product_id": version.product_id,
                                                 "version_id": version.id})


def on_rights_restored(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Send versions suspended for their rights back to review once the chain holds again."""
    products = rights.operated_products(payload["right_ids"], uow=uow.joined())
    if not products:
        return
    for version in repository.versions_for_update(uow.session, products,
                                                  ListingStatus.SUSPENDED,
                                                  suspended_by_rights=True):
        if rights.check_chain(version.product_id, uow.clock.now(), uow=uow.joined()).ok:
            version.suspended_by_rights = False
            move(uow, version, ListingStatus.SUBMITTED, "resubmitted",
                 "rights restored: back to review")


def on_suspension_ordered(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Carry out a regulator's order to suspend a listing: the version on sale is suspended
    (and leaves the catalogue) in the order's transaction.

    Raises:
        ProductNotFound: no such product.
        InvalidTransition: nothing of it is on sale.
    """
    product = repository.product_for_update(uow.session, payload["product_id"])
    if product is None:
        raise ProductNotFound()
    version = repository.get_version(uow.session, product.listed_version_id)
    if version is None or version.status != ListingStatus.LISTED.value:
        raise InvalidTransition(current=version.status if version else "none",
                                target=ListingStatus.SUSPENDED.value)
    move(uow, version, ListingStatus.SUSPENDED, "suspended", str(payload["reason"]))
    catalog.refresh(uow.session, product.id)
    uow.outbox.enqueue("listing.suspended", {"product_id": product.id,
                                             "version_id": version.id})
