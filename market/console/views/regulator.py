"""The regulator's pages (监管): a dashboard of filed trades drawn as charts, the filings
with filters, paging and exports, every order's full record with its receipts verified on
demand, alerts and their dispositions, sanctioned participants and the audit chain.

A regulator only reads here. Every read is the regulator's own API call
(:mod:`market.console.calls`), and every page view is itself kept in the supervision trace
and the audit log, with its console path, by the regulator context's after-request hook.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from market.console import format as fmt
from market.console.blueprint import bp, page, user
from market.console.calls import Answer, ApiRefused, call, fetch, passthrough
from market.console.charts import Bar, bar_chart, column_chart
from market.kernel.actor import Actor

REGULATOR = ["regulator"]
LIMIT = 50
HISTORY_PAGES = 10  # an order's history read 100 moves at a time, at most this many times

# The filters a filings query takes, as the form names them.
FILING_FILTERS = ("concluded_from", "concluded_to", "party", "product", "sector", "kind",
                  "currency", "min_amount", "max_amount")
ORDER_FILTERS = ("status", "product", "party", "created_from", "created_to", "min_amount",
                 "max_amount")
ORDER_STATUSES = ("created", "awaiting_payment", "paid", "delivered", "accepted", "settled",
                  "cancelled", "disputed", "resolved", "refunded")
ALERT_STATUSES = ("open", "investigating", "closed")
CLASSES = {"general": _l("General data"), "important": _l("Important data"),
           "core": _l("Core data"), "unclassified": _l("Unclassified (off-exchange)")}
DIMENSIONS = (("by_month", _l("By month")), ("by_sector", _l("By sector")),
              ("by_product_type", _l("By product type")),
              ("by_classification", _l("By data class")))


def _me() -> Actor:
    return user().actor


# -- filters: what the form says, what the API is asked --------------------------------------


def _given(names: tuple[str, ...]) -> dict[str, str]:
    """The filters the form filled in, as typed (for the form, its pager and exports)."""
    return {n: request.args[n].strip() for n in names if request.args.get(n, "").strip()}


def _day(text: str, *, end: bool) -> str:
    """A day of the form as the API's instant: its start, or (``end``) the next day's start
    (the form's last day is included; the API's upper bound is not)."""
    day = date.fromisoformat(text)
    return f"{day + timedelta(days=1) if end else day}T00:00:00+00:00"


def _minor(text: str, currency: str | None) -> int:
    """An amount typed in major units (``1,000.50``) in minor units of ``currency``."""
    amount = fmt.minor_units(text, currency)
    if amount is None:
        raise ValueError(text)
    return amount


def _api_query(given: dict[str, str], dates: tuple[str, str]) -> tuple[dict[str, Any],
                                                                       dict[str, list[str]]]:
    """The API query of the filters given, and the form's own errors (dates, amounts)."""
    query: dict[str, Any] = dict(given)
    errors: dict[str, list[str]] = {}
    for name in dates:
        if name in given:
            try:
                query[name] = _day(given[name], end=name == dates[1])
            except ValueError:
                errors[name] = [gettext("Enter a day as YYYY-MM-DD.")]
    if "currency" in given:
        query["currency"] = given["currency"].upper()
    for name in ("min_amount", "max_amount"):
        if name in given:
            try:
                query[name] = _minor(given[name], given.get("currency"))
            except ValueError:
                errors[name] = [gettext("Enter an amount such as 1000.00.")]
    return query, errors


def _read(path: str, query: dict[str, Any], errors: dict[str, Any]) -> tuple[Any, dict[str,
                                                                                       Any]]:
    """``GET path`` as the regulator unless the form already failed: the body (None when
    refused with 422) and the field errors to show.

    Raises:
        ApiRefused: any refusal but 422.
    """
    if errors:
        return None, errors
    answer = call(_me(), "GET", path, query={k: v for k, v in query.items() if v != ""})
    if answer.status == 422:
        return None, answer.field_errors
    if not answer.ok:
        raise ApiRefused(answer)
    return answer.body, {}


# -- the dashboard ---------------------------------------------------------------------------


