"""The offline rail: operator-recorded bank transfers in, payouts the operator confirms
out. Everything it does is the ledger's, in the order's own transaction, so nothing is left
to do after an order's money moved."""

from __future__ import annotations

from collections.abc import Sequence

from market.kernel.uow import UnitOfWork
from market.settlement.rails import OFFLINE, RefundLine


class OfflineRail:
    name = OFFLINE
    card_payments = False

    def settled(self, order_id: str, *, uow: UnitOfWork) -> bool:
        return False

    def refunded(self, order_id: str, *, uow: UnitOfWork) -> bool:
        return False

    def cancelled(self, order_id: str, *, uow: UnitOfWork) -> bool:
        return False

    def refund_issued(self, order_id: str, refund_id: str, amount: int,
                      lines: Sequence[RefundLine], *, uow: UnitOfWork) -> bool:
        return False

    def disputed(self, order_id: str, *, uow: UnitOfWork) -> bool:
        return False
