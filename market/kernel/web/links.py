"""OpenAPI ``operationId``s and ``links``: how one operation's answer feeds the next.

Every operation is named by its Flask endpoint (``trading.place_order``). Links are derived
from the shape of the API rather than listed one by one, so a new endpoint is linked without
touching this module:

* an object is addressed by an item path, ``…/<collection>/{<x>_id}``; every operation under
  it (``GET /orders/{order_id}``, ``POST /orders/{order_id}/payment``, its disputes…)
  consumes that id;
* it is produced by the operations that answer it: the collection's ``POST`` and any
  operation answering the same schema as the item's ``GET`` (``$response.body#/id``), and
  the collection's ``GET`` page (``$response.body#/items/0/id``);
* each producer links to each consumer; the consumer's other path parameters are passed on
  from the producer's own request (``$request.path.<name>``) when it has them, and the link
  is left out when it does not.

:data:`BODY_LINKS` adds the few links that carry ids into a request body, across objects
(a product's offer into an order or a quote request, a resource into a right, a right into
a grant). ``tests/api/test_fuzz_links.py`` checks that every link names an
existing operation and parameters and resolves in the producer's documented answer.
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec, BasePlugin

_METHODS = ("get", "put", "post", "patch", "delete")
_PARAM = re.compile(r"^\{([^{}]+)\}$")
_REF = "#/components/schemas/"

# (producer endpoint, link name, consumer endpoint, request body with runtime expressions)
BODY_LINKS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("listing.catalog_entry", "OrderThisOffer", "trading.place_order",
     {"product_id": "$response.body#/id", "offer_id": "$response.body#/version/offers/0/id"}),
    ("listing.catalog_entry", "AskForAQuote", "matching.request_quote",
     {"product_id": "$response.body#/id", "offer_id": "$response.body#/version/offers/0/id"}),
    ("listing.get_product", "OrderThisOffer", "trading.place_order",
     {"product_id": "$response.body#/id", "offer_id": "$response.body#/latest/offers/0/id"}),
    ("rights.register_resource", "RegisterHoldingRight", "rights.submit_right",
     {"resource_id": "$response.body#/id"}),
    ("rights.get_resource", "RegisterHoldingRight", "rights.submit_right",
     {"resource_id": "$response.body#/id"}),
    ("rights.submit_right", "GrantThisRight", "rights.create_grant",
     {"holding_right_id": "$response.body#/id"}),
    ("rights.get_right", "GrantThisRight", "rights.create_grant",
     {"holding_right_id": "$response.body#/id"}),
)


class OperationIds(BasePlugin):
    """Names every documented operation after its Flask endpoint."""

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        for method, operation in operations.items():
            if method in _METHODS and isinstance(operation, dict):
                operation.setdefault("operationId", rule.endpoint)


def _json_schema(operation: dict[str, Any], status: str) -> str | None:
    """The component name of ``operation``'s JSON answer for ``status``, if any."""
    response = operation.get("responses", {}).get(status)
    if not isinstance(response, dict):
        return None
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "") if isinstance(schema, dict) else ""
    return ref[len(_REF):] if ref.startswith(_REF) else None


def _success(operation: dict[str, Any]) -> list[str]:
    return sorted(s for s in operation.get("responses", {}) if s[:1] == "2")


class _Api:
    """The operations of a spec, and what their schemas look like."""

    def __init__(self, spec: APISpec) -> None:
        self.paths: dict[str, dict[str, Any]] = spec._paths  # apispec keeps them here
        self.schemas: dict[str, Any] = spec.components.schemas
        self.by_id = {op["operationId"]: (path, method, op)
                      for path, method, op in self.operations() if "operationId" in op}
        # (path, method, status, component name) of every JSON success answer
        self.answers = [(path, method, status, schema)
                        for path, method, op in self.operations() for status in _success(op)
                        if (schema := _json_schema(op, status)) is not None]

    def operations(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(path, method, op) for path, item in self.paths.items()
                for method, op in item.items() if method in _METHODS and isinstance(op, dict)]

    def properties(self, name: str | None) -> dict[str, Any]:
        schema = self.schemas.get(name or "")
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        return props if isinstance(props, dict) else {}

    def page_item(self, name: str | None) -> str | None:
        items = self.properties(name).get("items", {})
        ref = items.get("items", {}).get("$ref", "") if isinstance(items, dict) else ""
        return ref[len(_REF):] if ref.startswith(_REF) else None


def _path_parameters(path: str) -> list[str]:
    return [m.group(1) for segment in path.split("/") if (m := _PARAM.match(segment))]


def _producers(api: _Api, item: str) -> list[tuple[str, str, str, str]]:
    """(path, method, status, expression) of the operations answering the object at the
    item path ``item``."""
    collection = item.rsplit("/", 1)[0]
    get_item = api.paths.get(item, {}).get("get")
    item_schema = _json_schema(get_item, "200") if get_item else None
    found = []
    for path, method, status, schema in api.answers:
        if path == collection and method == "post" and "id" in api.properties(schema):
            found.append((path, method, status, "$response.body#/id"))
        elif path == collection and method == "get":
            if "id" in api.properties(api.page_item(schema)):
                found.append((path, method, status, "$response.body#/items/0/id"))
        elif item_schema and schema == item_schema and "id" in api.properties(schema):
            found.append((path, method, status, "$response.body#/id"))
    return found


def _add(op: dict[str, Any], status: str, name: str, link: dict[str, Any]) -> None:
    response = op["responses"][status]
    links = response.setdefault("links", {})
    taken, n = name, 2
    while taken in links:
        taken, n = f"{name}{n}", n + 1
    links[taken] = link


def _link_name(target: dict[str, Any]) -> str:
    endpoint: str = target["operationId"]
    return "".join(part.capitalize() for part in re.split(r"[._]", endpoint.split(".")[-1]))


def describe_links(spec: APISpec) -> int:
    """Add the links between the spec's operations; how many were added."""
    api = _Api(spec)
    added = 0
    items: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, method, op in api.operations():
        segments = path.split("/")
        for i, segment in enumerate(segments):
            if _PARAM.match(segment) and i > 1 and not _PARAM.match(segments[i - 1]):
                items.setdefault("/".join(segments[: i + 1]), []).append((path, method, op))
    for item, consumers in items.items():
        produced = _PARAM.match(item.rsplit("/", 1)[1])
        assert produced is not None
        name = produced.group(1)
        for source_path, source_method, status, expression in _producers(api, item):
            source = api.paths[source_path][source_method]
            passed_on = set(_path_parameters(source_path))
            for path, method, target in consumers:
                if (path, method) == (source_path, source_method) or "operationId" not in target:
                    continue
                needed = _path_parameters(path)
                if any(p != name and p not in passed_on for p in needed):
                    continue
                parameters = {p: expression if p == name else f"$request.path.{p}"
                              for p in needed}
                _add(source, status, _link_name(target),
                     {"operationId": target["operationId"], "parameters": parameters})
                added += 1
    for source_id, name, target_id, body in BODY_LINKS:
        if source_id not in api.by_id or target_id not in api.by_id:
            continue
        _, _, source = api.by_id[source_id]
        for status in _success(source)[:1]:
            _add(source, status, name, {"operationId": target_id, "requestBody": body})
            added += 1
    return added
