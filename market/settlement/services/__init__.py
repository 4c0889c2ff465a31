"""Settlement's public surface: top-ups on the offline rail, escrow of order payments, the
revenue split at settlement, refunds, payouts, statements (对账单), distribution rules and
ledger verification, with the value types callers pass and get back, and what an order's
money looks like at the edge (``JournalOut``, ``PostingOut``, ``AllocationOut``), which
trading's order ledger embeds.

The order-money functions (:func:`pay_into_escrow`, :func:`settle`, :func:`refund`,
:func:`close_unpaid`) and :func:`store_rule` run in the trading context's unit of work, so
an order's state and its money change together.
"""

from market.settlement.domain import StatementLine
from market.settlement.ledger import Verification
from market.settlement.schemas import AllocationOut, JournalOut, PostingOut
from market.settlement.services._common import OFFLINE
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
from market.settlement.split import (
    DistributionRule,
    ShareRole,
    SplitPolicy,
    rule_from_chain,
    split,
)

__all__ = [
    "OFFLINE",
    "AllocationOut",
    "DistributionRule",
    "JournalOut",
    "PostingOut",
    "ShareRole",
    "SplitPolicy",
    "Statement",
    "StatementLine",
    "Verification",
    "close_unpaid",
    "confirm_payout",
    "expire_payouts",
    "get_account",
    "get_payout",
    "journal_postings",
    "list_accounts",
    "list_payouts",
    "order_money",
    "pay_into_escrow",
    "record_top_up",
    "refund",
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
