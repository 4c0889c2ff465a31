"""Compliance services, the one surface other contexts and the HTTP edge use: the gate and
the rule engine's decisions, declarations and the credit record, filings, risk alerts,
suspension orders, the review queue and the admission commitment.

Besides the use cases it publishes the value types callers pass and get back (``Facts``,
``Stage``, ``Outcome``, ``DeclarationKind`` …) and the forms that are part of compliance's
published language: the declaration and commitment a listing or an order embeds
(``ListingDeclarationIn``, ``PurchaseCommitmentIn``, ``SignatureIn``) and the filing forms
regulators' exports reuse (``FilingQuery``, ``FilingOut``). Signing and deciding run inside
the caller's unit of work, so a declaration or decision commits with the change it belongs
to.
"""

from market.compliance.domain import (
    BreachSeverity,
    DeclarationKind,
    Facts,
    Outcome,
    PartyFacts,
    ProductFacts,
    Stage,
    Verdict,
    gather,
    product_facts,
    screen,
    use_facts,
)
from market.compliance.odrl import Use, Violation, violations
from market.compliance.repository import FilingFilters
from market.compliance.rules.delivery import Matrix as DeliveryMatrix
from market.compliance.rules.delivery import configure_matrix as configure_delivery_matrix
from market.compliance.rules.delivery import current_matrix as delivery_matrix
from market.compliance.rules.delivery import describe as describe_product
from market.compliance.rules.parties import with_parties
from market.compliance.rules.public_data import BUYER_CLASSES, with_public_data
from market.compliance.schemas import (
    FilingOut,
    FilingQuery,
    ListingDeclarationIn,
    PurchaseCommitmentIn,
    RetentionTermOut,
    SignatureIn,
)
from market.compliance.services.admission import commit_to_admission, on_admitting
from market.compliance.services.alerts import (
    dispose,
    get_alert,
    list_alerts,
    raise_alerts,
    record_incident,
    scan,
)
from market.compliance.services.declarations import (
    CreditRecord,
    breach_records,
    credit_record,
    credit_scores,
    declaration_digest,
    declaration_of,
    get_declaration,
    get_declaration_record,
    list_declarations,
    record_breach,
    sign_declaration,
)
from market.compliance.services.filings import (
    OffExchangeReport,
    TradeFiling,
    TradeRefund,
    file_trade,
    filing_filters,
    filing_of_order,
    filing_refunds,
    filing_statistics,
    get_filing,
    list_filings,
    record_refund,
    report_off_exchange,
    stream_filings,
)
from market.compliance.services.gate import (
    Declare,
    Passage,
    Refusal,
    decision_ids,
    failing,
    gate,
    get_decision,
    list_decisions,
)
from market.compliance.services.retention import (
    RetentionTerm,
    apply_retention,
    configured_years,
    raise_destruction_overdue,
    retention_policy,
)
from market.compliance.services.reviews import (
    Approval,
    attach_report,
    check_second_reviewer,
    get_review,
    list_reviews,
    missing_assessment,
    record_approval,
    track_review,
)
from market.compliance.services.sanctions import LISTING_SUSPENSION_ORDERED, order_suspension

__all__ = [
    "BUYER_CLASSES",
    "LISTING_SUSPENSION_ORDERED",
    "Approval",
    "BreachSeverity",
    "CreditRecord",
    "DeclarationKind",
    "Declare",
    "DeliveryMatrix",
    "Facts",
    "FilingFilters",
    "FilingOut",
    "FilingQuery",
    "ListingDeclarationIn",
    "OffExchangeReport",
    "Outcome",
    "PartyFacts",
    "Passage",
    "ProductFacts",
    "PurchaseCommitmentIn",
    "Refusal",
    "RetentionTerm",
    "RetentionTermOut",
    "SignatureIn",
    "Stage",
    "TradeFiling",
    "TradeRefund",
    "Use",
    "Verdict",
    "Violation",
    "apply_retention",
    "attach_report",
    "breach_records",
    "check_second_reviewer",
    "commit_to_admission",
    "configure_delivery_matrix",
    "configured_years",
    "credit_record",
    "credit_scores",
    "decision_ids",
    "declaration_digest",
    "declaration_of",
    "delivery_matrix",
    "describe_product",
    "dispose",
    "failing",
    "file_trade",
    "filing_filters",
    "filing_of_order",
    "filing_refunds",
    "filing_statistics",
    "gate",
    "gather",
    "get_alert",
    "get_decision",
    "get_declaration",
    "get_declaration_record",
    "get_filing",
    "get_review",
    "list_alerts",
    "list_decisions",
    "list_declarations",
    "list_filings",
    "list_reviews",
    "missing_assessment",
    "on_admitting",
    "order_suspension",
    "product_facts",
    "raise_alerts",
    "raise_destruction_overdue",
    "record_approval",
    "record_breach",
    "record_incident",
    "record_refund",
    "report_off_exchange",
    "retention_policy",
    "scan",
    "screen",
    "sign_declaration",
    "stream_filings",
    "track_review",
    "use_facts",
    "violations",
    "with_parties",
    "with_public_data",
]
