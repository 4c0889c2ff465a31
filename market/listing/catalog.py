"""The public catalogue: an index of listed products with bilingual full-text search.

Text is segmented with jieba (search mode, so 交通运输 also yields 交通) plus CJK bigrams,
and English is lower-cased into words. Terms go into ``catalog_terms`` with a weight by field
(title counts most) and the listing time, so ranking is plain SQL that gives the same answers
on SQLite and PostgreSQL: an exact title match first, then the number of query terms matched,
then the summed weight, then the newest, then the id. An exact title match is itself a term
(a hash of the whole normalised title), so it ranks through the same count.

The index is refreshed in the transaction that lists, suspends, supersedes or delists a
version. The refresh also keeps how many listings contain each term (``catalog_term_counts``)
and gives the catalogue a new random token (``catalog_state``). Searches use the counts to
leave out query words that most listings contain when a more selective word remains (数据 in
"医疗影像数据"), and the token to cache totals and facet counts, the expensive part of a
search over a large catalogue: a cached answer is used only while the catalogue is unchanged.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    tuple_,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Mapped, Session, mapped_column

from market.kernel.db import Base, JSONType, UTCDateTime
from market.listing.domain import ListingStatus, OfferKind

WEIGHTS = {"title": 8, "tags": 4, "scenarios": 3, "sector": 3, "description": 1}
MAX_QUERY_TERMS = 12
COMMON_SHARE = 0.25  # a query word in more than this share of listings is "common" …
COMMON_MIN_LISTINGS = 1000  # … once the catalogue has at least this many listings
FACET_CACHE_SIZE = 1024
RUN_CACHE_SIZE = 16384  # segmented runs of CJK text kept (a few MB)
_WORD = re.compile(r"[0-9a-z]+(?:[-_.][0-9a-z]+)*")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


class CatalogEntry(Base):
    """One listed product as the catalogue shows and filters it."""

    __tablename__ = "catalog_entries"

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
    """Inverted index: which listed products contain a term, how strongly, and since when."""

    __tablename__ = "catalog_terms"

    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("catalog_entries.product_id",
                                                       ondelete="CASCADE"),
                                            primary_key=True, index=True)
    weight: Mapped[int] = mapped_column(Integer, nullable=False)
    listed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


# Each index below is in exactly the order a page is read in, so a page is the first rows of
# an index scan (no sort of every match): newest first, and cheapest first (no price last,
# which is PostgreSQL's order for an ascending column) then newest.
Index("ix_catalog_entries_newest", CatalogEntry.listed_at.desc(), CatalogEntry.product_id)
Index("ix_catalog_entries_cheapest", CatalogEntry.min_price, CatalogEntry.listed_at.desc(),
      CatalogEntry.product_id)
# Covers the search: the postings of a term with everything ranking needs, strongest first.
Index("ix_catalog_terms_ranked", CatalogTerm.term, CatalogTerm.weight.desc(),
      CatalogTerm.listed_at.desc(), CatalogTerm.product_id)


class CatalogFacetCount(Base):
    """How many listed products share one combination of the facets a search can filter on
    without a query: browsing reads totals and facet counts from these few rows instead of
    counting every listing. Kept by :func:`refresh`."""

    __tablename__ = "catalog_facet_counts"

    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    sector: Mapped[str] = mapped_column(String(60), primary_key=True)
    region: Mapped[str] = mapped_column(String(60), primary_key=True)
    development_level: Mapped[str] = mapped_column(String(16), primary_key=True)
    classification: Mapped[str] = mapped_column(String(16), primary_key=True)
    delivers_file: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    delivers_api: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    delivers_sandbox: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    has_free: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    listings: Mapped[int] = mapped_column(Integer, nullable=False)


class CatalogTermCount(Base):
    """How many listed products contain a term (document frequency)."""

    __tablename__ = "catalog_term_counts"

    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    listings: Mapped[int] = mapped_column(Integer, nullable=False)


class CatalogState(Base):
    """One row: the number of listed products and a token that changes with every refresh."""

    __tablename__ = "catalog_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(32), nullable=False)
    listings: Mapped[int] = mapped_column(Integer, nullable=False)


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
        found += _run_terms(run)
    found += [w for w in _WORD.findall(text) if len(w) >= 2 or w.isdigit()]
    return [t[:64] for t in found]


@lru_cache(maxsize=RUN_CACHE_SIZE)
def _run_terms(run: str) -> tuple[str, ...]:
    """The terms of one run of CJK characters. Listings repeat the same phrases (regions,
    subjects, boilerplate), so segmenting each run once saves most of jieba's time."""
    found = [w for w in _jieba().cut_for_search(run) if len(w) >= 1]
    found += [run[i:i + 2] for i in range(len(run) - 1)]
    if len(run) == 1:
        found.append(run)
    return tuple(found)


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


