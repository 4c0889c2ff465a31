"""The blueprint every context's API uses."""

from __future__ import annotations

import flask_smorest

from market.kernel.web.access import AccessViews
from market.kernel.web.idempotent import IdempotentViews
from market.kernel.web.parsing import MarketParser


class ApiBlueprint(AccessViews, IdempotentViews, flask_smorest.Blueprint):  # type: ignore[misc]
    """A flask-smorest blueprint whose views declare access and idempotency."""

    ARGUMENTS_PARSER = MarketParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {  # noqa: RUF012  (flask-smorest's table, extended)
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data"}
