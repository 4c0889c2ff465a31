"""Bookkeeping under concurrent writers on PostgreSQL: filing numbers stay distinct and
gap-free, and the catalogue's term counts and listing count stay equal to its postings when
many listings that share words change at once (and nobody deadlocks)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.compliance import services as compliance
from market.compliance.models import Filing, FilingCounter
from market.kernel.actor import Actor
from market.kernel.clock import FixedClock
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.listing import catalog
from market.listing.catalog import CatalogEntry, CatalogState, CatalogTerm, CatalogTermCount
from market.listing.models import Product, ProductVersion
from tests.integration.test_certificates import _committed_party

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("MARKET_TEST_DATABASE_URL"),
                       reason="concurrent writers need a real PostgreSQL (set "
                              "MARKET_TEST_DATABASE_URL, e.g. scripts/with-postgres); SQLite "
                              "serialises writers"),
]


def _race(threads: int, work: Callable[[int], None]) -> list[BaseException]:
    start = threading.Barrier(threads)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        try:
            start.wait(timeout=30)
            work(n)
        except BaseException as exc:  # surfaced by the caller
            with lock:
                errors.append(exc)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return errors


def test_concurrent_filers_get_distinct_gap_free_numbers(
    committed_session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    factory = committed_session_factory
    threads, per_thread = 8, 5
    sellers = [_committed_party(factory, clock, "merchant", n) for n in range(threads)]
    buyer = _committed_party(factory, clock, "buyer", 99)

    def report(n: int) -> None:
        for i in range(per_thread):
            compliance.report_off_exchange(compliance.OffExchangeReport(
                role="seller", counterparty_org_id=buyer.org_id or "",
                product_title=f"场外 {n}-{i}", sector="能源", product_type="dataset",
                amount=1_000 + i, currency="CNY", concluded_at=clock.now() - timedelta(days=1),
                evidence_sha256=["ab" * 32]), uow=UnitOfWork(factory, clock, sellers[n]))

    assert _race(threads, report) == []
    total = threads * per_thread
    with factory() as session:
        numbers = sorted(session.scalars(select(Filing.number)))
        counter = session.get(FilingCounter, 2026)
        assert counter is not None
        assert counter.last == total
    assert numbers == [f"FL-2026-{seq:06d}" for seq in range(1, total + 1)]


def _listed_products(factory: sessionmaker[Session], merchant: Actor, clock: FixedClock,
                     count: int) -> list[str]:
    ids = []
    with factory() as session:
        for i in range(count):
            product = Product(id=new_id("prd"), merchant_org_id=merchant.org_id,
                              created_at=clock.now())
            version = ProductVersion(
                id=new_id("ver"), product_id=product.id, merchant_org_id=merchant.org_id,
                number=1, status="listed", title=f"城市交通流量数据 {i}",
                description="交通 数据 共享 词语", type="dataset",
                development_level="raw", sector="交通运输", tags=["交通"], region="武汉市",
                update_frequency="daily", formats=["csv"], field_schema=[],
                scenarios=["交通治理"], delivery_modes=["file"], derived_from=[],
                quality_reports=[], assessment_reports=[], terms={}, classification="general",
                created_at=clock.now(), updated_at=clock.now(), listed_at=clock.now())
            product.latest_version_id = product.listed_version_id = version.id
            session.add_all([product, version])
            ids.append(product.id)
        session.commit()
    return ids


def test_concurrent_catalogue_changes_keep_counts_equal_to_postings(
    committed_session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    factory = committed_session_factory
    merchant = _committed_party(factory, clock, "merchant", 0)
    threads, per_thread = 6, 4
    products = _listed_products(factory, merchant, clock, threads * per_thread)

    def index(n: int) -> None:
        for product_id in products[n::threads]:
            with factory() as session:
                catalog.refresh(session, product_id)
                session.commit()
        for product_id in products[n::threads][:2]:  # and take two off sale again
            with factory() as session:
                version = session.scalars(select(ProductVersion).where(
                    ProductVersion.product_id == product_id)).one()
                version.status = "delisted"
                session.flush()
                catalog.refresh(session, product_id)
                session.commit()

    assert _race(threads, index) == []
    with factory() as session:
        kept: dict[str, Any] = dict(session.execute(
            select(CatalogTermCount.term, CatalogTermCount.listings)).all())
        actual = dict(session.execute(select(CatalogTerm.term, func.count())
                                      .group_by(CatalogTerm.term)).all())
        listed = session.scalar(select(func.count()).select_from(CatalogEntry))
        state = session.get(CatalogState, 1)
    assert kept == actual
    assert listed == threads * per_thread - 2 * threads
    assert state is not None
    assert state.listings == listed