def exact_term(text: str) -> str:
    """The term standing for a whole title: no segmented text yields it (it starts with =)."""
    return "=" + hashlib.blake2b(normalise(text).encode(), digest_size=16).hexdigest()


def term_weights(*, title: str, tags: Sequence[str], scenarios: Sequence[str], sector: str,
                 description: str) -> Counter[str]:
    """The indexed terms of a listing: each field counts a term once, weights add up; plus
    the exact-title term, with no weight of its own."""
    weights: Counter[str] = Counter()
    for name, text in (("title", title), ("tags", " ".join(tags)),
                       ("scenarios", " ".join(scenarios)), ("sector", sector),
                       ("description", description)):
        for term in set(terms(text)):
            weights[term] += WEIGHTS[name]
    weights[exact_term(title)] += 0
    return weights


# -- index ---------------------------------------------------------------------------------


def refresh(session: Session, product_id: str) -> None:
    """Make the catalogue show exactly the product's listed version (or nothing)."""
    from market.listing.models import Offer, Product, ProductVersion

    old_terms = set(session.scalars(select(CatalogTerm.term)
                                    .where(CatalogTerm.product_id == product_id)))
    old_facets = session.execute(select(*_FACET_KEY)
                                 .where(CatalogEntry.product_id == product_id)).first()
    was_listed = 1 if old_facets is not None else 0
    session.execute(delete(CatalogTerm).where(CatalogTerm.product_id == product_id))
    session.execute(delete(CatalogEntry).where(CatalogEntry.product_id == product_id))
    product = session.get(Product, product_id)
    version = (session.get(ProductVersion, product.listed_version_id)
               if product is not None and product.listed_version_id else None)
    if product is None or version is None or version.status != ListingStatus.LISTED.value:
        session.flush()
        _account(session, removed=old_terms, added=set(), listings=-was_listed,
                 facets=(_facets(old_facets), None))
        return
    offers = list(session.scalars(select(Offer).where(Offer.version_id == version.id,
                                                      Offer.buyer_org_id.is_(None))))
    priced = [o for o in offers if o.amount is not None and o.kind != OfferKind.NEGOTIABLE.value]
    cheapest = min(priced, key=lambda o: o.amount or 0, default=None)
    modes = set(version.delivery_modes)
    listed_at = version.listed_at or version.updated_at
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
        listed_at=listed_at,
    ))
    session.flush()
    weights = term_weights(title=version.title, tags=version.tags, scenarios=version.scenarios,
                           sector=version.sector, description=version.description)
    session.add_all(CatalogTerm(term=t, product_id=product.id, weight=w, listed_at=listed_at)
                    for t, w in weights.items())
    session.flush()
    new_facets = session.execute(select(*_FACET_KEY)
                                 .where(CatalogEntry.product_id == product_id)).first()
    _account(session, removed=old_terms, added=set(weights), listings=1 - was_listed,
             facets=(_facets(old_facets), _facets(new_facets)))


def recount_facets(connection: Any) -> None:
    """Count the facet combinations of every entry again (after entries were written in
    bulk, bypassing :func:`refresh`); ``connection``: a Connection or Session."""
    connection.execute(delete(CatalogFacetCount))
    connection.execute(insert(CatalogFacetCount).from_select(
        [c.key for c in _FACET_KEY] + ["listings"],
        select(*_FACET_KEY, func.count()).group_by(*_FACET_KEY)))


def _facets(row: Any) -> dict[str, Any] | None:
    return None if row is None else dict(zip((c.key for c in _FACET_KEY), row, strict=True))


