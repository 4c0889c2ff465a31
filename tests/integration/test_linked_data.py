"""The linked-data exports against their standards.

DCAT-AP 3: a catalogue page and a dataset document, as the public API serves them, are
validated with pyshacl against the official DCAT-AP 3.0.0 SHACL shapes vendored in
``tests/data/dcat-ap-3.0.0`` (see its README for which files and why); every controlled
value is an IRI of its authority table, never a literal, and prices are in major units.

ODRL 2.2: the policy of an offer expands as JSON-LD and carries the price as a
``compensate`` duty refined by ``payAmount`` (major units, the currency as its unit); a free
or negotiable offer owes no payment, and the constraints the policy evaluator reads keep
their form.

Listed products are written straight into the listing tables, as in
``test_catalog_search``; one test lists a product through the API end to end.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pyshacl
import pytest
from flask.testing import FlaskClient
from pyld import jsonld
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SH, SKOS
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.ids import new_id
from market.listing import catalog
from market.listing.models import Offer, Product, ProductVersion
from tests.api.test_listing_api import Desk, offer
from tests.conftest import START, Party, problem
from tests.integration.rights_fixtures import (  # noqa: F401
    RightsWorld,
    rights_fixture,
    signer_fixture,
)

API = "/api/v1"
SHAPES = Path(__file__).resolve().parent.parent / "data" / "dcat-ap-3.0.0"
SHAPE_FILES = ("shapes.ttl", "range.ttl", "mdr-vocabularies.shape.ttl", "deprecateduris.ttl")

AUTHORITY = "http://publications.europa.eu/resource/authority/"
ODRL = "http://www.w3.org/ns/odrl/2/"
RDF_VALUE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#value"
XSD_DECIMAL = "http://www.w3.org/2001/XMLSchema#decimal"
SCHEMA = "https://schema.org/"

# Properties whose values DCAT-AP 3 takes from controlled vocabularies, and the authority
# table each must come from (None: any IRI, e.g. the exchange's own schemes).
CONTROLLED = {
    DCTERMS.accrualPeriodicity: AUTHORITY + "frequency/",
    DCTERMS.format: AUTHORITY + "file-type/",
    DCAT.theme: AUTHORITY + "data-theme/",
    DCAT.themeTaxonomy: AUTHORITY + "data-theme",
    DCTERMS.spatial: AUTHORITY + "country/",
    DCTERMS.type: None,
    DCTERMS.publisher: None,
    DCTERMS.conformsTo: None,
    DCAT.landingPage: None,
}
# What the profile only recommends and this exchange cannot do: its publishers are not EU
# corporate bodies, and no EU dataset-type concept fits a data product.
EXPECTED_WARNINGS = {DCTERMS.publisher, DCTERMS.type}

TERMS = {"purposes": ["交通规划"], "scenarios": ["城市交通治理"], "territory": "domestic",
         "duration_days": 365, "onward_transfer": False, "resale": False, "max_users": 5,
         "attribution": None}


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def publish(session_factory: sessionmaker[Session],
            make_party: Callable[..., Party]) -> Callable[..., tuple[str, dict[str, str]]]:
    """List a product straight into the tables; returns its id and its offers' ids by
    kind."""
    merchant = make_party("merchant", name="武汉城市数据科技有限公司")
    counter = iter(range(1000))

    def publish(title: str = "城市道路交通流量数据", *, sector: str = "交通运输",
                region: str = "武汉市", update_frequency: str = "daily",
                formats: tuple[str, ...] = ("csv", "json"), type: str = "dataset",
                modes: tuple[str, ...] = ("file", "api"),
                offers: tuple[dict[str, Any], ...] = (
                    {"kind": "one_time", "amount": 500_000, "currency": "CNY"},),
                tags: tuple[str, ...] = ("traffic",), spatial_coverage: str | None = None,
                ) -> tuple[str, dict[str, str]]:
        n = next(counter)
        at = START + timedelta(minutes=n)
        with session_factory() as session:
            product = Product(id=new_id("prd"), merchant_org_id=merchant.org_id,
                              created_at=START)
            version = ProductVersion(
                id=new_id("ver"), product_id=product.id, merchant_org_id=merchant.org_id,
                number=1, status="listed", title=title, description=f"{title}，按路段汇总。",
                type=type, development_level="desensitised", sector=sector,
                tags=list(tags), region=region, spatial_coverage=spatial_coverage,
                update_frequency=update_frequency, formats=list(formats), field_schema=[],
                scenarios=["城市交通治理"], delivery_modes=list(modes), derived_from=[],
                quality_reports=[], assessment_reports=[], terms=TERMS,
                classification="general", created_at=at, updated_at=at, listed_at=at,
                temporal_from=START - timedelta(days=365),
            )
            product.latest_version_id = version.id
            product.listed_version_id = version.id
            session.add_all([product, version])
            session.flush()
            ids: dict[str, str] = {}
            for spec in offers:
                row = Offer(id=new_id("ofr"), version_id=version.id, name=f"{spec['kind']} 方案",
                            sold=0, **{"currency": "CNY", "amount": None, **spec})
                session.add(row)
                ids[spec["kind"]] = row.id
            session.flush()
            catalog.refresh(session, product.id)
            session.commit()
        return product.id, ids

    return publish


@pytest.fixture(name="desk")
def desk_fixture(client: FlaskClient, rights: RightsWorld) -> Desk:
    """Requests through the API, as in ``test_listing_api``."""
    return Desk(client, rights)


# -- helpers -----------------------------------------------------------------------------


@cache
def shapes_graph() -> Graph:
    graph = Graph()
    for name in SHAPE_FILES:
        graph.parse(SHAPES / name, format="turtle")
    return graph


def rdf(document: dict[str, Any]) -> Graph:
    """The document as RDF, read offline (its context is inline)."""
    nquads = jsonld.to_rdf(document, {"format": "application/n-quads"})
    return Graph().parse(data=nquads, format="nt")


def shacl(document: dict[str, Any]) -> Graph:
    """Validate against the DCAT-AP 3.0.0 shapes: no violation, and no warning but those
    the exchange expects. Returns the data graph."""
    data = rdf(document)
    conforms, report, text = pyshacl.validate(data, shacl_graph=shapes_graph(),
                                              inference="none", allow_warnings=True)
    assert conforms, text
    warned = {report.value(result, SH.resultPath)
              for result in report.subjects(SH.resultSeverity, SH.Warning)}
    assert warned <= EXPECTED_WARNINGS, text
    return data


def literal_controlled_values(graph: Graph) -> list[tuple[str, str, str]]:
    """Every controlled value that is not an IRI of its table: (subject, property, value)."""
    found = []
    for prop, table in CONTROLLED.items():
        for subject, value in graph.subject_objects(prop):
            if isinstance(value, Literal) or not isinstance(value, URIRef) or (
                table is not None and not str(value).startswith(table)
            ):
                found.append((str(subject), graph.qname(prop), str(value)))
    return found


def get_jsonld(client: Any, path: str) -> dict[str, Any]:
    response = client.get(f"{API}{path}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/ld+json"
    return dict(response.json)


def dataset_of(client: Any, product_id: str) -> dict[str, Any]:
    return get_jsonld(client, f"/catalog/{product_id}/dcat.jsonld")


def policy_of(client: Any, product_id: str, offer_id: str | None = None) -> dict[str, Any]:
    query = f"?offer={offer_id}" if offer_id else ""
    return get_jsonld(client, f"/catalog/{product_id}/terms.jsonld{query}")


def compensations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``compensate`` duties of the (expanded) policy's permissions, as
    ``{"amount", "datatype", "unit", "refinements"}``."""
    found = []
    [policy] = jsonld.expand(document)
    for permission in policy.get(f"{ODRL}permission", []):
        for duty in permission.get(f"{ODRL}duty", []):
            for action in duty[f"{ODRL}action"]:
                if action.get(RDF_VALUE) != [{"@id": f"{ODRL}compensate"}]:
                    continue
                refinements = {r[f"{ODRL}leftOperand"][0]["@id"].removeprefix(ODRL): r
                               for r in action[f"{ODRL}refinement"]}
                pay = refinements["payAmount"]
                assert pay[f"{ODRL}operator"] == [{"@id": f"{ODRL}eq"}]
                [amount] = pay[f"{ODRL}rightOperand"]
                found.append({"amount": amount["@value"], "datatype": amount["@type"],
                              "unit": pay[f"{ODRL}unit"][0]["@id"],
                              "refinements": set(refinements)})
    return found


