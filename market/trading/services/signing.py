"""Signing an order's contract (电子合同): the buyer signs it once the order is placed (the
contract names the order, so its digest exists only then), the seller when it takes the
order on, before its first delivery; either may instead have the platform record that it
declined to sign. A signature is checked against the participants' key registry: a
verified, unrevoked key of the signer's own organisation at the time of signing, over the
contract's SHA-256. The delivery gate judges what was signed again, by the rule
``ContractMustBeSignedByRegisteredKeys``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from market.kernel.actor import Actor
from market.kernel.clock import as_utc
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.receipts import services as receipts
from market.trading import repository
from market.trading.contract_signatures import Act, ContractSignature, Side
from market.trading.domain import OrderStatus
from market.trading.errors import (
    ContractAlreadySigned,
    ContractSignatureInvalid,
    ContractSigningClosed,
    SigningKeyNotUsable,
)
from market.trading.models import Contract, Order
from market.trading.services._common import _receipt

# A contract is signed before it is performed: from placement until the first delivery.
SIGNABLE = frozenset({OrderStatus.CREATED.value, OrderStatus.AWAITING_PAYMENT.value,
                      OrderStatus.PAID.value})


@dataclass(frozen=True)
class ContractView:
    """An order's contract with what each party did about it."""

    contract: Contract
    signatures: list[ContractSignature] = field(default_factory=list)


def _acts(session: Session, contract_id: str) -> list[ContractSignature]:
    return list(session.scalars(select(ContractSignature)
                                .where(ContractSignature.contract_id == contract_id)
                                .order_by(ContractSignature.at, ContractSignature.id)))


def _side(order: Order, actor: Actor) -> Side:
    """The caller's side of the order (the buyer when it is both)."""
    order.require_party(actor)
    return Side.BUYER if actor.org_id == order.buyer_org_id else Side.SELLER


def _open(uow: UnitOfWork, order_id: str) -> tuple[Order, Contract, Side]:
    """The order (locked), its contract and the caller's side, once the caller may still
    act on the contract.

    Raises:
        OrderNotFound, NotAParty, ContractSigningClosed, ContractAlreadySigned.
    """
    order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
    side = _side(order, uow.actor)
    if order.status not in SIGNABLE:
        raise ContractSigningClosed(status=order.status)
    contract = repository.contract_of(uow.session, order)
    done = next((a for a in _acts(uow.session, contract.id) if a.party == side.value), None)
    if done is not None:
        raise ContractAlreadySigned(party=done.party, act=done.act,
                                    at=as_utc(done.at).isoformat())
    return order, contract, side


def _record(uow: UnitOfWork, act: ContractSignature) -> dict[str, str]:
    """Keep the act, audited; what its outbox message says."""
    uow.session.add(act)
    uow.session.flush()
    uow.audit.record(uow.actor, f"contract.{act.act}", "contract_signature", act.id,
                     act.state())
    order = uow.session.get(Order, act.order_id)
    assert order is not None
    _receipt(uow, order, receipts.Kind.CONTRACT_SIGNATURE, {
        "contract_id": act.contract_id, "contract_sha256": act.contract_sha256,
        "party": act.party, "org_id": act.org_id, "act": act.act, "key_id": act.key_id,
        "suite": act.suite, "public_key": act.public_key, "signature": act.signature,
        "reason": act.reason, "signature_id": act.id})
    return {"order_id": act.order_id, "contract_id": act.contract_id, "party": act.party,
            "org_id": act.org_id}


