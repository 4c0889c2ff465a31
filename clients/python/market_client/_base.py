"""What every group of methods shares."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from market_client._http import Http


class Group:
    """A group of the API's operations on one client (``client.orders``, ``client.rights``)."""

    def __init__(self, http: Http) -> None:
        self._http = http


def seg(value: str) -> str:
    """An id as one path segment."""
    return quote(str(value), safe="")


def without_none(**fields: Any) -> dict[str, Any]:
    """A request body without the fields left unset."""
    return {name: value for name, value in fields.items() if value is not None}
