"""Ledger rules as plain values: account kinds, hold states, and the balance check every
journal passes before it is written."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AccountKind(StrEnum):
    """What an account holds. Amounts are signed: a participant's money (what the platform
    owes it) is positive; money at the payment rail is negative, so every currency's
    accounts sum to zero."""

    AVAILABLE = "available"  # a participant's spendable balance
    ESCROW = "escrow"  # one per order: the buyer's payment held until settlement
    PAYABLE = "payable"  # a participant's earnings awaiting payout
    FEE_REVENUE = "fee_revenue"  # the platform's fee revenue
    RAIL_CLEARING = "rail_clearing"  # money held at a payment rail (the bank)
    # What a payee owes the platform: a refund after settlement took more from its share
    # than its payable balance still held (already paid out). Never above zero; the next
    # payable credit or payout request recovers it first.
    RECEIVABLE = "receivable"
    # The public-service fund (公共服务基金): the earmarked share of public-data revenue
    # (公共数据运营收益定向反哺公共服务), owned by the platform, one per currency.
    PUBLIC_FUND = "public_fund"


# The rail's clearing account and receivables hold what others owe (negative balances);
# every other account may never go below zero.
NON_NEGATIVE = frozenset(AccountKind) - {AccountKind.RAIL_CLEARING, AccountKind.RECEIVABLE}
PLATFORM = "platform"  # the owner of the fee revenue and clearing accounts


class JournalKind(StrEnum):
    TOP_UP = "top_up"  # a bank transfer recorded by the operator
    PAYMENT = "payment"  # buyer available → order escrow
    SETTLEMENT = "settlement"  # order escrow → payables and the platform fee
    REFUND = "refund"  # order escrow → buyer available
    PAYOUT = "payout"  # payable → rail (posted when the operator confirms the bank payout)
    RECOVERY = "recovery"  # payable → receivable: what a payee owed taken from its earnings


class RefundCause(StrEnum):
    """Why a settled order's money goes back to its buyer."""

    DISPUTE = "dispute"  # the operator's decision on a dispute
    ARBITRATION = "arbitration"  # an arbitration award (仲裁) the operator carries out
    GOODWILL = "goodwill"  # the merchant's own decision


class HoldStatus(StrEnum):
    """A two-phase transfer: reserved first, then posted, voided or left to expire."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


class PayoutStatus(StrEnum):
    REQUESTED = "requested"
    PAID = "paid"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Leg:
    """One side of a transfer: ``amount`` minor units into (positive) or out of (negative)
    ``account_id``."""

    account_id: str
    amount: int
    currency: str


class Unbalanced(ValueError):
    """A journal whose legs do not sum to zero in some currency."""


def check_balanced(legs: Sequence[Leg]) -> None:
    """Refuse a journal that would create or destroy money.

    Raises:
        Unbalanced: no legs, a non-integer or zero amount, or a currency that does not sum
            to zero.
    """
    if not legs:
        raise Unbalanced("a journal needs legs")
    totals: dict[str, int] = defaultdict(int)
    for leg in legs:
        if isinstance(leg.amount, bool) or not isinstance(leg.amount, int) or leg.amount == 0:
            raise Unbalanced(f"leg amounts are non-zero integers, got {leg.amount!r}")
        totals[leg.currency] += leg.amount
    for currency, total in sorted(totals.items()):
        if total != 0:
            raise Unbalanced(f"the journal is off by {total} in {currency}")


def merged(legs: Sequence[Leg]) -> list[Leg]:
    """Legs on the same account and currency summed, zero results dropped, in account id
    order (the order rows are locked in, so concurrent journals never deadlock)."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for leg in legs:
        totals[(leg.account_id, leg.currency)] += leg.amount
    return [Leg(account, amount, currency)
            for (account, currency), amount in sorted(totals.items()) if amount != 0]


@dataclass(frozen=True)
class StatementLine:
    """One posting of an account's statement, with the running balance after it."""

    posting_id: int
    journal_id: str
    kind: str
    order_id: str | None
    memo: str | None
    amount: int
    balance_after: int
    posted_at: datetime


@dataclass(frozen=True)
class RefundShare:
    """What one allocation line gave back for a refund: ``from_payable`` out of its payable
    balance (the fee account for the platform), ``receivable`` recorded against the payee."""

    org_id: str
    role: str
    amount: int
    from_payable: int
    receivable: int


@dataclass(frozen=True)
class RefundRecord:
    """A refund after settlement, with its lines in canonical order (platform first)."""

    id: str
    order_id: str
    number: int
    amount: int
    currency: str
    cause: str
    reason: str
    journal_id: str
    refunded_by_org_id: str | None
    refunded_by: str
    refunded_at: datetime
    lines: tuple[RefundShare, ...]
