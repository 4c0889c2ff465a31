"""Retention and destruction over HTTP: the public retention policy, the buyer's destruction
declaration once its order's term ended (refused before, and for bad input, writing
nothing), what it was asked for, and a deleted file answering 410. Authorization of every
endpoint is in ``test_authorization_matrix``."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from market.compliance.models import Declaration
from market.kernel.actor import system_actor
from market.kernel.uow import UnitOfWork
from market.listing.domain import OfferKind, OfferSpec
from market.trading import services as trading
from tests.api.test_trading_api import SHA256, Desk
from tests.conftest import START, problem
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_listing_services import TERMS, _wired  # noqa: F401
from tests.integration.trading_fixtures import PRICE, Market, market_fixture  # noqa: F401

API = "/api/v1"
DECLARED = {"destroyed_at": START.isoformat(), "method": "安全擦除全部副本"}


@pytest.fixture(name="desk")
def desk_fixture(client: FlaskClient, market: Market) -> Desk:
    return Desk(client, market)


def destruction_declarations(market: Market) -> int:
    with market.rights.session_factory() as session:
        return session.scalar(select(func.count()).select_from(Declaration).where(
            Declaration.kind == "destruction")) or 0


def short_listed(market: Market) -> Chain:
    """A product whose usage terms last a week (API keys outlive it)."""
    return market.shop.listed(offers=[("标准版", OfferSpec(OfferKind.ONE_TIME, amount=PRICE))],
                              delivery_modes=["file", "api", "sandbox"],
                              terms=replace(TERMS, duration_days=7))


def sweep(market: Market) -> dict[str, list[str]]:
    def uow() -> UnitOfWork:
        return UnitOfWork(market.rights.session_factory, market.rights.clock,
                          system_actor("retention"))
    return trading.sweep_retention(uow, storage=market.storage,
                                   sample_dir=market.storage.parent / "samples",
                                   grace=timedelta(days=30))


def test_the_retention_policy_is_public(client: FlaskClient) -> None:
    answer = client.get(f"{API}/retention-policy")

    assert answer.status_code == 200
    kinds = {item["kind"]: item for item in answer.get_json()["items"]}
    assert {"contract", "declaration", "filing", "decision", "audit", "ledger", "order",
            "alert"} <= set(kinds)
    assert kinds["filing"]["append_only"] is True
    assert kinds["order"]["years"] >= kinds["order"]["floor_years"] >= 5
    assert "orders" in kinds["order"]["tables"]


def test_the_buyer_declares_the_destruction_once_the_term_ended(
        desk: Desk, market: Market) -> None:
    chain = short_listed(market)
    buyer = desk.buyer()
    order_id = desk.delivered(chain, buyer)
    desk.call("POST", f"/orders/{order_id}/acceptance", buyer, 200, {"sha256": SHA256})
    path = f"/orders/{order_id}/destruction-declaration"
    desk.refused("POST", path, buyer, 409, "destruction_not_due", DECLARED)
    desk.refused("GET", f"/orders/{order_id}/destruction-request", buyer, 404,
                 "destruction_request_not_found")

    market.rights.clock.advance(timedelta(days=8))
    assert sweep(market)["destructions_requested"] == [order_id]
    asked = desk.call("GET", f"/orders/{order_id}/destruction-request", buyer, 200).json
    assert (asked["declared_at"], asked["overdue"]) == (None, False)

    for bad in ({"method": "安全擦除"}, {**DECLARED, "method": ""},
                {**DECLARED, "destroyed_at": "yesterday"},
                {**DECLARED, "destroyed_at": (START + timedelta(days=9)).isoformat()},
                {**DECLARED, "signature": "0x12"}):
        found = problem(desk.call("POST", path, buyer, 422, bad))
        assert found["status"] == 422, bad
    assert destruction_declarations(market) == 0
    desk.refused("POST", path, desk.buyer("other"), 404, "order_not_found", DECLARED)
    desk.refused("POST", path, chain.grantee, 403, "role_not_allowed", DECLARED)

    declared = desk.call("POST", path, buyer, 201, DECLARED).json
    assert declared["declaration_id"]
    assert declared["declared_at"]
    assert destruction_declarations(market) == 1
    desk.refused("POST", path, buyer, 409, "destruction_already_declared", DECLARED)
    shown = desk.call("GET", f"/orders/{order_id}/destruction-request", desk.regulator,
                      200).json
    assert shown["declaration_id"] == declared["declaration_id"]


def test_a_deleted_delivery_file_answers_gone(desk: Desk, market: Market) -> None:
    chain = short_listed(market)
    buyer = desk.buyer()
    order_id = desk.delivered(chain, buyer)
    desk.call("POST", f"/orders/{order_id}/acceptance", buyer, 200, {"sha256": SHA256})
    market.rights.clock.advance(timedelta(days=8))
    assert sweep(market)["delivery_files_deleted"] == [SHA256]

    found = desk.refused("POST", f"/orders/{order_id}/download-tokens", buyer, 410,
                         "delivery_file_deleted")
    assert SHA256 in found["detail"]


def test_the_regulator_sees_the_retention_policy_and_the_destructions(
        desk: Desk, market: Market) -> None:
    chain = short_listed(market)
    buyer = desk.buyer()
    order_id = desk.delivered(chain, buyer)
    desk.call("POST", f"/orders/{order_id}/acceptance", buyer, 200, {"sha256": SHA256})
    market.rights.clock.advance(timedelta(days=8))
    sweep(market)
    market.rights.clock.advance(timedelta(days=31))
    assert sweep(market)["destructions_overdue"] == [order_id]

    seen = desk.call("GET", "/regulator/retention", desk.regulator, 200).json
    assert {p["kind"] for p in seen["policies"]} >= {"filing", "contract", "order"}
    assert seen["destruction"] == {"requested": 1, "declared": 0, "overdue": 1,
                                   "alerted": 1, "files_deleted": 1}
