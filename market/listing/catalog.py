"""The public catalogue: an index of listed products with bilingual full-text search.

Text is segmented with jieba (search mode, so 交通运输 also yields 交通) plus CJK bigrams,
and English is lower-cased into words. Terms go into ``catalog_terms`` with a weight by field
(title counts most), so ranking is plain SQL that gives the same answers on SQLite and
PostgreSQL: an exact title match first, then the number of query terms matched, then the
summed weight, then the newest, then the id. The index is refreshed in the transaction that
lists, suspends, supersedes or delists a version.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    case,
    delete,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from market.db import Base, JSONType, UTCDateTime
from market.listing.domain import ListingStatus, OfferKind

WEIGHTS = {"title": 8, "tags": 4, "scenarios": 3, "sector": 3, "description": 1}
MAX_QUERY_TERMS = 12
_WORD = re.compile(r"[0-9a-z]+(?:[-_.][0-9a-z]+)*")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


class CatalogEntry(Base):
    """One listed product as the catalogue shows and filters it."""

    __tablename__ = "catalog_entries"
    __table_args__ = (
        Index("ix_catalog_entries_listed_at", "listed_at", "product_id"),
        Index("ix_catalog_entries_min_price", "min_price", "product_id"),
    )

    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    version_id: Mapped[str] = mapped_column(String(40), nullable=False)
    merchant_org_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    title_key: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    type: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    sector: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    region: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    development_level: Mapped[str] = mapped_column(String(16), nullable=False)
    classification: Mapped[str] = mapped_column(String(16), nullable=False)
    delivery_modes: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    delivers_file: Mapped[bool] = mapped_column(Boolean, nullable=False)
    delivers_api: Mapped[bool] = mapped_column(Boolean, nullable=False)
    delivers_sandbox: Mapped[bool] = mapped_column(Boolean, nullable=False)
    min_price: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    has_free: Mapped[bool] = mapped_column(Boolean, nullable=False)
    listed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class CatalogTerm(Base):
    """Inverted index: which listed products contain a term, and how strongly."""

    __tablename__ = "catalog_terms"

    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("catalog_entries.product_id",
                                                       ondelete="CASCADE"),
                                            primary_key=True, index=True)
    weight: Mapped[int] = mapped_column(Integer, nullable=False)


# -- text ----------------------------------------------------------------------------------


@cache
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()
    return jieba


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def terms(text: str) -> list[str]:
    """Search terms of ``text``: jieba words (search mode), CJK bigrams, English words."""
    text = normalise(text)
    found: list[str] = []
    for run in _CJK.findall(text):
        found += [w for w in _jieba().cut_for_search(run) if len(w) >= 1]
        found += [run[i:i + 2] for i in range(len(run) - 1)]
        if len(run) == 1:
            found.append(run)
    found += [w for w in _WORD.findall(text) if len(w) >= 2 or w.isdigit()]
    return [t[:64] for t in found]


def query_terms(text: str) -> list[str]:
    """Terms of a query: jieba words for Chinese (bigrams only for what jieba leaves whole
    and long), English words; deduplicated, in order."""
    text = normalise(text)
    found: list[str] = []
    for run in _CJK.findall(text):
        words = [w for w in _jieba().cut(run) if w.strip()]
        found += words if words else [run]
    found += [w for w in _WORD.findall(text) if len(w) >= 2 or w.isdigit()]
    return list(dict.fromkeys(t[:64] for t in found))[:MAX_QUERY_TERMS]


# -- index ---------------------------------------------------------------------------------


def refresh(session: Session, product_id: str) -> None:
    """Make the catalogue show exactly the product's listed version (or nothing)."""
    from market.listing.models import Offer, Product, ProductVersion

    session.execute(delete(CatalogTerm).where(CatalogTerm.product_id == product_id))
    session.execute(delete(CatalogEntry).where(CatalogEntry.product_id == product_id))
    product = session.get(Product, product_id)
    version = (session.get(ProductVersion, product.listed_version_id)
               if product is not None and product.listed_version_id else None)
    if product is None or version is None or version.status != ListingStatus.LISTED.value:
        session.flush()
        return
    offers = list(session.scalars(select(Offer).where(Offer.version_id == version.id)))
    priced = [o for o in offers if o.amount is not None and o.kind != OfferKind.NEGOTIABLE.value]
    cheapest = min(priced, key=lambda o: o.amount or 0, default=None)
    modes = set(version.delivery_modes)
    session.add(CatalogEntry(
        product_id=product.id, version_id=version.id, merchant_org_id=product.merchant_org_id,
        title=version.title, title_key=normalise(version.title)[:200], type=version.type,
        sector=version.sector, region=version.region,
        development_level=version.development_level,
        classification=version.classification or "general",
        delivery_modes=sorted(modes), delivers_file="file" in modes, delivers_api="api" in modes,
        delivers_sandbox="sandbox" in modes,
        min_price=cheapest.amount if cheapest else None,
        currency=cheapest.currency if cheapest else None,
        has_free=any(o.kind == OfferKind.FREE.value for o in offers),
        listed_at=version.listed_at or version.updated_at,
    ))
    session.flush()
    weights: Counter[str] = Counter()
    for name, text in (("title", version.title), ("tags", " ".join(version.tags)),
                       ("scenarios", " ".join(version.scenarios)), ("sector", version.sector),
                       ("description", version.description)):
        for term in set(terms(text)):
            weights[term] += WEIGHTS[name]
    session.add_all(CatalogTerm(term=t, product_id=product.id, weight=w)
                    for t, w in weights.items())
    session.flush()