def _account(session: Session, *, removed: set[str], added: set[str], listings: int,
             facets: tuple[dict[str, Any] | None, dict[str, Any] | None]) -> None:
    """Keep the term counts, the facet counts and the catalogue state in step with a
    refresh; ``facets`` are the listing's facet values before and after (None: unlisted)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    bump = (update(CatalogState).where(CatalogState.id == 1)
            .values(token=secrets.token_hex(16), listings=CatalogState.listings + listings))
    if not cast(CursorResult[Any], session.execute(bump)).rowcount:
        # No state row (the migration makes one): create it from the entries as they are in
        # this transaction; if another transaction created it meanwhile, bump that one.
        created = session.execute(dialect.insert(CatalogState).values(
            id=1, token=secrets.token_hex(16),
            listings=select(func.count()).select_from(CatalogEntry).scalar_subquery(),
        ).on_conflict_do_nothing(index_elements=[CatalogState.id]))
        if not cast(CursorResult[Any], created).rowcount:
            session.execute(bump)
    gone = sorted(removed - added)
    if gone:
        session.execute(update(CatalogTermCount).where(CatalogTermCount.term.in_(gone))
                        .values(listings=CatalogTermCount.listings - 1))
        session.execute(delete(CatalogTermCount).where(CatalogTermCount.term.in_(gone),
                                                       CatalogTermCount.listings <= 0))
    new = sorted(added - removed)
    if new:
        stmt = dialect.insert(CatalogTermCount)
        session.execute(stmt.on_conflict_do_update(
            index_elements=[CatalogTermCount.term],
            set_={"listings": CatalogTermCount.listings + stmt.excluded.listings},
        ), [{"term": t, "listings": 1} for t in new])
    before, after = facets
    if before == after:
        return
    if before is not None:
        same = [CatalogFacetCount.__table__.c[k] == v for k, v in before.items()]
        session.execute(update(CatalogFacetCount).where(*same)
                        .values(listings=CatalogFacetCount.listings - 1))
        session.execute(delete(CatalogFacetCount).where(*same, CatalogFacetCount.listings <= 0))
    if after is not None:
        stmt = dialect.insert(CatalogFacetCount).values(**after, listings=1)
        session.execute(stmt.on_conflict_do_update(
            index_elements=[c.key for c in _FACET_KEY],
            set_={"listings": CatalogFacetCount.listings + stmt.excluded.listings}))


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
# What catalog_facet_counts counts listings by: the facets and every yes/no filter.
_FACET_KEY = tuple(CatalogEntry.__table__.c[name] for name in (
    *FACETS, "delivers_file", "delivers_api", "delivers_sandbox", "has_free"))


def _filtered(stmt: Any, f: Filters, table: Any = None) -> Any:
    """``stmt`` narrowed by the filters, on the entries or on a table with their columns."""
    c = (CatalogEntry.__table__ if table is None else table).c
    for name, value in (("type", f.type), ("sector", f.sector), ("region", f.region),
                        ("development_level", f.development_level),
                        ("classification", f.classification), ("merchant_org_id", f.merchant)):
        if value:
            stmt = stmt.where(c[name] == value)
    if f.delivery_mode:
        stmt = stmt.where(c[DELIVERY[f.delivery_mode].key].is_(True))
    if f.min_price is not None:
        stmt = stmt.where(c.min_price >= f.min_price)
    if f.max_price is not None:
        stmt = stmt.where(c.min_price <= f.max_price)
    if f.free_only:
        stmt = stmt.where(c.has_free.is_(True))
    return stmt


class _FacetCache:
    """Totals and facet counts by (catalogue token, query words, filters), least recently
    used first out. The token changes with every refresh, so an entry is never stale."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Any, tuple[int, dict[str, dict[str, int]]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> tuple[int, dict[str, dict[str, int]]] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Any, value: tuple[int, dict[str, dict[str, int]]]) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


facet_cache = _FacetCache(FACET_CACHE_SIZE)


def _selective(session: Session, words: list[str], listings: int) -> list[str]:
    """Leave out words most listings contain when a word that matches fewer remains."""
    if listings < COMMON_MIN_LISTINGS:
        return words
    counts = dict(session.execute(select(CatalogTermCount.term, CatalogTermCount.listings)
                                  .where(CatalogTermCount.term.in_(words))).all())
    common = {w for w in words if counts.get(w, 0) > COMMON_SHARE * listings}
    if common and any(counts.get(w, 0) > 0 and w not in common for w in words):
        return [w for w in words if w not in common]
    return words


