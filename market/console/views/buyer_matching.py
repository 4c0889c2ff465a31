"""The buyer's demands (需求清单) with their explained matches, and its negotiations
(议价): counter the merchant's terms or agree to them, then order the private offer the
agreement became."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import redirect, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from market.console.blueprint import bp
from market.console.blueprint import page as console_page
from market.console.calls import ApiRefused, fetch
from market.console.format import minor_units
from market.console.forms import after, post
from market.console.views.buyer_common import (
    BUYER,
    LABELS,
    actor,
    lines,
    money_error,
    page,
    refusal,
    titles_of,
)
from market.kernel.web import state

PAGE_SIZE = 20
DEADLINE_DAYS = 30  # the deadline a new demand's form suggests
# The buyer's turn: the merchant's terms are on the table.
ANSWERABLE = ("offered", "countered")


def points(hundredths: Any) -> str:
    """A match score kept in hundredths of a point, as points (``8833`` → ``88.33``)."""
    value = int(hundredths or 0)
    return f"{value // 100}.{value % 100:02d}"


def _today() -> date:
    return state().clock.now().astimezone(UTC).date()


def _demands_page(*, form: MultiDict[str, str] | None = None,
                  refused: dict[str, Any] | None = None, status: int = 200) -> Any:
    chosen = request.args.get("status") or None
    body = fetch(actor(), "/demands", mine="true", status=chosen,
                 cursor=request.args.get("cursor"), limit=PAGE_SIZE)
    deadline = (_today() + timedelta(days=DEADLINE_DAYS)).isoformat()
    return page("demands.html", status, body=body, chosen=chosen, form=form or MultiDict(),
                refused=refused or {}, deadline=deadline, labels=LABELS,
                statuses=LABELS["demand"], pager_args={"status": chosen} if chosen else {})


@bp.get("/buyer/demands")
@console_page(roles=BUYER, nav=_l("Demands"))
def buyer_demands() -> Any:
    """The buyer's demands, and the form to post one."""
    return _demands_page()


