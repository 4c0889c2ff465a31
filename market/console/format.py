"""How the console writes amounts, times and identifiers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# Minor units per major unit of the currencies the exchange is set up for; any other is
# shown in minor units with its code.
_DECIMALS = {"CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "JPY": 0}


def money(amount: Any, currency: str | None = "CNY") -> str:
    """``12345, "CNY"`` → ``"123.45 CNY"``; integers only (money is never a float)."""
    if amount is None or isinstance(amount, bool) or not isinstance(amount, int):
        return "—" if amount is None else str(amount)
    code = (currency or "").upper()
    places = _DECIMALS.get(code)
    if places is None:
        return f"{amount} {code}".strip()
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10 ** places)
    text = f"{whole:,}" + (f".{part:0{places}d}" if places else "")
    return f"{sign}{text} {code}"


def when(value: Any) -> str:
    """An ISO 8601 time from the API, shortened to the minute, in UTC."""
    if not value:
        return "—"
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def short(identifier: Any, size: int = 14) -> str:
    text = str(identifier or "")
    return text if len(text) <= size else text[:size] + "…"
