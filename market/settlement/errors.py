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


class RefundExceedsPaid(RuleViolation):
    """A refund after settlement gives back at most what the buyer paid (the price billed)
    less what earlier refunds gave back."""

    code = "refund_exceeds_paid"
    title = "The refund exceeds what is left to refund"
    detail_template = "%(requested)s asked, but only %(refundable)s of the order is left to refund"


class RefundNotFound(NotFound):
    code = "refund_not_found"
    title = "Refund not found"


class CardPaymentsUnavailable(Conflict):
    """Orders are paid by card only when the Stripe rail is configured."""

    code = "card_payments_unavailable"
    title = "Card payments are not available"
    detail_template = "the payment rail is %(rail)s"


class CardPaymentNotFound(NotFound):
    """The order was not asked to be paid by card."""

    code = "card_payment_not_found"
    title = "Card payment not found"


class CardPaymentMismatch(Conflict):
    """The order is already being paid by card for another amount or currency."""

    code = "card_payment_mismatch"
    title = "The order's card payment differs"


class ConnectAccountNotFound(NotFound):
    """The organisation has not asked for a Stripe Connect account."""

    code = "connect_account_not_found"
    title = "Connect account not found"


class StripeSignatureInvalid(MarketError):
    """An inbound Stripe webhook whose signature does not hold for the configured secret, or
    is older than the tolerance (300 s)."""

    status = 400
    code = "stripe_signature_invalid"
    title = "The Stripe signature does not verify"
    detail_template = ("The Stripe-Signature header does not hold for this body under the "
                       "webhook secret, or is more than 300 seconds old (%(reason)s).")
