"""The merchant's sales: the orders waiting for its delivery and all it sold, and one order
with its contract, the buyer's purchase commitment, its history and the delivery forms (a
file, or an API credential when the product offers API delivery).

A file goes to the API's multipart delivery route as it came (streamed, not read into
memory); the console takes an upload up to the API's own limit for deliveries.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from market.console.blueprint import bp, page
from market.console.calls import Answer, ApiRefused, call, fetch
from market.console.forms import after, form_key
from market.console.views.merchant import (
    LIMIT,
    MERCHANT,
    cursor,
    done_message,
    me,
    product_titles,
    refusal,
)

ORDER_STATUSES = ("created", "awaiting_payment", "paid", "delivered", "accepted", "settled",
                  "cancelled", "disputed", "resolved", "refunded")
# A paid order waits for the merchant's delivery.
DELIVERABLE = "paid"


@bp.get("/merchant/orders")
@page(roles=MERCHANT, nav=_l("Orders"))
def merchant_orders() -> str:
    """Orders paid and waiting for the merchant's delivery, and all its sales (filtered by
    status, in pages)."""
    actor = me()
    status = request.args.get("status") or None
    status = status if status in ORDER_STATUSES else None
    to_deliver = fetch(actor, "/orders", role="seller", status=DELIVERABLE, limit=LIMIT)
    body = fetch(actor, "/orders", role="seller", status=status, cursor=cursor())
    titles = product_titles([o["product_id"] for o in body["items"]]
                            + [o["product_id"] for o in to_deliver["items"]])
    return render_template(
        "console/merchant/orders.html", body=body, items=body["items"],
        to_deliver=to_deliver["items"], statuses=ORDER_STATUSES, status=status,
        titles=titles, args={"status": status} if status else {})


def _delivery_modes(actor: Any, order: dict[str, Any]) -> list[str]:
    """The modes the order's product version offers (its own product: the merchant reads
    it); file when the version is no longer shown."""
    try:
        product = fetch(actor, f"/products/{order['product_id']}")
    except ApiRefused:
        return ["file"]
    for version in (product.get("listed"), product.get("latest")):
        if version and version.get("id") == order["version_id"]:
            return list(version.get("delivery_modes") or ["file"])
    return ["file"]


def _order_page(order_id: str, answer: Answer | None = None, form: str | None = None,
                credential: str | None = None) -> tuple[str, int]:
    actor = me()
    order = fetch(actor, f"/orders/{order_id}")
    contract = fetch(actor, f"/orders/{order_id}/contract")
    commitment = fetch(actor, f"/orders/{order_id}/commitment")
    history = fetch(actor, f"/orders/{order_id}/history", limit=LIMIT)["items"]
    modes = _delivery_modes(actor, order) if order["status"] == DELIVERABLE else []
    return render_template(
        "console/merchant/order.html", order=order, contract=contract,
        document=contract.get("document") or {}, commitment=commitment, history=history,
        modes=modes, deliverable=order["status"] == DELIVERABLE, form=form,
        credential=credential, done=done_message(),
        title=product_titles([order["product_id"]])[order["product_id"]],
        **refusal(answer)), 422 if answer is not None else 200


@bp.get("/merchant/orders/<order_id>")
@page(roles=MERCHANT)
def merchant_order(order_id: str) -> tuple[str, int]:
    """One sale: the order, its contract, the buyer's purchase commitment, its history and,
    while it is paid, the delivery forms."""
    return _order_page(order_id)


@bp.post("/merchant/orders/<order_id>/deliveries/file")
@page(roles=MERCHANT, uploads=True)
def merchant_deliver_file(order_id: str) -> Response | tuple[str, int]:
    """Deliver the order as a file: the API stores it with its SHA-256."""
    parts: dict[str, Any] = {}
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        parts["file"] = (upload.stream, upload.filename,
                         upload.mimetype or "application/octet-stream")
    note = request.form.get("note", "").strip()
    if note:
        parts["note"] = note
    answer = call(me(), "POST", f"/orders/{order_id}/deliveries/file", form=parts,
                  idempotency_key=form_key())
    done = after(answer, "console.merchant_order", "delivered", order_id=order_id)
    if done is not None:
        return done
    return _order_page(order_id, answer, form="file")


@bp.post("/merchant/orders/<order_id>/deliveries")
@page(roles=MERCHANT)
def merchant_deliver_api(order_id: str) -> tuple[str, int]:
    """Deliver the order by API: the API issues the order's credential, shown here once
    (so this answer is a page, not a redirect)."""
    body = {"mode": "api", "endpoint": request.form.get("endpoint", "").strip() or None,
            "note": request.form.get("note", "").strip() or None}
    answer = call(me(), "POST", f"/orders/{order_id}/deliveries", body=body,
                  idempotency_key=form_key())
    if answer.ok:
        page_body, _ = _order_page(order_id, credential=answer.body.get("credential"))
        return page_body, 200
    if answer.status != 422:
        raise ApiRefused(answer)
    return _order_page(order_id, answer, form="api")
