"""Property-based fuzzing of every documented operation against the OpenAPI document.

Schemathesis generates requests from ``/api/v1/openapi.json`` (valid ones and, on purpose,
invalid ones) for each operation, as every caller: anonymous, and an admitted organisation of
each role (merchant, buyer, operator, assessor, broker, regulator). Every answer must be
something the document promises:

* never a server error (5xx);
* a documented status code, with the documented media type (every error problem+json);
* a body valid against the documented schema, and the documented headers.

The seeded world and the sentinel ids the generator draws are described in
``fuzz_support``. Fixtures: schemathesis parametrizes this one test per operation (times the
callers), so every item is an ordinary pytest test. The world and the application
(``fuzz_app``) are built once per module in one transaction rolled back at its end; each test
runs in a savepoint rolled back after it (``isolated``), shared by that operation's examples
(the examples of one operation may see each other's writes, never another test's). The
document is read once at import time; the cases are sent to ``fuzz_app``.

Size: ``MARKET_FUZZ_EXAMPLES`` (default 4) generated examples per operation and caller, plus
schemathesis' deterministic coverage cases (boundaries, missing and wrongly typed fields,
undocumented methods) when ``MARKET_FUZZ_COVERAGE=1``, which is much slower. Hunt with e.g.
``MARKET_FUZZ_EXAMPLES=200 MARKET_FUZZ_COVERAGE=1 pytest tests/api/test_fuzz_openapi.py``;
``make fuzz`` is the documented long run, and ``MARKET_FUZZ_REPORT=<file>`` writes how many
requests were sent and what came back. No example database is written (``database=None``).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings

from tests.api import fuzz_support
from tests.api.fuzz_support import API, CALLERS, CHECKS, KNOWN, add_known_ids, document, send

# The fixtures this module uses (pytest finds fixtures by their name in the module).
fuzz_app = fuzz_support.fuzz_app
world = fuzz_support.world
isolated = fuzz_support.isolated

MAX_EXAMPLES = int(os.environ.get("MARKET_FUZZ_EXAMPLES", "4"))
COVERAGE = os.environ.get("MARKET_FUZZ_COVERAGE", "") not in ("", "0")

SEED = os.environ.get("MARKET_FUZZ_SEED")

CONFIG = schemathesis.Config.from_dict({
    **({"seed": int(SEED)} if SEED else {}),
    "generation": {"database": "none"},
    "phases": {"examples": {"enabled": False}, "coverage": {"enabled": COVERAGE},
               "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
})


schema = schemathesis.openapi.from_dict(document(), config=CONFIG)
add_known_ids(schema)


@pytest.fixture(params=CALLERS)
def caller(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- the tests -----------------------------------------------------------------------------


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_answers_as_documented(
    case: Any, fuzz_app: Flask, isolated: dict[str, Any], caller: str
) -> None:
    send(case, fuzz_app, isolated, caller, CHECKS)


# Failures the fuzzer found, replayed exactly so that they stay fixed whatever it draws.
# (method, path, path parameters, query, body, caller); ids are sentinels as above.
FOUND = [
    pytest.param(
        "POST", f"{API}/rights/{{right_id}}/reviews", {"right_id": f"{KNOWN}right.0"}, None,
        {"decision": "approve", "reason": "再次批准"}, "operator",
        id="approving-a-registered-right-again",  # was 500: certificates.right_id not unique
    ),
]


@pytest.mark.parametrize(("method", "path", "path_parameters", "query", "body", "who"), FOUND)
def test_found_failures_stay_fixed(
    method: str, path: str, path_parameters: dict[str, Any], query: dict[str, Any] | None,
    body: Any, who: str, fuzz_app: Flask, isolated: dict[str, Any],
) -> None:
    case = schema[path][method].Case(path_parameters=path_parameters, query=query, body=body)
    send(case, fuzz_app, isolated, who, CHECKS)