def demand_of(form: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The demand the form describes, and the errors of fields the console reads itself
    (amounts in yuan, the deadline's date)."""
    errors: dict[str, str] = {}
    budget: dict[str, int | None] = {}
    for name in ("budget_min", "budget_max"):
        try:
            budget[name] = minor_units(form.get(name))
        except ValueError:
            errors[name] = money_error()
    deadline: str = form.get("deadline", "").strip()
    if deadline:
        try:
            day = date.fromisoformat(deadline)
            deadline = datetime.combine(day, time(23, 59, 59), UTC).isoformat()
        except ValueError:
            errors["deadline"] = gettext("Enter a date as YYYY-MM-DD.")
    body: dict[str, Any] = {
        "title": form.get("title", "").strip(),
        "description": form.get("description", "").strip(),
        "sector": form.get("sector", ""),
        "region": form.get("region", "").strip() or None,
        "product_types": form.getlist("product_types"),
        "delivery_modes": form.getlist("delivery_modes"),
        "freshness": form.get("freshness") or None,
        **{k: v for k, v in budget.items() if v is not None},
        "currency": "CNY",
        "purpose": form.get("purpose", "").strip(),
        "purposes": lines(form.get("purposes"), commas=True),
        "scenarios": lines(form.get("scenarios"), commas=True),
        "cross_border": form.get("cross_border") == "yes",
        "deadline": deadline,
    }
    return body, errors


@bp.post("/buyer/demands")
@console_page(roles=BUYER)
def buyer_post_demand() -> Any:
    """Post a demand; it is matched at once and its page shows the matches."""
    body, errors = demand_of(request.form)
    if errors:
        return _demands_page(form=request.form, status=422, refused={
            "title": gettext("Check the fields marked below."), "errors": errors})
    answer = post("/demands", body)
    if answer.ok:
        return redirect(url_for("console.buyer_demand", demand_id=answer.body["id"],
                                done="posted"), code=303)
    if answer.status != 422:
        raise ApiRefused(answer)
    return _demands_page(form=request.form, refused=refusal(answer), status=422)


@bp.get("/buyer/demands/<demand_id>")
@console_page(roles=BUYER)
def buyer_demand(demand_id: str) -> Any:
    """A demand and the listings that answer it, each score explained by its components,
    and the near misses with the reasons they are left out."""
    demand = fetch(actor(), f"/demands/{demand_id}")
    ranking = fetch(actor(), f"/demands/{demand_id}/matches", explain="true")
    return page("demand.html", demand=demand, ranking=ranking, points=points,
                components=LABELS["component"])


@bp.get("/buyer/negotiations")
@console_page(roles=BUYER, nav=_l("Negotiations"))
def buyer_negotiations() -> Any:
    """The negotiations the buyer is a party to, newest first."""
    chosen = request.args.get("status") or None
    body = fetch(actor(), "/negotiations", status=chosen, cursor=request.args.get("cursor"),
                 limit=PAGE_SIZE)
    titles = titles_of(n["product_id"] for n in body["items"])
    return page("negotiations.html", body=body, titles=titles, chosen=chosen,
                statuses=LABELS["negotiation"],
                pager_args={"status": chosen} if chosen else {})


def _negotiation_page(negotiation_id: str, *, form: MultiDict[str, str] | None = None,
                      refused: dict[str, Any] | None = None, status: int = 200) -> Any:
    negotiation = fetch(actor(), f"/negotiations/{negotiation_id}")
    history = fetch(actor(), f"/negotiations/{negotiation_id}/history")
    title = titles_of([negotiation["product_id"]])[negotiation["product_id"]]
    my_turn = (negotiation["status"] in ANSWERABLE
               and negotiation.get("proposed_by") != "buyer")
    return page("negotiation.html", status, negotiation=negotiation,
                history=history["items"], title=title, my_turn=my_turn,
                form=form or MultiDict(), refused=refused or {})


@bp.get("/buyer/negotiations/<negotiation_id>")
@console_page(roles=BUYER)
def buyer_negotiation(negotiation_id: str) -> Any:
    """A negotiation: the terms on the table, every move so far, and the buyer's answer
    when it is its turn."""
    return _negotiation_page(negotiation_id)


@bp.post("/buyer/negotiations/<negotiation_id>/counters")
@console_page(roles=BUYER)
def buyer_counter(negotiation_id: str) -> Any:
    """Answer the merchant's terms with the buyer's own."""
    form = request.form
    terms: dict[str, Any] = {}
    errors: dict[str, str] = {}
    try:
        terms["amount"] = minor_units(form.get("amount"))
    except ValueError:
        errors["terms.amount"] = money_error()
    for name in ("term_days", "quantity"):
        text = form.get(name, "").strip()
        if text:
            if text.isdigit():
                terms[name] = int(text)
            else:
                errors[f"terms.{name}"] = gettext("Enter a whole number.")
    terms["delivery_modes"] = form.getlist("delivery_modes") or None
    if errors:
        return _negotiation_page(negotiation_id, form=form, status=422, refused={
            "title": gettext("Check the fields marked below."), "errors": errors})
    answer = post(f"/negotiations/{negotiation_id}/counters",
                  {"terms": {k: v for k, v in terms.items() if v is not None}})
    return after(answer, "console.buyer_negotiation", "countered",
                 negotiation_id=negotiation_id) or _negotiation_page(
        negotiation_id, form=form, refused=refusal(answer), status=422)


@bp.post("/buyer/negotiations/<negotiation_id>/agreement")
@console_page(roles=BUYER)
def buyer_agree(negotiation_id: str) -> Any:
    """Agree to the merchant's terms: they become a private offer only this buyer orders."""
    answer = post(f"/negotiations/{negotiation_id}/agreement")
    return after(answer, "console.buyer_negotiation", "agreed",
                 negotiation_id=negotiation_id) or _negotiation_page(
        negotiation_id, refused=refusal(answer), status=422)
