"""Money in integer minor units (分 for CNY) and the largest-remainder split."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.kernel.money import Money, MoneyError, allocate

PROPERTIES = settings(database=None, deadline=None, max_examples=400)
totals = st.integers(min_value=-10**15, max_value=10**15)
weight_lists = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30).filter(
    lambda ws: sum(ws) > 0)


# -- Money ------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1.0, 0.1, 100.0, Decimal("1.00"), "100", None, True, False,
                                    Fraction(1, 2)])
def test_amount_must_be_an_int(amount):
    with pytest.raises(MoneyError, match="amount must be an int"):
        Money(amount, "CNY")


@pytest.mark.parametrize("currency", ["cny", "CN", "CNYY", "C1Y", "", " CNY", None, 156, b"CNY",
                                      "人民币"])
def test_currency_must_be_an_iso_code(currency):
    with pytest.raises(MoneyError, match="currency must be an ISO 4217 code"):
        Money(100, currency)


def test_money_error_is_a_value_error():
    assert issubclass(MoneyError, ValueError)


def test_arithmetic_in_one_currency():
    a, b = Money(1050, "CNY"), Money(-50, "CNY")
    assert a + b == Money(1000, "CNY")
    assert a - b == Money(1100, "CNY")
    assert -a == Money(-1050, "CNY")
    assert b < a
    assert b <= a
    assert a <= Money(1050, "CNY")
    assert a > b
    assert a >= b
    assert not a.is_zero()
    assert (a - a).is_zero()
    assert Money(0, "USD").is_zero()


def test_money_is_a_frozen_value():
    a = Money(1, "CNY")
    assert a == Money(1, "CNY")
    assert a != Money(1, "USD")
    assert len({a, Money(1, "CNY")}) == 1
    with pytest.raises(AttributeError):
        a.amount = 2  # type: ignore[misc]


@pytest.mark.parametrize("operation", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a < b, lambda a, b: a <= b,
    lambda a, b: a > b, lambda a, b: a >= b,
])
def test_currencies_do_not_mix(operation):
    with pytest.raises(MoneyError, match="currency mismatch"):
        operation(Money(100, "CNY"), Money(100, "USD"))


@pytest.mark.parametrize("other", [1, 1.0, Decimal(1), None])
def test_money_does_not_combine_with_plain_numbers(other):
    with pytest.raises(MoneyError, match="cannot combine"):
        Money(100, "CNY") + other  # type: ignore[operator]
    with pytest.raises(MoneyError, match="cannot combine"):
        Money(100, "CNY") - other  # type: ignore[operator]
    with pytest.raises(MoneyError, match="cannot combine"):
        _ = Money(100, "CNY") < other  # type: ignore[operator]


def test_money_allocate_keeps_the_currency():
    parts = Money(1000, "CNY").allocate([1, 1, 1])
    assert parts == [Money(334, "CNY"), Money(333, "CNY"), Money(333, "CNY")]


# -- allocate ---------------------------------------------------------------------------


@pytest.mark.parametrize(("total", "weights", "expected"), [
    (100, [1], [100]),
    (100, [1, 1], [50, 50]),
    (1, [1, 1, 1], [1, 0, 0]),
    (2, [1, 1, 1], [1, 1, 0]),
    (5, [1, 1], [3, 2]),
    (100, [1, 2], [33, 67]),
    (10, [3, 3, 4], [3, 3, 4]),
    (11, [3, 3, 4], [3, 3, 5]),  # shares 3.3, 3.3, 4.4: the unit goes to the largest remainder
    (2, [1, 1, 2], [1, 0, 1]),  # shares 0.5, 0.5, 1: the tie goes to the earlier weight
    (0, [5, 7], [0, 0]),
    (7, [0, 1, 0], [0, 7, 0]),
    (-1, [1, 1, 1], [-1, 0, 0]),
    (-5, [1, 1], [-3, -2]),
    (-100, [1, 2], [-33, -67]),
    (1000, [70, 20, 10], [700, 200, 100]),  # 7:2:1 split of 10 元
])
def test_allocate_examples(total, weights, expected):
    assert allocate(total, weights) == expected


@pytest.mark.parametrize(("weights", "message"), [
    ([], "at least one weight"),
    ([0, 0], "must not all be zero"),
    ([1, -1], "non-negative integers"),
    ([1, 1.5], "non-negative integers"),
    ([True, 1], "non-negative integers"),
    ([1, Decimal(1)], "non-negative integers"),
])
def test_allocate_refuses_bad_weights(weights, message):
    with pytest.raises(MoneyError, match=message):
        allocate(100, weights)


@PROPERTIES
@given(totals, weight_lists)
def test_parts_sum_to_the_total(total, weights):
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total
    assert all(isinstance(p, int) for p in parts)


@PROPERTIES
@given(totals, weight_lists)
def test_each_part_is_within_one_of_its_exact_share(total, weights):
    weight_sum = sum(weights)
    for part, weight in zip(allocate(total, weights), weights, strict=True):
        exact = Fraction(total * weight, weight_sum)
        assert abs(part - exact) < 1
        # never rounded the wrong way: the part is the floor or the ceiling of its share
        assert part in (math.floor(exact), math.ceil(exact))


@PROPERTIES
@given(totals, weight_lists)
def test_zero_weight_gets_nothing(total, weights):
    for part, weight in zip(allocate(total, weights), weights, strict=True):
        if weight == 0:
            assert part == 0


@PROPERTIES
@given(st.integers(min_value=0, max_value=10**15), weight_lists)
def test_ties_go_to_the_earlier_weight(total, weights):
    parts = allocate(total, weights)
    assert allocate(total, list(weights)) == parts  # deterministic
    weight_sum = sum(weights)
    for i in range(len(weights)):
        for j in range(i + 1, len(weights)):
            if weights[i] == weights[j]:
                assert parts[i] - parts[j] in (0, 1), (i, j, parts)
            remainder_i = total * weights[i] % weight_sum
            remainder_j = total * weights[j] % weight_sum
            bumped_i = parts[i] > total * weights[i] // weight_sum
            bumped_j = parts[j] > total * weights[j] // weight_sum
            # a unit passes over a larger remainder, or an equal one that comes earlier, never
            if bumped_j and not bumped_i:
                assert remainder_j > remainder_i, (i, j, parts)


@PROPERTIES
@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=50),
       st.integers(min_value=1, max_value=10**6))
def test_equal_weights_split_as_evenly_as_possible(total, n, weight):
    parts = allocate(total, [weight] * n)
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)  # the extra units go to the first parts


@PROPERTIES
@given(totals, weight_lists)
def test_negative_totals_mirror_positive_ones(total, weights):
    assert allocate(-total, weights) == [-p for p in allocate(total, weights)]


@PROPERTIES
@given(totals, weight_lists, st.integers(min_value=1, max_value=1000))
def test_scaling_the_weights_changes_nothing(total, weights, factor):
    assert allocate(total, [w * factor for w in weights]) == allocate(total, weights)