def sign_contract(order_id: str, key_id: str, signature: str, *,
                  uow: UnitOfWork) -> ContractView:
    """The caller's side signs its order's contract: ``signature`` of the contract's
    SHA-256 by ``key_id``, a verified, unrevoked key of the caller's organisation. A
    refused signature writes nothing.

    Raises:
        OrderNotFound, NotAParty, ContractSigningClosed, ContractAlreadySigned,
        SigningKeyNotUsable: an unregistered, pending or revoked key, or another
            organisation's;
        ContractSignatureInvalid: the signature does not verify over the digest.
    """
    actor = uow.actor
    with uow:
        order, contract, side = _open(uow, order_id)
        now = uow.clock.now()
        org_id = order.buyer_org_id if side is Side.BUYER else order.seller_org_id
        check = participants.check_digest_signature(org_id, key_id, contract.sha256,
                                                    signature, at=now, uow=uow.joined())
        if not check.usable:
            raise SigningKeyNotUsable(key_id=key_id, status=check.status,
                                      errors={"key_id": [
                                          "not a verified, unrevoked key of your organisation"]})
        if not check.verifies:
            raise ContractSignatureInvalid(sha256=contract.sha256, errors={"signature": [
                "does not verify against the key over the contract's digest"]})
        act = ContractSignature(
            id=new_id("csg"), contract_id=contract.id, order_id=order.id, party=side.value,
            org_id=org_id, act=Act.SIGNED.value, contract_sha256=contract.sha256,
            key_id=check.key_id, suite=check.suite, public_key=check.public_key,
            signature=signature.strip(), user_id=actor.user_id, at=now)
        uow.outbox.enqueue("contract.signed", _record(uow, act))
        uow.commit()
        return ContractView(contract, _acts(uow.session, contract.id))


def decline_contract(order_id: str, reason: str, *, uow: UnitOfWork) -> ContractView:
    """The caller's side declines to sign its order's contract; the platform records it
    with the reason (the trade goes on under the contract as frozen).

    Raises:
        OrderNotFound, NotAParty, ContractSigningClosed, ContractAlreadySigned.
    """
    with uow:
        order, contract, side = _open(uow, order_id)
        act = ContractSignature(
            id=new_id("csg"), contract_id=contract.id, order_id=order.id, party=side.value,
            org_id=order.buyer_org_id if side is Side.BUYER else order.seller_org_id,
            act=Act.DECLINED.value, contract_sha256=contract.sha256, reason=reason,
            user_id=uow.actor.user_id, at=uow.clock.now())
        uow.outbox.enqueue("contract.declined", _record(uow, act))
        uow.commit()
        return ContractView(contract, _acts(uow.session, contract.id))


def get_contract(order_id: str, *, uow: UnitOfWork) -> ContractView:
    """An order's contract with each party's signature or decline.

    Raises:
        OrderNotFound: no such order visible to the caller.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id)
        contract = repository.contract_of(uow.session, order)
        return ContractView(contract, _acts(uow.session, contract.id))


def signing_facts(uow: UnitOfWork, order: Order, *, required: bool) -> dict[str, Any]:
    """What each party did about the order's contract, each signature checked again against
    the registry as it stood when it was made: the facts the rule
    ``ContractMustBeSignedByRegisteredKeys`` judges at delivery."""
    contract = repository.contract_of(uow.session, order)
    acts = {a.party: a for a in _acts(uow.session, contract.id)}
    facts: dict[str, Any] = {"contract_sha256": contract.sha256, "required": required}
    for side, org_id in ((Side.BUYER, order.buyer_org_id), (Side.SELLER, order.seller_org_id)):
        act = acts.get(side.value)
        if act is None:
            facts[side.value] = {"org_id": org_id, "act": "unsigned"}
        elif act.act == Act.DECLINED.value:
            facts[side.value] = {"org_id": org_id, "act": act.act, "reason": act.reason}
        else:
            assert act.key_id is not None
            assert act.signature is not None
            check = participants.check_digest_signature(
                org_id, act.key_id, contract.sha256, act.signature, at=as_utc(act.at),
                uow=uow.joined())
            facts[side.value] = {
                "org_id": org_id, "act": act.act, "key_id": act.key_id, "suite": act.suite,
                "key_status": check.status,
                "verifies": check.verifies and act.contract_sha256 == contract.sha256}
    return facts
