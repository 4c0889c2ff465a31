"""Rebuilding the catalogue from the products: after a change of how text is split into
search terms (the jieba dictionary, the weights) or to repair an index written around the
services. Each product is refreshed as its listing's changes refresh it, in batches of one
transaction each, so a large catalogue is rebuilt without one long lock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from market.kernel.uow import UnitOfWork
from market.listing import catalog
from market.listing.models import Product

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Reindexed:
    """What a rebuild went through: products refreshed, and how many the catalogue lists."""

    products: int
    listed: int


def reindex_catalog(*, uow: Callable[[], UnitOfWork], batch: int = 200,
                    progress: Progress | None = None) -> Reindexed:
    """Refresh every product's catalogue entry and search terms, ``batch`` products per
    transaction, then record the rebuild in the audit log. Searches keep answering
    meanwhile; each product shows its old or its new entry, never none while it is listed.
    """
    with uow() as counting:
        total = counting.session.scalar(select(func.count()).select_from(Product)) or 0
    done, after = 0, ""
    while True:
        with uow() as unit:
            ids = list(unit.session.scalars(
                select(Product.id).where(Product.id > after).order_by(Product.id)
                .limit(batch)))
            for product_id in ids:
                catalog.refresh(unit.session, product_id)
            unit.commit()
        if not ids:
            break
        done, after = done + len(ids), ids[-1]
        if progress is not None:
            progress(done, max(total, done))
    with uow() as unit:
        listed = unit.session.scalar(select(func.count()).select_from(catalog.CatalogEntry)) \
            or 0
        unit.audit.record(unit.actor, "catalog.reindexed", "catalog", "catalog",
                          {"products": done, "listed": listed})
        unit.commit()
    return Reindexed(products=done, listed=listed)
