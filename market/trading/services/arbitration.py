"""Disputes to arbitration (数据交易仲裁): once the operator has decided a dispute, either
party may take the decision to one of the arbitration institutions the published rules name,
within the escalation window the rules gave the dispute. Until then the escrow stays frozen:
the decision is carried out when the window ends unescalated (the deadlines do it, see
:func:`carry_out_due_decisions`) or at once when both parties waive escalation. Once
escalated, the dispute and its order stay frozen (no refund, settlement or auto-acceptance)
until the operator records the institution's award, which is carried out in the ledger as a
decision is. Each step is audited and announced on the outbox (``dispute.escalated``,
``dispute.awarded``)."""

from __future__ import annotations

from datetime import datetime

from market.kernel.actor import Role, require
from market.kernel.errors import InvalidInput
from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
from market.trading import dispute_rules, repository
from market.trading.domain import DisputeOutcome, Policy
from market.trading.errors import UnknownInstitution
from market.trading.models import Dispute
from market.trading.services._common import _receipt
from market.trading.services.disputes import _carry_out, carry_out_decision, refund_of


def rules(policy: Policy) -> list[dispute_rules.PublishedRules]:
    """Every published version of the dispute rules, oldest first, under ``policy``."""
    return dispute_rules.all_versions(policy)


def waive_escalation(dispute_id: str, *, uow: UnitOfWork) -> Dispute:
    """The buyer or the seller gives up taking the operator's decision to arbitration; when
    both have, the decision is carried out at once.

    Raises:
        DisputeNotFound, NotAParty, DisputeNotOpen (not decided yet),
        DisputeAlreadyEscalated, EscalationWaived (waived already), EscalationWindowClosed.
    """
    with uow:
        dispute = repository.get_dispute(uow.session, uow.actor, dispute_id, for_update=True)
        side = dispute.side_of(uow.actor)
        dispute.waive(side, uow.clock.now())
        uow.audit.record(uow.actor, "dispute.escalation_waived", "dispute", dispute.id,
                         {**dispute.state(), "side": side})
        if dispute.due_now:
            carry_out_decision(uow, dispute)
        uow.commit()
        return dispute


def escalate_dispute(dispute_id: str, institution: str, reason: str, *, policy: Policy,
                     uow: UnitOfWork) -> Dispute:
    """The buyer or the seller takes the operator's decision to ``institution`` (one the
    rules name) before the escalation window ends; the escrow stays frozen until the award.

    Raises:
        DisputeNotFound, NotAParty, UnknownInstitution, DisputeNotOpen (not decided yet),
        DisputeAlreadyEscalated, EscalationWaived, EscalationWindowClosed.
    """
    with uow:
        dispute = repository.get_dispute(uow.session, uow.actor, dispute_id, for_update=True)
        side = dispute.side_of(uow.actor)
        if institution not in policy.arbitration_institutions:
            raise UnknownInstitution(institution=institution)
        assert uow.actor.org_id is not None
        dispute.escalate(side, uow.actor.org_id, institution, reason, uow.clock.now())
        uow.audit.record(uow.actor, "dispute.escalated", "dispute", dispute.id,
                         {**dispute.state(), "side": side})
        uow.outbox.enqueue("dispute.escalated", {
            "order_id": dispute.order_id, "dispute_id": dispute.id, "institution": institution})
        uow.commit()
        return dispute


def record_award(dispute_id: str, *, institution: str, reference: str, document_sha256: str,
                 outcome: DisputeOutcome, decided_at: datetime, uow: UnitOfWork,
                 refund_amount: int | None = None) -> Dispute:
    """The operator records the award of the institution the dispute was taken to, and it is
    carried out at once as a decision is: released, refunded in part (taken from every
    share in proportion, the rest settles) or refunded in full.

    Raises:
        RoleNotAllowed, DisputeNotFound, DisputeNotEscalated, InvalidInput (another
        institution, a date before the escalation or in the future, a refund amount that is
        not more than 0 and less than the price).
    """
    require(uow.actor, Role.OPERATOR)
    with uow:
        dispute = repository.get_dispute(uow.session, uow.actor, dispute_id, for_update=True)
        now = uow.clock.now()
        dispute.check_awardable()
        if institution != dispute.arbitration_institution:
            raise InvalidInput(errors={"institution": [
                "not the institution the dispute was taken to"]})
        assert dispute.escalated_at is not None
        if not dispute.escalated_at <= decided_at <= now:
            raise InvalidInput(errors={"decided_at": [
                "an award is made after the escalation and not in the future"]})
        order = repository.get_order(uow.session, uow.actor, dispute.order_id, for_update=True)
        refund = refund_of(outcome, refund_amount, order)
        dispute.award(outcome, refund, reference, document_sha256, decided_at, now)
        uow.audit.record(uow.actor, "dispute.awarded", "dispute", dispute.id, dispute.state())
        _receipt(uow, order, receipts.Kind.DISPUTE_DECISION, {
            "dispute_id": dispute.id, "stage": "arbitration_award",
            "institution": institution, "award_reference": reference,
            "award_document_sha256": document_sha256, "outcome": outcome.value,
            "refund_amount": refund, "currency": order.currency, "decided_at": decided_at,
            "recorded_at": now})
        uow.outbox.enqueue("dispute.awarded", {"order_id": order.id, "dispute_id": dispute.id})
        _carry_out(uow, dispute, order, outcome, refund,
                   f"arbitration award {reference} ({institution})")
        uow.commit()
        return dispute


def carry_out_due_decisions(*, uow: UnitOfWork, limit: int = 200) -> list[str]:
    """Carry out the operator's decisions whose escalation window ended with nobody taking
    them to arbitration (the worker, as the system), each in a transaction of its own.
    Returns the disputes acted on."""
    with uow:
        due = repository.due_decision_ids(uow.session, uow.clock.now(), limit)
    done: list[str] = []
    for dispute_id in due:
        with uow:
            dispute = repository.decision_still_due_for_update(uow.session, dispute_id,
                                                               uow.clock.now())
            if dispute is None:
                continue
            carry_out_decision(uow, dispute)
            uow.commit()
        done.append(dispute_id)
    return done
