# mypy: disable-error-code="untyped-decorator"
# (flask-smorest ships no type hints, as for every context's api module)
"""Trading API for disputes beyond the operator (争议在线解决, 数据交易仲裁): the published
dispute rules, a party's escalation of the operator's decision to an arbitration institution
or its waiver, the signed evidence bundle, and the award the operator records. Routes on
the trading blueprint."""

from __future__ import annotations

from typing import Any

from flask import current_app

from market.kernel.actor import Role
from market.kernel.web import unit_of_work
from market.receipts.services import Signer
from market.trading import dispute_rules, services
from market.trading.api import bp, policy
from market.trading.domain import DisputeOutcome
from market.trading.schemas import (
    AwardIn,
    DisputeRulesOut,
    EscalationIn,
    EvidenceBundleOut,
    OrderDisputeOut,
)


def _signer() -> Signer:
    return current_app.extensions["market.signer"]  # type: ignore[no-any-return]


@bp.route("/dispute-rules", methods=["GET"])
@bp.access(anonymous=True)
@bp.response(200, DisputeRulesOut)
def get_dispute_rules() -> dict[str, Any]:
    """The published dispute rules (争议解决规则), every version with its SHA-256 and the
    current one: the answer and arbitration escalation windows, the outcomes, the evidence,
    the arbitration institutions and the procedure. A dispute records the version (and
    digest) it opened under. Public: credentials are not looked at."""
    return {"current": dispute_rules.CURRENT_VERSION,
            "versions": services.rules(policy())}


@bp.route("/disputes/<dispute_id>/escalation", methods=["POST"])
@bp.access(roles=[Role.BUYER, Role.MERCHANT], object_scoped=True)
@bp.idempotent
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(EscalationIn)
@bp.response(200, OrderDisputeOut)
def escalate_dispute(body: dict[str, Any], dispute_id: str) -> Any:
    """Take the operator's decision to an arbitration institution the rules name (the buyer
    or the seller), before its escalation window ends; the escrow stays frozen until the
    award. 409 escalation_window_closed after the window (or once carried out),
    dispute_already_escalated the second time, escalation_waived after your waiver; 422
    unknown_arbitration_institution."""
    return services.escalate_dispute(dispute_id, body["institution"], body["reason"],
                                     policy=policy(), uow=unit_of_work())


@bp.route("/disputes/<dispute_id>/escalation-waiver", methods=["POST"])
@bp.access(roles=[Role.BUYER, Role.MERCHANT], object_scoped=True)
@bp.idempotent
@bp.alt_response(409, response="CONFLICT")
@bp.response(200, OrderDisputeOut)
def waive_escalation(dispute_id: str) -> Any:
    """Give up taking the operator's decision to arbitration (the buyer or the seller); once
    both have, the decision is carried out at once. A waiver is final."""
    return services.waive_escalation(dispute_id, uow=unit_of_work())


@bp.route("/disputes/<dispute_id>/evidence-bundle", methods=["GET"])
@bp.access(object_scoped=True)
@bp.rate_limited("export")
@bp.response(200, EvidenceBundleOut)
def evidence_bundle(dispute_id: str) -> Any:
    """The dispute's evidence bundle for the arbitration institution: contract,
    declarations, delivery fingerprints, download log, messages, history, ledger journals,
    receipts and audit entries, as RFC 8785 canonical JSON with its SHA-256, signed by the
    platform key (EIP-712, as certificates are). Check it offline with `market disputes
    verify-bundle FILE`; any change fails it."""
    return services.evidence_bundle(dispute_id, signer=_signer(), uow=unit_of_work())


@bp.route("/disputes/<dispute_id>/award", methods=["POST"])
@bp.access(roles=[Role.OPERATOR], object_scoped=True)
@bp.idempotent
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(AwardIn)
@bp.response(200, OrderDisputeOut)
def record_award(body: dict[str, Any], dispute_id: str) -> Any:
    """Record the award of the institution the dispute was taken to (the operator, on its
    behalf), carried out at once: release, partial refund (taken from every share in
    proportion, the rest settles) or full refund. 409 dispute_not_escalated for a dispute
    not waiting for an award; 422 for another institution or a refund not below the price."""
    return services.record_award(
        dispute_id, institution=body["institution"], reference=body["reference"],
        document_sha256=body["document_sha256"].lower(),
        outcome=DisputeOutcome(body["outcome"]), decided_at=body["decided_at"],
        refund_amount=body["refund_amount"], uow=unit_of_work())
