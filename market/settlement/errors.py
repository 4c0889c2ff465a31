"""Named errors of the settlement context."""

from __future__ import annotations

from market.kernel.errors import Conflict, MarketError, NotFound, RuleViolation


class InsufficientFunds(RuleViolation):
    """A non-negative account cannot give the amount asked (its balance less what pending
    holds reserve)."""

    code = "insufficient_funds"
    title = "Not enough funds in the account"
    detail_template = "account %(account_id)s cannot give that much"


class JournalKeyReused(Conflict):
    """A journal key names one movement of money; it was used for different legs."""

    code = "journal_key_reused"
    title = "The journal key was used for a different movement"


class HoldNotPending(Conflict):
    """A hold is posted, voided or expired only once."""

    code = "hold_not_pending"
    title = "The hold is no longer pending"


class EscrowNotEmpty(MarketError):
    """An order reached a terminal state with money still in its escrow (a defect)."""

    status = 500
    code = "escrow_not_empty"
    title = "The order's escrow is not empty"
    detail_template = "order %(order_id)s ended with %(balance)s still in escrow"


class PayoutNotFound(NotFound):
    code = "payout_not_found"
    title = "Payout not found"


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = "Account not found"


class TopUpReferenceReused(Conflict):
    """A bank reference is recorded once; the same reference with another payer, amount or
    currency is refused."""

    code = "top_up_reference_reused"
    title = "The bank reference was recorded for a different transfer"