def _totals(session: Session, words: list[str], filters: Filters,
            ) -> tuple[int, dict[str, dict[str, int]]]:
    """The number of matching listings and the facet counts, in one statement. Without a
    query, and with no filter on merchant or price, they are sums over the facet counts kept
    by :func:`refresh` (a few thousand rows however large the catalogue) instead of counts
    over every matching listing."""
    if not words and filters.merchant is None and filters.min_price is None \
            and filters.max_price is None:
        counts = CatalogFacetCount.__table__
        matched = _filtered(select(counts), filters, counts)

        def count(m: Any, flag: Any = None) -> Any:
            summed = func.sum(m.c.listings)
            return func.coalesce(summed if flag is None else summed.filter(flag.is_(True)), 0)
    else:
        matched = _filtered(select(*_FACET_KEY), filters)
        if words:
            matched = matched.where(CatalogEntry.product_id.in_(
                select(CatalogTerm.product_id).where(CatalogTerm.term.in_(words))))

        def count(m: Any, flag: Any = None) -> Any:
            return func.count() if flag is None else func.count().filter(flag.is_(True))
    if session.get_bind().dialect.name == "postgresql":
        return _totals_in_one_pass(session, matched, count)
    m = matched.cte("matched").prefix_with("MATERIALIZED")
    parts: list[Any] = [
        select(literal(name), m.c[name], count(m)).group_by(m.c[name]) for name in FACETS]
    parts.append(select(literal("total"), null(), count(m)).select_from(m))
    parts += [select(literal(f"delivery_mode:{mode}"), null(), count(m))
              .where(m.c[f"delivers_{mode}"].is_(True)) for mode in DELIVERY]
    parts.append(select(literal("free"), null(), count(m)).where(m.c.has_free.is_(True)))
    total = 0
    found: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    found["delivery_mode"] = {}
    for name, value, n in session.execute(union_all(*parts)):
        if name == "total":
            total = int(n)
        elif name == "free":
            found["free"] = {"true": int(n)}
        elif name.startswith("delivery_mode:"):
            found["delivery_mode"][name.partition(":")[2]] = int(n)
        else:
            found[name][str(value)] = int(n)
    return total, {name: dict(sorted(counts.items())) if name in FACETS else counts
                   for name, counts in found.items()}


def _totals_in_one_pass(session: Session, matched: Any, count: Callable[..., Any],
                        ) -> tuple[int, dict[str, dict[str, int]]]:
    """:func:`_totals` in one pass over the matches (PostgreSQL's grouping sets): a row per
    value of each facet, and one row for all matches with the yes/no counts."""
    m = matched.subquery("matched")
    columns = [m.c[name] for name in FACETS]
    flags = [m.c[f"delivers_{mode}"] for mode in DELIVERY] + [m.c.has_free]
    stmt = (select(func.grouping(*columns), *columns, count(m), *(count(m, f) for f in flags))
            .group_by(func.grouping_sets(*(tuple_(c) for c in columns), tuple_())))
    everything = (1 << len(FACETS)) - 1
    total = 0
    found: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    for row in session.execute(stmt):
        grouped, values, n = row[0], row[1:1 + len(FACETS)], row[1 + len(FACETS)]
        if grouped == everything:
            total = int(n)
            found["delivery_mode"] = {mode: int(v) for mode, v in zip(
                DELIVERY, row[2 + len(FACETS):-1], strict=True)}
            found["free"] = {"true": int(row[-1])}
            continue
        i = next(i for i in range(len(FACETS)) if not grouped >> (len(FACETS) - 1 - i) & 1)
        found[FACETS[i]][str(values[i])] = int(n)
    return total, {name: dict(sorted(counts.items())) if name in FACETS else counts
                   for name, counts in found.items()}


