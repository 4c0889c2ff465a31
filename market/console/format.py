"""How the console writes amounts, times and identifiers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
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


def minor_units(text: str | None, currency: str | None = "CNY") -> int | None:
    """An amount typed in major units (``"1,234.5"`` yuan) as integer minor units of
    ``currency`` (fen; none for JPY); None when nothing was typed.

    Raises:
        ValueError: not an amount, negative, or finer than the currency's minor unit.
    """
    cleaned = (text or "").replace(",", "").replace("，", "").strip()
    if not cleaned:
        return None
    places = _DECIMALS.get((currency or "CNY").upper(), 2)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(cleaned) from None
    minor = value * (10 ** places)
    if not value.is_finite() or value < 0 or minor != minor.to_integral_value():
        raise ValueError(cleaned)
    return int(minor)
