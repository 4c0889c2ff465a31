"""The JSON the API answers, as TypedDicts: a value is the decoded JSON itself (a ``dict``),
so every field the exchange sends is there, typed or not. Each class names the schema of the
OpenAPI document it follows (``tests/client`` checks the fields against the live document).
"""

from __future__ import annotations

from typing import Any, Generic, TypedDict, TypeVar

T = TypeVar("T")
JSON = dict[str, Any]


class Page(TypedDict, Generic[T], total=False):
    """One page of a list: pass ``next_cursor`` as ``cursor`` for the next (None at the end)."""

    items: list[T]
    next_cursor: str | None


# -- participants ---------------------------------------------------------------------------


class Organisation(TypedDict, total=False):
    """OrganisationOut"""

    id: str
    name: str
    credit_code: str
    contact_name: str
    contact_email: str
    contact_phone: str | None
    status: str
    status_reason: str | None
    roles: list[str]
    created_at: str
    updated_at: str


class Registration(TypedDict, total=False):
    """RegistrationOut: the organisation, its first user and API key (secret shown once)."""

    organisation: Organisation
    user: JSON
    api_key: JSON


# -- rights ---------------------------------------------------------------------------------


class Resource(TypedDict, total=False):
    """ResourceOut"""

    id: str
    holder_org_id: str
    title: str
    description: str
    origin: str
    classification: str
    pi_level: str
    scenarios: list[str]
    created_at: str
    evidence: list[JSON]


class Right(TypedDict, total=False):
    """RightOut"""

    id: str
    kind: str
    holder_org_id: str
    resource_id: str | None
    product_id: str | None
    subject_title: str
    grant_id: str | None
    purposes: list[str]
    scenarios: list[str]
    territory: str
    valid_from: str
    valid_to: str | None
    status: str
    status_reason: str | None
    certificate_number: str | None
    parent_ids: list[str]
    registered_at: str | None


class Grant(TypedDict, total=False):
    """GrantOut"""

    id: str
    holding_right_id: str
    resource_id: str
    grantor_org_id: str
    grantee_org_id: str
    purposes: list[str]
    scenarios: list[str]
    status: str
    valid_from: str
    valid_to: str | None


class ReceiptSummary(TypedDict, total=False):
    """ReceiptSummaryOut"""

    id: str
    kind: str
    subject: str
    digest: str
    issued_at: str
    leaf_index: int | None


class Certificate(TypedDict, total=False):
    """CertificateOut: the public registration certificate (登记证书)."""

    number: str
    kind: str
    holder_name: str
    subject_title: str
    valid_from: str
    valid_to: str | None
    issued_at: str
    status: str
    document: JSON
    signature: JSON
    receipts: list[ReceiptSummary]


# -- listing --------------------------------------------------------------------------------


class Offer(TypedDict, total=False):
    """OfferOut"""

    id: str
    kind: str
    name: str
    currency: str
    amount: int | None
    period: str | None
    quantity: int | None
    sold: int


class Version(TypedDict, total=False):
    """VersionOut"""

    id: str
    number: int
    status: str
    status_reason: str | None
    title: str
    description: str
    type: str
    sector: str
    region: str
    delivery_modes: list[str]
    classification: str | None
    terms: JSON
    offers: list[Offer]
    listed_at: str | None


class Product(TypedDict, total=False):
    """ProductOut: the latest version and the one on sale."""

    id: str
    merchant_org_id: str
    created_at: str
    latest: Version
    listed: Version | None


class CatalogEntry(TypedDict, total=False):
    """CatalogEntryOut: a listed product as anyone sees it, with the version on sale."""

    id: str
    merchant_org_id: str
    version: Version


class CatalogItem(TypedDict, total=False):
    """CatalogItemOut"""

    product_id: str
    version_id: str
    merchant_org_id: str
    title: str
    type: str
    sector: str
    region: str
    development_level: str
    classification: str
    delivery_modes: list[str]
    min_price: int | None
    currency: str | None
    has_free: bool
    listed_at: str


class CatalogPage(TypedDict, total=False):
    """CatalogPage: a page of search results with the total and the facet counts."""

    items: list[CatalogItem]
    next_cursor: str | None
    total: int
    facets: JSON