# -- DCAT-AP 3 ---------------------------------------------------------------------------


def test_a_catalogue_page_conforms_to_the_dcat_ap_3_shapes(client, publish):
    publish()
    publish("上海市医院门诊量统计", sector="医疗卫生", region="上海",
            update_frequency="monthly", formats=("xlsx",), modes=("file",),
            offers=({"kind": "free"},))
    publish("能源消费预测模型", sector="能源", type="model", update_frequency="每季度",
            formats=(), modes=("api",), offers=({"kind": "negotiable"},))

    document = get_jsonld(client, "/catalog.jsonld")
    graph = shacl(document)

    [catalogue] = graph.subjects(RDF.type, DCAT.Catalog)
    assert len(list(graph.objects(catalogue, DCAT.dataset))) == 3
    assert list(graph.objects(catalogue, DCTERMS.description))
    [publisher] = graph.objects(catalogue, DCTERMS.publisher)
    assert str(publisher).startswith(f"http://localhost{API}/")
    assert (publisher, RDF.type, FOAF.Agent) in graph
    assert list(graph.objects(publisher, FOAF.name))
    assert literal_controlled_values(graph) == []


def test_a_dataset_document_conforms_and_names_its_controlled_values(client, publish):
    product_id, _ = publish(update_frequency="5 minutes", spatial_coverage="武汉市三环内")

    document = dataset_of(client, product_id)
    graph = shacl(document)
    dataset = URIRef(f"http://localhost{API}/catalog/{product_id}")

    assert set(graph.objects(dataset, DCTERMS.accrualPeriodicity)) == {
        URIRef(AUTHORITY + "frequency/5MIN")}
    assert set(graph.objects(dataset, DCAT.theme)) == {URIRef(AUTHORITY + "data-theme/TRAN")}
    assert set(graph.objects(dataset, DCTERMS.spatial)) == {URIRef(AUTHORITY + "country/CHN")}
    formats = {f for d in graph.objects(dataset, DCAT.distribution)
               for f in graph.objects(d, DCTERMS.format)}
    assert formats == {URIRef(AUTHORITY + "file-type/CSV"), URIRef(AUTHORITY + "file-type/JSON")}
    # the exchange's own labels stay, as keywords
    keywords = {str(k) for k in graph.objects(dataset, DCAT.keyword)}
    assert {"traffic", "城市交通治理", "交通运输", "武汉市", "武汉市三环内"} <= keywords
    [merchant] = graph.objects(dataset, DCTERMS.publisher)
    assert {str(n) for n in graph.objects(merchant, FOAF.name)} == {"武汉城市数据科技有限公司"}
    [kind] = graph.objects(dataset, DCTERMS.type)
    assert (kind, RDF.type, SKOS.Concept) in graph
    assert literal_controlled_values(graph) == []


