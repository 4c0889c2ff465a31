"""Money as integer minor units with an ISO 4217 currency; splits that never lose a cent."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class MoneyError(ValueError):
    """Money was built from something that is not an integer amount and a currency code."""


@dataclass(frozen=True, order=False)
class Money:
    """An amount in minor units (分 for CNY). Floats are refused outright."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise MoneyError(f"amount must be an int of minor units, got {self.amount!r}")
        if not isinstance(self.currency, str) or not _CURRENCY_RE.match(self.currency):
            raise MoneyError(f"currency must be an ISO 4217 code, got {self.currency!r}")

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise MoneyError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"currency mismatch: {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        """Split by integer weights; see :func:`allocate`."""
        return [Money(part, self.currency) for part in allocate(self.amount, weights)]


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` by the largest-remainder method.

    The parts always sum to ``total``. Leftover units go to the largest remainders; ties go
    to the earlier weight, so the result is deterministic. Negative totals are split as the
    mirror image of the positive split.
    """
    if not weights:
        raise MoneyError("allocate needs at least one weight")
    if any(isinstance(w, bool) or not isinstance(w, int) or w < 0 for w in weights):
        raise MoneyError("weights must be non-negative integers")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise MoneyError("weights must not all be zero")
    if total < 0:
        return [-part for part in allocate(-total, weights)]
    parts = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    leftover = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        parts[i] += 1
    return parts
