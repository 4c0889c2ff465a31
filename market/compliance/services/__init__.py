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
from market.compliance.schemas import (
    FilingOut,
    FilingQuery,
    ListingDeclarationIn,
    PurchaseCommitmentIn,
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
from market.compliance.services.reviews import (
    attach_report,
    get_review,
    list_reviews,
    missing_assessment,
    track_review,
)
from market.compliance.services.sanctions import LISTING_SUSPENSION_ORDERED, order_suspension

__all__ = [
    "LISTING_SUSPENSION_ORDERED",
    "BreachSeverity",
    "CreditRecord",
    "DeclarationKind",
    "Declare",
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
    "SignatureIn",
    "Stage",
    "TradeFiling",
    "TradeRefund",
    "Use",
    "Verdict",
    "Violation",
    "attach_report",
    "commit_to_admission",
    "credit_record",
    "credit_scores",
    "decision_ids",
    "declaration_digest",
    "declaration_of",
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
    "record_breach",
    "record_incident",
    "record_refund",
    "report_off_exchange",
    "scan",
    "screen",
    "sign_declaration",
    "stream_filings",
    "track_review",
    "use_facts",
    "violations",
]