class ReviewItem(TypedDict, total=False):
    """ReviewItemOut: a listing version, right registration or order awaiting review."""

    id: str
    kind: str
    subject_id: str
    org_id: str
    status: str
    needs: str
    claimed_by_org_id: str | None
    outcome: str | None
    outcome_reason: str | None
    rules: list[str]
    required_approvals: int
    approvals: list[JSON]
    opened_at: str


# -- matching -------------------------------------------------------------------------------


class Demand(TypedDict, total=False):
    """DemandOut"""

    id: str
    buyer_org_id: str
    status: str
    title: str
    sector: str
    budget_min: int | None
    budget_max: int | None
    currency: str
    deadline: str
    matches: list[JSON]


class Negotiation(TypedDict, total=False):
    """NegotiationOut"""

    id: str
    product_id: str
    offer_id: str | None
    demand_id: str | None
    buyer_org_id: str
    merchant_org_id: str
    status: str
    terms: JSON
    proposed_by: str | None
    round: int
    private_offer_id: str | None
    order_id: str | None
    expires_at: str


# -- trading --------------------------------------------------------------------------------


class Delivery(TypedDict, total=False):
    """DeliveryOut"""

    id: str
    mode: str
    sha256: str | None
    size: int | None
    file_name: str | None
    media_type: str | None
    endpoint: str | None
    delivered_at: str


class Dispute(TypedDict, total=False):
    """OrderDisputeOut"""

    id: str
    order_id: str
    buyer_org_id: str
    seller_org_id: str
    status: str
    reason: str
    answer: str | None
    outcome: str | None
    refund_amount: int | None
    decision_reason: str | None
    opened_at: str
    decided_at: str | None


class Order(TypedDict, total=False):
    """OrderOut: one order with its deliveries, disputes and receipts."""

    id: str
    buyer_org_id: str
    seller_org_id: str
    product_id: str
    version_id: str
    offer_id: str
    status: str
    amount: int
    currency: str
    outcome: str
    flagged: bool
    created_at: str
    paid_at: str | None
    delivered_at: str | None
    accepted_at: str | None
    auto_accepted: bool
    settled_at: str | None
    refunded_amount: int
    contract_sha256: str | None
    deliveries: list[Delivery]
    disputes: list[Dispute]
    receipts: list[ReceiptSummary]


class OrderSummary(TypedDict, total=False):
    """OrderSummaryOut: an order as lists show it."""

    id: str
    status: str
    buyer_org_id: str
    seller_org_id: str
    product_id: str
    offer_id: str
    amount: int
    currency: str
    outcome: str
    flagged: bool
    refunded_amount: int
    created_at: str
    updated_at: str


class DeliveryResult(TypedDict, total=False):
    """DeliveryResultOut: the delivered order, and an API credential shown once."""

    order: Order
    credential: str | None


class DownloadToken(TypedDict, total=False):
    """DownloadTokenOut: an expiring, counted download link."""

    token: str
    url: str
    expires_at: str
    max_downloads: int


class Allocation(TypedDict, total=False):
    """AllocationOut: one payee's share of a settled order."""

    role: str
    org_id: str
    account_id: str
    amount: int
    refunded: int
    currency: str


class Journal(TypedDict, total=False):
    """JournalOut"""

    id: str
    kind: str
    order_id: str | None
    memo: str | None
    posted_at: str
    postings: list[JSON]


class OrderLedger(TypedDict, total=False):
    """OrderLedgerOut: the order's journals and its revenue split."""

    journals: list[Journal]
    allocations: list[Allocation]


# -- settlement -----------------------------------------------------------------------------


class Account(TypedDict, total=False):
    """AccountOut"""

    id: str
    kind: str
    owner: str
    ref: str
    currency: str
    balance: int
    pending_out: int
    created_at: str


class StatementLine(TypedDict, total=False):
    """StatementLineOut"""

    posting_id: int
    journal_id: str
    kind: str
    order_id: str | None
    memo: str | None
    amount: int
    balance_after: int
    posted_at: str


# ``from`` is a keyword, so Statement is declared the functional way.
Statement = TypedDict("Statement", {
    "account": Account, "from": str, "to": str, "opening_balance": int,
    "closing_balance": int, "credits": int, "debits": int, "lines": list[StatementLine],
}, total=False)
"""StatementOut: an account's postings over [from, to) with running balances."""