def test_a_product_listed_through_the_api_exports_a_conforming_dataset(desk: Desk):
    chain = desk.listed(offers=[offer("one_time", amount=123_456),
                                offer("subscription", amount=9_900, period="quarter")])

    graph = shacl(dataset_of(desk.client, chain.product_id))
    assert literal_controlled_values(graph) == []
    whole = shacl(get_jsonld(desk.client, "/catalog.jsonld"))
    assert len(list(whole.subjects(RDF.type, DCAT.Dataset))) == 1


def test_unmapped_values_fall_back_without_becoming_literals(client, publish):
    product_id, _ = publish(sector="matrix", region="全球", update_frequency="每逢大促",
                            formats=("proprietary",), modes=("file",))

    graph = shacl(dataset_of(client, product_id))
    dataset = URIRef(f"http://localhost{API}/catalog/{product_id}")
    assert set(graph.objects(dataset, DCTERMS.accrualPeriodicity)) == {
        URIRef(AUTHORITY + "frequency/OTHER")}
    assert list(graph.objects(dataset, DCAT.theme)) == []
    assert list(graph.objects(dataset, DCTERMS.spatial)) == []
    assert list(graph.objects(None, DCTERMS.format)) == []
    keywords = {str(k) for k in graph.objects(dataset, DCAT.keyword)}
    assert {"matrix", "全球", "每逢大促"} <= keywords
    assert literal_controlled_values(graph) == []


def test_a_literal_controlled_value_is_caught(client, publish):
    product_id, _ = publish()
    document = dataset_of(client, product_id)
    assert literal_controlled_values(rdf(document)) == []

    for key, literal in [("accrualPeriodicity", "daily"), ("theme", "交通运输"),
                         ("spatial", "武汉市"), ("dct:type", "dataset")]:
        broken = {**document, key: literal}
        assert literal_controlled_values(rdf(broken)), key
        conforms, _, _ = pyshacl.validate(rdf(broken), shacl_graph=shapes_graph(),
                                          inference="none", allow_warnings=True)
        assert not conforms, key
    distribution = {**document["distribution"][0], "format": "csv"}
    broken = {**document, "distribution": [distribution]}
    assert literal_controlled_values(rdf(broken))


