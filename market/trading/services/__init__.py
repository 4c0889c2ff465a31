"""Trading use cases: place an order under the compliance rules and freeze its contract,
pay into escrow, deliver (checked against the rights chain again), accept and settle with
the revenue split and the filing, cancel, dispute, refund after settlement, subscriptions
and their renewals, and the deadlines the worker enforces.

Every order transition takes the order's row lock first (``SELECT … FOR UPDATE``), so
concurrent payments, acceptances and refunds of one order have exactly one effect; the
money moves in the same transaction through :mod:`market.settlement.services`. This package
is trading's one surface for the API, the other contexts and the entry points. Besides the
use cases it publishes what an order looks like at the edge (``OrderOut``, ``ContractOut``,
``OrderLedgerOut``, ``OrderSummaryOut``, ``OrderQuery``), so the regulator shows the very
record the parties see, never a copy that drifts.
"""

from market.trading.domain import OrderFilters
from market.trading.schemas import (
    ContractOut,
    OrderLedgerOut,
    OrderOut,
    OrderQuery,
    OrderSummaryOut,
)
from market.trading.services._common import OrderView, policy_of
from market.trading.services.arbitration import (
    carry_out_due_decisions,
    escalate_dispute,
    record_award,
    rules,
    waive_escalation,
)
from market.trading.services.cards import (
    card_renewal_declined,
    collect_renewal_by_card,
    get_card_payment,
    record_card_payment,
    record_chargeback,
    request_card_payment,
)
from market.trading.services.conclusion import accept_order
from market.trading.services.credit import (
    SellerRecord,
    credit_inputs,
    recompute_credit_marks,
    seller_records,
)
from market.trading.services.deadlines import DeadlineRun, run_deadlines
from market.trading.services.delivery import (
    DOWNLOADABLE,
    CredentialCheck,
    DeliveryInput,
    Download,
    FileUpload,
    check_credential,
    deliver,
    issue_download_token,
    order_usage,
    record_usage,
    redeem_download,
    store_file,
)
from market.trading.services.disputes import (
    answer_dispute,
    decide_dispute,
    get_dispute,
    list_disputes,
    open_dispute,
)
from market.trading.services.evidence import (
    BUNDLE_KIND,
    EVIDENCE_GATHERING,
    BundleCheck,
    evidence_bundle,
    verify_evidence_bundle,
)
from market.trading.services.payment import pay_order
from market.trading.services.placing import (
    ORDER_PLACED,
    cancel_order,
    place_order,
    review_order,
)
from market.trading.services.public_data import PurposeTally, public_data_trades
from market.trading.services.queries import (
    Fulfilment,
    OrderMoney,
    OrderRecord,
    fulfilment,
    get_order,
    ledger_document,
    list_orders,
    order_commitment,
    order_document,
    order_history,
    order_money,
    order_record,
)
from market.trading.services.reactions import on_rights_restored, on_rights_unavailable
from market.trading.services.refunds import (
    REFUND_ISSUED,
    OrderRefunds,
    list_refunds,
    refund_order,
)
from market.trading.services.retention import (
    DestructionCounts,
    declare_destruction,
    delete_unneeded_files,
    destruction_counts,
    destruction_views,
    get_destruction_request,
    raise_overdue,
    request_destructions,
    sweep_retention,
    term_end,
)
from market.trading.services.signing import (
    ContractView,
    decline_contract,
    get_contract,
    sign_contract,
)
from market.trading.services.subscriptions import (
    RENEWAL_DUE,
    RenewalRun,
    accept_terms,
    current_terms,
    get_subscription,
    list_subscriptions,
    renewal_failed,
    renewal_paid,
    run_renewals,
    set_renewal,
    subscription_history,
)

__all__ = [
    "BUNDLE_KIND",
    "DOWNLOADABLE",
    "EVIDENCE_GATHERING",
    "ORDER_PLACED",
    "REFUND_ISSUED",
    "RENEWAL_DUE",
    "BundleCheck",
    "ContractOut",
    "ContractView",
    "CredentialCheck",
    "DeadlineRun",
    "DeliveryInput",
    "DestructionCounts",
    "Download",
    "FileUpload",
    "Fulfilment",
    "OrderFilters",
    "OrderLedgerOut",
    "OrderMoney",
    "OrderOut",
    "OrderQuery",
    "OrderRecord",
    "OrderRefunds",
    "OrderSummaryOut",
    "OrderView",
    "PurposeTally",
    "RenewalRun",
    "SellerRecord",
    "accept_order",
    "accept_terms",
    "answer_dispute",
    "cancel_order",
    "card_renewal_declined",
    "carry_out_due_decisions",
    "check_credential",
    "collect_renewal_by_card",
    "credit_inputs",
    "current_terms",
    "decide_dispute",
    "declare_destruction",
    "decline_contract",
    "delete_unneeded_files",
    "deliver",
    "destruction_counts",
    "destruction_views",
    "escalate_dispute",
    "evidence_bundle",
    "fulfilment",
    "get_card_payment",
    "get_contract",
    "get_destruction_request",
    "get_dispute",
    "get_order",
    "get_subscription",
    "issue_download_token",
    "ledger_document",
    "list_disputes",
    "list_orders",
    "list_refunds",
    "list_subscriptions",
    "on_rights_restored",
    "on_rights_unavailable",
    "open_dispute",
    "order_commitment",
    "order_document",
    "order_history",
    "order_money",
    "order_record",
    "order_usage",
    "pay_order",
    "place_order",
    "policy_of",
    "public_data_trades",
    "raise_overdue",
    "recompute_credit_marks",
    "record_award",
    "record_card_payment",
    "record_chargeback",
    "record_usage",
    "redeem_download",
    "refund_order",
    "renewal_failed",
    "renewal_paid",
    "request_card_payment",
    "request_destructions",
    "review_order",
    "rules",
    "run_deadlines",
    "run_renewals",
    "seller_records",
    "set_renewal",
    "sign_contract",
    "store_file",
    "subscription_history",
    "sweep_retention",
    "term_end",
    "verify_evidence_bundle",
    "waive_escalation",
]