def search(
    session: Session, *, q: str | None, filters: Filters, sort: str, offset: int, limit: int,
    facets: bool = True,
) -> SearchResult:
    """Listed products matching ``q`` (any of its terms) and every filter.

    ``sort``: relevance (default with a query), newest, price (cheapest first).
    """
    state = session.get(CatalogState, 1)
    words = query_terms(q) if q else []
    if words:
        words = [*_selective(session, words, state.listings if state else 0),
                 exact_term(q or "")]
        items, more = _ranked(session, words, filters, sort, offset, limit)
    else:
        items, more = _browsed(session, filters, sort, offset, limit)
    key = (state.token, tuple(words), filters) if state is not None else None
    cached = facet_cache.get(key) if key is not None else None
    if cached is None:
        cached = _totals(session, words, filters)
        if key is not None:
            facet_cache.put(key, cached)
    total, found_facets = cached
    return SearchResult(items, total, offset + limit if more else None,
                        found_facets if facets else {})


def _has_filters(f: Filters) -> bool:
    return f != Filters()


def _ranked(session: Session, words: list[str], filters: Filters, sort: str, offset: int,
            limit: int) -> tuple[list[CatalogEntry], bool]:
    """A page of the listings matching ``words``: ranked on the postings alone when no filter
    needs the entries, so only the page's entries are read."""
    if sort not in ("relevance", ""):
        # Newest or cheapest first: no score needed, so the entries are read in the order of
        # their index and each is checked for a posting, until the page is full.
        stmt = _filtered(select(CatalogEntry), filters).where(
            select(CatalogTerm.product_id)
            .where(CatalogTerm.term.in_(words),
                   CatalogTerm.product_id == CatalogEntry.product_id).exists())
        rows = list(session.scalars(stmt.order_by(*_entry_order(sort))
                                    .offset(offset).limit(limit + 1)))
        return rows[:limit], len(rows) > limit
    plain = [w for w in words if not w.startswith("=")]
    if len(plain) == 1:
        return _ranked_one_word(session, words, plain[0], filters, offset, limit)
    sub = (select(CatalogTerm.product_id.label("product_id"),
                  func.count().label("matched"),
                  func.sum(CatalogTerm.weight).label("score"),
                  func.max(CatalogTerm.listed_at).label("listed_at"))
           .where(CatalogTerm.term.in_(words))
           .group_by(CatalogTerm.product_id)).subquery()
    if not _has_filters(filters):
        order = [sub.c.matched.desc(), sub.c.score.desc(), sub.c.listed_at.desc(),
                 sub.c.product_id.asc()]
        ids = list(session.scalars(select(sub.c.product_id).order_by(*order)
                                   .offset(offset).limit(limit + 1)))
        found = entries(session, ids[:limit])
        return [found[i] for i in ids[:limit] if i in found], len(ids) > limit
    stmt = _filtered(select(CatalogEntry)
                     .join(sub, sub.c.product_id == CatalogEntry.product_id), filters)
    rows = list(session.scalars(stmt.order_by(sub.c.matched.desc(), sub.c.score.desc(),
                                              *_entry_order(sort))
                                .offset(offset).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def _ranked_one_word(session: Session, words: list[str], word: str, filters: Filters,
                     offset: int, limit: int) -> tuple[list[CatalogEntry], bool]:
    """A page of a query with one word besides the exact-title term: the candidates that can
    be on it (:func:`_candidates`), each ranked on its own postings."""
    mine = (CatalogTerm.term.in_(words), CatalogTerm.product_id == CatalogEntry.product_id)
    matched = select(func.count()).where(*mine).scalar_subquery()
    score = select(func.coalesce(func.sum(CatalogTerm.weight), 0)).where(*mine).scalar_subquery()
    candidates = _candidates(word, [w for w in words if w.startswith("=")], filters,
                             offset + limit + 1)
    stmt = _filtered(select(CatalogEntry).where(CatalogEntry.product_id.in_(candidates)),
                     filters)
    rows = list(session.scalars(stmt.order_by(matched.desc(), score.desc(),
                                              *_entry_order("relevance"))
                                .offset(offset).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def _candidates(word: str, exact: list[str], filters: Filters, n: int) -> Any:
    """The listings that can be among the first ``n`` of a query with one word (besides the
    exact-title term): those with the exact title, and the first ``n`` of the others, which
    rank by the word's weight, then newest, then id: the order of ``ix_catalog_terms_ranked``,
    so they are the first rows of one index scan instead of every posting of the word."""
    titled = select(CatalogTerm.product_id).where(CatalogTerm.term.in_(exact))
    top = select(CatalogTerm.product_id).where(CatalogTerm.term == word,
                                               CatalogTerm.product_id.not_in(titled))
    if _has_filters(filters):
        top = _filtered(top.join(CatalogEntry, CatalogEntry.product_id == CatalogTerm.product_id),
                        filters)
    first = (top.order_by(CatalogTerm.weight.desc(), CatalogTerm.listed_at.desc(),
                          CatalogTerm.product_id.asc()).limit(n).subquery())
    return union(select(first.c.product_id), titled)


def _entry_order(sort: str) -> list[Any]:
    """Newest first, or cheapest first (no price last) then newest: index orders both."""
    order: list[Any] = []
    if sort == "price":
        order = [CatalogEntry.min_price.asc().nulls_last()]
    return [*order, CatalogEntry.listed_at.desc(), CatalogEntry.product_id.asc()]


def _browsed(session: Session, filters: Filters, sort: str, offset: int,
             limit: int) -> tuple[list[CatalogEntry], bool]:
    """A page of every listing passing the filters, newest or cheapest first."""
    rows = list(session.scalars(_filtered(select(CatalogEntry), filters)
                                .order_by(*_entry_order(sort)).offset(offset).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


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



# -- matching ------------------------------------------------------------------------------


def relevance(session: Session, words: Sequence[str], *, types: Sequence[str] = (),
              modes: Sequence[str] = (), limit: int) -> list[tuple[CatalogEntry, int, int]]:
    """The listings that contain any of ``words``, of one of ``types`` and delivered by one
    of ``modes`` (each: any, when empty), ranked as a catalogue search ranks them (terms
    matched, then summed weight, then newest, then id), with the two ranking numbers; at
    most ``limit``."""
    if not words:
        return []
    hits = (select(CatalogTerm.product_id.label("product_id"),
                   func.count().label("matched"),
                   func.sum(CatalogTerm.weight).label("score"))
            .where(CatalogTerm.term.in_(sorted(set(words))))
            .group_by(CatalogTerm.product_id)).subquery()
    stmt = (select(CatalogEntry, hits.c.matched, hits.c.score)
            .join(hits, hits.c.product_id == CatalogEntry.product_id))
    stmt = _narrowed(stmt, types, modes)
    stmt = stmt.order_by(hits.c.matched.desc(), hits.c.score.desc(),
                         CatalogEntry.listed_at.desc(), CatalogEntry.product_id.asc())
    return [(entry, int(matched), int(score))
            for entry, matched, score in session.execute(stmt.limit(limit))]


def selective(session: Session, words: Sequence[str]) -> list[str]:
    """``words`` less those most listings contain, as a search leaves them out."""
    state = session.get(CatalogState, 1)
    return _selective(session, list(words), state.listings if state else 0)


def hits(session: Session, product_ids: Sequence[str], words: Sequence[str],
         ) -> dict[str, tuple[int, int]]:
    """(terms matched, their summed weight) of ``words`` in each listing."""
    if not product_ids or not words:
        return {}
    rows = session.execute(
        select(CatalogTerm.product_id, func.count(), func.sum(CatalogTerm.weight))
        .where(CatalogTerm.product_id.in_(sorted(set(product_ids))),
               CatalogTerm.term.in_(sorted(set(words))))
        .group_by(CatalogTerm.product_id))
    return {pid: (int(n), int(w)) for pid, n, w in rows}


def _narrowed(stmt: Any, types: Sequence[str], modes: Sequence[str]) -> Any:
    if types:
        stmt = stmt.where(CatalogEntry.type.in_(sorted(set(types))))
    if modes:
        stmt = stmt.where(or_(*(DELIVERY[m].is_(True) for m in sorted(set(modes))
                                if m in DELIVERY)))
    return stmt


def indexed_terms(session: Session, product_id: str) -> dict[str, int]:
    """The catalogue's terms of one listing with their weights (empty: not listed)."""
    return dict(session.execute(select(CatalogTerm.term, CatalogTerm.weight)
                                .where(CatalogTerm.product_id == product_id)).all())
