"""The world the OpenAPI fuzz tests run in, and the tally of what they sent.

Shared by ``test_fuzz_openapi.py`` (every operation as every role) and
``test_fuzz_links.py`` (the stateful phase following the document's links). Fixtures are
defined here and imported by name into those modules.

Random ids only ever reach "not found", so the world is seeded through the services (a
merchant's resource → holding right → grant → processing use → product operation, all
registered with certificates, plus a disputed resource; and the merchant's listed products
with a buyer's orders in every stable state, a download link, an API credential, a dispute,
accounts and a payout) and the generator may put its ids wherever an operation takes an id:
path parameters, query filters, cursors and body fields that reference other objects. It
draws a sentinel (``known.<kind>.<n>``) that the test swaps for a real id just before the
call, so Hypothesis still chooses and shrinks it.

Every request sent is tallied (:data:`TALLY`); with ``MARKET_FUZZ_REPORT=<path>`` the tally
is written there as JSON when the module's world is torn down, so a run can say how many
requests it sent and what came back.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.kernel.actor import system_actor
from market.kernel.clock import FixedClock
from market.kernel.config import Settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.uow import UnitOfWork
from market.kernel.web import PROBLEM_JSON, encode_cursor
from market.listing.domain import OfferKind, OfferSpec
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.receipts.signing import Signer
from market.rights import services as rights
from market.rights.models import Certificate
from market.settlement import services as settlement
from market.settlement.models import Account
from market.trading import services as trading
from market.trading.domain import DeliveryMode
from tests.conftest import START, TEST_SECRET, TEST_SIGNING_KEY, Party
from tests.integration.rights_fixtures import RightsWorld, actor_for
from tests.integration.test_listing_services import Shop
from tests.integration.trading_fixtures import Market

API = "/api/v1"

# What every answer is checked for: no 5xx; documented status, media type, body and headers.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
if os.environ.get("MARKET_FUZZ_EXTRA"):
    from schemathesis.specs.openapi.checks import negative_data_rejection
    CHECKS.append(negative_data_rejection)

# Every role an organisation can hold (market.kernel.actor.Role), and nobody.
CALLERS = ("anonymous", "merchant", "buyer", "operator", "assessor", "broker", "regulator")


def document() -> dict[str, Any]:
    """The OpenAPI document, served by an application on a throwaway in-memory database
    (serving it touches no table)."""
    engine = make_engine("sqlite://")
    app = create_app(
        Settings(instance_path=Path(tempfile.gettempdir()), database_url="sqlite://",
                 secret_key=TEST_SECRET, signing_key=TEST_SIGNING_KEY, testing=True,
                 check_schema=False),
        session_factory=make_session_factory(engine), clock=FixedClock(START),
    )
    response = app.test_client().get(f"{API}/openapi.json")
    engine.dispose()
    assert response.status_code == 200
    doc: dict[str, Any] = response.get_json()
    return doc


# -- the tally -----------------------------------------------------------------------------

TALLY: Counter[str] = Counter()


def tally(caller: str, status: int, media_type: str, *, phase: str) -> None:
    """Count one answered request; an error that is not problem+json fails the test."""
    TALLY["requests"] += 1
    TALLY[f"phase:{phase}"] += 1
    TALLY[f"caller:{caller}"] += 1
    TALLY[f"status:{status // 100}xx"] += 1
    if status >= 500:
        TALLY["server_errors"] += 1
    if status >= 400 and media_type != PROBLEM_JSON:
        TALLY["errors_not_problem_json"] += 1
        raise AssertionError(f"a {status} answered {media_type!r}, not {PROBLEM_JSON}")


def write_report(started: float) -> None:
    path = os.environ.get("MARKET_FUZZ_REPORT")
    if not path:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    target = Path(f"{path}.{worker}" if worker else path)
    previous = json.loads(target.read_text()) if target.exists() else {}
    merged = Counter({k: v for k, v in previous.items() if isinstance(v, int)})
    merged.update(TALLY)
    merged["seconds"] = int(previous.get("seconds", 0)) + round(time.monotonic() - started)
    target.write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")
    TALLY.clear()


# -- known ids -----------------------------------------------------------------------------

KNOWN = "known."  # only characters a path needs no escaping for
# Name of a parameter or body field → the kind of object whose id it takes.
REFERENCES = {
    "org_id": "org", "holder": "org", "actor_org_id": "org", "claimant_org_id": "org",
    "grantee_org_id": "org",
    "key_id": "key",
    "resource_id": "resource", "derived_from": "resource",
    "right_id": "right", "holding_right_id": "right", "parent_ids": "right",
    "grant_id": "grant",
    "dispute_id": "dispute",
    "number": "certificate",
    "product_id": "product",
    "object_id": "any",
    "cursor": "cursor",
    "party": "org", "owner": "org",
    "order_id": "order", "offer_id": "offer", "account_id": "account", "payout_id": "payout",
    "token": "token", "credential": "credential",
}
SLOTS = 3  # sentinels per kind; the n-th picks candidates[n % len(candidates)]


def _sentinels(kind: str) -> st.SearchStrategy[str]:
    return st.integers(0, SLOTS - 1).map(lambda n: f"{KNOWN}{kind}.{n}")


def _maybe_known(values: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``values`` with any referencing entry possibly swapped for a sentinel."""
    if not isinstance(values, dict):
        return st.just(values)
    names = [name for name in values if name in REFERENCES]
    if not names:
        return st.just(values)

    def swap(name: str) -> st.SearchStrategy[Any]:
        sentinel = _sentinels(REFERENCES[name])
        known: st.SearchStrategy[Any] = (
            st.lists(sentinel, min_size=1, max_size=2)
            if isinstance(values[name], list) else sentinel
        )
        return st.one_of(known, known, st.just(values[name]))  # mostly a real id

    return st.fixed_dictionaries({name: swap(name) for name in names}).map(
        lambda swapped: {**values, **swapped})


