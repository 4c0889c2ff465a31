"""Linked-data exports of the catalogue: ODRL 2.2 policies for usage terms and prices, and
DCAT-AP 3 for products and the catalogue, as JSON-LD with inline contexts so they expand
without fetching anything.

DCAT-AP 3 wants its controlled values as concepts of the EU Publications Office authority
tables (frequency, file-type, data-theme, country); the tables below map the project's own
values onto them. Each concept carries the type its property's range names and the table
it belongs to (``skos:inScheme``), so the export validates against the profile's SHACL
shapes on its own; the project's label stays beside it as a ``dcat:keyword``. Values no
authority table covers (product types, offer kinds) are concepts of the exchange's own
schemes under the API base.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from market.listing.domain import OfferKind
from market.listing.models import Offer, Product, ProductVersion

AUTHORITY = "http://publications.europa.eu/resource/authority"
DCAT_AP_3 = "https://semiceu.github.io/DCAT-AP/releases/3.0.0/"

ODRL_CONTEXT: dict[str, Any] = {
    "odrl": "http://www.w3.org/ns/odrl/2/",
    "dct": "http://purl.org/dc/terms/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "uid": "@id",
    "type": "@type",
    "Offer": "odrl:Offer",
    "permission": {"@id": "odrl:permission", "@container": "@set"},
    "prohibition": {"@id": "odrl:prohibition", "@container": "@set"},
    "duty": {"@id": "odrl:duty", "@container": "@set"},
    "constraint": {"@id": "odrl:constraint", "@container": "@set"},
    "refinement": {"@id": "odrl:refinement", "@container": "@set"},
    "target": {"@id": "odrl:target", "@type": "@id"},
    "assigner": {"@id": "odrl:assigner", "@type": "@id"},
    "action": {"@id": "odrl:action", "@type": "@vocab"},
    "leftOperand": {"@id": "odrl:leftOperand", "@type": "@vocab"},
    "operator": {"@id": "odrl:operator", "@type": "@vocab"},
    "rightOperand": {"@id": "odrl:rightOperand"},
    "unit": {"@id": "odrl:unit", "@type": "@id"},
    "use": "odrl:use", "distribute": "odrl:distribute", "sell": "odrl:sell",
    "attribute": "odrl:attribute", "compensate": "odrl:compensate",
    "purpose": "odrl:purpose", "spatial": "odrl:spatial",
    "elapsedTime": "odrl:elapsedTime", "count": "odrl:count", "isAnyOf": "odrl:isAnyOf",
    "eq": "odrl:eq", "lteq": "odrl:lteq", "industry": "odrl:industry",
    "payAmount": "odrl:payAmount", "timeInterval": "odrl:timeInterval",
    "unitOfCount": "odrl:unitOfCount",
}

DCAT_CONTEXT: dict[str, Any] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "schema": "https://schema.org/",
    "odrl": "http://www.w3.org/ns/odrl/2/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "id": "@id",
    "type": "@type",
    "title": {"@id": "dct:title", "@container": "@language"},
    "description": {"@id": "dct:description", "@container": "@language"},
    "name": {"@id": "foaf:name", "@container": "@language"},
    "prefLabel": {"@id": "skos:prefLabel", "@container": "@language"},
    "inScheme": {"@id": "skos:inScheme", "@type": "@id"},
    "keyword": {"@id": "dcat:keyword"},
    "theme": {"@id": "dcat:theme"},
    "themeTaxonomy": {"@id": "dcat:themeTaxonomy"},
    "spatial": {"@id": "dct:spatial"},
    "issued": {"@id": "dct:issued", "@type": "xsd:dateTime"},
    "modified": {"@id": "dct:modified", "@type": "xsd:dateTime"},
    "publisher": {"@id": "dct:publisher", "@type": "@id"},
    "dataset": {"@id": "dcat:dataset", "@container": "@set"},
    "distribution": {"@id": "dcat:distribution", "@container": "@set"},
    "format": {"@id": "dct:format"},
    "accessURL": {"@id": "dcat:accessURL", "@type": "@id"},
    "landingPage": {"@id": "dcat:landingPage", "@type": "@id"},
    "accrualPeriodicity": {"@id": "dct:accrualPeriodicity"},
    "temporal": {"@id": "dct:temporal"},
    "startDate": {"@id": "dcat:startDate", "@type": "xsd:dateTime"},
    "endDate": {"@id": "dcat:endDate", "@type": "xsd:dateTime"},
    "hasPolicy": {"@id": "odrl:hasPolicy", "@type": "@id"},
    "conformsTo": {"@id": "dct:conformsTo", "@type": "@id"},
}

# -- money -------------------------------------------------------------------------------

# ISO 4217 minor-unit exponents other than the usual 2 (CNY, USD, EUR, ... have 2).
CURRENCY_EXPONENTS: dict[str, int] = {
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "PYG": 0, "UGX": 0,
    "BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3,
}


def major_units(amount: int, currency: str) -> str:
    """Integer minor units as an xsd:decimal in major units: ``500000 CNY`` → ``5000.00``."""
    exponent = CURRENCY_EXPONENTS.get(currency.upper(), 2)
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f}"


def currency_iri(currency: str) -> str:
    """The currency in the EU currency authority table (its codes are ISO 4217's)."""
    return f"{AUTHORITY}/currency/{currency.upper()}"


def _decimal(value: str) -> dict[str, str]:
    return {"@value": value, "@type": "xsd:decimal"}


# -- controlled values -------------------------------------------------------------------

# Update frequency → EU frequency table: (code, English label, project spellings).
FREQUENCIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("1MIN", "Every minute", ("1 minute", "1 min", "every minute", "每分钟", "1分钟")),
    ("5MIN", "Every five minutes",
     ("5 minutes", "5 min", "every 5 minutes", "每5分钟", "5分钟")),
    ("10MIN", "Every ten minutes",
     ("10 minutes", "10 min", "every 10 minutes", "每10分钟", "10分钟")),
    ("15MIN", "Every fifteen minutes",
     ("15 minutes", "15 min", "every 15 minutes", "quarter-hourly", "每15分钟", "15分钟")),
    ("30MIN", "Every thirty minutes",
     ("30 minutes", "30 min", "every 30 minutes", "half-hourly", "每30分钟", "30分钟",
      "每半小时")),
    ("HOURLY", "Hourly", ("hourly", "1 hour", "every hour", "每小时")),
    ("12HRS", "Every twelve hours", ("12 hours", "every 12 hours", "每12小时")),
    ("DAILY", "Daily", ("daily", "every day", "每日", "每天", "日更")),
    ("WEEKLY", "Weekly", ("weekly", "every week", "每周", "周更")),
    ("MONTHLY", "Monthly", ("monthly", "every month", "每月", "月更")),
    ("QUARTERLY", "Quarterly", ("quarterly", "every quarter", "每季度", "季更")),
    ("ANNUAL_2", "Semiannual", ("semiannual", "semi-annual", "half-yearly", "每半年")),
    ("ANNUAL", "Annual", ("annual", "annually", "yearly", "every year", "每年", "年更")),
    ("UPDATE_CONT", "Continuously updated",
     ("real-time", "realtime", "streaming", "实时", "实时更新")),
    ("CONT", "Continuous", ("continuous", "continuously", "持续更新")),
    ("IRREG", "Irregular", ("irregular", "irregularly", "不定期")),
    ("AS_NEEDED", "As needed", ("as needed", "on demand", "按需", "按需更新")),
    ("NEVER", "Never", ("never", "static", "不更新")),
    ("UNKNOWN", "Unknown", ("unknown", "未知")),
)
# A frequency the table does not name.
OTHER_FREQUENCY = ("OTHER", "Other")

