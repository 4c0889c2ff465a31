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
from market.trading.services.cards import (
    card_renewal_declined,
    collect_renewal_by_card,
    get_card_payment,
    record_card_payment,
    record_chargeback,
    request_card_payment,
)
from market.trading.services.conclusion import accept_order
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
from market.trading.services.payment import pay_order
from market.trading.services.placing import (
    ORDER_PLACED,
    cancel_order,
    place_order,
    review_order,
)
from market.trading.services.queries import (
    Fulfilment,
    OrderMoney,
    OrderRecord,
    fulfilment,
    get_order,
    ledger_document,
    list_orders,
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
    "DOWNLOADABLE",
    "ORDER_PLACED",
    "REFUND_ISSUED",
    "RENEWAL_DUE",
    "ContractOut",
    "CredentialCheck",
    "DeadlineRun",
    "DeliveryInput",
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
    "RenewalRun",
    "accept_order",
    "accept_terms",
    "answer_dispute",
    "cancel_order",
    "card_renewal_declined",
    "check_credential",
    "collect_renewal_by_card",
    "current_terms",
    "decide_dispute",
    "deliver",
    "fulfilment",
    "get_card_payment",
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
    "order_document",
    "order_history",
    "order_money",
    "order_record",
    "order_usage",
    "pay_order",
    "place_order",
    "policy_of",
    "record_card_payment",
    "record_chargeback",
    "record_usage",
    "redeem_download",
    "refund_order",
    "renewal_failed",
    "renewal_paid",
    "request_card_payment",
    "review_order",
    "run_deadlines",
    "run_renewals",
    "set_renewal",
    "store_file",
    "subscription_history",
]
