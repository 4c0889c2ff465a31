"""The operator's pages (交易场所运营方): the review queue of product listings and right
registrations (claim, then decide with a reason), the admission of applicants and disputes
over orders (:mod:`.operator_cases`).

Every read and every write is the operator's own API call (:mod:`market.console.calls`):
what the page shows and may do is what the operator's key could, with the API's rules,
audit and idempotency. A form that the API refuses with 422 comes back with the API's
field errors beside its fields; any other refusal is shown as an error page.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import lazy_gettext as _l

from market.console.blueprint import bp, page
from market.console.calls import Answer, fetch
from market.console.forms import after, post
from market.console.views.operator_forms import (
    LIMIT,
    OPERATOR,
    cursor,
    done_message,
    last,
    me,
    names_of,
    refusal,
    status_of,
)

# The queue's two lists and the statuses it shows of each.
QUEUE_KINDS = {"products": _l("Product listings"), "rights": _l("Right registrations")}
QUEUE_STATUSES = {"submitted": _l("Waiting for review"), "under_review": _l("In review")}
LISTING_DECISIONS = {"list": _l("List it"), "return": _l("Return for corrections"),
                     "reject": _l("Reject")}
RIGHT_DECISIONS = {"approve": _l("Register it"),
                   "reject": _l("Reject")}


@bp.get("/operator")
@page(roles=OPERATOR, nav=_l("Review queue"))
def operator_queue() -> str:
    """Listings and right registrations waiting for, or in, review."""
    kind = request.args.get("kind", "products")
    kind = kind if kind in QUEUE_KINDS else "products"
    status = request.args.get("status", "submitted")
    status = status if status in QUEUE_STATUSES else "submitted"
    body = fetch(me(), "/products" if kind == "products" else "/rights", status=status,
                 cursor=cursor())
    owner = "merchant_org_id" if kind == "products" else "holder_org_id"
    return render_template(
        "console/operator/queue.html", body=body, items=body["items"], kind=kind,
        status=status, kinds=QUEUE_KINDS, statuses=QUEUE_STATUSES,
        names=names_of(i[owner] for i in body["items"]), args={"kind": kind, "status": status})


def _review_page(product_id: str, answer: Answer | None = None) -> tuple[str, int]:
    actor = me()
    product = fetch(actor, f"/products/{product_id}")
    version = product["latest"]
    found = fetch(actor, "/declarations", kind="listing", subject_id=version["id"],
                  limit=LIMIT)
    declaration = last(found["items"])
    if declaration is not None:
        declaration = fetch(actor, f"/declarations/{declaration['id']}")
    decision = last(fetch(actor, "/decisions", subject_id=version["id"], limit=LIMIT)["items"])
    if decision is not None:
        decision = fetch(actor, f"/decisions/{decision['id']}")
    item = last(fetch(actor, "/reviews", subject_id=version["id"], limit=LIMIT)["items"])
    history = fetch(actor, f"/products/{product_id}/history", limit=LIMIT)["items"]
    chain = fetch(actor, f"/products/{product_id}/rights-chain")
    names = names_of([product["merchant_org_id"], item and item["claimed_by_org_id"]])
    return render_template(
        "console/operator/review.html", product=product, version=version,
        declaration=declaration, decision=decision, item=item, history=history,
        chain=chain, names=names, decisions=LISTING_DECISIONS, done=done_message(),
        **refusal(answer)), status_of(answer)


@bp.get("/operator/reviews/<product_id>")
@page(roles=OPERATOR)
def operator_review(product_id: str) -> Any:
    """One product under review: its details, the seller's declaration, what the rules
    said, its rights chain as it stands now, and the claim and decision forms."""
    return _review_page(product_id)


@bp.post("/operator/reviews/<product_id>/claim")
@page(roles=OPERATOR)
def operator_review_claim(product_id: str) -> Any:
    answer = post(f"/products/{product_id}/review-claims")
    return after(answer, "console.operator_review", "claimed", product_id=product_id) \
        or _review_page(product_id, answer)


@bp.post("/operator/reviews/<product_id>/decision")
@page(roles=OPERATOR)
def operator_review_decide(product_id: str) -> Any:
    answer = post(f"/products/{product_id}/reviews", {
        "decision": request.form.get("decision", ""), "reason": request.form.get("reason", "")})
    return after(answer, "console.operator_review", "decided", product_id=product_id) \
        or _review_page(product_id, answer)


def _right_page(right_id: str, answer: Answer | None = None) -> tuple[str, int]:
    actor = me()
    right = fetch(actor, f"/rights/{right_id}")
    history = fetch(actor, f"/rights/{right_id}/history", limit=LIMIT)["items"]
    parents = [fetch(actor, f"/rights/{parent}") for parent in right["parent_ids"]]
    resource = fetch(actor, f"/resources/{right['resource_id']}") if right["resource_id"] \
        else None
    item = last(fetch(actor, "/reviews", subject_id=right_id, limit=LIMIT)["items"])
    names = names_of([right["holder_org_id"], item and item["claimed_by_org_id"],
                      *(p["holder_org_id"] for p in parents)])
    return render_template(
        "console/operator/right.html", right=right, history=history, parents=parents,
        resource=resource, item=item, names=names, decisions=RIGHT_DECISIONS,
        done=done_message(), **refusal(answer)), status_of(answer)


@bp.get("/operator/rights/<right_id>")
@page(roles=OPERATOR)
def operator_right(right_id: str) -> Any:
    """One right registration: scope, term, resource, parents, evidence and history, with
    the claim and decision forms."""
    return _right_page(right_id)


@bp.post("/operator/rights/<right_id>/claim")
@page(roles=OPERATOR)
def operator_right_claim(right_id: str) -> Any:
    answer = post(f"/rights/{right_id}/review-claims")
    return after(answer, "console.operator_right", "claimed", right_id=right_id) \
        or _right_page(right_id, answer)


@bp.post("/operator/rights/<right_id>/decision")
@page(roles=OPERATOR)
def operator_right_decide(right_id: str) -> Any:
    answer = post(f"/rights/{right_id}/reviews", {
        "decision": request.form.get("decision", ""), "reason": request.form.get("reason", "")})
    return after(answer, "console.operator_right", "decided", right_id=right_id) \
        or _right_page(right_id, answer)


# Admissions and disputes, after the queue in the operator's menu.
from market.console.views import operator_cases  # noqa: E402, F401
