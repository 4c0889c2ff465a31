"""Reading listings: a product in full for its merchant and those whose duty is to see all,
its history, the version on sale for everyone, and the public catalogue search (see
:mod:`market.listing.catalog`)."""

from __future__ import annotations

from collections.abc import Sequence

from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.listing import catalog, repository
from market.listing.domain import ListingStatus
from market.listing.errors import ProductNotFound
from market.listing.models import ListingEvent, Product, ProductVersion
from market.listing.services._common import ProductView, view


def get_product(product_id: str, *, uow: UnitOfWork) -> ProductView:
    """The merchant's own product (latest version), or any for the operator, assessors and
    regulators.

    Raises:
        ProductNotFound: unknown or not visible.
    """
    with uow:
        product = repository.visible_product(uow.session, uow.actor, product_id)
        if product is None:
            raise ProductNotFound()
        return view(uow.session, product, repository.latest_version(uow.session, product))


def list_products(*, uow: UnitOfWork, status: str | None = None, after: str | None = None,
                  limit: int = 50) -> Page[Product]:
    """Products the caller may see in full: its own, or all by duty."""
    with uow:
        return repository.products_page(uow.session, uow.actor, status=status, after=after,
                                        limit=limit)


def views_of(products: Sequence[Product], *, uow: UnitOfWork) -> list[ProductView]:
    with uow:
        return [view(uow.session, product, repository.latest_version(uow.session, product))
                for product in products]


def history(product_id: str, *, uow: UnitOfWork, after: str | None = None,
            limit: int = 50) -> Page[ListingEvent]:
    """Every change of every version of a product, oldest first. Raises: ProductNotFound."""
    with uow:
        if repository.visible_product(uow.session, uow.actor, product_id) is None:
            raise ProductNotFound()
        return repository.history_page(uow.session, product_id, after=after, limit=limit)


def listed_version(product_id: str, *, uow: UnitOfWork) -> ProductView:
    """Public: the version on sale of a listed product.

    Raises:
        ProductNotFound: unknown, or nothing on sale.
    """
    with uow:
        product = repository.get_product(uow.session, product_id)
        version = (repository.get_version(uow.session, product.listed_version_id)
                   if product is not None else None)
        if product is None or version is None or version.status != ListingStatus.LISTED.value:
            raise ProductNotFound()
        return view(uow.session, product, version)


def listed_views(product_ids: Sequence[str], *, uow: UnitOfWork) -> list[ProductView]:
    """The versions on sale of these products, in the order given."""
    with uow:
        found = []
        for product_id in product_ids:
            product = repository.get_product(uow.session, product_id)
            version = (repository.get_version(uow.session, product.listed_version_id)
                       if product is not None else None)
            if product is not None and version is not None:
                found.append(view(uow.session, product, version))
        return found


def sample_of(version: ProductVersion) -> tuple[str, str, str] | None:
    if version.sample_sha256 is None:
        return None
    return version.sample_sha256, version.sample_name or "sample", (
        version.sample_media_type or "application/octet-stream")


def search_catalog(
    q: str | None, filters: catalog.Filters, *, sort: str, offset: int, limit: int,
    facets: bool, uow: UnitOfWork,
) -> catalog.SearchResult:
    """Public search over listed products (see :mod:`market.listing.catalog`)."""
    with uow:
        return catalog.search(uow.session, q=q, filters=filters, sort=sort, offset=offset,
                              limit=limit, facets=facets)


def version_classifications(version_ids: Sequence[str], *, uow: UnitOfWork,
                            ) -> dict[str, str]:
    """The data classification (general / important / core) each of these versions was
    declared with; a version never declared is left out."""
    with uow:
        return repository.classifications(uow.session, sorted(set(version_ids)))


def catalog_statistics(*, uow: UnitOfWork) -> dict[str, dict[str, int]]:
    with uow:
        return catalog.statistics(uow.session)
