# mypy: disable-error-code="untyped-decorator"
"""Trading API for the end of a contract's term: the buyer's destruction declaration
(销毁声明) and what it was asked for. Routes on the trading blueprint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from market.kernel.actor import Role
from market.kernel.web import state, unit_of_work
from market.trading import services
from market.trading.api import bp
from market.trading.schemas import DestructionDeclarationIn, DestructionRequestOut


def _grace() -> timedelta:
    return timedelta(days=state().settings.destruction_grace_days)


@bp.route("/orders/<order_id>/destruction-declaration", methods=["POST"])
@bp.access(roles=[Role.BUYER], object_scoped=True)
@bp.idempotent
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(DestructionDeclarationIn)
@bp.response(201, DestructionRequestOut)
def declare_destruction(body: dict[str, Any], order_id: str) -> tuple[dict[str, Any], int]:
    """Once the order's term has ended (its usage terms' duration, its subscription or the
    licence ended, or it was refunded after delivery), the buyer declares it destroyed what
    was delivered, signing the current ``destruction`` template; 409
    ``destruction_not_due`` before, ``destruction_already_declared`` after."""
    return services.declare_destruction(
        order_id, body["destroyed_at"], body["method"], note=body["note"], grace=_grace(),
        signature=body["signature"], uow=unit_of_work()), 201


@bp.route("/orders/<order_id>/destruction-request", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, DestructionRequestOut)
def destruction_request(order_id: str) -> dict[str, Any]:
    """What the buyer was asked to destroy when the order's term ended, by when, and whether
    it declared it (or the regulator was alerted); 404 while none was asked."""
    return services.get_destruction_request(order_id, uow=unit_of_work())
