"""The buyer's orders (pay from the balance, download the delivered file, accept it by its
fingerprint, dispute, cancel) and its balances and statements (对账单)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import redirect, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from market.console.blueprint import bp
from market.console.blueprint import page as console_page
from market.console.calls import ApiRefused, call, fetch, passthrough
from market.console.forms import after, post
from market.console.views.buyer_common import (
    BUYER,
    LABELS,
    actor,
    lines,
    page,
    refusal,
    titles_of,
)
from market.kernel.web import state

PAGE_SIZE = 20
HISTORY = 100  # an order's status changes on one page
STATEMENT_DAYS = 30  # the period a statement shows unless told


@bp.get("/buyer/orders")
@console_page(roles=BUYER, nav=_l("Orders"))
def buyer_orders() -> Any:
    """The orders the buyer placed, newest first, by status."""
    status = request.args.get("status") or None
    body = fetch(actor(), "/orders", role="buyer", status=status,
                 cursor=request.args.get("cursor"), limit=PAGE_SIZE)
    titles = titles_of(o["product_id"] for o in body["items"])
    return page("orders.html", body=body, titles=titles, chosen=status,
                statuses=LABELS["order"], pager_args={"status": status} if status else {})


def _order_page(order_id: str, *, refused: dict[str, Any] | None = None,
                form: MultiDict[str, str] | None = None, status: int = 200) -> Any:
    order = fetch(actor(), f"/orders/{order_id}")
    contract_answer = call(actor(), "GET", f"/orders/{order_id}/contract")
    contract = contract_answer.body if contract_answer.ok else None
    history = fetch(actor(), f"/orders/{order_id}/history", limit=HISTORY)
    document = (contract or {}).get("document", {})
    title = document.get("product", {}).get("title") or titles_of(
        [order["product_id"]])[order["product_id"]]
    files = [d for d in order["deliveries"] if d["mode"] == "file" and d.get("sha256")]
    contract_json = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
    return page("order.html", status, order=order, contract=contract, document=document,
                contract_json=contract_json,
                history=history["items"], title=title, files=files,
                refused=refused or {}, form=form or MultiDict())


@bp.get("/buyer/orders/<order_id>")
@console_page(roles=BUYER)
def buyer_order(order_id: str) -> Any:
    """One order: its status and contract, deliveries, disputes and history, with the
    moves the buyer can make now."""
    return _order_page(order_id)


def _refused_again(order_id: str, form_name: str, answer: Any) -> Any:
    return _order_page(order_id, refused={form_name: refusal(answer)}, form=request.form,
                       status=422)


@bp.post("/buyer/orders/<order_id>/payment")
@console_page(roles=BUYER)
def buyer_pay_order(order_id: str) -> Any:
    """Pay from the buyer's available balance into the order's escrow (the offline rail)."""
    answer = post(f"/orders/{order_id}/payment")
    return after(answer, "console.buyer_order", "paid", order_id=order_id) or \
        _refused_again(order_id, "pay", answer)


@bp.post("/buyer/orders/<order_id>/cancellation")
@console_page(roles=BUYER)
def buyer_cancel_order(order_id: str) -> Any:
    """Cancel an order before it is paid, with a reason."""
    answer = post(f"/orders/{order_id}/cancellation",
                  {"reason": request.form.get("reason", "").strip()})
    return after(answer, "console.buyer_order", "cancelled", order_id=order_id) or \
        _refused_again(order_id, "cancel", answer)


@bp.post("/buyer/orders/<order_id>/acceptance")
@console_page(roles=BUYER)
def buyer_accept_order(order_id: str) -> Any:
    """Accept the delivery, confirming the SHA-256 of the file received; the order
    settles."""
    sha256 = request.form.get("sha256", "").strip().lower()
    if not sha256 and request.form.get("needs_sha256") == "yes":
        return _order_page(order_id, form=request.form, status=422, refused={"accept": {
            "title": gettext("Check the fields marked below."),
            "errors": {"sha256": gettext("Enter the SHA-256 of the file you received.")}}})
    answer = post(f"/orders/{order_id}/acceptance", {"sha256": sha256 or None})
    return after(answer, "console.buyer_order", "accepted", order_id=order_id) or \
        _refused_again(order_id, "accept", answer)


@bp.post("/buyer/orders/<order_id>/disputes")
@console_page(roles=BUYER)
def buyer_dispute_order(order_id: str) -> Any:
    """Dispute a paid or delivered order; the money stays in escrow."""
    answer = post(f"/orders/{order_id}/disputes", {
        "reason": request.form.get("reason", "").strip(),
        "evidence_sha256": [d.lower() for d in lines(request.form.get("evidence_sha256"),
                                                     commas=True)]})
    return after(answer, "console.buyer_order", "disputed", order_id=order_id) or \
        _refused_again(order_id, "dispute", answer)


@bp.post("/buyer/orders/<order_id>/download")
@console_page(roles=BUYER)
def buyer_download_link(order_id: str) -> Response:
    """Take an expiring, counted download link for the delivered file and follow it."""
    answer = call(actor(), "POST", f"/orders/{order_id}/download-tokens")
    if not answer.ok:
        raise ApiRefused(answer)
    return redirect(url_for("console.buyer_download", token=answer.body["token"]), code=303)


@bp.get("/buyer/downloads/<token>")
@console_page(roles=BUYER)
def buyer_download(token: str) -> Response:
    """The delivered file, streamed from the API's download (ranges resume)."""
    return passthrough(actor(), f"/downloads/{token}")


# -- balances and statements ----------------------------------------------------------------


def _day(text: str | None, default: date) -> date:
    """A ``YYYY-MM-DD`` date, or ``default`` when empty.

    Raises:
        ValueError: not such a date.
    """
    return date.fromisoformat(text) if text else default


@bp.get("/buyer/statements")
@console_page(roles=BUYER, nav=_l("Statements"))
def buyer_statements() -> Any:
    """The buyer's accounts and balances, and one account's statement for a period."""
    accounts = fetch(actor(), "/ledger/accounts", owner=actor().org_id,
                     cursor=request.args.get("cursor"), limit=PAGE_SIZE)
    items = accounts["items"]
    chosen = request.args.get("account") or next(
        (a["id"] for a in items if a["kind"] == "available"), None)
    today = state().clock.now().astimezone(UTC).date()
    errors: dict[str, str] = {}
    try:
        first = _day(request.args.get("from"), today - timedelta(days=STATEMENT_DAYS))
    except ValueError:
        errors["from"], first = gettext("Enter a date as YYYY-MM-DD."), today
    try:
        last = _day(request.args.get("to"), today)
    except ValueError:
        errors["to"], last = gettext("Enter a date as YYYY-MM-DD."), today
    statement = None
    if chosen and not errors:
        start = datetime.combine(first, time(), UTC)
        end = datetime.combine(last + timedelta(days=1), time(), UTC)
        answer = call(actor(), "GET", f"/ledger/accounts/{chosen}/statement",
                      query={"from": start.isoformat(), "to": end.isoformat()})
        if answer.status == 422:
            errors.update({k: " ".join(v) if isinstance(v, list) else str(v)
                           for k, v in answer.field_errors.items()})
        elif not answer.ok:
            raise ApiRefused(answer)
        else:
            statement = answer.body
    return page("statements.html", 422 if errors else 200, accounts=accounts,
                available=[a for a in items if a["kind"] == "available"], chosen=chosen,
                statement=statement, first=first.isoformat(), last=last.isoformat(),
                errors=errors, pager_args={})