def _charts(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Each dimension of the statistics as a chart of trades (all currencies) and a chart
    of volume per currency, with the rows behind them."""
    out = []
    for key, title in DIMENSIONS:
        rows = stats.get(key) or []

        def label(value: str, dimension: str = key) -> str:
            return str(CLASSES.get(value, value)) if dimension == "by_classification" else value

        counts: dict[str, int] = {}
        volumes: dict[str, dict[str, int]] = {}
        for row in rows:
            counts[row["key"]] = counts.get(row["key"], 0) + row["count"]
            per = volumes.setdefault(row["currency"], {})
            per[row["key"]] = per.get(row["key"], 0) + row["amount"]
        draw = column_chart if key == "by_month" else bar_chart
        trades = draw([Bar(label(k), n, str(n)) for k, n in counts.items()],
                      title=gettext("Trades · %(dimension)s", dimension=title))
        volume = [(currency, draw([Bar(label(k), a, fmt.money(a, currency))
                                   for k, a in amounts.items()],
                                  title=gettext("Volume in %(currency)s · %(dimension)s",
                                                currency=currency, dimension=title)))
                  for currency, amounts in sorted(volumes.items())]
        out.append({"key": key, "title": title, "trades": trades, "volume": volume,
                    "rows": [{**row, "label": label(row["key"])} for row in rows]})
    return out


@bp.get("/regulator")
@page(roles=REGULATOR, nav=_l("Dashboard"))
def regulator_dashboard() -> Any:
    """Filed trades and their volume by month, sector, product type and data class."""
    given = _given(("concluded_from", "concluded_to", "currency"))
    query, errors = _api_query(given, ("concluded_from", "concluded_to"))
    stats, errors = _read("/regulator/statistics", query, errors)
    stats = stats or {}
    volume: dict[str, int] = {}
    for row in stats.get("by_month", []):
        volume[row["currency"]] = volume.get(row["currency"], 0) + row["amount"]
    trades = sum(row["count"] for row in stats.get("by_month", []))
    return render_template("console/regulator/dashboard.html", given=given, errors=errors,
                           trades=trades, volume=sorted(volume.items()),
                           charts=_charts(stats) if stats else [],
                           related=stats.get("related_party_only", [])), (
        422 if errors else 200)


# -- filings and their exports ---------------------------------------------------------------


@bp.get("/regulator/filings")
@page(roles=REGULATOR, nav=_l("Filings"))
def regulator_filings() -> Any:
    """Every filing, filtered and a page at a time, with its exports."""
    given = _given(FILING_FILTERS)
    query, errors = _api_query(given, ("concluded_from", "concluded_to"))
    body, errors = _read("/regulator/filings", {**query, "cursor": request.args.get("cursor"),
                                                "limit": LIMIT}, errors)
    return render_template("console/regulator/filings.html", given=given, errors=errors,
                           body=body or {"items": [], "next_cursor": None}), (
        422 if errors else 200)


@bp.get("/regulator/filings/export")
@page(roles=REGULATOR)
def regulator_filings_export() -> Response:
    """The filings passing the page's filters as CSV or JSON Lines, streamed from the API
    (the export is kept in the supervision trace with the rows it sent)."""
    query, errors = _api_query(_given(FILING_FILTERS), ("concluded_from", "concluded_to"))
    if errors:
        raise _form_refused(errors)
    return _streamed("/regulator/filings/export",
                     {"format": request.args.get("format", "csv"), **query})


def _streamed(path: str, query: dict[str, Any]) -> Response:
    """The API's streamed export handed to the browser as it is produced.

    Raises:
        ApiRefused: the API answered an error.
    """
    return passthrough(_me(), path, **query)


def _form_refused(errors: dict[str, list[str]]) -> ApiRefused:
    return ApiRefused(Answer(422, {"code": "invalid_input", "title": gettext("Invalid input"),
                                   "errors": errors}))


# -- orders ----------------------------------------------------------------------------------


@bp.get("/regulator/orders")
@page(roles=REGULATOR, nav=_l("Orders"))
def regulator_orders() -> Any:
    """Every order, filtered by status, product, party, creation days and amount."""
    given = _given(ORDER_FILTERS)
    query, errors = _api_query(given, ("created_from", "created_to"))
    body, errors = _read("/regulator/orders", {**query, "cursor": request.args.get("cursor"),
                                               "limit": LIMIT}, errors)
    return render_template("console/regulator/orders.html", given=given, errors=errors,
                           statuses=ORDER_STATUSES,
                           body=body or {"items": [], "next_cursor": None}), (
        422 if errors else 200)


def _history(order_id: str) -> list[dict[str, Any]]:
    moves: list[dict[str, Any]] = []
    cursor = None
    for _ in range(HISTORY_PAGES):
        found = fetch(_me(), f"/orders/{order_id}/history", limit=100, cursor=cursor)
        moves += found["items"]
        cursor = found["next_cursor"]
        if not cursor:
            break
    return moves


@bp.get("/regulator/orders/<order_id>")
@page(roles=REGULATOR)
def regulator_order(order_id: str) -> str:
    """One order's whole record: contract, declarations, ledger journals and postings,
    allocations, filing, receipts (each verifiable) and history."""
    me = _me()
    record = fetch(me, f"/regulator/orders/{order_id}")
    order = record["order"]
    filing = fetch(me, f"/filings/{record['filing']['id']}") if record["filing"] else None
    declaration_ids = [order["commitment_id"], *(filing or {}).get("declaration_ids", [])]
    declarations = [fetch(me, f"/declarations/{d}") for d in dict.fromkeys(declaration_ids)
                    if d]
    receipts = [*order.get("receipts", []), *(filing or {}).get("receipts", [])]
    contract = fetch(me, f"/orders/{order_id}/contract") if record["contract"] else None
    return render_template("console/regulator/order.html", order=order,
                           contract=contract, ledger=record["ledger"],
                           filing=filing, declarations=declarations, receipts=receipts,
                           history=_history(order_id))


@bp.get("/regulator/receipts/<receipt_id>")
@page(roles=REGULATOR)
def regulator_receipt(receipt_id: str) -> str:
    """A receipt and its proof bundle checked part by part by the exchange's verifier
    (format, body, signature, signer, log, checkpoint, inclusion, anchor)."""
    me = _me()
    receipt = fetch(me, f"/receipts/{receipt_id}")
    bundle = fetch(me, f"/receipts/{receipt_id}/proof")
    answer = call(me, "POST", "/receipts/verification", body={"bundle": bundle})
    if not answer.ok:
        raise ApiRefused(answer)
    subject_type, _, subject_id = str(receipt.get("subject", "")).partition(":")
    return render_template("console/regulator/receipt.html", receipt=receipt,
                           report=answer.body, subject_type=subject_type,
                           subject_id=subject_id, back=request.args.get("order"))


# -- alerts, sanctions, the audit chain ------------------------------------------------------


@bp.get("/regulator/alerts")
@page(roles=REGULATOR, nav=_l("Alerts"))
def regulator_alerts() -> Any:
    """Risk alerts raised by the monitoring rules, by status and rule."""
    given = _given(("status", "rule"))
    body, errors = _read("/alerts", {**given, "cursor": request.args.get("cursor"),
                                     "limit": LIMIT}, {})
    return render_template("console/regulator/alerts.html", given=given, errors=errors,
                           statuses=ALERT_STATUSES,
                           body=body or {"items": [], "next_cursor": None}), (
        422 if errors else 200)


@bp.get("/regulator/alerts/<alert_id>")
@page(roles=REGULATOR)
def regulator_alert(alert_id: str) -> str:
    """One alert: its evidence and every step of its disposition."""
    return render_template("console/regulator/alert.html",
                           alert=fetch(_me(), f"/alerts/{alert_id}"))


@bp.get("/regulator/sanctions")
@page(roles=REGULATOR, nav=_l("Sanctions"))
def regulator_sanctions() -> str:
    """Participants suspended or blacklisted, since when and why."""
    items = fetch(_me(), "/disclosure/sanctions")["items"]
    return render_template("console/regulator/sanctions.html", items=items,
                           suspended=[i for i in items if i["status"] == "suspended"],
                           blacklisted=[i for i in items if i["status"] == "blacklisted"])


@bp.get("/regulator/audit")
@page(roles=REGULATOR, nav=_l("Audit chain"))
def regulator_audit() -> str:
    """The audit log's hash chain, recomputed entry by entry when asked (it reads the whole
    log, so it runs on the button, not on every view)."""
    verification = fetch(_me(), "/audit/verification") if request.args.get("verify") else None
    return render_template("console/regulator/audit.html", verification=verification)