# File formats → EU file-type table: (code, English label, project spellings). The
# lower-cased code itself always matches too.
FILE_TYPES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("CSV", "CSV", ("text/csv",)),
    ("TSV", "TSV", ("text/tab-separated-values",)),
    ("JSON", "JSON", ("application/json",)),
    ("JSON_LD", "JSON-LD", ("jsonld", "json-ld", "application/ld+json")),
    ("XML", "XML", ("application/xml", "text/xml")),
    ("XLSX", "Excel XLSX", ("excel",)),
    ("XLS", "Excel XLS", ()),
    ("ODS", "ODS", ()),
    ("PDF", "PDF", ("application/pdf",)),
    ("TXT", "Plain text", ("text", "text/plain")),
    ("HTML", "HTML", ("htm", "text/html")),
    ("ZIP", "ZIP", ("application/zip",)),
    ("GZIP", "GNU zip", ("gz",)),
    ("TAR", "TAR", ()),
    ("TAR_GZ", "TAR GZ", ("tar.gz", "tgz")),
    ("7Z", "7z", ()),
    ("PARQUET", "Parquet", ()),
    ("ARROW_FILE", "Arrow file", ("arrow",)),
    ("SQL", "SQL", ()),
    ("YAML", "YAML", ("yml",)),
    ("GEOJSON", "GeoJSON", ()),
    ("SHP", "Esri Shape", ("shapefile",)),
    ("KML", "KML", ()),
    ("GPKG", "GeoPackage", ("geopackage",)),
    ("GEOTIFF", "GeoTIFF", ()),
    ("NETCDF", "NetCDF", ("nc",)),
    ("HDF", "HDF", ("hdf5", "h5")),
    ("RDF_TURTLE", "RDF Turtle", ("ttl", "turtle", "text/turtle")),
    ("RDF_XML", "RDF XML", ("rdf/xml", "application/rdf+xml")),
    ("JPEG", "JPEG", ("jpg",)),
    ("PNG", "PNG", ()),
    ("TIFF", "TIFF", ("tif",)),
    ("DOCX", "Word DOCX", ()),
    ("MARKDOWN", "Markdown", ("md",)),
    ("SPSS_SAV", "SPSS SAV", ("sav",)),
    ("STATA_DTA", "Stata DTA", ("dta",)),
    ("RDATA", "RData", ("rda",)),
)

