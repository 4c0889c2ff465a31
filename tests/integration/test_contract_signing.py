"""Signed contracts against the database, through the services: where the venue requires
signed contracts (MARKET_CONTRACT_SIGNATURES_REQUIRED), the first delivery waits until each
party has signed with a registered key or declined, and the refusal names the rule and is
on record; signing closes once the contract is performed; contract signatures are kept
append-only by the database."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from market.compliance.models import Decision
from market.kernel.config import load_settings
from market.participants import services as participants
from market.trading import services as trading
from market.trading.contract_signatures import ContractSignature
from market.trading.errors import ContractSigningClosed, DeliveryRefused
from market.trading.models import Order
from tests.conftest import Party
from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa: F401
from tests.integration.trading_fixtures import Market, market_fixture  # noqa: F401

KEY = Account.from_key("0x" + "31" * 32)


def _key(market: Market, party: Party) -> str:
    uow = market.uow(party)
    key = participants.register_signing_key(party.org_id, participants.SigningSuite.SECP256K1,
                                            KEY.address, "合同章", uow=uow)
    signature = KEY.sign_message(encode_defunct(text=key.challenge)).signature.to_0x_hex()
    participants.verify_signing_key(party.org_id, key.id, signature, uow=market.uow(party))
    return key.id


def _signature(order: Order, market: Market) -> str:
    view = trading.get_contract(order.id, uow=market.uow(market.rights.operator))
    return str(KEY.sign_message(encode_defunct(text=view.contract.sha256))
               .signature.to_0x_hex())


def test_the_setting_requires_signed_contracts(tmp_path: Path) -> None:
    env = {"MARKET_SECRET_KEY": "x" * 16, "MARKET_INSTANCE_PATH": str(tmp_path)}
    required = load_settings({**env, "MARKET_CONTRACT_SIGNATURES_REQUIRED": "true"})
    assert trading.policy_of(required).contract_signatures_required is True
    assert trading.policy_of(load_settings(env)).contract_signatures_required is False


def test_where_required_delivery_waits_for_both_parties_to_sign_or_decline(
    market: Market
) -> None:
    market.policy = dataclasses.replace(market.policy, contract_signatures_required=True)
    chain = market.listed()
    buyer = market.buyer()
    order = market.place(chain, buyer)
    market.pay(order, buyer)

    with pytest.raises(DeliveryRefused) as refused:
        market.deliver_file(order)
    rules = refused.value.errors["rules"]
    assert [r["rule"] for r in rules] == ["ContractMustBeSignedByRegisteredKeys"]
    assert "the buyer has neither signed" in rules[0]["message"]
    assert market.order(order.id).status == "paid"
    with market.rights.session_factory() as session:
        (blocked,) = session.scalars(select(Decision).where(
            Decision.subject_id == order.id, Decision.stage == "delivery"))
        assert blocked.outcome == "block"

    trading.sign_contract(order.id, _key(market, buyer), _signature(order, market),
                          uow=market.uow(buyer))
    with pytest.raises(DeliveryRefused, match="refuse"):
        market.deliver_file(order)  # the seller has done neither yet
    trading.decline_contract(order.id, "以纸质合同签署", uow=market.uow(chain.grantee))
    assert market.deliver_file(order).status == "delivered"

    with pytest.raises(ContractSigningClosed):
        trading.decline_contract(order.id, "too late", uow=market.uow(buyer))


@pytest.mark.parametrize("statement", [
    "UPDATE contract_signatures SET reason = 'changed'",
    "DELETE FROM contract_signatures",
])
def test_contract_signatures_are_append_only(market: Market, statement: str) -> None:
    chain = market.listed()
    order = market.place(chain)
    trading.decline_contract(order.id, "不签", uow=market.uow(chain.grantee))
    with market.rights.session_factory() as session:
        assert session.scalars(select(ContractSignature)).one().act == "declined"
        with pytest.raises(DBAPIError):
            session.execute(text(statement))
