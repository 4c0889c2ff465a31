"""What every console form does with its answer: the write as the person signed in, under
the form's own Idempotency-Key, then post/redirect/get, or the page again with the API's
field errors."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from werkzeug.wrappers import Response

from market.console.calls import Answer, ApiRefused, call
from market.console.session import signed_in


def form_key() -> str | None:
    """The Idempotency-Key the form was rendered with."""
    return request.form.get("idempotency_key") or None


def post(path: str, body: dict[str, Any] | None = None, *,
         form: dict[str, Any] | None = None) -> Answer:
    """The form's write (``POST path`` under the API: a JSON ``body``, or multipart
    ``form`` parts) as the person signed in, with the Idempotency-Key the form was rendered
    with: sent twice, it has one effect."""
    user = signed_in()
    assert user is not None, "a form is posted only from a signed-in page"
    return call(user.actor, "POST", path, body=body, form=form, idempotency_key=form_key())


def after(answer: Answer, endpoint: str, done: str, **values: Any) -> Response | None:
    """303 to ``endpoint`` (with ``?done=``) when the API took the form; None when it
    answered 422 (the page is shown again with its errors).

    Raises:
        ApiRefused: any other refusal.
    """
    if answer.ok:
        return redirect(url_for(endpoint, done=done, **values), code=303)
    if answer.status != 422:
        raise ApiRefused(answer)
    return None