def test_offer_prices_are_in_major_units_with_their_currency(client, publish):
    product_id, _ = publish(offers=(
        {"kind": "one_time", "amount": 500_000, "currency": "CNY"},
        {"kind": "one_time", "amount": 120_000, "currency": "JPY"},
        {"kind": "free"},
        {"kind": "negotiable"},
    ))

    graph = rdf(dataset_of(client, product_id))
    prices = set()
    for node in graph.subjects(RDF.type, URIRef(f"{SCHEMA}Offer")):
        price = graph.value(node, URIRef(f"{SCHEMA}price"))
        currency = graph.value(node, URIRef(f"{SCHEMA}priceCurrency"))
        prices.add((str(price) if price is not None else None,
                    str(price.datatype) if price is not None else None, str(currency)))
    assert prices == {("5000.00", XSD_DECIMAL, "CNY"), ("120000", XSD_DECIMAL, "JPY"),
                      ("0.00", XSD_DECIMAL, "CNY"), (None, None, "CNY")}


# -- ODRL 2.2 ----------------------------------------------------------------------------


def test_a_priced_offer_owes_a_compensate_duty_in_major_units(client, publish):
    product_id, offers = publish(offers=(
        {"kind": "one_time", "amount": 500_000, "currency": "CNY"},
        {"kind": "subscription", "amount": 9_900, "currency": "USD", "period": "month"},
        {"kind": "pay_per_use", "amount": 5, "currency": "KRW", "unit": "call",
         "cap_amount": 1_000},
    ))

    one_time = policy_of(client, product_id, offers["one_time"])
    assert compensations(one_time) == [{
        "amount": "5000.00", "datatype": XSD_DECIMAL, "unit": AUTHORITY + "currency/CNY",
        "refinements": {"payAmount"}}]
    assert one_time["uid"] == (f"http://localhost{API}/catalog/{product_id}/terms.jsonld"
                               f"?offer={offers['one_time']}#v1")
    [subscription] = compensations(policy_of(client, product_id, offers["subscription"]))
    assert (subscription["amount"], subscription["unit"]) == ("99.00",
                                                              AUTHORITY + "currency/USD")
    assert subscription["refinements"] == {"payAmount", "timeInterval"}
    [per_use] = compensations(policy_of(client, product_id, offers["pay_per_use"]))
    assert (per_use["amount"], per_use["unit"]) == ("5", AUTHORITY + "currency/KRW")


def test_free_and_negotiable_offers_and_the_version_owe_no_payment(client, publish):
    product_id, offers = publish(offers=({"kind": "free"}, {"kind": "negotiable"}))

    for offer_id in (offers["free"], offers["negotiable"], None):
        document = policy_of(client, product_id, offer_id)
        assert compensations(document) == []
        [policy] = jsonld.expand(document)
        assert policy["@type"] == [f"{ODRL}Offer"]
        assert policy[f"{ODRL}permission"][0][f"{ODRL}action"] == [{"@id": f"{ODRL}use"}]


def test_the_constraints_the_evaluator_reads_keep_their_form(client, publish):
    product_id, offers = publish()

    for offer_id in (None, offers["one_time"]):
        document = policy_of(client, product_id, offer_id)
        [permission] = document["permission"]
        assert permission["action"] == "use"
        assert permission["constraint"] == [
            {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["交通规划"]},
            {"leftOperand": "industry", "operator": "isAnyOf",
             "rightOperand": ["城市交通治理"]},
            {"leftOperand": "spatial", "operator": "eq", "rightOperand": "CN"},
            {"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P365D"},
            {"leftOperand": "count", "operator": "lteq", "rightOperand": 5},
        ]
        rdf(document)  # parses as RDF offline too


def test_an_offer_not_on_sale_or_private_has_no_public_policy(client, publish, make_party):
    buyer = make_party("buyer")
    product_id, offers = publish(offers=(
        {"kind": "one_time", "amount": 500_000},
        {"kind": "subscription", "amount": 9_900, "period": "year",
         "buyer_org_id": buyer.org_id},
    ))
    _, others = publish("另一个产品")

    for offer_id in (others["one_time"], offers["subscription"]):
        response = client.get(f"{API}/catalog/{product_id}/terms.jsonld?offer={offer_id}")
        assert response.status_code == 404
        assert problem(response)["code"] == "offer_not_found"
    assert [o["hasPolicy"] for o in dataset_of(client, product_id)["schema:offers"]] == [
        f"http://localhost{API}/catalog/{product_id}/terms.jsonld"
        f"?offer={offers['one_time']}#v1"]
