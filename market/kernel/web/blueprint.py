"""The blueprint every context's API uses."""

from __future__ import annotations

import flask_smorest

from market.kernel.web.access import AccessViews
from market.kernel.web.idempotent import IdempotentViews
from market.kernel.web.parsing import MarketParser
from market.kernel.web.ratelimits import RateLimitedViews


class ApiBlueprint(AccessViews, IdempotentViews, RateLimitedViews,
                   flask_smorest.Blueprint):  # type: ignore[misc]
    """A flask-smorest blueprint whose views declare access, idempotency and cost."""

    ARGUMENTS_PARSER = MarketParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {  # noqa: RUF012  (flask-smorest's table, extended)
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data"}