class TopUp(TypedDict, total=False):
    """TopUpOut"""

    id: str
    rail: str
    reference: str
    org_id: str
    amount: int
    currency: str
    journal_id: str
    recorded_at: str


class Payout(TypedDict, total=False):
    """PayoutOut"""

    id: str
    org_id: str
    amount: int
    currency: str
    status: str
    requested_at: str


# -- compliance and regulators --------------------------------------------------------------


class Filing(TypedDict, total=False):
    """FilingOut: a filed trade (登记备案)."""

    id: str
    number: str
    kind: str
    order_id: str | None
    product_id: str | None
    product_title: str
    sector: str
    product_type: str
    seller_org_id: str
    buyer_org_id: str
    amount: int
    currency: str
    concluded_at: str
    filed_at: str
    refunded_amount: int
    receipts: list[ReceiptSummary]


class Alert(TypedDict, total=False):
    """AlertOut (lists send AlertSummaryOut: the same without evidence and notes)."""

    id: str
    rule: str
    severity: str
    status: str
    subject_type: str
    subject_id: str
    org_ids: list[str]
    summary: str
    evidence: JSON
    opened_at: str
    updated_at: str
    notes: list[JSON]


class RegulatorOrder(TypedDict, total=False):
    """RegulatorOrderOut: one order's full record."""

    order: Order
    contract: JSON | None
    ledger: OrderLedger
    filing: Filing | None


class Statistics(TypedDict, total=False):
    """StatisticsOut: filed trades by day, sector and product type, per currency."""

    by_day: list[JSON]
    by_sector: list[JSON]
    by_product_type: list[JSON]
    related_party_only: list[JSON]


class Sanction(TypedDict, total=False):
    """SanctionOut"""

    org_id: str
    name: str
    credit_code: str
    status: str
    reason: str | None
    since: str


class AuditVerification(TypedDict, total=False):
    """VerificationOut: the audit chain recomputed."""

    ok: bool
    checked: int
    head_seq: int
    first_broken_seq: int | None
    reason: str | None


# -- receipts -------------------------------------------------------------------------------


class Receipt(TypedDict, total=False):
    """ReceiptOut"""

    id: str
    kind: str
    subject: str
    suite: str
    digest: str
    issued_at: str
    leaf_index: int | None
    body: JSON
    signature: JSON


class ProofBundle(TypedDict, total=False):
    """ProofBundleOut: what a receipt needs to prove itself without the exchange."""

    format: str
    receipt: JSON
    log: JSON | None
    anchor: JSON | None


class BundleVerification(TypedDict, total=False):
    """ReceiptVerificationOut: the exchange's verdict on a bundle, part by part."""

    ok: bool
    status: str
    failed: str | None
    parts: list[JSON]


# Which schema of the OpenAPI document each class follows (checked by the tests).
SCHEMAS: dict[str, type] = {
    "OrganisationOut": Organisation, "RegistrationOut": Registration,
    "ResourceOut": Resource, "RightOut": Right, "GrantOut": Grant,
    "ReceiptSummaryOut": ReceiptSummary, "CertificateOut": Certificate, "OfferOut": Offer,
    "VersionOut": Version, "ProductOut": Product, "CatalogEntryOut": CatalogEntry,
    "CatalogItemOut": CatalogItem,
    "CatalogPage": CatalogPage, "ReviewItemOut": ReviewItem, "DemandOut": Demand,
    "NegotiationOut": Negotiation, "DeliveryOut": Delivery, "OrderDisputeOut": Dispute,
    "OrderOut": Order, "OrderSummaryOut": OrderSummary, "DeliveryResultOut": DeliveryResult,
    "DownloadTokenOut": DownloadToken, "AllocationOut": Allocation, "JournalOut": Journal,
    "OrderLedgerOut": OrderLedger, "AccountOut": Account, "StatementLineOut": StatementLine,
    "StatementOut": Statement, "TopUpOut": TopUp, "PayoutOut": Payout, "FilingOut": Filing,
    "AlertOut": Alert, "RegulatorOrderOut": RegulatorOrder, "StatisticsOut": Statistics,
    "SanctionOut": Sanction, "VerificationOut": AuditVerification, "ReceiptOut": Receipt,
    "ProofBundleOut": ProofBundle, "ReceiptVerificationOut": BundleVerification,
}