def add_known_ids(schema: Any) -> None:
    """Let ``schema``'s generator draw sentinels wherever an operation takes an id."""

    @schema.hook("flatmap_path_parameters")
    def _known_path_ids(context: Any, path_parameters: dict[str, Any]) -> Any:
        return _maybe_known(path_parameters)

    @schema.hook("flatmap_query")
    def _known_query_ids(context: Any, query: dict[str, Any]) -> Any:
        return _maybe_known(query)

    @schema.hook("flatmap_body")
    def _known_body_ids(context: Any, body: Any) -> Any:
        return _maybe_known(body)


def resolve(value: Any, ids: dict[str, list[str]]) -> Any:
    if isinstance(value, str) and value.startswith(KNOWN):
        kind, _, n = value[len(KNOWN):].partition(".")
        candidates = ids[kind]
        return candidates[int(n) % len(candidates)]
    if isinstance(value, list):
        return [resolve(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, ids) for k, v in value.items()}
    return value


# -- the world the tests run in ------------------------------------------------------------

def _register(session_factory: sessionmaker[Session], clock: FixedClock, n: int,
              *roles: str) -> Party:
    """An admitted organisation with its first user's key (as conftest's ``make_party``)."""
    code = random_credit_code()
    data = participants.OrganisationInput(
        name=f"fuzz {'/'.join(roles)} {n}", credit_code=code, contact_name=f"contact {n}",
        contact_email=f"fuzz{n}-{code.lower()}@example.cn", roles=frozenset(roles),
    )
    reg = participants.register_organisation(
        data, uow=UnitOfWork(session_factory, clock, system_actor("test")),
        key_ttl=timedelta(days=30), reason="test")
    return Party(reg.organisation.id, reg.user.id, reg.api_key.key.id, reg.api_key.token,
                 tuple(sorted(roles)))


def _draft_product(app: Flask, merchant: Party, product_id: str, resource_id: str) -> str | None:
    """A draft listing of ``merchant``'s, through the API; None if the API refuses it."""
    body = {
        "product_id": product_id, "title": "用电风险指数", "description": "按月更新的风险指数",
        "type": "dataset", "development_level": "desensitised", "sector": "energy",
        "region": "CN", "update_frequency": "monthly", "scenarios": ["finance"],
        "delivery_modes": ["file"], "derived_from": [resource_id],
        "terms": {"purposes": ["analytics"], "scenarios": ["finance"]},
        "offers": [{"name": "basic", "kind": "one_time", "amount": 100}],
    }
    response = app.test_client().post(f"{API}/products", json=body, headers=merchant.headers)
    return str(response.get_json()["id"]) if response.status_code == 201 else None


