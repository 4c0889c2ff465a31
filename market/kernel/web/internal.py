"""Reading the API as a given principal from inside the application: the worker renders an
event's object exactly as the API shows it to the participant who receives it, through the
same view, scoping and schema, never a second rendering that could show more."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, request

from market.kernel.actor import Actor
from market.kernel.web.context import INTERNAL_ACTOR


def get_as(app: Flask, actor: Actor, path: str, *, language: str = "en",
           ) -> tuple[int, Any]:
    """``GET path`` answered to ``actor``: the status and the decoded JSON body."""
    with app.test_request_context(path, method="GET", headers={"Accept-Language": language},
                                  environ_overrides={INTERNAL_ACTOR: actor}):
        response = app.full_dispatch_request()
        body = response.get_data()
        status = response.status_code
    return status, json.loads(body) if body else None


def is_internal() -> bool:
    """Whether the current request is one the application makes to itself."""
    return request.environ.get(INTERNAL_ACTOR) is not None