# -- search --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    type: str | None = None
    sector: str | None = None
    region: str | None = None
    delivery_mode: str | None = None
    development_level: str | None = None
    classification: str | None = None
    merchant: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    free_only: bool = False


@dataclass(frozen=True)
class SearchResult:
    items: list[CatalogEntry]
    total: int
    next_offset: int | None
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


FACETS = ("type", "sector", "region", "development_level", "classification")
DELIVERY = {"file": CatalogEntry.delivers_file, "api": CatalogEntry.delivers_api,
            "sandbox": CatalogEntry.delivers_sandbox}


def _filtered(stmt: Any, f: Filters) -> Any:
    for column, value in ((CatalogEntry.type, f.type), (CatalogEntry.sector, f.sector),
                          (CatalogEntry.region, f.region),
                          (CatalogEntry.development_level, f.development_level),
                          (CatalogEntry.classification, f.classification),
                          (CatalogEntry.merchant_org_id, f.merchant)):
        if value:
            stmt = stmt.where(column == value)
    if f.delivery_mode:
        stmt = stmt.where(DELIVERY[f.delivery_mode].is_(True))
    if f.min_price is not None:
        stmt = stmt.where(CatalogEntry.min_price >= f.min_price)
    if f.max_price is not None:
        stmt = stmt.where(CatalogEntry.min_price <= f.max_price)
    if f.free_only:
        stmt = stmt.where(CatalogEntry.has_free.is_(True))
    return stmt


def search(
    session: Session, *, q: str | None, filters: Filters, sort: str, offset: int, limit: int,
    facets: bool = True,
) -> SearchResult:
    """Listed products matching ``q`` (any of its terms) and every filter.

    ``sort``: relevance (default with a query), newest, price (cheapest first).
    """
    words = query_terms(q) if q else []
    base = _filtered(select(CatalogEntry.product_id), filters)
    if words:
        hits = (select(CatalogTerm.product_id.label("product_id"),
                       func.count().label("matched"),
                       func.sum(CatalogTerm.weight).label("score"))
                .where(CatalogTerm.term.in_(words))
                .group_by(CatalogTerm.product_id)
                .subquery())
        exact = case((CatalogEntry.title_key == normalise(q or ""), 1), else_=0)
        stmt = _filtered(
            select(CatalogEntry, exact.label("exact"), hits.c.matched, hits.c.score)
            .join(hits, hits.c.product_id == CatalogEntry.product_id), filters)
        base = _filtered(select(CatalogEntry.product_id)
                         .join(hits, hits.c.product_id == CatalogEntry.product_id), filters)
        order: list[Any] = []
        if sort in ("relevance", ""):
            order = [exact.desc(), hits.c.matched.desc(), hits.c.score.desc()]
    else:
        stmt = _filtered(select(CatalogEntry, literal(0), literal(0), literal(0)), filters)
        order = []
    if sort == "price":
        order += [case((CatalogEntry.min_price.is_(None), 1), else_=0),
                  CatalogEntry.min_price.asc()]
    order += [CatalogEntry.listed_at.desc(), CatalogEntry.product_id.asc()]
    rows = session.execute(stmt.order_by(*order).offset(offset).limit(limit + 1)).all()
    more = len(rows) > limit
    items = [row[0] for row in rows[:limit]]
    ids = base.subquery()
    total = int(session.scalar(select(func.count()).select_from(ids)) or 0)
    found_facets: dict[str, dict[str, int]] = {}
    if facets:
        matched = select(CatalogEntry).where(CatalogEntry.product_id.in_(select(ids.c.product_id)))
        matched_sub = matched.subquery()
        for name in FACETS:
            column = matched_sub.c[name]
            counts = session.execute(
                select(column, func.count()).group_by(column).order_by(column)).all()
            found_facets[name] = {str(value): int(n) for value, n in counts}
        found_facets["delivery_mode"] = {
            mode: int(session.scalar(select(func.count()).select_from(matched_sub)
                                     .where(matched_sub.c[f"delivers_{mode}"].is_(True))) or 0)
            for mode in DELIVERY
        }
        found_facets["free"] = {"true": int(session.scalar(
            select(func.count()).select_from(matched_sub)
            .where(matched_sub.c.has_free.is_(True))) or 0)}
    return SearchResult(items, total, offset + limit if more else None, found_facets)


def statistics(session: Session) -> dict[str, dict[str, int]]:
    """Public disclosure: listed products by sector and by type."""
    out: dict[str, dict[str, int]] = {}
    for name, column in (("by_sector", CatalogEntry.sector), ("by_type", CatalogEntry.type)):
        rows = session.execute(select(column, func.count()).group_by(column).order_by(column))
        out[name] = {str(value): int(n) for value, n in rows}
    out["total"] = {"listed": int(session.scalar(select(func.count(CatalogEntry.product_id)))
                                  or 0)}
    return out


def entries(session: Session, product_ids: Iterable[str]) -> dict[str, CatalogEntry]:
    rows = session.scalars(select(CatalogEntry)
                           .where(CatalogEntry.product_id.in_(sorted(set(product_ids)))))
    return {r.product_id: r for r in rows}

