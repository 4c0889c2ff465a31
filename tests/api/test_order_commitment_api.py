"""An order's purchase commitment over HTTP: the seller reads what the buyer declared about
the data's use, the very declaration whose digest the contract freezes; another merchant
gets 404. Who may read it is in ``test_authorization_matrix``."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.conftest import Party
from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa: F401
from tests.integration.trading_fixtures import (  # noqa: F401
    COMMITMENT,
    Market,
    market_fixture,
)


def get(client: FlaskClient, path: str, party: Party, expect: int) -> Any:
    response = client.get(f"/api/v1{path}", headers=party.headers)
    assert response.status_code == expect, response.get_data(as_text=True)
    return response.get_json()


def test_the_seller_reads_the_commitment_the_contract_names(
    client: FlaskClient, market: Market,
) -> None:
    chain = market.listed()
    order = market.place(chain)
    seller = chain.grantee
    commitment = get(client, f"/orders/{order.id}/commitment", seller, 200)
    contract = get(client, f"/orders/{order.id}/contract", seller, 200)
    assert commitment["sha256"] == contract["document"]["declarations"]["purchase_sha256"]
    assert commitment["id"] == get(client, f"/orders/{order.id}", seller, 200)["commitment_id"]
    assert (commitment["kind"], commitment["org_id"], commitment["subject_id"]) == (
        "purchase", order.buyer_org_id, order.id)
    assert commitment["answers"] == COMMITMENT
    assert "user_id" not in commitment
    assert "signature" not in commitment
    # the buyer reads the same; another merchant learns nothing of it
    buyer = market.party_of(order.buyer_org_id)
    assert get(client, f"/orders/{order.id}/commitment", buyer, 200) == commitment
    other = market.rights.party("other", "merchant")
    found = get(client, f"/orders/{order.id}/commitment", other, 404)
    assert found["code"] == "order_not_found"
