"""Request parsing: JSON bodies only, bounded nesting, storable text; fields shared by
every context's schemas."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import marshmallow as ma
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict

from market.kernel.errors import (
    InvalidInput,
    MalformedJson,
    UnsupportedMediaType,
)

# -- request parsing -----------------------------------------------------------------


UNSTORABLE_TEXT = "must not contain NUL characters or unpaired surrogates"


def unstorable_text(value: str) -> bool:
    """True when ``value`` holds NUL or a lone surrogate.

    Neither can be stored as text by PostgreSQL (nor encoded as UTF-8), so such input is
    refused at the edge instead of failing deep inside a transaction.
    """
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unstorable_fields(value: Any, path: str = "") -> list[str]:
    """Dotted paths of the strings in a JSON value that :func:`unstorable_text` refuses."""
    if isinstance(value, str):
        return [path or "_schema"] if unstorable_text(value) else []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            found += [name] if unstorable_text(str(key)) else unstorable_fields(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += unstorable_fields(item, f"{path}.{index}" if path else str(index))
    return found


MAX_JSON_DEPTH = 32


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


class MarketParser(FlaskParser):
    """webargs' parser, stricter about bodies: JSON only, bounded nesting, storable text.

    ``multipart`` reads a multipart/form-data body whole: its form fields and its files.
    """

    __location_map__ = {  # noqa: RUF012  (webargs' class-level table, extended)
        **FlaskParser.__location_map__, "multipart": "load_multipart"}

    def load_multipart(self, req: Any, schema: ma.Schema) -> Any:
        return MultiDictProxy(CombinedMultiDict([req.form, req.files]), schema)

    def _raw_load_json(self, req: Any) -> Any:
        body = req.get_data(cache=True)
        if not is_json_request(req):
            if body:
                raise UnsupportedMediaType("send the body as application/json")
            return webargs_core.missing
        try:
            data = webargs_core.parse_json(body)
        except RecursionError:
            data = None
            too_deep = True
        else:
            too_deep = json_depth(data) > MAX_JSON_DEPTH
        if too_deep:
            raise MalformedJson("the body nests too deeply")
        bad = unstorable_fields(data)
        if bad:
            raise InvalidInput(errors={name: [UNSTORABLE_TEXT] for name in bad})
        return data


# -- fields -----------------------------------------------------------------------------


def choices(enum: Any) -> list[str]:
    """An enumeration's values, for ``validate.OneOf``."""
    return [member.value for member in enum]


class StorageIn(ma.Schema):
    """Where the data is stored (数据境内存储), declared by resources and product versions:
    an ISO 3166-1 alpha-2 country code (CN unless declared) and a free-text region."""

    storage_location = ma.fields.String(
        load_default="CN", validate=ma.validate.Regexp(
            r"^[A-Z]{2}$", error="must be an ISO 3166-1 alpha-2 country code, e.g. CN"),
        metadata={"description": "where the data is stored (数据境内存储), an ISO country "
                                 "code; stored abroad, it needs a security assessment on "
                                 "record (DataAbroadNeedsSecurityAssessment)"})
    storage_region = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(1, 100),
        metadata={"description": "region or data centre, free text"})


class UtcDateTime(ma.fields.AwareDateTime):
    """An ISO 8601 date-time with an offset, loaded as UTC.

    Refuses instants that have no UTC equivalent (such as 0001-01-01T00:00:00+14:00), which
    would otherwise pass as valid and fail when stored or compared.
    """

    default_error_messages = {  # noqa: RUF012  (marshmallow merges it along the MRO)
        "utc_range": "Not a date-time that exists in UTC."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        loaded = super()._deserialize(value, attr, data, **kwargs)
        try:
            return loaded.astimezone(UTC)
        except OverflowError as exc:
            raise self.make_error("utc_range") from exc


class HistoryEventOut(ma.Schema):
    """One move of a subject along its lifecycle (:class:`market.kernel.statemachine.
    HistoryRow`); a context's schema adds the subject's id field."""

    id = ma.fields.String()
    action = ma.fields.String()
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    actor_org_id = ma.fields.String(allow_none=True)
    actor_label = ma.fields.String()
    at = ma.fields.DateTime()
