"""Cursor pagination at the HTTP edge: page queries, opaque cursors, page envelopes."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import marshmallow as ma

from market.kernel.errors import (
    InvalidCursor,
)
from market.kernel.pagination import MAX_LIMIT, Page

# -- pagination -----------------------------------------------------------------------
from market.kernel.web.parsing import unstorable_text


class PageQuery(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, MAX_LIMIT))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        after = data["after"]
        if not isinstance(after, str) or unstorable_text(after):
            raise TypeError
        return after
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError):
        raise InvalidCursor(errors={"cursor": ["not a cursor issued by this API"]}) from None


def encode_cursor(after: str | None) -> str | None:
    if after is None:
        return None
    raw = json.dumps({"after": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_args(query: dict[str, Any]) -> dict[str, Any]:
    """``after`` and ``limit`` for a repository, from a :class:`PageQuery`."""
    return {"after": decode_cursor(query["cursor"]), "limit": query["limit"]}


def page_body(page: Page[Any]) -> dict[str, Any]:
    return {"items": page.items, "next_cursor": encode_cursor(page.next_after)}


_page_schemas: dict[str, type[ma.Schema]] = {}


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """A ``{items, next_cursor}`` envelope schema for ``item_schema``."""
    name = item_schema.__name__.removesuffix("Schema").removesuffix("Out") + "Page"
    if name not in _page_schemas:
        _page_schemas[name] = type(name, (ma.Schema,), {
            "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
            "next_cursor": ma.fields.String(
                allow_none=True, required=True,
                metadata={"description": "Pass as `cursor` for the next page; null at the end"},
            ),
        })
    return _page_schemas[name]
