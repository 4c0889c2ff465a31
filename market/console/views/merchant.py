"""The merchant's pages (数据商): an overview, its data resources, its rights and their
certificates, its products with their review and listing state, its sales and their
delivery (:mod:`.merchant_orders`), its negotiations and its statements (对账单).

Every read and every write is the merchant's own API call (:mod:`market.console.calls`):
what a page shows and may do is exactly what the merchant's key could, with the API's
object scoping, rules, audit and idempotency. A form the API refuses with 422 comes back
with the API's field errors beside its fields; any other refusal is an error page.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from market.console.blueprint import bp, page, user
from market.console.calls import Answer, ApiRefused, call, fetch
from market.console.format import minor_units
from market.console.forms import after, form_key
from market.kernel.actor import Actor
from market.kernel.web import state

MERCHANT = ["merchant"]
LIMIT = 200  # an order's history, a merchant's accounts and products on one page

# What a page says once after its form succeeded (post/redirect/get: ``?done=<code>``).
DONE = {
    "delivered": _l("The order is delivered. The buyer can now download and accept it."),
    "offer": _l("Your offer is sent."),
    "counter": _l("Your counter-offer is sent."),
    "agree": _l("You agreed: the terms became a private offer for the buyer."),
    "accept": _l("You accepted the broker's proposal."),
    "decline": _l("You declined the negotiation."),
}

# Negotiations still waiting for someone's move.
OPEN_NEGOTIATIONS = ("proposed", "requested", "offered", "countered", "agreed")
# A move on a negotiation: the API path under /negotiations/<id>/ and whether it takes
# terms (an offer, a counter) or a reason (a decline).
MOVES = {"offer": "offers", "counter": "counters", "agree": "agreement",
         "accept": "acceptance", "decline": "decline"}


def me() -> Actor:
    return user().actor


def cursor() -> str | None:
    return request.args.get("cursor") or None


def done_message() -> Any:
    return DONE.get(request.args.get("done", ""))


def count_of(body: dict[str, Any]) -> str:
    """How many a list's first page holds ("50+" when there are more pages)."""
    shown = len(body.get("items") or [])
    return f"{shown}+" if body.get("next_cursor") else str(shown)


def product_titles(product_ids: Iterable[str]) -> dict[str, str]:
    """The merchant's own products' titles by id (an id it cannot read stays an id)."""
    wanted = set(product_ids)
    titles: dict[str, str] = {}
    if wanted:
        for product in fetch(me(), "/products", limit=LIMIT)["items"]:
            version = product.get("listed") or product.get("latest") or {}
            titles[product["id"]] = version.get("title") or product["id"]
    return {pid: titles.get(pid, pid) for pid in wanted}


def refusal(answer: Answer | None) -> dict[str, Any]:
    """What a page shows of the API's 422 to its form: the problem, its field errors and
    the rules that blocked it (``violations``); nothing when there was no form."""
    if answer is None:
        return {"problem": None, "errors": {}, "violations": []}
    errors = dict(answer.field_errors)
    violations = errors.pop("violations", [])
    for nested in ("terms",):  # a negotiation's terms are one nested object
        if isinstance(errors.get(nested), dict):
            errors.update(errors.pop(nested))
    return {"problem": answer.problem, "errors": errors,
            "violations": violations if isinstance(violations, list) else []}


# -- overview, resources, rights, products ------------------------------------------------


@bp.get("/merchant")
@page(roles=MERCHANT, nav=_l("Overview"))
def merchant_home() -> str:
    """What waits for the merchant and what it holds, each with a link to its page."""
    actor = me()
    to_deliver = fetch(actor, "/orders", role="seller", status="paid")
    negotiations = fetch(actor, "/negotiations", limit=LIMIT)
    waiting = [n for n in negotiations["items"] if n["status"] in OPEN_NEGOTIATIONS]
    figures = [
        ("to-deliver", _l("Orders to deliver"), count_of(to_deliver),
         url_for("console.merchant_orders", status="paid")),
        ("sales", _l("Sales"), count_of(fetch(actor, "/orders", role="seller")),
         url_for("console.merchant_orders")),
        ("negotiations", _l("Open negotiations"),
         f"{len(waiting)}+" if negotiations.get("next_cursor") else str(len(waiting)),
         url_for("console.merchant_negotiations")),
        ("products", _l("Products"), count_of(fetch(actor, "/products")),
         url_for("console.merchant_products")),
        ("resources", _l("Data resources"), count_of(fetch(actor, "/resources")),
         url_for("console.merchant_resources")),
        ("rights", _l("Rights"), count_of(fetch(actor, "/rights")),
         url_for("console.merchant_rights")),
    ]
    accounts = fetch(actor, "/ledger/accounts", limit=LIMIT)["items"]
    return render_template(
        "console/merchant/home.html", figures=figures, accounts=accounts,
        to_deliver=to_deliver["items"],
        titles=product_titles(o["product_id"] for o in to_deliver["items"]))


@bp.get("/merchant/resources")
@page(roles=MERCHANT, nav=_l("Resources"))
def merchant_resources() -> str:
    """The data resources the merchant registered (数据资源)."""
    body = fetch(me(), "/resources", cursor=cursor())
    return render_template("console/merchant/resources.html", body=body, items=body["items"])


@bp.get("/merchant/rights")
@page(roles=MERCHANT, nav=_l("Rights"))
def merchant_rights() -> str:
    """The merchant's right registrations and their certificates (登记证书), with a link to
    each certificate's public verification."""
    body = fetch(me(), "/rights", cursor=cursor())
    return render_template("console/merchant/rights.html", body=body, items=body["items"])