# Sector → EU data-theme table: (code, English label, project spellings).
DATA_THEMES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("AGRI", "Agriculture, fisheries, forestry and food",
     ("agriculture", "fisheries", "forestry", "food", "农业", "农林牧渔", "林业", "渔业",
      "畜牧业", "食品")),
    ("ECON", "Economy and finance",
     ("economy", "finance", "financial", "banking", "insurance", "commerce", "business",
      "trade", "经济", "金融", "财政", "税务", "银行", "保险", "证券", "商务", "商贸",
      "贸易", "信用")),
    ("EDUC", "Education, culture and sport",
     ("education", "culture", "sport", "tourism", "教育", "文化", "体育", "旅游", "文旅")),
    ("ENER", "Energy", ("energy", "power", "electricity", "能源", "电力", "石油", "天然气")),
    ("ENVI", "Environment",
     ("environment", "ecology", "climate", "weather", "meteorology", "环境", "生态",
      "生态环境", "环保", "气象")),
    ("GOVE", "Government and public sector",
     ("government", "public sector", "public administration", "政务", "政府", "公共管理",
      "公共服务")),
    ("HEAL", "Health",
     ("health", "healthcare", "medical", "medicine", "医疗", "卫生", "医疗卫生", "卫生健康",
      "健康", "医药")),
    ("INTR", "International issues", ("international", "国际")),
    ("JUST", "Justice, legal system and public safety",
     ("justice", "legal", "law", "public safety", "司法", "法律", "公共安全", "应急管理")),
    ("REGI", "Regions and cities",
     ("regions", "cities", "urban", "smart city", "城市", "城市管理", "智慧城市",
      "城乡建设")),
    ("SOCI", "Population and society",
     ("population", "society", "social", "employment", "人口", "社会", "就业", "社会保障",
      "民生")),
    ("TECH", "Science and technology",
     ("science", "technology", "telecommunications", "internet", "科技", "科学技术",
      "信息技术", "通信", "互联网")),
    ("TRAN", "Transport",
     ("transport", "transportation", "traffic", "logistics", "mobility", "交通",
      "交通运输", "运输", "物流")),
)

# Region → EU country table. Regions are where in China the data comes from (a province,
# a city, 全国), so any region but those below is China; regions spanning countries name
# none.
COUNTRIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("HKG", "Hong Kong", ("香港", "香港特别行政区", "hong kong")),
    ("MAC", "Macao", ("澳门", "澳门特别行政区", "macao", "macau")),
)
DOMESTIC_COUNTRY = ("CHN", "China")
NO_COUNTRY = frozenset({"全球", "境外", "国际", "global", "world", "worldwide",
                        "international"})

