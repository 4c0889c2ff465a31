# mypy: disable-error-code="untyped-decorator"
"""Trading API for an order's contract (电子合同): the frozen contract with each party's
signature or decline, and signing or declining it. Routes on the trading blueprint."""

from __future__ import annotations

from typing import Any

from market.kernel.actor import Role
from market.kernel.web import unit_of_work
from market.trading import services
from market.trading.api import bp
from market.trading.schemas import (
    ContractDeclineIn,
    ContractOut,
    ContractSignatureIn,
    OrderCommitmentOut,
)


def contract_body(view: services.ContractView) -> dict[str, Any]:
    contract = view.contract
    return {"id": contract.id, "order_id": contract.order_id, "document": contract.document,
            "sha256": contract.sha256, "created_at": contract.created_at,
            "signatures": view.signatures}


@bp.route("/orders/<order_id>/contract", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, ContractOut)
def get_contract(order_id: str) -> Any:
    """The order's contract: what both sides agreed, frozen, with its digest, and each
    party's signature (key id, suite, time) or its decline."""
    return contract_body(services.get_contract(order_id, uow=unit_of_work()))


@bp.route("/orders/<order_id>/commitment", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, OrderCommitmentOut)
def get_commitment(order_id: str) -> Any:
    """The buyer's purchase commitment (购买承诺) the order was placed under: the use the
    buyer declared, for the order's two parties, the operator and regulators. Its `sha256`
    is the contract's `declarations.purchase_sha256`."""
    return services.order_commitment(order_id, uow=unit_of_work())


@bp.route("/orders/<order_id>/contract/signatures", methods=["POST"])
@bp.access(roles=[Role.BUYER, Role.MERCHANT], object_scoped=True)
@bp.idempotent
@bp.arguments(ContractSignatureIn)
@bp.response(201, ContractOut)
def sign_contract(body: dict[str, Any], order_id: str) -> tuple[dict[str, Any], int]:
    """Sign the order's contract as your side (电子合同): the buyer once the order is placed,
    the seller before its first delivery. Sign the contract's `sha256` with a verified,
    unrevoked key of your organisation: secp256k1, EIP-191 `personal_sign` of the 64
    lowercase hex digits; SM2 (SM3, default user id) over its 32 bytes. An unregistered,
    pending or revoked key answers 422 signing_key_not_usable, a signature that does not
    verify 422 contract_signature_invalid; nothing is written then."""
    view = services.sign_contract(order_id, body["key_id"], body["signature"],
                                  uow=unit_of_work())
    return contract_body(view), 201


@bp.route("/orders/<order_id>/contract/decline", methods=["POST"])
@bp.access(roles=[Role.BUYER, Role.MERCHANT], object_scoped=True)
@bp.idempotent
@bp.arguments(ContractDeclineIn)
@bp.response(201, ContractOut)
def decline_contract(body: dict[str, Any], order_id: str) -> tuple[dict[str, Any], int]:
    """Decline to sign the order's contract as your side: the platform records it with your
    reason, and the trade goes on under the contract as frozen (unless the venue requires
    signed contracts, when delivery waits for both sides to sign or decline)."""
    return contract_body(services.decline_contract(order_id, body["reason"],
                                                   uow=unit_of_work())), 201
