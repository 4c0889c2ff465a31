"""Settlement's public surface: top-ups on the offline rail, escrow of order payments, the
revenue split at settlement, refunds, payouts, statements (对账单), distribution rules and
ledger verification, with the value types callers pass and get back, and what an order's
money looks like at the edge (``JournalOut``, ``PostingOut``, ``AllocationOut``), which
trading's order ledger embeds.

The order-money functions (:func:`pay_into_escrow`, :func:`settle`, :func:`refund`,
:func:`close_unpaid`, :func:`refund_settled`) and :func:`store_rule` run in the trading
context's unit of work, so an order's state and its money change together;
:func:`refund_lines` gives a payment rail what each payee gave back for a refund.
"""

from market.settlement.domain import RefundCause, RefundRecord, RefundShare, StatementLine
from market.settlement.ledger import Verification
from market.settlement.schemas import AllocationOut, JournalOut, PostingOut, RefundOut
from market.settlement.services._common import OFFLINE
from market.settlement.services.cards import (
    CardPaymentRecord,
    CardPaymentRequest,
    card_into_escrow,
    card_payment_of,
    give_back_card_payment,
    open_card_payment,
)
from market.settlement.services.connect import get_connect_account, open_connect_account
from market.settlement.services.escrow import close_unpaid, pay_into_escrow, refund, settle
from market.settlement.services.funds import record_top_up
from market.settlement.services.payouts import (
    confirm_payout,
    expire_payouts,
    get_payout,
    list_payouts,
    reject_payout,
    request_payout,
)
from market.settlement.services.public_fund import (
    FundBalance,
    FundEntry,
    PublicFund,
    public_fund,
)
from market.settlement.services.refunds import (
    order_refunds,
    refund_lines,
    refund_settled,
    refundable,
)
from market.settlement.services.renewals import NO_SAVED_CARD, charge_saved_card
from market.settlement.services.rules import rule_for, split_policy_of, store_rule, stored_rule
from market.settlement.services.statements import (
    Statement,
    get_account,
    journal_postings,
    list_accounts,
    order_money,
    statement,
    verify,
)
from market.settlement.services.stripe_events import receive_stripe_event
from market.settlement.split import (
    HOUSE_ROLES,
    DistributionRule,
    ShareRole,
    SplitPolicy,
    rule_from_chain,
    split,
)

__all__ = [
    "HOUSE_ROLES",
    "NO_SAVED_CARD",
    "OFFLINE",
    "AllocationOut",
    "CardPaymentRecord",
    "CardPaymentRequest",
    "DistributionRule",
    "FundBalance",
    "FundEntry",
    "JournalOut",
    "PostingOut",
    "PublicFund",
    "RefundCause",
    "RefundOut",
    "RefundRecord",
    "RefundShare",
    "ShareRole",
    "SplitPolicy",
    "Statement",
    "StatementLine",
    "Verification",
    "card_into_escrow",
    "card_payment_of",
    "charge_saved_card",
    "close_unpaid",
    "confirm_payout",
    "expire_payouts",
    "get_account",
    "get_connect_account",
    "get_payout",
    "give_back_card_payment",
    "journal_postings",
    "list_accounts",
    "list_payouts",
    "open_card_payment",
    "open_connect_account",
    "order_money",
    "order_refunds",
    "pay_into_escrow",
    "public_fund",
    "receive_stripe_event",
    "record_top_up",
    "refund",
    "refund_lines",
    "refund_settled",
    "refundable",
    "reject_payout",
    "request_payout",
    "rule_for",
    "rule_from_chain",
    "settle",
    "split",
    "split_policy_of",
    "statement",
    "store_rule",
    "stored_rule",
    "verify",
]