# The exchange's own schemes, for values no authority table covers.
PRODUCT_TYPES: dict[str, dict[str, str]] = {
    "dataset": {"en": "Dataset", "zh": "数据集"},
    "api_service": {"en": "API service", "zh": "数据接口服务"},
    "report": {"en": "Data report", "zh": "数据报告"},
    "model": {"en": "Model or algorithm", "zh": "模型算法"},
    "sandbox": {"en": "Privacy-computing service", "zh": "隐私计算服务"},
}
OFFER_KINDS: dict[str, dict[str, str]] = {
    "one_time": {"en": "One-time licence", "zh": "一次性授权"},
    "subscription": {"en": "Subscription", "zh": "订阅"},
    "pay_per_use": {"en": "Pay per use", "zh": "按量计费"},
    "free": {"en": "Free", "zh": "免费"},
    "negotiable": {"en": "Price by negotiation", "zh": "面议"},
}

EXCHANGE_NAME = {"en": "market data exchange", "zh": "数据交易所"}


def _key(text: str) -> str:
    return "".join(ch for ch in text.casefold() if not ch.isspace() and ch not in "-_")


def _lookup(table: Iterable[tuple[str, str, tuple[str, ...]]]
            ) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for code, label, spellings in table:
        for spelling in (code, label, *spellings):
            found.setdefault(_key(spelling), (code, label))
    return found


_FREQUENCY = _lookup(FREQUENCIES)
_FILE_TYPE = _lookup(FILE_TYPES)
_DATA_THEME = _lookup(DATA_THEMES)
_COUNTRY = _lookup(COUNTRIES)
_NO_COUNTRY = frozenset(_key(name) for name in NO_COUNTRY)


def _authority(table: str, code: str, label: str, kind: str) -> dict[str, Any]:
    """A concept of an EU authority table, typed as its property's range wants."""
    return {"id": f"{AUTHORITY}/{table}/{code}", "type": kind,
            "inScheme": f"{AUTHORITY}/{table}", "prefLabel": {"en": label}}


def frequency(text: str) -> tuple[dict[str, Any], bool]:
    """The update frequency as an EU frequency concept, and whether the table names it
    (``OTHER`` when it does not)."""
    found = _FREQUENCY.get(_key(text))
    code, label = found or OTHER_FREQUENCY
    return _authority("frequency", code, label, "dct:Frequency"), found is not None


def file_type(text: str) -> dict[str, Any] | None:
    """A format as an EU file-type concept, or None if the table has none for it."""
    found = _FILE_TYPE.get(_key(text))
    return _authority("file-type", *found, "dct:MediaTypeOrExtent") if found else None


def data_theme(sector: str) -> dict[str, Any] | None:
    """A sector as an EU data-theme concept, or None if none fits."""
    found = _DATA_THEME.get(_key(sector))
    return _authority("data-theme", *found, "skos:Concept") if found else None


def country(region: str) -> dict[str, Any] | None:
    """The country of a region as an EU country concept (None for one spanning several)."""
    key = _key(region)
    if key in _NO_COUNTRY:
        return None
    code, label = _COUNTRY.get(key) or DOMESTIC_COUNTRY
    return _authority("country", code, label, "dct:Location")


