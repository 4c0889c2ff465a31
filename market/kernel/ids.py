"""Identifiers: prefixed, time-ordered ULIDs (``org_01J…``); the prefix names the kind.

Ordering by id is ordering by creation, which cursor pagination relies on.
"""

from __future__ import annotations

import re

from ulid import ULID

_ID_RE = re.compile(r"^[a-z]{2,8}_[0-9A-HJKMNP-TV-Z]{26}$")


def new_id(prefix: str) -> str:
    """A new id such as ``org_01JD6Z…`` (26 Crockford base32 characters after the prefix)."""
    return f"{prefix}_{ULID()}"


def looks_like_id(value: str, prefix: str | None = None) -> bool:
    if not _ID_RE.match(value):
        return False
    return prefix is None or value.startswith(prefix + "_")
