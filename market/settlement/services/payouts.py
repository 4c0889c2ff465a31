"""Payouts: a participant asks to be paid part of its payable balance, which a hold
reserves until the operator confirms the bank payout, rejects it, or the worker lets it
expire."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

from market.kernel.actor import Role, require
from market.kernel.db import present
from market.kernel.errors import InvalidInput, RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.settlement import ledger, repository
from market.settlement.domain import PLATFORM, AccountKind, JournalKind, PayoutStatus
from market.settlement.errors import PayoutNotFound
from market.settlement.models import Hold, Payout
from market.settlement.services._common import OFFLINE, account
from market.settlement.services.refunds import recover_receivable


def request_payout(amount: int, currency: str, bank_account: Mapping[str, str], *,
                   uow: UnitOfWork, ttl: timedelta = timedelta(days=14)) -> Payout:
    """Ask to be paid ``amount`` of your payable balance to a bank account; the amount is
    reserved until the operator confirms the payout, rejects it, or it expires. What you
    owe after a refund (a receivable) is taken from the payable balance first.

    Raises:
        InsufficientFunds: less than ``amount`` is payable and not already reserved.
    """
    actor = uow.actor
    if actor.org_id is None:
        raise RoleNotAllowed()
    if amount <= 0:
        raise InvalidInput(errors={"amount": ["must be positive"]})
    with uow:
        payout_id = new_id("pay")
        # What the participant owes after a refund is recovered before anything is paid.
        recover_receivable(uow, actor.org_id, currency, key=f"recovery:{payout_id}")
        payable = account(uow, AccountKind.PAYABLE, actor.org_id, currency)
        clearing = account(uow, AccountKind.RAIL_CLEARING, PLATFORM, currency, OFFLINE)
        now = uow.clock.now()
        held = ledger.hold(uow, key=f"payout:{payout_id}", kind="payout", debit=payable,
                           credit=clearing, amount=amount, expires_at=now + ttl)
        payout = Payout(id=payout_id, org_id=actor.org_id, amount=amount, currency=currency,
                        status=PayoutStatus.REQUESTED.value, hold_id=held.id,
                        bank_account=dict(bank_account), requested_at=now)
        uow.session.add(payout)
        uow.session.flush()
        uow.audit.record(actor, "payout.requested", "payout", payout.id, payout.state())
        uow.outbox.enqueue("payout.requested", {"payout_id": payout.id, "org_id": payout.org_id})
        uow.commit()
        return payout


def get_payout(payout_id: str, *, uow: UnitOfWork) -> Payout:
    """Raises: PayoutNotFound: unknown or not visible to the actor."""
    with uow:
        return present(repository.get_payout(uow.session, payout_id, uow.actor),
                       PayoutNotFound)


def list_payouts(*, uow: UnitOfWork, status: str | None = None, after: str | None = None,
                 limit: int = 50) -> Page[Payout]:
    """Your organisation's payouts; all for the operator and regulators."""
    with uow:
        return repository.list_payouts(uow.session, uow.actor, status=status, after=after,
                                       limit=limit)


def _locked(uow: UnitOfWork, payout_id: str) -> tuple[Payout, Hold]:
    hold_id = repository.payout_hold_id(uow.session, payout_id)
    if hold_id is None:
        raise PayoutNotFound()
    # The hold's lock first, then the payout's: the order expire_payouts takes them in.
    held = repository.lock_hold(uow.session, hold_id)
    return repository.lock_payout(uow.session, payout_id), held


def confirm_payout(payout_id: str, bank_reference: str, *, uow: UnitOfWork) -> Payout:
    """The operator confirms the bank paid the payout: the reservation is posted.

    Raises:
        RoleNotAllowed: the actor is not the operator.
        PayoutNotFound: no such payout.
        InvalidTransition: the payout is already paid, rejected or expired.
    """
    def pay(payout: Payout, held: Hold) -> None:
        payout.pay(bank_reference, at=uow.clock.now())
        ledger.post_hold(uow, held, journal_kind=JournalKind.PAYOUT, memo=bank_reference)

    return _resolve(payout_id, "paid", pay, uow=uow)


def reject_payout(payout_id: str, reason: str, *, uow: UnitOfWork) -> Payout:
    """The operator rejects a payout (say, a wrong bank account): the reservation is voided.

    Raises:
        RoleNotAllowed, PayoutNotFound, InvalidTransition: as :func:`confirm_payout`.
    """
    def reject(payout: Payout, held: Hold) -> None:
        payout.reject(reason, at=uow.clock.now())
        ledger.void_hold(uow, held)

    return _resolve(payout_id, "rejected", reject, uow=uow)


def _resolve(payout_id: str, outcome: str, act: Callable[[Payout, Hold], None], *,
             uow: UnitOfWork) -> Payout:
    """The operator's decision on a payout: the payout moves first (refusing a payout no
    longer pending), then its reservation is posted or voided."""
    require(uow.actor, Role.OPERATOR)
    with uow:
        payout, held = _locked(uow, payout_id)
        act(payout, held)
        uow.audit.record(uow.actor, f"payout.{outcome}", "payout", payout.id, payout.state())
        uow.outbox.enqueue(f"payout.{outcome}", {"payout_id": payout.id,
                                                 "org_id": payout.org_id})
        uow.commit()
        return payout


def expire_payouts(*, uow: UnitOfWork) -> list[str]:
    """Void the reservations of payouts nobody confirmed in time (the worker), each in a
    transaction of its own."""
    now = uow.clock.now()
    with uow:
        due = [held.id for held in ledger.due_holds(uow.session, now)]
    expired = []
    for hold_id in due:
        with uow:
            # The hold's lock first, then the payout's, as confirming and rejecting take them.
            held = repository.lock_pending_hold(uow.session, hold_id)
            if held is None:  # resolved meanwhile, or another worker has it
                continue
            ledger.void_hold(uow, held, expired=True)
            payout = repository.lock_payout_of_hold(uow.session, held.id)
            if payout is not None and payout.pending:
                payout.expire(at=now)
                uow.audit.record(uow.actor, "payout.expired", "payout", payout.id,
                                 payout.state())
                uow.outbox.enqueue("payout.expired", {"payout_id": payout.id,
                                                      "org_id": payout.org_id})
                expired.append(payout.id)
            uow.commit()
    return expired
