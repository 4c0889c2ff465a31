"""RFC 8785 canonical JSON (JCS), the bytes every digest and signature in market covers.

Most documents hashed here hold only strings, integers, booleans, nulls, lists and objects
with ASCII keys. For those, Python's own JSON encoder with sorted keys, no whitespace and no
ASCII escaping writes exactly the RFC 8785 bytes (the same escapes for quotes, backslashes
and control characters, lowercase ``\\u00xx``, nothing else escaped), in C and many times
faster than a pure-Python canonicaliser. Anything else (floats, whose ECMAScript formatting
differs from Python's; integers beyond ±2**53, which JSON numbers cannot carry exactly; keys
beyond ASCII, which RFC 8785 orders by UTF-16 code units) goes through the ``rfc8785``
library. The property tests in tests/unit/test_canonical.py hold the two paths equal.
"""

from __future__ import annotations

import json
from typing import Any, cast

import rfc8785

SAFE_INTEGER = 2**53 - 1
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True,
                            separators=(",", ":"))


def _simple(value: Any) -> bool:
    """Whether ``value`` holds only what the fast path writes exactly as RFC 8785 does."""
    if value is None or isinstance(value, str | bool):
        return True
    if isinstance(value, int):
        return -SAFE_INTEGER <= value <= SAFE_INTEGER
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _simple(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_simple(v) for v in value)
    return False


def dumps(value: Any) -> bytes:
    """The RFC 8785 canonical JSON of ``value``, UTF-8 encoded.

    Raises:
        rfc8785.CanonicalizationError: a value JSON cannot carry exactly (NaN, a lone
            surrogate, an integer beyond ±2**53, a non-string key).
        UnicodeEncodeError: a key holding a lone surrogate.
    """
    if _simple(value):
        try:
            return _ENCODER.encode(value).encode()
        except UnicodeEncodeError:  # a lone surrogate: let rfc8785 name the problem
            pass
    return rfc8785.dumps(cast(Any, value))
