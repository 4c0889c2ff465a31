"""The operator's admission and dispute pages: organisations applying (their documents,
commitment, people and history; documents verified, then admitted or refused with a
reason) and disputes over orders (decided with a reason)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from market.console.blueprint import bp, page
from market.console.calls import Answer, fetch
from market.console.format import minor_units
from market.console.forms import after, post
from market.console.views.operator_forms import (
    LIMIT,
    OPERATOR,
    cursor,
    done_message,
    me,
    names_of,
    refusal,
    status_of,
)

ORG_STATUSES = {"applied": _l("Applied"), "admitted": _l("Admitted"),
                "suspended": _l("Suspended"), "exited": _l("Exited"),
                "blacklisted": _l("Blacklisted")}
# The decisions the admission workflow offers from each status (the API enforces it:
# applied → admitted | exited (refused); admitted ⇄ suspended; any → exited, blacklisted).
MOVES = {
    "applied": {"admitted": _l("Admit"), "exited": _l("Refuse the application"),
                "blacklisted": _l("Blacklist")},
    "admitted": {"suspended": _l("Suspend"), "exited": _l("Exit"),
                 "blacklisted": _l("Blacklist")},
    "suspended": {"admitted": _l("Reinstate"), "exited": _l("Exit"),
                  "blacklisted": _l("Blacklist")},
    "exited": {"blacklisted": _l("Blacklist")},
}
DOCUMENT_DECISIONS = {"verified": _l("Verified"),
                      "rejected": _l("Rejected")}
DISPUTE_STATUSES = {"open": _l("Waiting for the merchant's answer"),
                    "answered": _l("Answered"), "unanswered": _l("Not answered in time"),
                    "decided": _l("Decided"), "escalated": _l("Taken to arbitration"),
                    "awarded": _l("Awarded")}
UNDECIDED = ("open", "answered", "unanswered")
OUTCOMES = {"release": _l("Release to the merchant"),
            "partial_refund": _l("Partial refund"),
            "full_refund": _l("Full refund to the buyer")}


# -- admissions --------------------------------------------------------------------------


@bp.get("/operator/admissions")
@page(roles=OPERATOR, nav=_l("Admissions"))
def operator_admissions() -> str:
    """Organisations by admission status: those applying first."""
    status = request.args.get("status", "applied")
    status = status if status in ORG_STATUSES else "applied"
    body = fetch(me(), "/participants", status=status, cursor=cursor())
    return render_template("console/operator/admissions.html", body=body, status=status,
                           statuses=ORG_STATUSES, args={"status": status})


def _admission_page(org_id: str, answer: Answer | None = None,
                    form_of: str | None = None) -> tuple[str, int]:
    actor = me()
    org = fetch(actor, f"/participants/{org_id}")
    history = fetch(actor, f"/participants/{org_id}/status-changes", limit=LIMIT)["items"]
    documents = fetch(actor, f"/organisations/{org_id}/documents")["items"]
    identity = fetch(actor, f"/organisations/{org_id}/identity")
    commitments = fetch(actor, "/declarations", kind="admission", org=org_id,
                        limit=LIMIT)["items"]
    return render_template(
        "console/operator/admission.html", org=org, history=history, documents=documents,
        identity=identity, commitments=commitments, moves=MOVES.get(org["status"], {}),
        statuses=ORG_STATUSES, document_decisions=DOCUMENT_DECISIONS, done=done_message(),
        form_of=form_of, **refusal(answer)), status_of(answer)


@bp.get("/operator/admissions/<org_id>")
@page(roles=OPERATOR)
def operator_admission(org_id: str) -> Any:
    """One organisation: its application, documents, commitment, people and admission
    history, with the document review and admission decision forms."""
    return _admission_page(org_id)


@bp.post("/operator/admissions/<org_id>/decision")
@page(roles=OPERATOR)
def operator_admission_decide(org_id: str) -> Any:
    answer = post(f"/participants/{org_id}/status-changes", {
        "status": request.form.get("status", ""), "reason": request.form.get("reason", "")})
    return after(answer, "console.operator_admission", "decided", org_id=org_id) \
        or _admission_page(org_id, answer, "decision")


@bp.post("/operator/admissions/<org_id>/documents/<document_id>/review")
@page(roles=OPERATOR)
def operator_document_review(org_id: str, document_id: str) -> Any:
    answer = post(f"/organisations/{org_id}/documents/{document_id}/review", {
        "decision": request.form.get("decision", ""), "note": request.form.get("note", "")})
    return after(answer, "console.operator_admission", "document", org_id=org_id) \
        or _admission_page(org_id, answer, document_id)


# -- disputes ----------------------------------------------------------------------------


@bp.get("/operator/disputes")
@page(roles=OPERATOR, nav=_l("Disputes"))
def operator_disputes() -> str:
    """Disputes over orders, by status (every status when none is chosen)."""
    status = request.args.get("status", "")
    status = status if status in DISPUTE_STATUSES else ""
    body = fetch(me(), "/disputes", status=status, cursor=cursor())
    names = names_of([org for d in body["items"]
                      for org in (d["buyer_org_id"], d["seller_org_id"])])
    return render_template("console/operator/disputes.html", body=body, status=status,
                           statuses=DISPUTE_STATUSES, names=names, undecided=UNDECIDED,
                           args={"status": status} if status else {})


def _dispute_page(dispute_id: str, answer: Answer | None = None) -> tuple[str, int]:
    actor = me()
    dispute = fetch(actor, f"/disputes/{dispute_id}")
    order = fetch(actor, f"/orders/{dispute['order_id']}")
    names = names_of([dispute["buyer_org_id"], dispute["seller_org_id"],
                      dispute["escalated_by_org_id"]])
    return render_template(
        "console/operator/dispute.html", dispute=dispute, order=order, names=names,
        statuses=DISPUTE_STATUSES, outcomes=OUTCOMES,
        decidable=dispute["status"] in UNDECIDED, done=done_message(),
        **refusal(answer)), status_of(answer)


@bp.get("/operator/disputes/<dispute_id>")
@page(roles=OPERATOR)
def operator_dispute(dispute_id: str) -> Any:
    """One dispute: the buyer's complaint and evidence, the merchant's answer, the order,
    and the decision form."""
    return _dispute_page(dispute_id)


@bp.post("/operator/disputes/<dispute_id>/decision")
@page(roles=OPERATOR)
def operator_dispute_decide(dispute_id: str) -> Any:
    body: dict[str, Any] = {"outcome": request.form.get("outcome", ""),
                            "reason": request.form.get("reason", "")}
    refund = request.form.get("refund_amount", "").strip()
    if refund:
        order_id = fetch(me(), f"/disputes/{dispute_id}")["order_id"]
        currency = fetch(me(), f"/orders/{order_id}")["currency"]
        try:
            body["refund_amount"] = minor_units(refund, currency)
        except ValueError:
            return _dispute_page(dispute_id, Answer(422, {
                "code": "invalid_input", "title": gettext("Invalid input"),
                "errors": {"refund_amount": [gettext(
                    "Enter an amount in yuan, such as 1200 or 1200.50.")]}}))
    answer = post(f"/disputes/{dispute_id}/decision", body)
    return after(answer, "console.operator_dispute", "decided", dispute_id=dispute_id) \
        or _dispute_page(dispute_id, answer)
