"""HTTP glue shared by every context's API, split by concern:

- :mod:`.problems`: errors as ``application/problem+json`` (RFC 9457) with a stable ``code``;
- :mod:`.parsing`: JSON bodies only, bounded nesting, storable text; shared fields;
- :mod:`.context`: the application's web state, the request's one pooled connection,
  request ids, body limits and language;
- :mod:`.access`: bearer-key authentication, ``@bp.access`` declarations (enforced here,
  documented in OpenAPI, inspected by the authorization tests) and the request's unit of
  work;
- :mod:`.idempotent`: ``@bp.idempotent`` views honouring ``Idempotency-Key``;
- :mod:`.pagination`: page queries, opaque cursors, page envelopes;
- :mod:`.records`: out schemas generated from a table's columns;
- :mod:`.blueprint`: :class:`ApiBlueprint`, which every context's API uses.
"""

from market.kernel.web.access import Access, access_of, current_actor, unit_of_work
from market.kernel.web.blueprint import ApiBlueprint
from market.kernel.web.context import MarketState, register_request_hooks, select_locale, state
from market.kernel.web.pagination import (
    PageQuery,
    decode_cursor,
    encode_cursor,
    page_args,
    page_body,
    page_of,
)
from market.kernel.web.parsing import HistoryEventOut, StorageIn, UtcDateTime, choices
from market.kernel.web.problems import PROBLEM_JSON, Api, problem_response
from market.kernel.web.records import RecordSchema

__all__ = [
    "PROBLEM_JSON",
    "Access",
    "Api",
    "ApiBlueprint",
    "HistoryEventOut",
    "MarketState",
    "PageQuery",
    "RecordSchema",
    "StorageIn",
    "UtcDateTime",
    "access_of",
    "choices",
    "current_actor",
    "decode_cursor",
    "encode_cursor",
    "page_args",
    "page_body",
    "page_of",
    "problem_response",
    "register_request_hooks",
    "select_locale",
    "state",
    "unit_of_work",
]