@pytest.fixture(scope="module")
def fuzz_app(module_session_factory: sessionmaker[Session], database_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Flask:
    settings = Settings(instance_path=tmp_path_factory.mktemp("fuzz"), database_url=database_url,
                        secret_key=TEST_SECRET, signing_key=TEST_SIGNING_KEY, testing=True,
                        check_schema=False)
    return create_app(settings, session_factory=module_session_factory, clock=FixedClock(START))


@pytest.fixture(scope="module")
def world(module_session_factory: sessionmaker[Session],
          fuzz_app: Flask) -> Iterator[dict[str, Any]]:
    """Parties and the ids of objects in several states, built once per module.

    The merchant caller holds a registered chain (resource → holding → grant to another
    merchant, who registers a processing use and a product operation on it), a product
    operation right of its own with a draft listing, and a second resource under an open
    dispute (its holding right suspended). The listing is drafted through the API and left out
    if the API refuses it, so that a change to listing cannot break this fixture.
    """
    started = time.monotonic()
    clock = FixedClock(START)
    counter = iter(range(1_000))

    def make_party(*roles: str, name: str | None = None) -> Party:
        return _register(module_session_factory, clock, next(counter), *roles)

    built = RightsWorld(make_party, module_session_factory, clock, Signer(TEST_SIGNING_KEY))
    operator = built.operator
    chain = built.chain()
    merchant = chain.holder
    own_product = built.product(merchant, chain.holding)
    assert own_product.product_id is not None
    disputed = built.resource(merchant, title="争议数据")
    disputed_holding = built.holding(merchant, disputed)
    dispute = rights.open_dispute(
        disputed.id, "权属异议", claimant_org_id=chain.grantee.org_id,
        uow=UnitOfWork(module_session_factory, clock, actor_for(operator)),
    )
    right_ids = [*chain.ids, own_product.id, disputed_holding.id]
    with module_session_factory() as session:
        certificates = list(session.scalars(
            select(Certificate.number).where(Certificate.right_id.in_(right_ids))))
    listing = _draft_product(fuzz_app, merchant, own_product.product_id, chain.resource.id)
    trades = _trades(built, merchant, fuzz_app.extensions["market"].settings.instance_path)
    ids: dict[str, list[str]] = {
        "org": [merchant.org_id, chain.grantee.org_id, operator.org_id],
        "key": [merchant.key_id, operator.key_id],
        "resource": [chain.resource.id, disputed.id],
        "right": right_ids,
        "grant": [chain.grant.id],
        "dispute": [dispute.id, trades["dispute"]],
        "certificate": certificates,
        "product": [own_product.product_id, chain.product_id, *trades["products"]],
        **{kind: trades[kind] for kind in ("order", "offer", "account", "payout", "token",
                                          "credential")},
    }
    ids["any"] = [i for kind in ("org", "resource", "right", "grant") for i in ids[kind]]
    ids["cursor"] = [encode_cursor(i) or "" for i in ids["any"]]
    headers = {"anonymous": {}, "merchant": merchant.headers, "operator": operator.headers,
               "buyer": trades["buyer"].headers, "assessor": built.assessor.headers,
               "broker": built.party("broker", "broker").headers,
               "regulator": built.regulator.headers}
    assert set(headers) == set(CALLERS)
    yield {"ids": ids, "headers": headers, "listing": listing}
    write_report(started)


def _trades(built: RightsWorld, merchant: Party, instance_path: Path) -> dict[str, Any]:
    """The merchant's listed products (one sold once, one pay-per-use) and a buyer's orders
    on them in every stable state, with a download link, an API credential, a dispute,
    accounts and a payout."""
    market = Market(Shop(built), instance_path / "deliveries")
    seller = market.shop.listed(built.chain("upstream", "holder"), delivery_modes=["file", "api"])
    metered = market.shop.listed(built.chain("upstream", "holder"), offers=[
        ("按量版", OfferSpec(OfferKind.PAY_PER_USE, amount=1, unit="call", cap_amount=500))],
        delivery_modes=["api"])
    buyer = market.buyer("fuzz buyer")
    waiting = market.place(seller, buyer)
    paid = market.pay(market.place(seller, buyer))
    delivered = market.deliver_file(market.pay(market.place(seller, buyer)))
    settled = market.trade(seller, buyer)
    disputed = market.deliver_file(market.pay(market.place(seller, buyer)))
    dispute = trading.open_dispute(disputed.id, "数据不完整", [], policy=market.policy,
                                   uow=market.uow(buyer))
    token, _ = trading.issue_download_token(delivered.id, policy=market.policy,
                                            uow=market.uow(buyer))
    metered_order = market.pay(market.place(metered, buyer))
    _, credential = trading.deliver(
        metered_order.id, trading.DeliveryInput(mode=DeliveryMode.API,
                                                endpoint="https://api.example.cn/v1"),
        storage=market.storage, policy=market.policy, uow=market.uow(merchant))
    payout = settlement.request_payout(10, "CNY", {"holder": "fuzz", "bank": "fuzz bank",
                                                   "number": "6222 0000 0000 0009"},
                                       uow=market.uow(merchant))
    with built.session_factory() as session:
        accounts = list(session.scalars(select(Account.id).where(
            Account.owner.in_([merchant.org_id, buyer.org_id])).order_by(Account.id)))
    return {
        "buyer": buyer, "products": [seller.product_id, metered.product_id],
        "offer": [market.offer_id(seller), market.offer_id(metered)],
        "order": [waiting.id, paid.id, delivered.id, settled.id, disputed.id,
                  metered_order.id],
        "dispute": dispute.id, "token": [token], "credential": [credential or ""],
        "account": accounts, "payout": [payout.id],
    }


@pytest.fixture
def isolated(world: dict[str, Any], module_connection: Connection) -> Iterator[dict[str, Any]]:
    """The world; whatever one test writes into it is rolled back after the test."""
    savepoint = module_connection.begin_nested()
    try:
        yield world
    finally:
        savepoint.rollback()


@pytest.fixture(params=CALLERS)
def caller(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def send(case: Any, app: Flask, world: dict[str, Any], caller: str, checks: list[Any]) -> Any:
    """Swap the sentinels for real ids, send the case as ``caller`` and check the answer."""
    ids = world["ids"]
    case.path_parameters = resolve(case.path_parameters, ids)
    case.query = resolve(case.query, ids)
    case.body = resolve(case.body, ids)
    headers = world["headers"][caller]
    response = case.call(app=app, headers=headers, buffered=True)  # downloads closed once read
    tally(caller, response.status_code,
          response.headers.get("content-type", [""])[0].split(";")[0].strip(), phase="fuzzing")
    case.validate_response(response, checks=checks, headers=headers,
                           transport_kwargs={"app": app, "headers": headers})
    return response
