"""Disputes: the buyer disputes a paid or delivered order (its money stays in escrow), the
merchant answers within the answer window, and the operator decides: release, a partial
refund taken from every share in proportion, or a full refund. The decision is carried out
when its escalation window ends with nobody taking it to arbitration (or at once, see
:mod:`market.trading.services.arbitration`). A dispute records the published rules it
opened under. Disputes and refunds are reported to the trade monitoring as incidents."""

from __future__ import annotations

from collections.abc import Sequence

from market.kernel.actor import Role, require
from market.kernel.errors import InvalidInput
from market.kernel.ids import new_id
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
from market.trading import dispute_rules, repository
from market.trading.domain import DisputeOutcome, DisputeStatus, OrderStatus, Policy
from market.trading.models import Dispute, Order
from market.trading.services._common import _incident, _move, _moved, _receipt, _refund
from market.trading.services.conclusion import _conclude


def open_dispute(order_id: str, reason: str, evidence_sha256: Sequence[str], *,
                 policy: Policy, uow: UnitOfWork) -> Dispute:
    """The buyer disputes a paid or delivered order before it is accepted (before the
    acceptance window ends); the money stays in escrow until the operator decides.

    Raises:
        OrderNotFound, NotAParty, InvalidTransition, DisputeWindowClosed.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        order.require_buyer(uow.actor)
        now = uow.clock.now()
        _moved(uow, order, order.dispute(now), OrderStatus.DISPUTED, "disputed", reason)
        rules = dispute_rules.published(dispute_rules.CURRENT_VERSION, policy)
        dispute = Dispute(id=new_id("dsp"), order_id=order.id,
                          buyer_org_id=order.buyer_org_id, seller_org_id=order.seller_org_id,
                          status=DisputeStatus.OPEN.value, reason=reason,
                          evidence_sha256=list(evidence_sha256), opened_at=now,
                          answer_by=now + policy.answer_window,
                          rules_version=rules.version, rules_sha256=rules.sha256,
                          escalation_window_seconds=int(
                              policy.arbitration_window.total_seconds()))
        uow.session.add(dispute)
        uow.session.flush()
        uow.audit.record(uow.actor, "dispute.opened", "dispute", dispute.id, dispute.state())
        _incident(uow, order, "dispute")
        uow.commit()
        return dispute


def answer_dispute(dispute_id: str, answer: str, evidence_sha256: Sequence[str], *,
                   uow: UnitOfWork) -> Dispute:
    """The merchant answers a dispute within the answer window.

    Raises:
        DisputeNotFound, NotAParty, DisputeNotOpen.
    """
    with uow:
        dispute = repository.get_dispute(uow.session, uow.actor, dispute_id, for_update=True)
        dispute.require_seller(uow.actor)
        dispute.respond(answer, list(evidence_sha256), uow.clock.now())
        uow.audit.record(uow.actor, "dispute.answered", "dispute", dispute.id, dispute.state())
        uow.commit()
        return dispute


def refund_of(outcome: DisputeOutcome, amount: int | None, order: Order) -> int:
    """What an outcome gives back: nothing, ``amount`` (more than 0 and less than the
    price), or the whole price.

    Raises:
        InvalidInput: a partial refund without an amount, or not below the price.
    """
    refund = {DisputeOutcome.RELEASE: 0, DisputeOutcome.FULL_REFUND: order.amount}.get(
        outcome, amount)
    if refund is None or not (0 < refund < order.amount
                              or outcome is not DisputeOutcome.PARTIAL_REFUND):
        raise InvalidInput(errors={"refund_amount": [
            f"a partial refund is more than 0 and less than {order.amount}"]})
    return refund


def _carry_out(uow: UnitOfWork, dispute: Dispute, order: Order, outcome: DisputeOutcome,
               refund: int, reason: str) -> None:
    """Move the money as decided (by the operator or an award): the order is resolved,
    then settled less the refund, or refunded in full."""
    dispute.carried_out_at = uow.clock.now()
    _move(uow, order, OrderStatus.RESOLVED, "resolved", f"{outcome.value}: {reason}")
    if outcome is DisputeOutcome.FULL_REFUND:
        _refund(uow, order, "refunded", reason)
    else:
        _conclude(uow, order, refund=refund)


def carry_out_decision(uow: UnitOfWork, dispute: Dispute) -> None:
    """Carry out the operator's decision of a (locked) dispute nobody took to arbitration."""
    order = repository.get_order(uow.session, uow.actor, dispute.order_id, for_update=True)
    assert dispute.outcome is not None
    assert dispute.refund_amount is not None
    _carry_out(uow, dispute, order, DisputeOutcome(dispute.outcome), dispute.refund_amount,
               dispute.decision_reason or "")
    uow.audit.record(uow.actor, "dispute.carried_out", "dispute", dispute.id,
                     dispute.state())


def decide_dispute(dispute_id: str, outcome: DisputeOutcome, reason: str, *,
                   uow: UnitOfWork, refund_amount: int | None = None) -> Dispute:
    """The operator decides a dispute once the merchant answered or its window ended:
    release (the order settles in full), a partial refund (the refund is taken from every
    share in proportion, the rest settles), or a full refund (the escrow goes back to the
    buyer and the order is refunded). Under rules with an escalation window the money stays
    frozen until the window ends unescalated (the deadlines carry it out then) or both
    parties waive escalation; with none it moves at once.

    Raises:
        RoleNotAllowed, DisputeNotFound, DisputeAwaitingAnswer, DisputeNotOpen, InvalidInput.
    """
    require(uow.actor, Role.OPERATOR)
    with uow:
        dispute = repository.get_dispute(uow.session, uow.actor, dispute_id, for_update=True)
        dispute.check_decidable(uow.clock.now())
        order = repository.get_order(uow.session, uow.actor, dispute.order_id, for_update=True)
        refund = refund_of(outcome, refund_amount, order)
        dispute.decide(outcome, refund, reason, uow.clock.now())
        uow.audit.record(uow.actor, "dispute.decided", "dispute", dispute.id, dispute.state())
        _receipt(uow, order, receipts.Kind.DISPUTE_DECISION, {
            "dispute_id": dispute.id, "outcome": outcome.value, "refund_amount": refund,
            "currency": order.currency, "reason": reason, "decided_at": uow.clock.now(),
            "rules_version": dispute.rules_version, "escalate_by": dispute.escalate_by})
        uow.outbox.enqueue("dispute.decided", {"order_id": order.id, "dispute_id": dispute.id})
        if dispute.due_now:
            _carry_out(uow, dispute, order, outcome, refund, reason)
        uow.commit()
        return dispute


def get_dispute(dispute_id: str, *, uow: UnitOfWork) -> Dispute:
    """A dispute the caller may see.

    Raises:
        DisputeNotFound.
    """
    with uow:
        return repository.get_dispute(uow.session, uow.actor, dispute_id)


def list_disputes(*, uow: UnitOfWork, status: str | None = None, after: str | None = None,
                  limit: int = 50) -> Page[Dispute]:
    """Disputes the caller may see, oldest id first (keyset pages)."""
    with uow:
        return repository.dispute_page(uow.session, uow.actor, status=status, after=after,
                                       limit=limit)