def _own_concept(base: str, scheme: str, value: str,
                 labels: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    return {"id": f"{base}/vocabularies/{scheme}/{quote(value, safe='')}",
            "type": "skos:Concept", "inScheme": f"{base}/vocabularies/{scheme}",
            "prefLabel": dict(labels.get(value) or {"en": value})}


def _lang(text: str) -> str:
    return "zh" if any("\u3400" <= ch <= "\u9fff" for ch in text) else "en"


def _unique(words: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(w for w in words if w))


# -- ODRL --------------------------------------------------------------------------------


def policy_uid(base: str, product_id: str, version_number: int,
               offer_id: str | None = None) -> str:
    """The IRI of a version's policy (of one of its offers, with ``offer_id``): the
    document that publishes it and the version."""
    query = f"?offer={quote(offer_id, safe='')}" if offer_id else ""
    return f"{base}/catalog/{product_id}/terms.jsonld{query}#v{version_number}"


_PAYMENT_INTERVALS = {"month": "P1M", "quarter": "P3M", "year": "P1Y"}


def _compensation(offer: Offer) -> dict[str, Any] | None:
    """The offer's price as an ODRL 2.2 ``compensate`` duty refined by ``payAmount`` (in
    major units, with the currency as its unit); None for an offer that pays nothing or
    has no price until negotiated."""
    if offer.kind in (OfferKind.FREE.value, OfferKind.NEGOTIABLE.value) or not offer.amount:
        return None
    refinements: list[dict[str, Any]] = [
        {"leftOperand": "payAmount", "operator": "eq",
         "rightOperand": _decimal(major_units(offer.amount, offer.currency)),
         "unit": currency_iri(offer.currency)},
    ]
    if offer.kind == OfferKind.SUBSCRIPTION.value and offer.period in _PAYMENT_INTERVALS:
        refinements.append({"leftOperand": "timeInterval", "operator": "eq",
                            "rightOperand": {"@value": _PAYMENT_INTERVALS[offer.period],
                                             "@type": "xsd:duration"}})
    if offer.kind == OfferKind.PAY_PER_USE.value and offer.unit:
        refinements.append({"leftOperand": "unitOfCount", "operator": "eq",
                            "rightOperand": offer.unit})
    return {"action": [{"rdf:value": {"@id": "odrl:compensate"},
                        "refinement": refinements}]}


def odrl_policy(base: str, product: Product, version: ProductVersion,
                offer: Offer | None = None) -> dict[str, Any]:
    """The usage terms of a version as an ODRL Offer; with ``offer``, that offer's policy:
    its own terms if it carries any, and its price as a ``compensate`` duty."""
    terms = getattr(offer, "terms", None) or version.terms
    constraints: list[dict[str, Any]] = [
        {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": terms["purposes"]},
        {"leftOperand": "industry", "operator": "isAnyOf", "rightOperand": terms["scenarios"]},
    ]
    if terms["territory"] == "domestic":
        constraints.append({"leftOperand": "spatial", "operator": "eq", "rightOperand": "CN"})
    if terms.get("duration_days"):
        constraints.append({"leftOperand": "elapsedTime", "operator": "lteq",
                            "rightOperand": f"P{terms['duration_days']}D"})
    if terms.get("max_users"):
        constraints.append({"leftOperand": "count", "operator": "lteq",
                            "rightOperand": terms["max_users"]})
    target = f"{base}/catalog/{product.id}"
    permission: dict[str, Any] = {"target": target, "action": "use",
                                  "constraint": constraints}
    duties: list[dict[str, Any]] = []
    if terms.get("attribution"):
        duties.append({"action": "attribute", "dct:description": terms["attribution"]})
    payment = _compensation(offer) if offer is not None else None
    if payment is not None:
        duties.append(payment)
    if duties:
        permission["duty"] = duties
    prohibitions = []
    if not terms.get("onward_transfer"):
        prohibitions.append({"target": target, "action": "distribute"})
    if not terms.get("resale"):
        prohibitions.append({"target": target, "action": "sell"})
    return {
        "@context": ODRL_CONTEXT,
        "uid": policy_uid(base, product.id, version.number,
                          offer.id if offer is not None else None),
        "type": "Offer",
        "assigner": f"{base}/participants/{product.merchant_org_id}",
        "target": target,
        "permission": [permission],
        "prohibition": prohibitions,
    }


# -- DCAT-AP 3 ---------------------------------------------------------------------------


def _agent(iri: str, name: Mapping[str, str] | str | None) -> dict[str, Any]:
    agent: dict[str, Any] = {"id": iri, "type": "foaf:Agent"}
    if isinstance(name, str):
        agent["name"] = {_lang(name): name}
    elif name:
        agent["name"] = dict(name)
    return agent


def _schema_offer(base: str, product: Product, version: ProductVersion,
                  offer: Offer) -> dict[str, Any]:
    """A pricing plan as a schema.org Offer, its price in major units."""
    found: dict[str, Any] = {
        "type": "schema:Offer", "schema:name": offer.name,
        "dct:type": _own_concept(base, "offer-kinds", offer.kind, OFFER_KINDS),
        "schema:priceCurrency": offer.currency,
        "hasPolicy": policy_uid(base, product.id, version.number, offer.id),
    }
    if offer.kind == OfferKind.FREE.value:
        found["schema:price"] = _decimal(major_units(0, offer.currency))
    elif offer.amount is not None:
        found["schema:price"] = _decimal(major_units(offer.amount, offer.currency))
    return found


def _distribution(base: str, product: Product, mode: str, fmt: str) -> dict[str, Any]:
    distribution: dict[str, Any] = {
        "type": "dcat:Distribution", "accessURL": f"{base}/catalog/{product.id}",
        "dct:title": f"{mode} delivery ({fmt})" if fmt else f"{mode} delivery",
    }
    concept = file_type(fmt) if fmt else None
    if concept is not None:
        distribution["format"] = concept
    return distribution


def dcat_dataset(base: str, product: Product, version: ProductVersion,
                 offers: list[Offer], publisher_name: str | None = None) -> dict[str, Any]:
    """One listed product as a DCAT-AP 3 dataset; ``publisher_name`` names its merchant."""
    iri = f"{base}/catalog/{product.id}"
    periodicity, named = frequency(version.update_frequency)
    theme = data_theme(version.sector)
    spatial = country(version.region)
    dataset: dict[str, Any] = {
        "id": iri,
        "type": "dcat:Dataset",
        "title": {_lang(version.title): version.title},
        "description": {_lang(version.description): version.description},
        "keyword": _unique([*version.tags, *version.scenarios, version.sector,
                            version.region, version.spatial_coverage,
                            None if named else version.update_frequency]),
        "accrualPeriodicity": periodicity,
        "issued": (version.listed_at or version.created_at).isoformat(),
        "modified": version.updated_at.isoformat(),
        "publisher": _agent(f"{base}/participants/{product.merchant_org_id}",
                            publisher_name),
        "landingPage": {"id": iri, "type": "foaf:Document"},
        "conformsTo": {"id": DCAT_AP_3, "type": "dct:Standard"},
        "hasPolicy": policy_uid(base, product.id, version.number),
        "distribution": [_distribution(base, product, mode, fmt)
                         for mode in version.delivery_modes
                         for fmt in (version.formats or [""])],
        "dct:type": _own_concept(base, "product-types", version.type, PRODUCT_TYPES),
        "schema:offers": [_schema_offer(base, product, version, o) for o in offers],
    }
    if theme is not None:
        dataset["theme"] = [theme]
    if spatial is not None:
        dataset["spatial"] = [spatial]
    if version.temporal_from or version.temporal_to:
        period: dict[str, Any] = {"type": "dct:PeriodOfTime"}
        if version.temporal_from:
            period["startDate"] = version.temporal_from.isoformat()
        if version.temporal_to:
            period["endDate"] = version.temporal_to.isoformat()
        dataset["temporal"] = period
    return dataset


def exchange_iri(base: str) -> str:
    """The exchange, publisher of the catalogue."""
    return f"{base}/catalog.jsonld#exchange"


def dcat_catalog(base: str, datasets: list[dict[str, Any]]) -> dict[str, Any]:
    """The catalogue (a page of its datasets) as a DCAT-AP 3 catalogue."""
    return {
        "@context": DCAT_CONTEXT,
        "id": f"{base}/catalog.jsonld",
        "type": "dcat:Catalog",
        "title": {"en": "market data catalogue", "zh": "数据产品目录"},
        "description": {
            "en": "Data products listed on the exchange: datasets, data services, reports "
                  "and models, with their usage terms and prices.",
            "zh": "在本交易所挂牌的数据产品，包括数据集、数据接口服务、数据报告和模型算法，"
                  "附使用条件与价格。",
        },
        "publisher": _agent(exchange_iri(base), EXCHANGE_NAME),
        "themeTaxonomy": {"id": f"{AUTHORITY}/data-theme", "type": "skos:ConceptScheme",
                          "title": {"en": "Data theme"}},
        "dataset": datasets,
    }
