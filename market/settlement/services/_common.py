"""Helpers the settlement use cases share: the offline rail's name and finding (or opening)
an account in the unit of work's transaction."""

from __future__ import annotations

from market.kernel.uow import UnitOfWork
from market.settlement import ledger
from market.settlement.domain import AccountKind
from market.settlement.models import Account

OFFLINE = "offline"  # the embedded payment rail: bank transfers recorded by the operator


def account(uow: UnitOfWork, kind: AccountKind, owner: str, currency: str, ref: str = "",
            ) -> Account:
    """The account of ``kind`` for ``owner``, opened now if it does not exist yet."""
    return ledger.account(uow.session, kind, owner, currency, ref, at=uow.clock.now())
