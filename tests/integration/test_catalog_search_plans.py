"""The catalogue's faster query plans give exactly the answers of a plain reading of the rules:
the page of a one-word query read from the head of the ranked postings index, newest and
cheapest first read in the entries' index order, and totals and facets without a query summed
from the facet counts. Every search here is checked against a reference computed in Python
from all entries and their indexed terms, for each page, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.ids import new_id
from market.listing import catalog
from market.listing.catalog import CatalogEntry, CatalogFacetCount, CatalogTerm, Filters
from market.listing.models import Offer, Product, ProductVersion
from tests.conftest import START, Party

TERMS = {"purposes": ["交通规划"], "scenarios": ["城市交通治理"], "territory": "domestic",
         "duration_days": 365, "onward_transfer": False, "resale": False, "max_users": 5,
         "attribution": "数据来源：示例"}
TITLES = ["交通流量数据", "交通数据", "城市交通 API", "医疗影像数据", "traffic flow data",
          "Traffic counts", "气象观测数据", "交通气象数据", "金融信用评分", "交通"]
FACET_NAMES = ("type", "sector", "region", "development_level", "classification")


@pytest.fixture
def catalogue(session_factory: sessionmaker[Session],
              make_party: Callable[..., Party]) -> list[str]:
    """Forty listings drawn from a fixed seed: repeated titles (so weights tie), shared
    listing times (so only the id breaks a tie), every facet, price, no price and free."""
    rng = random.Random(17)
    merchants = [make_party("merchant").org_id for _ in range(2)]
    ids = []
    with session_factory() as session:
        for _ in range(40):
            at = START + timedelta(minutes=rng.randrange(12))
            title = rng.choice(TITLES)
            merchant = rng.choice(merchants)
            product = Product(id=new_id("prd"), merchant_org_id=merchant, created_at=START)
            sector = rng.choice(["交通运输", "医疗卫生", "气象"])
            version = ProductVersion(
                id=new_id("ver"), product_id=product.id, merchant_org_id=merchant, number=1,
                status="listed", title=title,
                description=rng.choice(["", "交通", "覆盖交通与气象", "traffic data"]) + title,
                type=rng.choice(["dataset", "api_service", "report"]),
                development_level=rng.choice(["raw", "modelled"]), sector=sector,
                tags=rng.sample(["交通", "traffic", "气象", "数据"], k=rng.randrange(3)),
                region=rng.choice(["武汉市", "上海市"]), update_frequency="daily",
                formats=["csv"], field_schema=[], scenarios=[f"{sector}行业分析"],
                delivery_modes=rng.choice([["file"], ["api"], ["api", "sandbox"]]),
                derived_from=[], quality_reports=[], assessment_reports=[], terms=TERMS,
                classification=rng.choice(["general", "important"]), created_at=at,
                updated_at=at, listed_at=at)
            product.latest_version_id = product.listed_version_id = version.id
            session.add_all([product, version])
            session.flush()
            if rng.random() < 0.2:
                session.add(Offer(id=new_id("ofr"), version_id=version.id, kind="free",
                                  name="公益", currency="CNY", amount=None, sold=0))
            if rng.random() < 0.8:
                session.add(Offer(id=new_id("ofr"), version_id=version.id, kind="one_time",
                                  name="一次性", currency="CNY",
                                  amount=rng.choice([5000, 10000, 20000]), sold=0))
            session.flush()
            catalog.refresh(session, product.id)
            ids.append(product.id)
        session.commit()
    return ids


def _passes(e: CatalogEntry, f: Filters) -> bool:
    return all([
        not f.type or e.type == f.type, not f.sector or e.sector == f.sector,
        not f.region or e.region == f.region,
        not f.development_level or e.development_level == f.development_level,
        not f.classification or e.classification == f.classification,
        not f.merchant or e.merchant_org_id == f.merchant,
        not f.delivery_mode or f.delivery_mode in e.delivery_modes,
        f.min_price is None or (e.min_price is not None and e.min_price >= f.min_price),
        f.max_price is None or (e.min_price is not None and e.min_price <= f.max_price),
        not f.free_only or e.has_free,
    ])


def reference(session: Session, q: str | None, f: Filters, sort: str,
              ) -> tuple[list[str], int, dict[str, dict[str, int]]]:
    """Every matching listing in order, the total and the facets, from all rows in Python."""
    words = catalog.query_terms(q) if q else []
    if words:
        words = [*catalog.selective(session, words), catalog.exact_term(q or "")]
    keyed = []
    for e in session.scalars(select(CatalogEntry)):
        postings = catalog.indexed_terms(session, e.product_id)
        matched = [w for w in words if w in postings]
        if (words and not matched) or not _passes(e, f):
            continue
        newest = (-e.listed_at.timestamp(), e.product_id)
        if sort == "price":
            key: tuple[Any, ...] = (e.min_price is None, e.min_price or 0, *newest)
        elif sort == "newest" or not words:
            key = newest
        else:
            key = (-len(matched), -sum(postings[w] for w in matched), *newest)
        keyed.append((key, e))
    keyed.sort(key=lambda pair: pair[0])
    facets: dict[str, dict[str, int]] = {
        name: dict(sorted(Counter(getattr(e, name) for _, e in keyed).items()))
        for name in FACET_NAMES}
    facets["delivery_mode"] = {m: sum(m in e.delivery_modes for _, e in keyed)
                               for m in ("file", "api", "sandbox")}
    facets["free"] = {"true": sum(e.has_free for _, e in keyed)}
    return [e.product_id for _, e in keyed], len(keyed), facets


CASES = [
    ("交通", Filters(), "relevance"), ("交通数据", Filters(), "relevance"),
    ("交通", Filters(region="武汉市"), "relevance"),
    ("交通", Filters(type="dataset", delivery_mode="api"), "relevance"),
    ("交通流量数据", Filters(), "relevance"), ("traffic", Filters(), "relevance"),
    ("traffic flow", Filters(), "relevance"), ("交通 气象", Filters(), "relevance"),
    ("交通", Filters(), "newest"), ("交通", Filters(), "price"),
    ("气象", Filters(free_only=True), "price"), ("交通", Filters(min_price=10000), "newest"),
    (None, Filters(), "newest"), (None, Filters(), "price"),
    (None, Filters(sector="交通运输"), "newest"),
    (None, Filters(region="上海市", delivery_mode="sandbox"), "newest"),
    (None, Filters(free_only=True, classification="important"), "newest"),
    (None, Filters(min_price=6000, max_price=20000), "price"),
    (None, Filters(type="report", development_level="raw"), "price"),
    ("不存在的词", Filters(), "relevance"),
]


@pytest.mark.parametrize(("q", "filters", "sort"), CASES)
def test_every_page_equals_the_reference(session_factory, catalogue, q, filters, sort):
    with session_factory() as session:
        order, total, facets = reference(session, q, filters, sort)
        for limit in (1, 3, 7):
            for offset in range(0, len(order) + limit, limit):
                catalog.facet_cache.clear()
                page = catalog.search(session, q=q, filters=filters, sort=sort,
                                      offset=offset, limit=limit)
                assert [e.product_id for e in page.items] == order[offset:offset + limit]
                assert page.next_offset == (offset + limit
                                            if len(order) > offset + limit else None)
                assert (page.total, page.facets) == (total, facets)


def test_filtering_by_merchant_equals_the_reference(session_factory, catalogue):
    with session_factory() as session:
        merchant = session.scalar(select(CatalogEntry.merchant_org_id).limit(1))
        for q in (None, "交通"):
            f = Filters(merchant=merchant)
            order, total, facets = reference(session, q, f, "relevance")
            page = catalog.search(session, q=q, filters=f, sort="relevance", offset=0,
                                  limit=50)
            assert ([e.product_id for e in page.items], page.total, page.facets) == (
                order, total, facets)


def _facet_counts(session: Session) -> tuple[dict[tuple[Any, ...], int], dict[tuple[Any, ...],
                                                                                 int]]:
    names = [c.key for c in CatalogFacetCount.__table__.c if c.key != "listings"]
    key = [CatalogEntry.__table__.c[name] for name in names]
    kept = {tuple(row[:-1]): row[-1] for row in session.execute(
        select(*(CatalogFacetCount.__table__.c[name] for name in names),
               CatalogFacetCount.listings))}
    actual = {tuple(row[:-1]): row[-1] for row in session.execute(
        select(*key, func.count()).group_by(*key))}
    return kept, actual


def test_facet_counts_follow_every_refresh(session_factory, catalogue):
    with session_factory() as session:
        kept, actual = _facet_counts(session)
        assert kept == actual
        assert sum(kept.values()) == len(catalogue)
    changes = [("region", "上海市"), ("status", "delisted"), ("type", "model"),
               ("status", "listed"), ("classification", "important")]
    for product_id, (field, value) in zip(catalogue[:5], changes, strict=True):
        with session_factory() as session:
            product = session.get(Product, product_id)
            assert product is not None
            version = session.get(ProductVersion, product.latest_version_id)
            setattr(version, field, value)
            session.flush()
            catalog.refresh(session, product_id)
            session.commit()
        with session_factory() as session:
            kept, actual = _facet_counts(session)
            assert kept == actual
            assert 0 not in kept.values()
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(CatalogTerm)) > 0
        catalog.facet_cache.clear()
        browse = catalog.search(session, q=None, filters=Filters(), sort="newest", offset=0,
                                limit=5)
        assert browse.total == len(catalogue) - 1  # one delisted
