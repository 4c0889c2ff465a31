"""The document's links between operations, and the stateful fuzzing that follows them.

``market.kernel.web.links`` names every operation and links each answer to the operations
that take what it answers (``POST /orders`` 201 → the order's payment, delivery, acceptance,
disputes…). Here every link is checked against the document (its operation exists, its
parameters and body fields exist in the target, its expressions resolve in the producer's
documented answer), and schemathesis' stateful phase runs over them: chains of calls where
each step takes its ids from an earlier answer, each sent as the role the operation serves
(the buyer orders and pays, the merchant delivers, the operator reviews…), every answer
checked as in ``test_fuzz_openapi.py``.

Size: ``MARKET_FUZZ_STATEFUL_EXAMPLES`` scenarios (default 6) of at most
``MARKET_FUZZ_STATEFUL_STEPS`` steps (default 8); ``make fuzz`` runs many more.
"""

from __future__ import annotations

import os
import re
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyStrategyDefinition
from sqlalchemy.engine import Connection

from market.kernel.web import access_of
from tests.api import fuzz_support
from tests.api.fuzz_support import CALLERS, CHECKS, add_known_ids, document, resolve, tally

fuzz_app = fuzz_support.fuzz_app
world = fuzz_support.world
isolated = fuzz_support.isolated

EXAMPLES = int(os.environ.get("MARKET_FUZZ_STATEFUL_EXAMPLES", "6"))
STEPS = int(os.environ.get("MARKET_FUZZ_STATEFUL_STEPS", "8"))
SEED = os.environ.get("MARKET_FUZZ_SEED")

DOCUMENT = document()
CONFIG = schemathesis.Config.from_dict({
    **({"seed": int(SEED)} if SEED else {}),
    "generation": {"database": "none"},
    "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False},
               "fuzzing": {"enabled": False},
               # only the document's own links: what this module checks
               "stateful": {"enabled": True, "inference": {"algorithms": []}}},
})
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
add_known_ids(schema)

HTTP_METHODS = ("get", "put", "post", "patch", "delete")
# Who acts when an operation serves several roles: the one most likely to own the objects
# the links carry (the world's buyer placed its orders; its merchant sells to it).
PREFERENCE = ("buyer", "merchant", "operator", "assessor", "regulator", "broker", "anonymous")


# -- the links are valid -----------------------------------------------------------------


def _schema(node: Any) -> Any:
    """``node`` with ``$ref`` and single ``allOf`` followed."""
    while isinstance(node, dict):
        if "$ref" in node:
            target: Any = DOCUMENT
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            node = target
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        else:
            return node
    return node


def _pointer_exists(schema_node: Any, pointer: str) -> bool:
    node = _schema(schema_node)
    for part in [p for p in pointer.split("/") if p]:
        if part.isdigit():
            if node.get("type") != "array":
                return False
            node = _schema(node["items"])
        else:
            props = node.get("properties", {})
            if part not in props:
                return False
            node = _schema(props[part])
    return True


def _operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {op["operationId"]: (path, method, op) for path, item in DOCUMENT["paths"].items()
            for method, op in item.items() if method in HTTP_METHODS}


def _parameters(path: str, method: str) -> set[str]:
    item = DOCUMENT["paths"][path]
    return {p["name"] for p in [*item.get("parameters", []), *item[method].get("parameters", [])]}


