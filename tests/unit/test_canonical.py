"""The fast canonical JSON path writes exactly what the RFC 8785 library writes, or fails
the same way."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from market.kernel import canonical

ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**60), max_value=2**60)
           | st.floats(allow_nan=False, allow_infinity=False) | ANY_TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(ANY_TEXT, inner, max_size=4), max_leaves=20)


def _outcome(dump: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", dump(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:
        return "error", type(exc)


@settings(max_examples=400)
@given(VALUES)
def test_fast_path_matches_rfc8785(value: Any) -> None:
    assert _outcome(canonical.dumps, value) == _outcome(rfc8785.dumps, value)


@pytest.mark.parametrize("value", [
    {"b": 1, "a": [True, None, "x"]},
    {"control": "\x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f", "quote": "\"\\/", "line": "\u2028\u2029"},
    {"中文": "数据", "é": 1},  # keys beyond ASCII: ordered by UTF-16 code units
    {"\U0001f600": 1, "\uffff": 2},  # a surrogate pair sorts before U+FFFF in UTF-16
    {"big": 2**53, "small": -(2**53)},
    {"float": 1e21, "tiny": 5e-324},
])
def test_documents_at_the_edges_match(value: Any) -> None:
    assert _outcome(canonical.dumps, value) == _outcome(rfc8785.dumps, value)


def test_simple_documents_take_the_fast_path() -> None:
    assert canonical._simple({"seq": 1, "label": "数据", "flags": [True, None]})
    assert not canonical._simple({"amount": 1.5})
    assert not canonical._simple({"数据": 1})
    assert not canonical._simple({"n": 2**53})
