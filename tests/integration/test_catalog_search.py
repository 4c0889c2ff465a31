"""The public catalogue: bilingual search, ranking, filters, facets, disclosure statistics and
the JSON-LD exports. Listed products are written straight into the listing tables (the
listing lifecycle has its own tests) and indexed with :func:`catalog.refresh`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pyld import jsonld
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.ids import new_id
from market.listing import catalog
from market.listing.catalog import CatalogEntry, CatalogState, CatalogTerm, CatalogTermCount
from market.listing.models import Offer, Product, ProductVersion
from tests.conftest import START, Party

API = "/api/v1"

TERMS = {"purposes": ["交通规划"], "scenarios": ["城市交通治理"], "territory": "domestic",
         "duration_days": 365, "onward_transfer": False, "resale": False, "max_users": 5,
         "attribution": "数据来源：示例"}


@pytest.fixture
def publish(session_factory: sessionmaker[Session],
            make_party: Callable[..., Party]) -> Callable[..., str]:
    merchant = make_party("merchant")
    counter = iter(range(1000))

    def publish(title: str, *, status: str = "listed", description: str = "",
                sector: str = "交通运输",
                type: str = "dataset", region: str = "武汉市", tags: tuple[str, ...] = (),
                modes: tuple[str, ...] = ("file",), price: int | None = 10000,
                free: bool = False, level: str = "desensitised") -> str:
        n = next(counter)
        with session_factory() as session:
            product = Product(id=new_id("prd"), merchant_org_id=merchant.org_id,
                              created_at=START)
            at = START + timedelta(minutes=n)
            version = ProductVersion(
                id=new_id("ver"), product_id=product.id, merchant_org_id=merchant.org_id,
                number=1, status=status, title=title, description=description or title,
                type=type, development_level=level, sector=sector, tags=list(tags),
                region=region, update_frequency="daily", formats=["csv"], field_schema=[],
                scenarios=[f"{sector}行业分析"], delivery_modes=list(modes), derived_from=[],
                quality_reports=[], assessment_reports=[], terms=TERMS,
                classification="general", created_at=at, updated_at=at,
                listed_at=at if status == "listed" else None,
            )
            product.latest_version_id = version.id
            product.listed_version_id = version.id if status in ("listed", "suspended") else None
            session.add_all([product, version])
            session.flush()
            if free:
                session.add(Offer(id=new_id("ofr"), version_id=version.id, kind="free",
                                  name="公益", currency="CNY", amount=None, sold=0))
            if price is not None:
                session.add(Offer(id=new_id("ofr"), version_id=version.id, kind="one_time",
                                  name="一次性", currency="CNY", amount=price, sold=0))
            session.flush()
            catalog.refresh(session, product.id)
            session.commit()
        return product.id

    return publish


def search(client: Any, **params: Any) -> dict[str, Any]:
    response = client.get(f"{API}/catalog", query_string=params)
    assert response.status_code == 200, response.get_json()
    return dict(response.json)


def titles(result: dict[str, Any]) -> list[str]:
    return [item["title"] for item in result["items"]]


def test_two_character_chinese_words_match_inside_longer_text(client, publish):
    publish("城市道路交通流量数据")
    publish("三甲医院医疗影像脱敏数据集", sector="医疗卫生")
    publish("企业工商登记信息", sector="商务")

    assert titles(search(client, q="交通")) == ["城市道路交通流量数据"]
    assert titles(search(client, q="医疗")) == ["三甲医院医疗影像脱敏数据集"]
    assert search(client, q="气象")["total"] == 0


def test_english_and_mixed_queries_match(client, publish):
    publish("Urban traffic flow 城市交通流量", tags=("traffic", "mobility"))
    publish("Hospital imaging 医疗影像", sector="医疗卫生")

    assert titles(search(client, q="TRAFFIC")) == ["Urban traffic flow 城市交通流量"]
    assert titles(search(client, q="交通 flow")) == ["Urban traffic flow 城市交通流量"]
    assert titles(search(client, q="imaging 影像")) == ["Hospital imaging 医疗影像"]


def test_an_exact_title_match_ranks_first(client, publish):
    publish("交通流量", description="交通流量 交通流量 交通流量", tags=("交通流量",))
    publish("交通流量预测", description="交通 流量 交通流量预测模型", tags=("交通", "流量"))
    publish("城市交通流量热力图", tags=("交通流量", "热力图"))

    ranked = titles(search(client, q="交通流量预测"))
    assert ranked[0] == "交通流量预测"
    assert set(ranked) == {"交通流量", "交通流量预测", "城市交通流量热力图"}


def test_a_title_match_outranks_a_description_match(client, publish):
    publish("企业信用评分", description="提及交通的企业信用数据")
    publish("公交客流", description="交通运输行业数据", tags=("交通",))

    assert titles(search(client, q="交通"))[0] == "公交客流"


def test_drafts_and_unlisted_products_never_appear(client, publish):
    publish("公开交通数据")
    for status in ("draft", "submitted", "under_review", "returned", "rejected"):
        publish(f"未挂牌交通数据 {status}", status=status)

    result = search(client, q="交通")
    assert titles(result) == ["公开交通数据"]
    assert search(client)["total"] == 1


@pytest.mark.parametrize(("facet", "param", "values"), [
    ("type", "type", ("dataset", "api_service", "report")),
    ("sector", "sector", ("交通运输", "医疗卫生")),
    ("region", "region", ("武汉市", "上海市")),
    ("development_level", "development_level", ("raw", "modelled")),
])
def test_filters_and_facets_agree(client, publish, facet, param, values):
    for i in range(6):
        value = values[i % len(values)]
        publish(f"交通数据 {i}", **{{"development_level": "level"}.get(param, param): value})

    everything = search(client, q="交通")
    assert everything["total"] == 6
    counts = everything["facets"][facet]
    assert sum(counts.values()) == 6
    for value in values:
        filtered = search(client, q="交通", **{param: value})
        assert filtered["total"] == counts[value] == len(filtered["items"])
        assert all(item[param] == value for item in filtered["items"])
        assert filtered["facets"][facet] == {value: counts[value]}


def test_delivery_price_and_free_filters_agree_with_facets(client, publish):
    publish("文件交通数据", modes=("file",), price=5000)
    publish("接口交通数据", modes=("api",), price=20000)
    publish("沙箱交通数据", modes=("sandbox", "api"), price=None, free=True)

    result = search(client, q="交通")
    assert result["facets"]["delivery_mode"] == {"api": 2, "file": 1, "sandbox": 1}
    assert result["facets"]["free"] == {"true": 1}
    assert titles(search(client, q="交通", delivery_mode="api", sort="newest")) == [
        "沙箱交通数据", "接口交通数据"]
    assert titles(search(client, free_only="true")) == ["沙箱交通数据"]
    assert titles(search(client, min_price=10000)) == ["接口交通数据"]
    assert titles(search(client, max_price=10000)) == ["文件交通数据"]
    assert titles(search(client, sort="price")) == ["文件交通数据", "接口交通数据", "沙箱交通数据"]


def test_pagination_walks_every_result_once(client, publish):
    for i in range(7):
        publish(f"交通数据 {i}")
    seen: list[str] = []
    params: dict[str, Any] = {"q": "交通", "limit": 3}
    while True:
        page = search(client, **params)
        seen += [item["product_id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 7


def test_statistics_disclose_listed_products_by_sector_and_type(client, publish):
    publish("a", sector="交通运输", type="dataset")
    publish("b", sector="交通运输", type="api_service")
    publish("c", sector="医疗卫生", type="dataset")
    publish("d", sector="医疗卫生", type="dataset", status="draft")

    stats = client.get(f"{API}/catalog/statistics").json
    assert stats["by_sector"] == {"交通运输": 2, "医疗卫生": 1}
    assert stats["by_type"] == {"api_service": 1, "dataset": 2}
    assert stats["total"] == {"listed": 3}


def test_odrl_terms_parse_as_json_ld_and_state_the_policy(client, publish):
    product_id = publish("交通数据")
    response = client.get(f"{API}/catalog/{product_id}/terms.jsonld")
    assert response.status_code == 200
    assert response.mimetype == "application/ld+json"
    expanded = jsonld.expand(response.json)
    odrl = "http://www.w3.org/ns/odrl/2/"
    policy = expanded[0]
    assert policy["@type"] == [f"{odrl}Offer"]
    permission = policy[f"{odrl}permission"][0]
    assert permission[f"{odrl}action"] == [{"@id": f"{odrl}use"}]
    operands = {c[f"{odrl}leftOperand"][0]["@id"] for c in permission[f"{odrl}constraint"]}
    assert operands == {f"{odrl}{name}" for name in
                        ("purpose", "industry", "spatial", "elapsedTime", "count")}
    prohibited = {p[f"{odrl}action"][0]["@id"] for p in policy[f"{odrl}prohibition"]}
    assert prohibited == {f"{odrl}distribute", f"{odrl}sell"}


def test_dcat_catalogue_and_dataset_parse_as_json_ld(client, publish):
    product_id = publish("城市交通流量数据", tags=("traffic",))
    publish("草稿", status="draft")
    dcat, dct = "http://www.w3.org/ns/dcat#", "http://purl.org/dc/terms/"

    whole = jsonld.expand(client.get(f"{API}/catalog.jsonld").json)
    datasets = whole[0][f"{dcat}dataset"]
    assert len(datasets) == 1
    assert datasets[0][f"{dct}title"] == [{"@value": "城市交通流量数据", "@language": "zh"}]

    one = client.get(f"{API}/catalog/{product_id}/dcat.jsonld")
    assert one.mimetype == "application/ld+json"
    expanded = jsonld.expand(one.json)[0]
    assert expanded["@type"] == [f"{dcat}Dataset"]
    assert {k["@value"] for k in expanded[f"{dcat}keyword"]} == {
        "traffic", "交通运输行业分析", "交通运输", "武汉市"}
    assert [f["@id"] for f in expanded[f"{dct}accrualPeriodicity"]] == [
        "http://publications.europa.eu/resource/authority/frequency/DAILY"]
    assert expanded[f"{dcat}distribution"]


def test_unlisted_products_have_no_public_exports(client, publish):
    draft = publish("草稿交通数据", status="draft")
    for path in (f"/catalog/{draft}", f"/catalog/{draft}/terms.jsonld",
                 f"/catalog/{draft}/dcat.jsonld"):
        response = client.get(f"{API}{path}")
        assert response.status_code == 404
        assert response.json["code"] == "product_not_found"


# -- the index's bookkeeping: term counts, state token, common words, cached facets ------


def _counts_agree_with_postings(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        kept = dict(session.execute(select(CatalogTermCount.term, CatalogTermCount.listings)).all())
        actual = dict(session.execute(select(CatalogTerm.term, func.count())
                                      .group_by(CatalogTerm.term)).all())
        assert kept == actual
        state = session.get(CatalogState, 1)
        assert state is not None
        assert state.listings == session.scalar(select(func.count()).select_from(CatalogEntry))


def _relist(session_factory: sessionmaker[Session], product_id: str, *, title: str | None,
            status: str = "listed") -> None:
    with session_factory() as session:
        product = session.get(Product, product_id)
        assert product is not None
        version = session.get(ProductVersion, product.latest_version_id)
        assert version is not None
        version.status = status
        if title is not None:
            version.title = version.description = title
        session.flush()
        catalog.refresh(session, product_id)
        session.commit()


def test_term_counts_and_listing_count_follow_every_refresh(session_factory, publish):
    with session_factory() as session:
        before = session.get(CatalogState, 1)
        tokens = {before.token if before else None}
    first = publish("城市交通流量")
    second = publish("医疗影像", sector="医疗卫生")
    publish("未挂牌交通", status="draft")
    _counts_agree_with_postings(session_factory)

    _relist(session_factory, first, title="气象观测 weather")  # words change
    _counts_agree_with_postings(session_factory)
    _relist(session_factory, second, title=None, status="delisted")
    _counts_agree_with_postings(session_factory)
    with session_factory() as session:
        assert session.scalar(select(CatalogTermCount.listings)
                              .where(CatalogTermCount.term == "医疗")) is None
        tokens.add(session.get(CatalogState, 1).token)
    _relist(session_factory, second, title=None)  # listed again
    _counts_agree_with_postings(session_factory)
    with session_factory() as session:
        tokens.add(session.get(CatalogState, 1).token)
    assert len(tokens) == 3


def test_a_word_most_listings_contain_is_left_out_when_a_selective_word_remains(
    client, publish, monkeypatch,
):
    monkeypatch.setattr(catalog, "COMMON_MIN_LISTINGS", 1)
    for i in range(6):
        publish(f"企业信用数据 {i}", sector="商务")
    publish("交通流量数据")

    # 数据 is in every listing, 交通 in one: the query means 交通.
    assert titles(search(client, q="交通数据")) == ["交通流量数据"]
    # Alone, or beside a word no listing contains, the common word still counts.
    assert search(client, q="数据")["total"] == 7
    assert search(client, q="数据 区块链")["total"] == 7
    # Below the catalogue size where this starts, every word counts.
    monkeypatch.setattr(catalog, "COMMON_MIN_LISTINGS", 1000)
    assert search(client, q="交通数据")["total"] == 7


def test_cached_totals_and_facets_equal_fresh_ones_and_follow_changes(
    client, publish, session_factory,
):
    for i in range(4):
        publish(f"交通数据 {i}", type=("dataset", "report")[i % 2])
    catalog.facet_cache.clear()
    fresh = search(client, q="交通", type="dataset")
    cached = search(client, q="交通", type="dataset")
    assert cached == fresh
    assert fresh["total"] == 2

    added = publish("交通数据 新", type="dataset")
    after = search(client, q="交通", type="dataset")
    assert after["total"] == 3
    assert after["facets"]["type"] == {"dataset": 3}
    _relist(session_factory, added, title=None, status="suspended")
    assert search(client, q="交通", type="dataset")["total"] == 2


def test_a_missing_state_row_is_made_again_from_the_entries(session_factory, publish):
    publish("城市交通流量")
    with session_factory() as session:
        session.execute(delete(CatalogState))
        session.commit()
    publish("医疗影像", sector="医疗卫生")
    _counts_agree_with_postings(session_factory)
    with session_factory() as session:
        state = session.get(CatalogState, 1)
        assert state is not None
        assert state.listings == 2