def _links() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(source operationId, status, link name, link) of every link in the document."""
    found = []
    for op_id, (_, _, op) in _operations().items():
        for status, response in op["responses"].items():
            for name, link in (response.get("links") or {}).items():
                found.append((op_id, status, name, link))
    return found


def test_every_operation_is_named_once():
    ids = [op.get("operationId") for path, item in DOCUMENT["paths"].items()
           for method, op in item.items() if method in HTTP_METHODS]
    assert None not in ids
    assert len(ids) == len(set(ids))


def test_every_link_names_an_operation_and_parameters_that_exist():
    operations = _operations()
    links = _links()
    assert len(links) > 300
    for source_id, status, name, link in links:
        where = f"{source_id} {status} {name}"
        assert link["operationId"] in operations, where
        path, method, target = operations[link["operationId"]]
        source_path, source_method, source = operations[source_id]
        answer = source["responses"][status]["content"]["application/json"]["schema"]
        for parameter, expression in link.get("parameters", {}).items():
            assert parameter in _parameters(path, method), where
            request = re.fullmatch(r"\$request\.path\.(\w+)", expression)
            if request:
                assert request.group(1) in _parameters(source_path, source_method), where
            else:
                pointer = re.fullmatch(r"\$response\.body#(/.*)", expression)
                assert pointer, where
                assert _pointer_exists(answer, pointer.group(1)), where
        body = link.get("requestBody")
        if body is not None:
            target_body = target["requestBody"]["content"]["application/json"]["schema"]
            for field, expression in body.items():
                assert field in _schema(target_body)["properties"], where
                pointer = re.fullmatch(r"\$response\.body#(/.*)", expression)
                assert pointer, where
                assert _pointer_exists(answer, pointer.group(1)), where


def test_an_order_links_to_what_follows_it():
    _, _, place = _operations()["trading.place_order"]
    targets = {link["operationId"] for link in place["responses"]["201"]["links"].values()}
    assert {"trading.get_order", "trading.pay_order", "trading.deliver",
            "trading.accept_order", "trading.open_dispute"} <= targets
    _, _, pay = _operations()["trading.pay_order"]
    assert "trading.deliver" in {
        link["operationId"] for link in pay["responses"]["200"]["links"].values()}


# -- the stateful phase follows them -------------------------------------------------------


def _roles(app: Flask) -> dict[str, str]:
    """operationId → the caller that acts for it."""
    acting = {}
    for endpoint, view in app.view_functions.items():
        access = access_of(view)
        if access is None:
            acting[endpoint] = "anonymous"
            continue
        allowed = set(CALLERS[1:]) if access.roles is None else set(access.roles)
        if access.anonymous:
            allowed.add("anonymous")
        acting[endpoint] = next((r for r in PREFERENCE if r in allowed), "anonymous")
    return acting


def test_stateful_fuzzing_follows_the_links(fuzz_app: Flask, isolated: dict[str, Any],
                                            module_connection: Connection):
    acting = _roles(fuzz_app)
    steps: list[tuple[bool, int]] = []  # (followed a link, status)
    callers: dict[str, str] = {}  # case id → who sent it
    scenarios = [0]

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Every scenario starts from the same world, so that Hypothesis replaying a
            # choice of steps meets the same answers.
            scenarios[0] += 1
            self.savepoint = module_connection.begin_nested()

        def teardown(self) -> None:
            self.savepoint.rollback()

        def step(self, input: Any) -> Any:
            followed = input.transition is not None and input.is_applied
            output = super().step(input)
            steps.append((followed, output.response.status_code))
            return output

        def before_call(self, case: Any) -> None:
            ids = isolated["ids"]
            case.path_parameters = resolve(case.path_parameters, ids)
            case.query = resolve(case.query, ids)
            case.body = resolve(case.body, ids)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            caller = acting.get(case.operation.definition.raw.get("operationId", ""),
                                "anonymous")
            callers[case.id] = caller
            case.headers = {**(case.headers or {}), **isolated["headers"][caller]}
            return {"app": fuzz_app, "buffered": True}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            media_type = response.headers.get("content-type", [""])[0].split(";")[0].strip()
            tally(callers.pop(case.id, "anonymous"), response.status_code, media_type,
                  phase="stateful")

        def validate_response(self, response: Any, case: Any,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)

    for _ in range(20):
        remaining = EXAMPLES - scenarios[0]
        if remaining <= 0:
            break
        try:
            Workflow.run(settings=settings(max_examples=remaining, stateful_step_count=STEPS,
                                           deadline=None, database=None,
                                           phases=[Phase.generate],
                                           suppress_health_check=list(HealthCheck)))
        except FlakyStrategyDefinition:
            # The answers to a replayed choice of steps changed (an id drawn afresh, a link
            # applied or not), so Hypothesis cannot replay it: go on with a fresh session, as
            # schemathesis' own runner does.
            fuzz_support.TALLY["stateful_sessions_restarted"] += 1
    linked = [status for followed, status in steps if followed]
    fuzz_support.TALLY["stateful_linked_steps"] += len(linked)
    fuzz_support.TALLY["stateful_linked_2xx"] += sum(200 <= s < 300 for s in linked)
    assert steps, "the state machine made no call"
    assert linked, "no step took its input from an earlier answer"
    assert any(200 <= status < 300 for status in linked), \
        "no linked step succeeded: the links lead nowhere"
