"""Trading use cases: place an order under the compliance rules and freeze its contract,
pay into escrow, deliver (checked against the rights chain again), accept and settle with
the revenue split and the filing, cancel, dispute, and the deadlines the worker enforces.

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

__all__ = [
    "DOWNLOADABLE",
    "ORDER_PLACED",
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
    "OrderSummaryOut",
    "OrderView",
    "accept_order",
    "answer_dispute",
    "cancel_order",
    "check_credential",
    "decide_dispute",
    "deliver",
    "fulfilment",
    "get_dispute",
    "get_order",
    "issue_download_token",
    "ledger_document",
    "list_disputes",
    "list_orders",
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
    "record_usage",
    "redeem_download",
    "review_order",
    "run_deadlines",
    "store_file",
]
