"""Compliance API: declaration templates, signed declarations and their breaches, credit
records, and the rule engine's decisions."""

from __future__ import annotations

from typing import Any

from market.compliance import services
from market.compliance.domain import CURRENT_TEMPLATE as CURRENT
from market.compliance.domain import RULESET_VERSION, TEMPLATES, BreachSeverity, rule_names
from market.compliance.models import Alert, Declaration, ReviewItem
from market.compliance.schemas import (
    AdmissionCommitmentIn,
    AlertOut,
    AlertQuery,
    AlertSummaryOut,
    AssessmentReportIn,
    AssessmentReportOut,
    BreachIn,
    BreachOut,
    CreditOut,
    DecisionOut,
    DecisionQuery,
    DecisionSummaryOut,
    DeclarationOut,
    DeclarationQuery,
    DeclarationSummaryOut,
    DispositionIn,
    FilingOut,
    FilingQuery,
    OffExchangeIn,
    RetentionPolicyOut,
    ReviewItemDetailOut,
    ReviewItemOut,
    ReviewQuery,
    SuspensionOrderIn,
    SuspensionOrderOut,
    TemplateListOut,
)
from market.kernel.actor import Role
from market.kernel.web import ApiBlueprint, page_args, page_body, page_of, unit_of_work

bp = ApiBlueprint("compliance", __name__,
                  description="Declarations and commitments, credit records, rule decisions")



def _declaration(declaration: Declaration, breaches: list[Any]) -> dict[str, Any]:
    data = {c.key: getattr(declaration, c.key) for c in Declaration.__table__.columns}
    data["signed_document"] = declaration.signed_document()
    data["breaches"] = breaches
    return data


@bp.route("/declaration-templates", methods=["GET"])
@bp.access(anonymous=True)
@bp.response(200, TemplateListOut)
def list_templates() -> dict[str, Any]:
    """The declaration templates (声明和承诺) and the names of the rules that check them."""
    items = [{"id": t.id, "kind": t.kind.value, "version": t.version, "title": t.title,
              "title_en": t.title_en, "commitments": list(t.commitments),
              "current": CURRENT[t.kind] is t} for t in TEMPLATES.values()]
    return {"items": items, "rules": rule_names(), "ruleset_version": RULESET_VERSION}


@bp.route("/retention-policy", methods=["GET"])
@bp.access(anonymous=True)
@bp.response(200, RetentionPolicyOut)
def retention_policy() -> dict[str, Any]:
    """How long each kind of record is kept (存储期限), as the database enforces it: at least
    this many years, never below the floor; append-only kinds are kept for ever."""
    return {"items": services.retention_policy(uow=unit_of_work()),
            "enforced_by": "database triggers: deleting a record younger than its kind's "
                           "years is refused; append-only records are never updated nor "
                           "deleted"}


@bp.route("/declarations", methods=["GET"])
@bp.access()
@bp.arguments(DeclarationQuery, location="query")
@bp.response(200, page_of(DeclarationSummaryOut))
def list_declarations(query: dict[str, Any]) -> dict[str, Any]:
    """Your organisation's declarations; every one for the operator, assessors, regulators."""
    return page_body(services.list_declarations(
        uow=unit_of_work(), kind=query["kind"], org=query["org"],
        subject_id=query["subject_id"], **page_args(query)))


