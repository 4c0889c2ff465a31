"""Linked-data exports of the catalogue: ODRL policies for usage terms and DCAT-AP 3 for
products, as JSON-LD with inline contexts so they expand without fetching anything."""

from __future__ import annotations

from typing import Any

from market.listing.models import Offer, Product, ProductVersion

ODRL_CONTEXT: dict[str, Any] = {
    "odrl": "http://www.w3.org/ns/odrl/2/",
    "dct": "http://purl.org/dc/terms/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "uid": "@id",
    "type": "@type",
    "Offer": "odrl:Offer",
    "permission": {"@id": "odrl:permission", "@container": "@set"},
    "prohibition": {"@id": "odrl:prohibition", "@container": "@set"},
    "duty": {"@id": "odrl:duty", "@container": "@set"},
    "constraint": {"@id": "odrl:constraint", "@container": "@set"},
    "target": {"@id": "odrl:target", "@type": "@id"},
    "assigner": {"@id": "odrl:assigner", "@type": "@id"},
    "action": {"@id": "odrl:action", "@type": "@vocab"},
    "leftOperand": {"@id": "odrl:leftOperand", "@type": "@vocab"},
    "operator": {"@id": "odrl:operator", "@type": "@vocab"},
    "rightOperand": {"@id": "odrl:rightOperand"},
    "use": "odrl:use", "distribute": "odrl:distribute", "sell": "odrl:sell",
    "attribute": "odrl:attribute", "purpose": "odrl:purpose", "spatial": "odrl:spatial",
    "elapsedTime": "odrl:elapsedTime", "count": "odrl:count", "isAnyOf": "odrl:isAnyOf",
    "eq": "odrl:eq", "lteq": "odrl:lteq", "industry": "odrl:industry",
}

DCAT_CONTEXT: dict[str, Any] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "schema": "https://schema.org/",
    "odrl": "http://www.w3.org/ns/odrl/2/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "id": "@id",
    "type": "@type",
    "title": {"@id": "dct:title", "@container": "@language"},
    "description": {"@id": "dct:description", "@container": "@language"},
    "keyword": {"@id": "dcat:keyword"},
    "theme": {"@id": "dcat:theme"},
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


def _lang(text: str) -> str:
    return "zh" if any("\u3400" <= ch <= "\u9fff" for ch in text) else "en"


def odrl_policy(base: str, product: Product, version: ProductVersion) -> dict[str, Any]:
    """The version's usage terms as an ODRL Offer."""
    terms = version.terms
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
    permission: dict[str, Any] = {"target": f"{base}/catalog/{product.id}", "action": "use",
                                  "constraint": constraints}
    if terms.get("attribution"):
        permission["duty"] = [{"action": "attribute", "dct:description": terms["attribution"]}]
    prohibitions = []
    if not terms.get("onward_transfer"):
        prohibitions.append({"target": f"{base}/catalog/{product.id}", "action": "distribute"})
    if not terms.get("resale"):
        prohibitions.append({"target": f"{base}/catalog/{product.id}", "action": "sell"})
    return {
        "@context": ODRL_CONTEXT,
        "uid": f"{base}/catalog/{product.id}/terms.jsonld#v{version.number}",
        "type": "Offer",
        "assigner": f"{base}/participants/{product.merchant_org_id}",
        "target": f"{base}/catalog/{product.id}",
        "permission": [permission],
        "prohibition": prohibitions,
    }


def dcat_dataset(base: str, product: Product, version: ProductVersion,
                 offers: list[Offer]) -> dict[str, Any]:
    """One listed product as a DCAT-AP 3 dataset."""
    dataset: dict[str, Any] = {
        "id": f"{base}/catalog/{product.id}",
        "type": "dcat:Dataset",
        "title": {_lang(version.title): version.title},
        "description": {_lang(version.description): version.description},
        "keyword": list(version.tags) + list(version.scenarios),
        "theme": version.sector,
        "spatial": version.spatial_coverage or version.region,
        "accrualPeriodicity": version.update_frequency,
        "issued": (version.listed_at or version.created_at).isoformat(),
        "modified": version.updated_at.isoformat(),
        "publisher": f"{base}/participants/{product.merchant_org_id}",
        "landingPage": f"{base}/catalog/{product.id}",
        "conformsTo": "https://semiceu.github.io/DCAT-AP/releases/3.0.0/",
        "hasPolicy": f"{base}/catalog/{product.id}/terms.jsonld",
        "distribution": [
            {"type": "dcat:Distribution", "format": fmt or mode,
             "accessURL": f"{base}/catalog/{product.id}",
             "dct:title": f"{mode} delivery"}
            for mode in version.delivery_modes
            for fmt in (version.formats or [""])
        ],
        "dct:type": version.type,
        "schema:offers": [{"type": "schema:Offer", "schema:name": o.name,
                           "dct:type": o.kind, "schema:price": o.amount,
                           "schema:priceCurrency": o.currency} for o in offers],
    }
    if version.temporal_from or version.temporal_to:
        dataset["temporal"] = {"type": "dct:PeriodOfTime",
                               "startDate": version.temporal_from.isoformat()
                               if version.temporal_from else None,
                               "endDate": version.temporal_to.isoformat()
                               if version.temporal_to else None}
    return dataset


def dcat_catalog(base: str, datasets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": DCAT_CONTEXT,
        "id": f"{base}/catalog.jsonld",
        "type": "dcat:Catalog",
        "title": {"en": "market data catalogue", "zh": "数据产品目录"},
        "dataset": datasets,
    }
