"""Matching benchmark: a demand's top 20 and re-matching new listings, against search.

The baseline is a catalogue search measured in the same run on the same data.

PostgreSQL only (``--database-url``, else MARKET_BENCH_DATABASE_URL, else
MARKET_TEST_DATABASE_URL, which ``scripts/with-postgres`` exports). Its ``public`` schema is
dropped and recreated first, so never point it at a database you care about. Then:

* organisations through the services (:func:`participants.register_organisation`, admitted at
  once): one operator (the reviewer the versions name), ``products // 250`` merchants (at
  least 20), each mostly in one sector, and 40 buyers;
* ``--products`` listed products from a deterministic generator (``random.Random(seed)``;
  the vocabulary is bench/search.py's: twelve sectors, subjects, fields, scenarios, regions,
  types, prices; 70 % Chinese titles, 15 % mixed, 15 % English), written straight into
  ``products``, ``product_versions`` (status ``listed``, with the usage ``terms`` {purposes,
  scenarios, territory, …}, the ``product_facts`` the rules found at submission and the
  seller's ``declaration``) and ``offers`` (one-time, subscription, pay-per-use, free tiers,
  面议); the catalogue rows (``catalog_entries``, ``catalog_terms``, ``catalog_term_counts``,
  ``catalog_state``) are computed from those rows as :func:`market.listing.catalog.refresh`
  computes them (its entry fields, :func:`catalog.term_weights`), in bulk. ``index_check``
  then runs ``catalog.refresh`` itself on a sample of the products, in a transaction rolled
  back, and reports whether it left their entry, terms and term counts exactly as seeded.
  Listing history and audit rows are not written (nothing here reads them);
* ``--demands`` demands through :func:`matching.post_demand` as their buyers would post them
  (each is ranked at once and keeps its top matches, as in production), in the same
  sectors, with purposes and scenarios the listings' usage policies may or may not permit;
* ``VACUUM ANALYZE``.

Measured, one call at a time in this process, each with a unit of work (a session) of its own
as a request would have:

* ``top20``: :func:`matching.rank` (``MatchPolicy()``: the top 20 of a pool of 200) for the
  live demands in random order (``--samples`` of them), after a few untimed calls;
* ``search``: the baseline, :func:`catalog.search` with the same demand's title as ``q``
  (limit 20, facets, as the catalogue endpoint calls it), timed right before each ranking.
  In the steady state, as bench/search.py reports it: every title was searched once before,
  so totals and facet counts come from the per-process cache (valid until the catalogue
  changes). ``search_cold`` empties that cache before each search (the first search after a
  listing changed);
* ``rematch``: ``--rematch`` more products are listed (rows as above, then
  ``catalog.refresh`` for each in a transaction of its own, as listing does), then
  :func:`matching.rematch_product` runs for each, as the worker would on ``listing.listed``,
  against every live demand: products per second;
* ``where_time_goes``: for a few rankings and re-matches, the statements they run (count and
  time by the tables each reads) against the Python around them, the functions cProfile
  finds the time in, and ``EXPLAIN ANALYZE`` of the catalogue's relevance statement for a
  typical demand.

    scripts/with-postgres .venv/bin/python bench/matching.py --quick
    scripts/with-postgres .venv/bin/python bench/matching.py       # 100k products, 1k demands

Prints one JSON object on stdout; progress goes to stderr. Targets: top-20 p95 ≤ 50 ms at
100k products, and ≤ 2 × the catalogue search p95 of the same run.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import os
import platform
import pstats
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

import market.models  # noqa: F401  (every table, so foreign keys resolve)
from market import wiring
from market.kernel import canonical, migrate
from market.kernel.actor import Actor, system_actor
from market.kernel.clock import SystemClock
from market.kernel.db import make_engine, make_session_factory
from market.kernel.uow import UnitOfWork
from market.listing import catalog
from market.listing import services as listing_services
from market.listing.catalog import CatalogEntry, CatalogState, CatalogTerm, CatalogTermCount
from market.listing.models import Offer, Product, ProductVersion
from market.matching import services as matching
from market.matching.models import Demand, DemandMatch
from market.participants import services as participants
from market.participants.domain import random_credit_code

# The catalogue's vocabulary is bench/search.py's (run as a script, bench/ is on sys.path),
# so the two benchmarks search the same kind of catalogue.
from search import (  # isort: skip
    NICE_PRICES, ORG_BRANDS, ORG_KINDS, REGIONS, SECTORS, TYPES, _listing, _pick, _ulid,
)

TARGET_TOP20_P95_MS = 50.0  # at 100k products
TARGET_RATIO = 2.0  # top-20 p95 / catalogue search p95, at most
END = datetime(2026, 12, 1, tzinfo=UTC)  # newest seeded listing; the catalogue spans 3 years
BATCH = 2_000
BUYERS = 40

# Demands name their sector with matching's words; merchants write either those words or
# the Chinese name of the sector.
SECTOR_KEYS = {"交通运输": "transport", "医疗卫生": "healthcare", "金融": "finance",
               "气象": "meteorology", "农业": "agriculture", "能源": "energy",
               "政务": "government", "教育": "education", "商务": "commerce",
               "文旅": "culture_tourism", "生态环境": "environment", "通信": "telecom"}
ENGLISH_SECTOR_SHARE = 0.7
# What a buyer means to do with the data (usage terms list them; demands name them).
PURPOSES = {
    "交通运输": ["交通规划", "出行服务", "物流优化", "城市治理"],
    "医疗卫生": ["临床科研", "药物研发", "医保控费", "公共卫生"],
    "金融": ["信贷风控", "投资研究", "反欺诈", "保险定价"],
    "气象": ["灾害预警", "农业生产", "能源调度", "保险精算"],
    "农业": ["产量预估", "农业保险", "价格监测"],
    "能源": ["负荷预测", "碳核算", "能效管理", "电力交易"],
    "政务": ["企业尽调", "城市治理", "政策评估"],
    "教育": ["教育评估", "就业分析", "课程推荐"],
    "商务": ["市场研究", "精准营销", "选址分析", "供应链优化"],
    "文旅": ["旅游营销", "客流管理", "文旅规划"],
    "生态环境": ["环境执法", "污染溯源", "绿色金融"],
    "通信": ["人口流动分析", "城市规划", "应急管理"],
}
FRESHNESS_WANTED = [("realtime", "实时", "real-time"), ("hourly", "逐小时", "hourly"),
                    ("daily", "每日", "daily"), ("weekly", "每周", "weekly"),
                    ("monthly", "每月", "monthly"), ("quarterly", "每季度", "quarterly")]
FORMATS = {"dataset": ["CSV", "Parquet", "XLSX"], "api_service": ["JSON"],
           "report": ["PDF"], "model": ["ONNX", "JSON"], "sandbox": ["SQL"]}


def log(message: str) -> None:
    print(f"[bench/matching] {message}", file=sys.stderr, flush=True)


def _region(rng: random.Random) -> tuple[str, str]:
    zh, en, _ = rng.choices(REGIONS, weights=[r[2] for r in REGIONS])[0]
    return zh, en


SECTOR_WEIGHTS = {s: v[0] for s, v in SECTORS.items()}
TYPE_WEIGHTS = {t: v[0] for t, v in TYPES.items()}


# -- organisations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    id: str
    user_id: str
    actor: Actor


def register(factory: sessionmaker[Session], clock: SystemClock, name: str, role: str,
             n: int) -> Org:
    code = random_credit_code(random.Random(f"{role}{n}"))
    reg = participants.register_organisation(
        participants.OrganisationInput(
            name=name, credit_code=code, contact_name=f"{role} {n}",
            contact_email=f"bench-{role}-{n}-{code.lower()}@example.cn",
            roles=frozenset([role])),
        uow=UnitOfWork(factory, clock, system_actor("bench")), key_ttl=timedelta(days=7),
        reason="bench/matching")
    actor = Actor(kind="user", label=f"bench {role} {n}", user_id=reg.user.id,
                  org_id=reg.organisation.id, roles=frozenset([role]), org_status="admitted",
                  scopes=frozenset({"read", "write"}), key_id=reg.api_key.key.id)
    return Org(reg.organisation.id, reg.user.id, actor)


@dataclass
class Cast:
    operator: Org
    merchants: list[Org]
    by_sector: dict[str, list[Org]]
    buyers: list[Org]


def register_cast(factory: sessionmaker[Session], clock: SystemClock, products: int,
                  rng: random.Random) -> Cast:
    operator = register(factory, clock, "基准测试数据交易所运营方", "operator", 0)
    merchants: list[Org] = []
    by_sector: dict[str, list[Org]] = defaultdict(list)
    for i in range(max(20, products // 250)):
        region_zh, _ = _region(rng)
        sector = _pick(rng, SECTOR_WEIGHTS)
        name = f"{region_zh.rstrip('市省')}{rng.choice(ORG_BRANDS)}{rng.choice(ORG_KINDS)}{i}"
        org = register(factory, clock, name, "merchant", i)
        merchants.append(org)
        by_sector[sector].append(org)
    buyers = [register(factory, clock, f"需求方{i}科技有限公司", "buyer", i)
              for i in range(BUYERS)]
    return Cast(operator, merchants, dict(by_sector), buyers)


# -- listings ------------------------------------------------------------------------------


@dataclass
class Rows:
    products: list[dict[str, Any]] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    offers: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    terms: list[tuple[str, str, int, datetime]] = field(default_factory=list)


def _text(rng: random.Random, sector: str) -> dict[str, Any]:
    """Title, description, tags, scenarios, facets and spec of one listing: bench/search.py's
    generator, plus what a version also carries."""
    item = _listing(rng, sector)
    freq_zh, freq_en = item.pop("frequency")
    y1, y2 = item.pop("years")
    picked_fields = item.pop("fields")
    kind = item["type"]
    item.update(
        update_frequency=freq_zh if item.pop("lang") != "en" else freq_en,
        temporal_from=datetime(y1, 1, 1, tzinfo=UTC),
        temporal_to=datetime(y2, 12, 31, tzinfo=UTC),
        spatial_coverage=item["region"],
        formats=FORMATS[kind][:rng.randint(1, len(FORMATS[kind]))],
        field_schema=[{"name": zh, "description": en, "type": "string"}
                      for zh, en in picked_fields])
    return item


def _offers(rng: random.Random, kind: str) -> list[dict[str, Any]]:
    """The public offers of a version: priced (one-time, subscription or pay-per-use), free
    (public-interest use or a free tier) and 面议, in the shapes OfferSpec validates."""
    def offer(kind: str, name: str, amount: int | None = None, period: str | None = None,
              unit: str | None = None) -> dict[str, Any]:
        return {"kind": kind, "name": name, "currency": "CNY", "amount": amount,
                "period": period, "unit": unit, "cap_amount": None, "quantity": None}

    roll = rng.random()
    if roll < 0.08:
        return [offer("free", "公益版")]
    if roll < 0.16:
        return [offer("negotiable", "面议")]
    if kind == "api_service" and rng.random() < 0.6:
        found = [offer("pay_per_use", "按次计费", rng.choice([1, 2, 5, 10, 20, 50, 100]),
                       unit="call")]
    elif rng.random() < 0.4:
        found = [offer("subscription", "订阅版", rng.choice(NICE_PRICES) * 100,
                       period=rng.choice(["month", "quarter", "year"]))]
    else:
        found = [offer("one_time", "标准版", rng.choice(NICE_PRICES) * 100)]
    if rng.random() < 0.25:
        found.append(offer("one_time", "企业版", (found[0]["amount"] or 1) * 5))
    if roll < 0.22:
        found.append(offer("free", "试用版"))
    if rng.random() < 0.1:
        found.append(offer("negotiable", "定制版（面议）"))
    return found


def _facts(rng: random.Random, item: dict[str, Any], territory: str,
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the rules found the data to be at submission (compliance's ProductFacts) and
    the seller's declaration that agreed with it (the listing gate let both through)."""
    classification = "important" if rng.random() < 0.12 else "general"
    level = item["development_level"]
    if level == "raw" and rng.random() < 0.3:
        pi_level = rng.choice(["deidentified", "personal"])
    elif level == "desensitised":
        pi_level = "anonymised"
    else:
        pi_level = "none"
    personal = pi_level in ("deidentified", "personal")
    facts = {"classification": classification, "pi_level": pi_level,
             "consent_evidence": True, "anonymisation_evidence": True,
             "security_assessment": classification == "important" and rng.random() < 0.5,
             "scenarios": list(item["scenarios"]),
             "cross_border_allowed": territory == "cross_border"}
    declaration = {
        "statement": "本公司承诺所售数据来源合法、权属清晰，不含核心数据。",
        "source_is_lawful": True, "source_basis": rng.choice(["self_collected", "derived",
                                                              "licensed"]),
        "source_evidence_sha256": [],
        "contains_personal_information": personal,
        "personal_information_basis": "consent" if personal else "none",
        "personal_information_evidence_sha256": [],
        "contains_important_data": classification == "important",
        "contains_core_data": False, "cross_border": territory == "cross_border",
        "security_assessment_ref": None, "third_party_rights_cleared": True,
        "security_measures": ["分级访问控制", "传输加密"], "scenarios": list(item["scenarios"]),
        "onward_transfer_commitment": True, "commitments": ["按约定用途使用"],
    }
    return facts, declaration