@bp.route("/declarations/admission", methods=["POST"])
@bp.access(roles=[Role.MERCHANT, Role.BUYER, Role.ASSESSOR, Role.BROKER], unadmitted=True)
@bp.idempotent
@bp.arguments(AdmissionCommitmentIn)
@bp.response(201, DeclarationOut)
def commit_to_admission(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Sign your organisation's admission commitment (入场承诺, template admission@1); an
    applicant is admitted only once it has made every commitment in it."""
    signature = body.pop("signature")
    declaration = services.commit_to_admission(body, signature=signature, uow=unit_of_work())
    return _declaration(declaration, []), 201


@bp.route("/declarations/<declaration_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, DeclarationOut)
def get_declaration(declaration_id: str) -> dict[str, Any]:
    """One declaration: its answers, what its digest covers, and breaches recorded."""
    declaration, breaches = services.get_declaration(declaration_id, uow=unit_of_work())
    return _declaration(declaration, breaches)


@bp.route("/declarations/<declaration_id>/breaches", methods=["POST"])
@bp.access(roles=[Role.OPERATOR])
@bp.idempotent
@bp.arguments(BreachIn)
@bp.response(201, BreachOut)
def record_breach(body: dict[str, Any], declaration_id: str) -> tuple[Any, int]:
    """Record a breach of a declaration (operator); it lowers the declarant's credit."""
    breach = services.record_breach(declaration_id, BreachSeverity(body["severity"]),
                                    body["reason"], body["evidence_sha256"],
                                    uow=unit_of_work())
    return breach, 201


@bp.route("/participants/<org_id>/credit", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, CreditOut)
def credit(org_id: str) -> dict[str, Any]:
    """An organisation's credit record (信用记录: its declaration breaches and their points):
    your own; any for the operator, assessors and regulators. The public credit mark, which
    counts these with fulfilment, disputes and sanctions, is `GET /organisations/{id}/credit`."""
    record = services.credit_record(org_id, uow=unit_of_work())
    return {"org_id": record.org_id, "score": record.score, "breaches": record.breaches}


@bp.route("/decisions", methods=["GET"])
@bp.access()
@bp.arguments(DecisionQuery, location="query")
@bp.response(200, page_of(DecisionSummaryOut))
def list_decisions(query: dict[str, Any]) -> dict[str, Any]:
    """Rule decisions about your listings and orders; every one for staff and regulators."""
    return page_body(services.list_decisions(
        uow=unit_of_work(), stage=query["stage"], outcome=query["outcome"],
        subject_id=query["subject_id"], **page_args(query)))


@bp.route("/decisions/<decision_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, DecisionOut)
def get_decision(decision_id: str) -> Any:
    """One decision: the outcome, every rule's verdict and reason, and the facts judged."""
    return services.get_decision(decision_id, uow=unit_of_work())


@bp.route("/filings", methods=["POST"])
@bp.access(roles=[Role.MERCHANT, Role.BUYER])
@bp.idempotent
@bp.arguments(OffExchangeIn)
@bp.response(201, FilingOut)
def report_off_exchange(body: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    """Report a trade concluded off the exchange for filing (场外交易备案), with the
    SHA-256 of its contract. Trades on the exchange are filed when they conclude."""
    filing = services.report_off_exchange(services.OffExchangeReport(**body),
                                          uow=unit_of_work())
    return filing, 201, {"Location": f"/api/v1/filings/{filing.id}"}


@bp.route("/filings", methods=["GET"])
@bp.access()
@bp.arguments(FilingQuery, location="query")
@bp.response(200, page_of(FilingOut))
def list_filings(query: dict[str, Any]) -> dict[str, Any]:
    """Filings of trades your organisation is a party to; every one for the operator and
    regulators (who also have `/regulator/filings` with exports)."""
    return page_body(services.list_filings(services.filing_filters(query), uow=unit_of_work(),
                                           **page_args(query)))


@bp.route("/filings/<filing_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, FilingOut)
def get_filing(filing_id: str) -> Any:
    """One filing: parties, product and version, rights chain, price, declarations and
    decisions."""
    return services.get_filing(filing_id, uow=unit_of_work())


@bp.route("/alerts", methods=["GET"])
@bp.access(roles=[Role.OPERATOR, Role.REGULATOR])
@bp.arguments(AlertQuery, location="query")
@bp.response(200, page_of(AlertSummaryOut))
def list_alerts(query: dict[str, Any]) -> dict[str, Any]:
    """Risk alerts raised by the monitoring rules (operator and regulators)."""
    return page_body(services.list_alerts(uow=unit_of_work(), status=query["status"],
                                          rule=query["rule"], **page_args(query)))


@bp.route("/alerts/<alert_id>", methods=["GET"])
@bp.access(roles=[Role.OPERATOR, Role.REGULATOR], object_scoped=True)
@bp.response(200, AlertOut)
def get_alert(alert_id: str) -> dict[str, Any]:
    """One alert: its evidence and every disposition step."""
    alert, notes = services.get_alert(alert_id, uow=unit_of_work())
    data = {c.key: getattr(alert, c.key) for c in Alert.__table__.columns}
    data["notes"] = notes
    return data


@bp.route("/alerts/<alert_id>/dispositions", methods=["POST"])
@bp.access(roles=[Role.OPERATOR, Role.REGULATOR], object_scoped=True)
@bp.idempotent
@bp.arguments(DispositionIn)
@bp.response(200, AlertSummaryOut)
def dispose(body: dict[str, Any], alert_id: str) -> Any:
    """Move an alert on (open → investigating → closed; a closed one may be reopened), with
    a note."""
    return services.dispose(alert_id, body["status"], body["note"], uow=unit_of_work())


@bp.route("/suspension-orders", methods=["POST"])
@bp.access(roles=[Role.REGULATOR])
@bp.idempotent
@bp.arguments(SuspensionOrderIn)
@bp.response(201, SuspensionOrderOut)
def order_suspension(body: dict[str, Any]) -> tuple[Any, int]:
    """A regulator orders a participant or a listing suspended; it is done at once."""
    order = services.order_suspension(body["subject_type"], body["subject_id"],
                                      body["reason"], body["alert_id"], uow=unit_of_work())
    return order, 201


@bp.route("/reviews", methods=["GET"])
@bp.access(roles=[Role.OPERATOR, Role.ASSESSOR, Role.REGULATOR])
@bp.arguments(ReviewQuery, location="query")
@bp.response(200, page_of(ReviewItemOut))
def list_reviews(query: dict[str, Any]) -> dict[str, Any]:
    """The review queue: listing versions and right registrations waiting for or in review,
    with what the rules said (claim and decide them on the listing and rights endpoints):
    the rules that sent each there, how many different reviewers must approve it (two for
    raw data and sensitive personal information, 双重审核) and the approvals so far."""
    return page_body(services.list_reviews(uow=unit_of_work(), status=query["status"],
                                           kind=query["kind"], subject_id=query["subject_id"],
                                           **page_args(query)))


@bp.route("/reviews/<item_id>", methods=["GET"])
@bp.access(roles=[Role.OPERATOR, Role.ASSESSOR, Role.REGULATOR], object_scoped=True)
@bp.response(200, ReviewItemDetailOut)
def get_review(item_id: str) -> dict[str, Any]:
    """One queue item with the assessment reports attached to its subject."""
    item, reports = services.get_review(item_id, uow=unit_of_work())
    data = {c.key: getattr(item, c.key) for c in ReviewItem.__table__.columns}
    data["reports"] = reports
    return data


@bp.route("/reviews/<item_id>/reports", methods=["POST"])
@bp.access(roles=[Role.OPERATOR, Role.ASSESSOR], object_scoped=True)
@bp.idempotent
@bp.arguments(AssessmentReportIn)
@bp.response(201, AssessmentReportOut)
def attach_report(body: dict[str, Any], item_id: str) -> tuple[Any, int]:
    """Attach a third-party assessment report (compliance, security, quality, valuation) by
    its SHA-256. A listing whose rules need an assessment is listed only once a compliance
    or security report is attached."""
    return services.attach_report(item_id, body["kind"], body["name"], body["sha256"],
                                  uow=unit_of_work()), 201
