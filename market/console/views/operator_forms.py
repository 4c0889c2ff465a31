"""What the operator's pages share: reading as the operator, organisation names, and the
way a form's write comes back (303 when the API took it, the page again with the API's
field errors on 422, an error page for any other refusal)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l

from market.console.blueprint import user
from market.console.calls import Answer, ApiRefused, fetch
from market.kernel.actor import Actor

OPERATOR = ["operator"]
LIMIT = 200  # a subject's declarations, decisions, review items and history on one page

# What a page says once after its form succeeded (post/redirect/get: ``?done=<code>``).
DONE = {
    "claimed": _l("You took this into review."),
    "decided": _l("Your decision is recorded."),
    "document": _l("The document review is recorded."),
}


def me() -> Actor:
    return user().actor


def done_message() -> Any:
    return DONE.get(request.args.get("done", ""))


def cursor() -> str | None:
    return request.args.get("cursor") or None


def names_of(org_ids: Iterable[str | None]) -> dict[str, str]:
    """Organisation names by id, as the operator reads them (an unknown id stays an id)."""
    found: dict[str, str] = {}
    for org_id in {i for i in org_ids if i}:
        try:
            found[org_id] = fetch(me(), f"/participants/{org_id}")["name"]
        except ApiRefused:
            found[org_id] = org_id
    return found


def refusal(answer: Answer | None) -> dict[str, Any]:
    """What a page shows of the API's answer to its form: the problem of a 422, its field
    errors, and the rules that blocked (``violations``); nothing when there was no form."""
    if answer is None:
        return {"problem": None, "errors": {}, "violations": [], "form": {}}
    errors = dict(answer.field_errors)
    violations = errors.pop("violations", [])
    return {"problem": answer.problem, "errors": errors,
            "violations": violations if isinstance(violations, list) else [],
            "form": request.form}


def status_of(answer: Answer | None) -> int:
    return answer.status if answer is not None else 200


def last(items: list[Any]) -> Any:
    return items[-1] if items else None
