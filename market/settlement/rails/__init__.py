"""Payment rails: how money enters the market and leaves it.

The ledger is the same on every rail; a rail is what an order's money life needs beyond it:
collecting the payment, releasing the settled shares to the payees, and giving refunds back
the way the money came. ``offline`` (the embedded default) collects from balances the
operator tops up from bank transfers and pays out on request, all inside the ledger;
``stripe`` collects by card (PaymentIntents on the platform) and pays the payees' Connect
accounts by Transfers, each Stripe call persisted and performed by the worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from market.kernel.uow import UnitOfWork

OFFLINE = "offline"
STRIPE = "stripe"


class RefundLine(Protocol):
    """What a refund after settlement took back from one payee: ``receivable`` is the part
    its balances could not give, recorded as owed (the part a rail recovers from money it
    already paid the payee)."""

    org_id: str
    role: str
    amount: int
    receivable: int


class PaymentRail(Protocol):
    """What an order's money life needs from a rail after the ledger has moved: each
    returns whether the rail had anything to do for the order (an order paid on another
    rail is not this rail's)."""

    name: str
    card_payments: bool  # buyers may pay orders by card

    def settled(self, order_id: str, *, uow: UnitOfWork) -> bool:
        """The order settled: release the payees' shares."""
        ...

    def refunded(self, order_id: str, *, uow: UnitOfWork) -> bool:
        """The order was refunded before settlement: give the payment back."""
        ...

    def cancelled(self, order_id: str, *, uow: UnitOfWork) -> bool:
        """The order was cancelled before payment: stop collecting."""
        ...

    def refund_issued(self, order_id: str, refund_id: str, amount: int,
                      lines: Sequence[RefundLine], *, uow: UnitOfWork) -> bool:
        """A settled order was refunded (in part): give it back, take it from the payees."""
        ...

    def disputed(self, order_id: str, *, uow: UnitOfWork) -> bool:
        """The buyer disputed the order: the money must outlast a decision of any length."""
        ...