def entry_row(product: dict[str, Any], version: dict[str, Any],
              offers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The catalogue entry :func:`catalog.refresh` makes of a listed version (its code,
    field by field, on the rows as dictionaries; public offers only)."""
    public = [o for o in offers if o.get("buyer_org_id") is None]
    priced = [o for o in public if o["amount"] is not None and o["kind"] != "negotiable"]
    cheapest = min(priced, key=lambda o: o["amount"] or 0, default=None)
    modes = set(version["delivery_modes"])
    return {
        "product_id": product["id"], "version_id": version["id"],
        "merchant_org_id": product["merchant_org_id"], "title": version["title"],
        "title_key": catalog.normalise(version["title"])[:200], "type": version["type"],
        "sector": version["sector"], "region": version["region"],
        "development_level": version["development_level"],
        "classification": version["classification"] or "general",
        "delivery_modes": sorted(modes), "delivers_file": "file" in modes,
        "delivers_api": "api" in modes, "delivers_sandbox": "sandbox" in modes,
        "min_price": cheapest["amount"] if cheapest else None,
        "currency": cheapest["currency"] if cheapest else None,
        "has_free": any(o["kind"] == "free" for o in public),
        "listed_at": version["listed_at"] or version["updated_at"],
    }


def listing_rows(rng: random.Random, cast: Cast, times: Sequence[datetime]) -> Rows:
    """Products listed at ``times``: their rows, catalogue entries and postings."""
    out = Rows()
    for at in times:
        sector = _pick(rng, SECTOR_WEIGHTS)
        item = _text(rng, sector)
        own = cast.by_sector.get(sector)
        merchant = rng.choice(own) if own and rng.random() < 0.8 else rng.choice(cast.merchants)
        product_id, version_id = _ulid(rng, at, "prd"), _ulid(rng, at, "ver")
        territory = "cross_border" if rng.random() < 0.1 else "domestic"
        purposes = rng.sample(PURPOSES[sector], k=rng.randint(1, min(3, len(PURPOSES[sector]))))
        facts, declaration = _facts(rng, item, territory)
        created = at - timedelta(days=rng.randint(1, 20))
        submitted = at - timedelta(hours=rng.randint(2, 72))
        product = {"id": product_id, "merchant_org_id": merchant.id,
                   "listed_version_id": version_id, "latest_version_id": version_id,
                   "created_at": created}
        version = {
            "id": version_id, "product_id": product_id, "merchant_org_id": merchant.id,
            "number": 1, "status": "listed", "status_reason": "材料齐全，准予挂牌",
            "suspended_by_rights": False,
            "title": item["title"], "description": item["description"], "type": item["type"],
            "development_level": item["development_level"],
            "sector": SECTOR_KEYS[sector] if rng.random() < ENGLISH_SECTOR_SHARE else sector,
            "tags": item["tags"], "region": item["region"],
            "spatial_coverage": item["spatial_coverage"],
            "temporal_from": item["temporal_from"], "temporal_to": item["temporal_to"],
            "update_frequency": item["update_frequency"], "formats": item["formats"],
            "field_schema": item["field_schema"], "scenarios": item["scenarios"],
            "delivery_modes": item["delivery_modes"], "derived_from": [],
            "quality_reports": [], "assessment_reports": [],
            "terms": {"purposes": purposes, "scenarios": list(item["scenarios"]),
                      "territory": territory,
                      "duration_days": rng.choice([None, 365, 365, 730]),
                      "onward_transfer": rng.random() < 0.05, "resale": False,
                      "max_users": rng.choice([None, 5, 10, 50]),
                      "attribution": "数据来源须注明" if rng.random() < 0.2 else None},
            "sample_sha256": None, "sample_name": None, "sample_media_type": None,
            "sample_size": None, "declaration": declaration,
            "declaration_sha256": hashlib.sha256(canonical.dumps(declaration)).hexdigest(),
            "declared_by_user_id": merchant.user_id, "declared_at": submitted,
            "classification": facts["classification"], "product_facts": facts,
            "reviewer_org_id": cast.operator.id, "created_at": created, "updated_at": at,
            "listed_at": at,
        }
        offers = _offers(rng, item["type"])
        for offer in offers:
            offer.update(id=_ulid(rng, created, "ofr"), version_id=version_id, sold=0,
                         buyer_org_id=None, expires_at=None, terms=None, delivery_modes=None,
                         negotiation_id=None, demand_id=None, channel=None,
                         broker_org_id=None, commission_bps=None, created_at=None)
        out.products.append(product)
        out.versions.append(version)
        out.offers.extend(offers)
        out.entries.append(entry_row(product, version, offers))
        weights = catalog.term_weights(title=version["title"], tags=version["tags"],
                                       scenarios=version["scenarios"], sector=version["sector"],
                                       description=version["description"])
        out.terms.extend((t, product_id, w, at) for t, w in weights.items())
    return out


def _insert(conn: Any, rows: Rows, *, entries: bool = True) -> None:
    """The rows of ``rows`` in the connection's transaction; the postings by COPY."""
    for table, batch in ((Product.__table__, rows.products),
                         (ProductVersion.__table__, rows.versions),
                         (Offer.__table__, rows.offers)):
        if batch:
            conn.execute(insert(table), batch)
    if not entries:
        return
    conn.execute(insert(CatalogEntry.__table__), rows.entries)
    if conn.exec_driver_sql("SELECT current_setting('is_superuser')").scalar() == "on":
        # The postings reference entries inserted just above by construction; skipping the
        # per-row foreign-key trigger makes the COPY about twice as fast (as bench/search.py).
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(
            "COPY catalog_terms (term, product_id, weight, listed_at) FROM STDIN") as copy:
        for row in rows.terms:
            copy.write_row(row)


def _times(rng: random.Random, n: int) -> list[datetime]:
    start = END - timedelta(days=3 * 365)
    span = (END - start).total_seconds()
    return sorted(start + timedelta(seconds=span * rng.random() ** 0.7) for _ in range(n))


def seed_listings(engine: Engine, cast: Cast, n: int, seed: int) -> dict[str, Any]:
    """``n`` listed products and their catalogue, in bulk (see the module's docstring)."""
    rng = random.Random(seed)
    times = _times(rng, n)
    term_rows = 0
    generate = insert_seconds = 0.0
    for i in range(0, n, BATCH):
        t = time.perf_counter()
        rows = listing_rows(rng, cast, times[i:i + BATCH])
        generate += time.perf_counter() - t
        t = time.perf_counter()
        with engine.begin() as conn:
            _insert(conn, rows)
        insert_seconds += time.perf_counter() - t
        term_rows += len(rows.terms)
        if (i // BATCH) % 10 == 9 or i + BATCH >= n:
            log(f"  {min(i + BATCH, n)}/{n} listings, {term_rows} postings "
                f"(generate {generate:.0f}s, insert {insert_seconds:.0f}s)")
    t = time.perf_counter()
    with engine.begin() as conn:  # what refresh() keeps up to date, computed in bulk
        conn.execute(CatalogTermCount.__table__.delete())
        conn.execute(insert(CatalogTermCount).from_select(
            ["term", "listings"],
            select(CatalogTerm.term, func.count()).group_by(CatalogTerm.term)))
        catalog.recount_facets(conn)
        conn.execute(update(CatalogState).where(CatalogState.id == 1).values(
            token=os.urandom(16).hex(),
            listings=select(func.count()).select_from(CatalogEntry).scalar_subquery()))
    return {"generate_seconds": round(generate, 1), "insert_seconds": round(insert_seconds, 1),
            "term_counts_seconds": round(time.perf_counter() - t, 1), "postings": term_rows}


def _indexed(session: Session, product_id: str) -> tuple[Any, ...]:
    """A product's catalogue entry, postings and the counts of its terms, as stored."""
    entry_table, term_table = CatalogEntry.__table__, CatalogTerm.__table__
    entry = session.execute(select(entry_table).where(
        entry_table.c.product_id == product_id)).mappings().one()
    terms = {t: (w, at) for t, w, at in session.execute(
        select(term_table.c.term, term_table.c.weight, term_table.c.listed_at)
        .where(term_table.c.product_id == product_id))}
    counts = dict(session.execute(select(CatalogTermCount.term, CatalogTermCount.listings)
                                  .where(CatalogTermCount.term.in_(sorted(terms)))).all())
    return dict(entry), terms, counts


def index_check(factory: sessionmaker[Session], product_ids: Sequence[str]) -> dict[str, Any]:
    """Run catalog.refresh on seeded products (rolled back): does it change anything?"""
    differing: list[str] = []
    with factory() as session:
        state = session.execute(select(CatalogState.listings)).scalar_one()
        for product_id in product_ids:
            before = _indexed(session, product_id)
            catalog.refresh(session, product_id)
            session.flush()
            if _indexed(session, product_id) != before:
                differing.append(product_id)
        state_after = session.execute(select(CatalogState.listings)).scalar_one()
        session.rollback()
    return {"refreshed": len(product_ids), "identical": not differing and state == state_after,
            "differing": differing[:5], "listings_before": state, "listings_after": state_after}


# -- demands -------------------------------------------------------------------------------


def demand_data(rng: random.Random, cast: Cast, now: datetime) -> dict[str, Any]:
    """One demand as a buyer would post it (the fields DemandIn takes)."""
    sector = _pick(rng, SECTOR_WEIGHTS)
    _, subjects, fields, scenarios, _ = SECTORS[sector]
    subject_zh, subject_en = rng.choice(subjects)
    region_zh, region_en = _region(rng) if rng.random() < 0.6 else (None, None)
    types: list[str] = []
    if rng.random() < 0.55:
        types = [_pick(rng, TYPE_WEIGHTS)]
        if rng.random() < 0.15:
            types = sorted({*types, _pick(rng, TYPE_WEIGHTS)})
    modes = [rng.choice(["file", "api", "sandbox"])] if rng.random() < 0.3 else []
    wanted = rng.choice(FRESHNESS_WANTED) if rng.random() < 0.35 else None
    budget = rng.choice(NICE_PRICES) * 100 if rng.random() < 0.6 else None
    purposes = rng.sample(PURPOSES[sector], k=1 if rng.random() < 0.8 else 2)
    scenario = rng.choice(scenarios)
    picked = rng.sample(fields, k=min(len(fields), rng.randint(2, 3)))
    noun = TYPES[types[0]][4] if types else "数据"
    lang = rng.choices(("zh", "mixed", "en"), weights=(70, 15, 15))[0]
    where_zh, where_en = region_zh or "全国", region_en or "China"
    if lang == "zh":
        title = rng.choice([f"求购{region_zh or ''}{subject_zh}{noun}",
                            f"{subject_zh}数据需求", f"寻找{where_zh}{subject_zh}数据源",
                            f"{region_zh or ''}{subject_zh}{noun}采购"])
        description = (f"用于{scenario}，需要覆盖{where_zh}的{subject_zh}数据，字段包括"
                       + "、".join(z for z, _ in picked)
                       + (f"，{wanted[1]}更新" if wanted else "")
                       + (f"，预算{budget // 100}元以内" if budget else "") + "。")
    elif lang == "mixed":
        title = f"{subject_zh} {rng.choice(TYPES[types[0] if types else 'dataset'][3])} 需求"
        description = (f"用于{scenario}。Need {subject_en} data for {where_en}; fields: "
                       + ", ".join(e for _, e in picked) + ".")
    else:
        suffix = rng.choice(TYPES[types[0] if types else "dataset"][2])
        title = rng.choice([f"Looking for {subject_en} data in {where_en}",
                            f"Need {subject_en} {suffix}",
                            f"{subject_en[0].upper()}{subject_en[1:]} wanted"])
        description = (f"We need {subject_en} covering {where_en}"
                       + (f", updated {wanted[2]}" if wanted else "") + ". Fields: "
                       + ", ".join(e for _, e in picked) + f". Use: {scenario}.")
    invited: list[str] = []
    visibility = "public"
    if rng.random() < 0.08 and cast.by_sector.get(sector):
        visibility = "invited"
        own = cast.by_sector[sector]
        invited = [o.id for o in rng.sample(own, k=min(len(own), rng.randint(1, 3)))]
    return {
        "title": title[:200], "description": description, "sector": SECTOR_KEYS[sector],
        "region": region_zh, "product_types": types, "delivery_modes": modes,
        "required_fields": [z for z, _ in picked], "coverage": region_zh,
        "freshness": wanted[0] if wanted else None,
        "budget_min": None if budget is None or rng.random() < 0.7 else budget // 10,
        "budget_max": budget, "currency": "CNY",
        "purpose": f"{purposes[0]}：{scenario}", "purposes": purposes, "scenarios": [scenario],
        "cross_border": rng.random() < 0.04,
        "deadline": now + timedelta(days=rng.randint(30, 120)),
        "visibility": visibility, "invited_org_ids": invited,
    }


def post_demands(factory: sessionmaker[Session], clock: SystemClock, cast: Cast, n: int,
                 seed: int) -> dict[str, Any]:
    rng = random.Random(seed + 7)
    now = clock.now()
    timings = []
    matched = 0
    for i in range(n):
        data = demand_data(rng, cast, now)
        buyer = cast.buyers[i % len(cast.buyers)]
        t = time.perf_counter()
        view = matching.post_demand(data, policy=matching.MatchPolicy(),
                                    uow=UnitOfWork(factory, clock, buyer.actor))
        timings.append((time.perf_counter() - t) * 1000)
        matched += bool(view.matches)
        if (i + 1) % max(1, n // 10) == 0:
            log(f"  {i + 1}/{n} demands posted (last: {timings[-1]:.0f} ms)")
    return {"posted": n, "with_matches": matched, "post_demand": percentiles(timings)}


# -- measurement ---------------------------------------------------------------------------


def percentiles(samples: Sequence[float]) -> dict[str, float | int]:
    if len(samples) < 2:
        return {"samples": len(samples)}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2),
            "p99_ms": round(cuts[98], 2), "max_ms": round(max(samples), 2),
            "mean_ms": round(statistics.fmean(samples), 2), "samples": len(samples)}


@dataclass(frozen=True)
class Sample:
    demand_id: str
    title: str
    want: Any


def samples_of(factory: sessionmaker[Session], limit: int, seed: int) -> list[Sample]:
    with factory() as session:
        demands = list(session.scalars(select(Demand).where(
            Demand.status.in_(["open", "matched"])).order_by(Demand.id)))
        found = [Sample(d.id, d.title, d.want()) for d in demands]
    random.Random(seed + 11).shuffle(found)
    return found[:limit]


def timed_rank(factory: sessionmaker[Session], clock: SystemClock, actor: Actor,
               want: Any) -> tuple[float, float, int]:
    """Milliseconds of wall time and of this process's CPU, and the candidates returned."""
    t, cpu = time.perf_counter(), time.process_time()
    with UnitOfWork(factory, clock, actor) as uow:
        ranking = matching.rank(want, policy=matching.MatchPolicy(), uow=uow)
    return ((time.perf_counter() - t) * 1000, (time.process_time() - cpu) * 1000,
            len(ranking.candidates))


def timed_search(factory: sessionmaker[Session], q: str, *, cold: bool = False) -> float:
    if cold:
        catalog.facet_cache.clear()
    t = time.perf_counter()
    with factory() as session:
        catalog.search(session, q=q, filters=catalog.Filters(), sort="relevance", offset=0,
                       limit=20, facets=True)
    return (time.perf_counter() - t) * 1000


def measure_ranking(factory: sessionmaker[Session], clock: SystemClock,
                    samples: Sequence[Sample], cold: int) -> dict[str, Any]:
    actor = system_actor("bench")
    for s in samples[:10]:  # warm-up: plans, jieba, the pool
        timed_rank(factory, clock, actor, s.want)
    for s in samples:  # every title once, so the steady-state searches find their totals
        timed_search(factory, s.title)
    ranks, cpus, searches, found = [], [], [], []
    for s in samples:
        searches.append(timed_search(factory, s.title))
        elapsed, cpu, n = timed_rank(factory, clock, actor, s.want)
        ranks.append(elapsed)
        cpus.append(cpu)
        found.append(n)
    colds = [timed_search(factory, s.title, cold=True) for s in samples[:cold]]
    return {"top20": {**percentiles(ranks),
                      "python_cpu_ms": {"p50": round(statistics.median(cpus), 2),
                                        "mean": round(statistics.fmean(cpus), 2)},
                      "candidates_returned_mean": round(statistics.fmean(found), 1),
                      "demands_with_fewer_than_20": sum(1 for n in found if n < 20)},
            "search": percentiles(searches), "search_cold": percentiles(colds)}


def list_new(engine: Engine, factory: sessionmaker[Session], cast: Cast, n: int,
             seed: int) -> tuple[list[str], dict[str, Any]]:
    """``n`` more products listed now: rows, then catalog.refresh each in a transaction of
    its own (as listing does when a version is listed)."""
    rng = random.Random(seed + 23)
    now = datetime.now(UTC)
    rows = listing_rows(rng, cast, [now - timedelta(seconds=n - i) for i in range(n)])
    with engine.begin() as conn:
        _insert(conn, rows, entries=False)
    refreshes = []
    for product in rows.products:
        t = time.perf_counter()
        with factory() as session:
            catalog.refresh(session, product["id"])
            session.commit()
        refreshes.append((time.perf_counter() - t) * 1000)
    return [p["id"] for p in rows.products], {"catalog_refresh": percentiles(refreshes)}


def measure_rematch(factory: sessionmaker[Session], clock: SystemClock,
                    product_ids: Sequence[str]) -> dict[str, Any]:
    actor = system_actor("worker")
    with factory() as session:
        live = session.scalar(select(func.count()).select_from(Demand).where(
            Demand.status.in_(["open", "matched"])))
        matches_before = session.scalar(select(func.count()).select_from(DemandMatch))
    timings, took = [], 0
    started = time.perf_counter()
    for product_id in product_ids:
        t = time.perf_counter()
        took += matching.rematch_product(product_id, policy=matching.MatchPolicy(),
                                         uow=UnitOfWork(factory, clock, actor))
        timings.append((time.perf_counter() - t) * 1000)
    seconds = time.perf_counter() - started
    with factory() as session:
        matches_after = session.scalar(select(func.count()).select_from(DemandMatch))
    return {"products": len(product_ids), "live_demands": live, "seconds": round(seconds, 2),
            "products_per_s": round(len(product_ids) / seconds, 2),
            "per_product": percentiles(timings),
            "per_product_per_live_demand_us": round(seconds / len(product_ids) / max(live, 1)
                                                    * 1e6, 1),
            "demands_took_them": took, "demand_matches_before": matches_before,
            "demand_matches_after": matches_after}


# -- where the time goes -------------------------------------------------------------------


_TABLES = re.compile(r'(?:FROM|JOIN|UPDATE|INTO)\s+"?([a-z_]+)', re.IGNORECASE)


class StatementClock:
    """Statements (count, milliseconds) by the tables they name, while ``active``."""

    def __init__(self, engine: Engine) -> None:
        self.active = False
        self.by_label: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self._started: dict[int, float] = {}
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if self.active:
            self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        began = self._started.pop(id(cursor), None)
        if began is None:
            return
        tables = list(dict.fromkeys(t.lower() for t in _TABLES.findall(statement)))
        verb = statement.lstrip().split(None, 1)[0].upper()
        entry = self.by_label[f"{verb} {'+'.join(tables) or '-'}"]
        entry[0] += 1
        entry[1] += (time.perf_counter() - began) * 1000

    @contextmanager
    def measuring(self) -> Iterator[dict[str, list[float]]]:
        self.by_label = defaultdict(lambda: [0, 0.0])
        self.active = True
        try:
            yield self.by_label
        finally:
            self.active = False


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """[wall ms, this process's CPU ms] of the block, filled in when it ends."""
    found = [0.0, 0.0]
    t, cpu = time.perf_counter(), time.process_time()
    try:
        yield found
    finally:
        found[0] = (time.perf_counter() - t) * 1000
        found[1] = (time.process_time() - cpu) * 1000


def _breakdown(by_label: dict[str, list[float]], calls: int, took: list[float],
               ) -> dict[str, Any]:
    """Per call: wall time, the part spent waiting for statements (sent, run, fetched),
    the rest (Python, and waiting for a CPU on a busy machine), and this process's CPU."""
    wall_ms, cpu_ms = took
    sql_ms = sum(v[1] for v in by_label.values())
    return {
        "wall_ms_per_call": round(wall_ms / calls, 2),
        "sql_ms_per_call": round(sql_ms / calls, 2),
        "rest_ms_per_call": round((wall_ms - sql_ms) / calls, 2),
        "python_cpu_ms_per_call": round(cpu_ms / calls, 2),
        "statements_per_call": round(sum(v[0] for v in by_label.values()) / calls, 1),
        "statements": {label: {"per_call": round(n / calls, 2),
                               "ms_per_call": round(ms / calls, 2)}
                       for label, (n, ms) in sorted(by_label.items(), key=lambda kv: -kv[1][1])},
    }


def _profile_top(profile: cProfile.Profile, calls: int, limit: int = 14) -> dict[str, Any]:
    stats = pstats.Stats(profile)
    rows = []
    for (path, line, name), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore
        short = path.split("site-packages/")[-1].replace(os.getcwd() + "/", "")
        rows.append((f"{short}:{line}({name})", nc, tt, ct))

    def top(key: int, only_market: bool) -> dict[str, Any]:
        picked = [r for r in rows if not only_market or r[0].startswith("market/")]
        picked.sort(key=lambda r: -r[key])
        return {r[0]: {"calls_per_call": round(r[1] / calls, 1),
                       "own_ms_per_call": round(r[2] * 1000 / calls, 2),
                       "cumulative_ms_per_call": round(r[3] * 1000 / calls, 2)}
                for r in picked[:limit]}

    return {"by_own_time": top(2, False), "market_by_cumulative_time": top(3, True)}


def explain_relevance(factory: sessionmaker[Session], clock: SystemClock, want: Any,
                      pool: int) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the catalogue statement that ranks the pool, as
    ``listing.candidates`` runs it for ``want`` (whichever words it passes), and how many
    postings the demand's words have."""
    captured: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "catalog_terms" in statement and "catalog_entries" in statement and (
                "GROUP BY" in statement):
            captured.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", grab)
    try:
        with UnitOfWork(factory, clock, system_actor("bench")) as uow:
            listing_services.candidates(want.words, types=want.product_types,
                                        modes=want.delivery_modes, limit=pool, uow=uow)
    finally:
        event.remove(Engine, "before_cursor_execute", grab)
    with factory() as session:
        statement, parameters = captured[0]
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            plan = [r[0] for r in cursor.fetchall()]
        counts = dict(session.execute(select(CatalogTermCount.term, CatalogTermCount.listings)
                                      .where(CatalogTermCount.term.in_(sorted(set(want.words)))))
                      .all())
        listings = session.execute(select(CatalogState.listings)).scalar_one()
    common = [w for w in want.words if counts.get(w, 0) > catalog.COMMON_SHARE * listings]
    selective = [w for w in set(want.words) if w not in common]
    return {
        "words": list(want.words),
        "postings_by_word": {w: counts.get(w, 0) for w in want.words},
        "postings_of_all_words": sum(counts.get(w, 0) for w in set(want.words)),
        "postings_without_common_words": sum(counts.get(w, 0) for w in selective),
        "common_words": common,
        "plan": plan,
    }


def where_time_goes(engine: Engine, factory: sessionmaker[Session], clock: SystemClock,
                    samples: Sequence[Sample], rematch_ids: Sequence[str],
                    clock_sql: StatementClock) -> dict[str, Any]:
    actor = system_actor("bench")
    out: dict[str, Any] = {}
    picked = list(samples[:40])
    for s in picked:  # the re-match phase changed the catalogue: totals cached anew
        timed_search(factory, s.title)
    with clock_sql.measuring() as by_label, stopwatch() as took:
        for s in picked:
            timed_search(factory, s.title)
    out["search"] = _breakdown(by_label, len(picked), took)
    with clock_sql.measuring() as by_label, stopwatch() as took:
        for s in picked:
            timed_rank(factory, clock, actor, s.want)
    out["top20"] = _breakdown(by_label, len(picked), took)
    profile = cProfile.Profile()
    profile.enable()
    for s in picked:
        timed_rank(factory, clock, actor, s.want)
    profile.disable()
    out["top20"]["profile"] = _profile_top(profile, len(picked))
    # The demand whose words have the median number of postings.
    with factory() as session:
        def postings(s: Sample) -> int:
            return int(session.scalar(select(func.coalesce(func.sum(CatalogTermCount.listings),
                                                            0))
                                      .where(CatalogTermCount.term.in_(set(s.want.words))))
                       or 0)
        sized = sorted(((postings(s), s) for s in picked), key=lambda p: p[0])
    out["postings_per_demand"] = {"min": sized[0][0], "median": sized[len(sized) // 2][0],
                                  "max": sized[-1][0]}
    out["explain_median_demand"] = explain_relevance(
        factory, clock, sized[len(sized) // 2][1].want, matching.MatchPolicy().pool)
    if rematch_ids:
        ids = list(rematch_ids)
        with clock_sql.measuring() as by_label, stopwatch() as took:
            for product_id in ids[:5]:
                matching.rematch_product(product_id, policy=matching.MatchPolicy(),
                                         uow=UnitOfWork(factory, clock, system_actor("worker")))
        out["rematch"] = _breakdown(by_label, len(ids[:5]), took)
        profile = cProfile.Profile()
        profile.enable()
        for product_id in ids[5:10]:
            matching.rematch_product(product_id, policy=matching.MatchPolicy(),
                                     uow=UnitOfWork(factory, clock, system_actor("worker")))
        profile.disable()
        out["rematch"]["profile"] = _profile_top(profile, len(ids[5:10]))
    return out


# -- main ----------------------------------------------------------------------------------


def database_url(given: str | None) -> str:
    url = given or os.environ.get("MARKET_BENCH_DATABASE_URL") or os.environ.get(
        "MARKET_TEST_DATABASE_URL")
    if not url or not url.startswith("postgresql"):
        raise SystemExit("bench/matching.py needs PostgreSQL: --database-url, "
                         "MARKET_BENCH_DATABASE_URL or MARKET_TEST_DATABASE_URL "
                         "(scripts/with-postgres sets the last)")
    return url


def fresh_engine(url: str) -> Engine:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    migrate.upgrade(engine)
    return engine


def vacuum(engine: Engine) -> float:
    t = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    return round(time.perf_counter() - t, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=None, help=(
        "PostgreSQL, dropped and recreated (default: MARKET_BENCH_DATABASE_URL, then "
        "MARKET_TEST_DATABASE_URL)"))
    parser.add_argument("--products", type=int, default=None, help="listed products (100000)")
    parser.add_argument("--demands", type=int, default=None, help="live demands (1000)")
    parser.add_argument("--rematch", type=int, default=None,
                        help="products newly listed and re-matched (1000)")
    parser.add_argument("--samples", type=int, default=None,
                        help="demands ranked, each once (default: every live demand)")
    parser.add_argument("--cold", type=int, default=200, help="cold searches measured")
    parser.add_argument("--quick", action="store_true",
                        help="5,000 products, 100 demands, 100 re-matched: a smoke run")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--no-profile", action="store_true", help="skip where_time_goes")
    args = parser.parse_args(argv)
    quick = args.quick
    products = args.products or (5_000 if quick else 100_000)
    demands = args.demands or (100 if quick else 1_000)
    rematch = args.rematch if args.rematch is not None else (100 if quick else 1_000)
    samples = args.samples or demands

    began = time.perf_counter()
    load_before = list(os.getloadavg())
    url = database_url(args.database_url)
    engine = fresh_engine(url)
    wiring.connect()
    factory = make_session_factory(engine)
    clock = SystemClock()
    with engine.connect() as conn:
        server_version = conn.exec_driver_sql("SHOW server_version").scalar()
        shared_buffers = conn.exec_driver_sql("SHOW shared_buffers").scalar()
    seeded: dict[str, Any] = {}

    t = time.perf_counter()
    cast = register_cast(factory, clock, products, random.Random(args.seed + 1))
    seeded["organisations_seconds"] = round(time.perf_counter() - t, 1)
    log(f"registered {len(cast.merchants)} merchants, {len(cast.buyers)} buyers "
        f"in {seeded['organisations_seconds']}s")
    t = time.perf_counter()
    seeded["listings"] = seed_listings(engine, cast, products, args.seed)
    seeded["listings_seconds"] = round(time.perf_counter() - t, 1)
    seeded["vacuum_analyze_seconds"] = vacuum(engine)
    with factory() as session:
        ids = list(session.scalars(select(Product.id).order_by(Product.id)))
        catalogue = {"listings": session.execute(select(CatalogState.listings)).scalar_one(),
                     "postings": seeded["listings"]["postings"],
                     "distinct_terms": session.scalar(select(func.count())
                                                      .select_from(CatalogTermCount))}
    catalogue["index_check"] = index_check(
        factory, random.Random(args.seed + 3).sample(ids, min(100, len(ids))))
    log(f"catalogue: {catalogue}")
    if not catalogue["index_check"]["identical"]:
        log("the seeded catalogue is not what catalog.refresh makes of the rows")

    t = time.perf_counter()
    log(f"posting {demands} demands through matching.post_demand …")
    posted = post_demands(factory, clock, cast, demands, args.seed)
    seeded["demands_seconds"] = round(time.perf_counter() - t, 1)
    seeded["vacuum_analyze_seconds"] += vacuum(engine)
    with factory() as session:
        posted["matches_active"] = session.scalar(select(func.count()).select_from(DemandMatch)
                                                  .where(DemandMatch.active.is_(True)))
        posted["by_status"] = dict(session.execute(select(Demand.status, func.count())
                                                   .group_by(Demand.status)).all())
    log(f"demands: {posted}")
    del ids
    gc.collect()
    gc.freeze()

    picked = samples_of(factory, samples, args.seed)
    log(f"ranking {len(picked)} demands, each after a catalogue search of its title …")
    ranking = measure_ranking(factory, clock, picked, min(args.cold, len(picked)))
    log(f"top20 {ranking['top20']}, search {ranking['search']}")

    log(f"listing {rematch} more products (catalog.refresh each) …")
    new_ids, listed = list_new(engine, factory, cast, rematch + (10 if not args.no_profile
                                                                 else 0), args.seed)
    spare, new_ids = new_ids[rematch:], new_ids[:rematch]
    log(f"re-matching {len(new_ids)} new products against the live demands …")
    rematched = measure_rematch(factory, clock, new_ids) if new_ids else None
    log(f"rematch {rematched}")

    profiled = None
    if not args.no_profile:
        log("where the time goes …")
        clock_sql = StatementClock(engine)
        profiled = where_time_goes(engine, factory, clock, picked, spare, clock_sql)

    top20_p95 = ranking["top20"]["p95_ms"]
    search_p95 = ranking["search"]["p95_ms"]
    cold_p95 = ranking["search_cold"].get("p95_ms")
    ratio = round(top20_p95 / search_p95, 2)
    ratio_cold = round(top20_p95 / cold_p95, 2) if cold_p95 else None
    report = {
        "parameters": {
            "products": products, "demands": demands, "rematch": rematch,
            "samples": len(picked), "quick": quick, "seed": args.seed,
            "policy": {"top": matching.MatchPolicy().top, "pool": matching.MatchPolicy().pool},
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "postgresql": server_version, "shared_buffers": shared_buffers,
            "load_average_before": load_before,
        },
        "seed_seconds": seeded,
        "catalogue": catalogue,
        "demands": posted,
        "top20": ranking["top20"],
        "search": ranking["search"],
        "search_cold": ranking["search_cold"],
        "ratio_top20_p95_to_search_p95": ratio,
        "ratio_top20_p95_to_cold_search_p95": ratio_cold,
        "rematch": {**rematched, **listed} if rematched else listed,
        "targets": {
            "top20_p95_ms_at_most": TARGET_TOP20_P95_MS,
            "top20_p95_met": top20_p95 <= TARGET_TOP20_P95_MS,
            "applies_at_100k": products >= 100_000,
            "ratio_to_search_p95_at_most": TARGET_RATIO,
            "ratio_met": ratio <= TARGET_RATIO,
            "ratio_to_cold_search_met": ratio_cold is not None and ratio_cold <= TARGET_RATIO,
        },
        "where_time_goes": profiled,
        "load_average_after": list(os.getloadavg()),
        "runtime_seconds": round(time.perf_counter() - began, 1),
    }
    engine.dispose()
    print(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
