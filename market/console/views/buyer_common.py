"""What the buyer's pages share: posting a form to the API, reading the answer, money typed
in yuan, and the names of the exchange's codes in the page's language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _p

from market.console.blueprint import user
from market.console.calls import Answer, call
from market.kernel.actor import Actor

BUYER = ["buyer"]

# What a page says once after its form succeeded (post/redirect/get: ``?done=<code>``).
DONE = {
    "placed": _l("Your order is placed."),
    "paid": _l("Paid: the price is held in escrow until you accept the delivery."),
    "accepted": _l("You accepted the delivery; the order is settled."),
    "disputed": _l("Your dispute is open; the money stays in escrow."),
    "cancelled": _l("The order is cancelled."),
    "posted": _l("Your demand is posted and matched."),
    "countered": _l("Your terms are sent."),
    "agreed": _l("Agreed: the terms are now a private offer you can order."),
    "quoted": _l("Your quote request is sent."),
}

# The exchange's codes, by what they name, as a person reads them.
LABELS: dict[str, dict[str, Any]] = {
    "sector": {
        "agriculture": _l("Agriculture"), "commerce": _l("Commerce"),
        "culture_tourism": _l("Culture and tourism"), "education": _l("Education"),
        "energy": _l("Energy"), "environment": _l("Environment"), "finance": _l("Finance"),
        "geospatial": _l("Geospatial"), "government": _l("Government"),
        "healthcare": _l("Healthcare"), "logistics": _l("Logistics"),
        "manufacturing": _l("Manufacturing"), "meteorology": _l("Meteorology"),
        "telecom": _l("Telecommunications"), "transport": _l("Transport"),
        "other": _l("Other"),
    },
    "type": {
        "dataset": _l("Dataset"), "api_service": _l("API service"), "report": _l("Report"),
        "model": _l("Model or algorithm"), "sandbox": _l("Privacy-computing sandbox"),
    },
    "delivery_mode": {"file": _l("File"), "api": _l("API"), "sandbox": _l("Sandbox")},
    "development_level": {
        "raw": _l("Raw data"), "desensitised": _l("Desensitised data"),
        "modelled": _l("Modelled data"), "ai_processed": _l("AI-processed data"),
    },
    "classification": {"general": _l("General data"), "important": _l("Important data")},
    "free": {"true": _l("Free offers")},
    "offer_kind": {
        "one_time": _l("One-time licence"), "subscription": _l("Subscription"),
        "pay_per_use": _l("Pay per use"), "free": _l("Free"), "negotiable": _l("Negotiable"),
    },
    # Statuses in a context of their own: "Paid" elsewhere names the time of payment.
    "order": {
        "created": _p("order status", "Placed"),
        "awaiting_payment": _p("order status", "Awaiting payment"),
        "paid": _p("order status", "Paid"), "delivered": _p("order status", "Delivered"),
        "accepted": _p("order status", "Accepted"), "settled": _p("order status", "Settled"),
        "cancelled": _p("order status", "Cancelled"),
        "disputed": _p("order status", "Disputed"),
        "resolved": _p("order status", "Resolved"),
        "refunded": _p("order status", "Refunded"),
    },
    "demand": {
        "open": _l("Awaiting matches"), "matched": _l("Matched"), "converted": _l("Ordered"),
        "closed": _l("Closed"), "expired": _l("Expired"),
    },
    "negotiation": {
        "proposed": _l("Proposed by a broker"), "requested": _l("Quote requested"),
        "offered": _l("Offered"), "countered": _l("Countered"), "agreed": _l("Agreed"),
        "ordered": _l("Ordered"), "declined": _l("Declined"), "withdrawn": _l("Withdrawn"),
        "expired": _l("Expired"),
    },
    "freshness": {
        "static": _l("Static"), "yearly": _l("Yearly"), "quarterly": _l("Quarterly"),
        "monthly": _l("Monthly"), "weekly": _l("Weekly"), "daily": _l("Daily"),
        "hourly": _l("Hourly"), "realtime": _l("Real time"),
    },
    "component": {
        "text": _l("Words in common"), "budget": _l("Within budget"),
        "region": _l("Region"), "freshness": _l("Freshness"),
        "fulfilment": _l("Seller's fulfilment record"), "credit": _l("Seller's credit"),
    },
    "account": {
        "available": _l("Available balance"), "escrow": _l("Escrow of an order"),
        "payable": _l("Payable to you"), "receivable": _l("Owed to the platform"),
    },
    "journal": {
        "top_up": _l("Bank transfer in"), "payment": _l("Payment into escrow"),
        "settlement": _l("Settlement"), "refund": _l("Refund"), "payout": _l("Payout"),
        "recovery": _l("Recovery"),
    },
    "side": {"buyer": _l("you"), "merchant": _l("the merchant"), "broker": _l("the broker")},
    "right": {
        "resource_holding": _l("Resource holding right"),
        "processing_use": _l("Processing-use right"),
        "product_operation": _l("Product operation right"),
    },
}


def label(kind: str, value: Any) -> str:
    """The name of code ``value`` of kind ``kind`` (the code itself when it has none)."""
    found = LABELS.get(kind, {}).get(str(value))
    return str(found) if found is not None else str(value if value is not None else "—")


def actor() -> Actor:
    return user().actor


def titles_of(product_ids: Any) -> dict[str, str]:
    """Product titles by id, as the catalogue shows them (a product no longer listed keeps
    its id)."""
    found: dict[str, str] = {}
    for product_id in sorted({p for p in product_ids if p}):
        answer = call(actor(), "GET", f"/catalog/{product_id}")
        found[product_id] = answer.body["version"]["title"] if answer.ok else product_id
    return found


def page(template: str, status: int = 200, /, **context: Any) -> tuple[str, int]:
    """A buyer page: its template with the labels and the message of a form just done."""
    done = DONE.get(request.args.get("done", ""))
    return render_template(f"console/buyer/{template}", label=label, done=done,
                           **context), status


def flat_errors(errors: Any, prefix: str = "") -> dict[str, str]:
    """The API's field errors as ``{"commitment.purpose": "message"}``; a list of records
    (the rules that refused) becomes one message per record."""
    found: dict[str, str] = {}
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            found.update(flat_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(errors, list) and any(isinstance(e, Mapping) for e in errors):
        found[prefix] = " ".join(
            " — ".join(str(v) for v in e.values() if v) if isinstance(e, Mapping) else str(e)
            for e in errors)
    elif isinstance(errors, list):
        found[prefix] = " ".join(str(e) for e in errors)
    elif errors is not None:
        found[prefix] = str(errors)
    return found


def refusal(answer: Answer) -> dict[str, Any]:
    """What a page shows of a 422: the problem's title and detail, and the field errors."""
    problem = answer.problem
    return {"title": problem.get("title", ""), "detail": problem.get("detail"),
            "errors": flat_errors(answer.field_errors)}


def money_error() -> str:
    return str(gettext("Enter an amount in yuan, such as 1200 or 1200.50."))


def lines(text: str | None, *, commas: bool = False) -> list[str]:
    """One item a line (with ``commas``, also separated by commas), blanks left out."""
    raw = (text or "").replace("\r", "")
    if commas:
        raw = raw.replace("，", ",").replace(",", "\n")
    return [line.strip() for line in raw.split("\n") if line.strip()]