@bp.get("/merchant/products")
@page(roles=MERCHANT, nav=_l("Products"))
def merchant_products() -> str:
    """The merchant's products: the version in review or being drafted, the version
    listed, and the offers of each."""
    body = fetch(me(), "/products", cursor=cursor())
    return render_template("console/merchant/products.html", body=body, items=body["items"])


# The sales and their delivery register their pages on the same blueprint (here, so that
# the menu shows them after the products).
from market.console.views import merchant_orders  # noqa: E402, F401

# -- negotiations --------------------------------------------------------------------------


def _negotiations_page(answer: Answer | None = None, failed: str | None = None,
                       local_errors: dict[str, Any] | None = None) -> tuple[str, int]:
    status = request.args.get("status") or None
    body = fetch(me(), "/negotiations", status=status, cursor=cursor())
    shown = refusal(answer)
    if local_errors:
        shown["errors"] = local_errors
    return render_template(
        "console/merchant/negotiations.html", body=body, items=body["items"],
        statuses=("proposed", "requested", "offered", "countered", "agreed", "ordered",
                  "declined", "withdrawn", "expired"),
        status=status, args={"status": status} if status else {},
        titles=product_titles(n["product_id"] for n in body["items"]),
        failed=failed, done=done_message(), **shown), (
            422 if answer is not None or local_errors else 200)


@bp.get("/merchant/negotiations")
@page(roles=MERCHANT, nav=_l("Negotiations"))
def merchant_negotiations() -> tuple[str, int]:
    """Quote requests, offers and counter-offers the merchant is party to, with its moves:
    offer, counter, agree, accept a broker's proposal, decline."""
    return _negotiations_page()


def positive_minor_units(text: str, currency: str) -> int:
    """A price typed in major units, which must be above zero, in minor units.

    Raises:
        ValueError: not a positive amount with at most the currency's decimals.
    """
    amount = minor_units(text, currency)
    if not amount:
        raise ValueError(text)
    return amount


@bp.post("/merchant/negotiations/<negotiation_id>")
@page(roles=MERCHANT)
def merchant_negotiate(negotiation_id: str) -> Response | tuple[str, int]:
    """One move of the merchant on a negotiation, as the API's own route for it."""
    move = request.form.get("move", "")
    if move not in MOVES:
        return _negotiations_page(failed=negotiation_id,
                                  local_errors={"move": [gettext("Choose a move.")]})
    body: dict[str, Any] | None = None
    if move in ("offer", "counter"):
        currency = request.form.get("currency") or "CNY"
        try:
            terms: dict[str, Any] = {"amount": positive_minor_units(request.form.get("amount", ""),
                                                           currency)}
        except ValueError:
            return _negotiations_page(failed=negotiation_id, local_errors={
                "amount": [gettext("Enter a positive amount, e.g. 3800.00.")]})
        if request.form.get("term_days", "").strip():
            try:
                terms["term_days"] = int(request.form["term_days"])
            except ValueError:
                return _negotiations_page(failed=negotiation_id, local_errors={
                    "term_days": [gettext("Enter a whole number of days.")]})
        body = {"terms": terms}
    elif move == "decline":
        body = {"reason": request.form.get("reason", "").strip()}
    answer = call(me(), "POST", f"/negotiations/{negotiation_id}/{MOVES[move]}",
                  body=body, idempotency_key=form_key())
    done = after(answer, "console.merchant_negotiations", move)
    if done is not None:
        return done
    return _negotiations_page(answer, failed=negotiation_id)


# -- statements ----------------------------------------------------------------------------


def _day(text: str | None, default: date) -> date:
    if not text:
        return default
    return date.fromisoformat(text)


@bp.get("/merchant/statements")
@page(roles=MERCHANT, nav=_l("Statements"))
def merchant_statements() -> tuple[str, int]:
    """The merchant's accounts per currency and one account's statement (对账单) for a
    period: opening and closing balances and every posting with the running balance."""
    actor = me()
    accounts = fetch(actor, "/ledger/accounts", limit=LIMIT)["items"]
    currencies: dict[str, list[dict[str, Any]]] = {}
    for account in accounts:
        currencies.setdefault(account["currency"], []).append(account)
    today = state().clock.now().astimezone(UTC).date()
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    errors: dict[str, list[str]] = {}
    try:
        start = _day(request.args.get("from"), first)
    except ValueError:
        start, errors["from"] = first, [gettext("Enter a date as YYYY-MM-DD.")]
    try:
        end = _day(request.args.get("to"), following)
    except ValueError:
        end, errors["to"] = following, [gettext("Enter a date as YYYY-MM-DD.")]
    chosen = request.args.get("account") or (accounts[0]["id"] if accounts else None)
    statement, problem = None, None
    if chosen and not errors:
        answer = call(actor, "GET", f"/ledger/accounts/{chosen}/statement", query={
            "from": datetime.combine(start, datetime.min.time(), UTC).isoformat(),
            "to": datetime.combine(end, datetime.min.time(), UTC).isoformat()})
        if answer.ok:
            statement = answer.body
        elif answer.status == 422:
            problem, errors = answer.problem, {**errors, **answer.field_errors}
        else:
            raise ApiRefused(answer)
    return render_template(
        "console/merchant/statements.html", currencies=currencies, chosen=chosen,
        start=start.isoformat(), end=end.isoformat(), statement=statement,
        problem=problem, errors=errors), 422 if errors else 200
