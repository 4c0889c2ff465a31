"""Revenue split (收益分配): the rule, its derivation from a right chain, split and reverse."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.kernel.errors import InvalidInput
from market.kernel.money import allocate
from market.settlement.split import (
    HOUSE_ROLES,
    PLATFORM_ORG_ID,
    Allocation,
    DistributionRule,
    Share,
    ShareRole,
    reverse,
    rule_from_chain,
    split,
)

PROPERTIES = settings(database=None, deadline=None, max_examples=200)

H, P, M, B, F = (ShareRole.RESOURCE_HOLDER, ShareRole.PROCESSOR, ShareRole.MERCHANT,
                 ShareRole.BROKER, ShareRole.PLATFORM)


def rule(*shares: tuple[ShareRole, str, int], fee: int = 0) -> DistributionRule:
    return DistributionRule(tuple(Share(*s) for s in shares), platform_fee_bps=fee)


def lines(allocations: list[Allocation]) -> list[tuple[str, str, int]]:
    return [(a.role.value, a.org_id, a.amount) for a in allocations]


def errors_of(excinfo: pytest.ExceptionInfo[InvalidInput]) -> dict[str, list[str]]:
    return excinfo.value.errors


# -- split: examples --------------------------------------------------------------------


def test_a_hundred_yuan_sale_with_a_one_percent_fee():
    sale = rule((H, "org_h", 1000), (P, "org_p", 1000), (M, "org_m", 8000), fee=100)
    assert lines(split(10_000, sale)) == [
        ("platform", PLATFORM_ORG_ID, 100),
        ("resource_holder", "org_h", 990),
        ("processor", "org_p", 990),
        ("merchant", "org_m", 7920),
    ]


def test_a_single_cent_goes_to_the_largest_exact_share():
    sale = rule((H, "org_h", 1000), (P, "org_p", 1000), (M, "org_m", 8000), fee=100)
    assert [a.amount for a in split(1, sale)] == [0, 0, 0, 1]


def test_rounding_leftovers_go_to_the_largest_remainders():
    sale = rule((H, "a", 3333), (H, "b", 3333), (M, "m", 3334))
    # exact shares 0.9999, 0.9999, 1.0002: the floor gives 0, 0, 1 and two cents are left.
    assert [a.amount for a in split(3, sale)] == [0, 1, 1, 1]


def test_ties_go_to_the_canonical_order_not_the_given_order():
    given_b_first = rule((H, "b", 5000), (H, "a", 5000))
    assert lines(split(1, given_b_first)) == [
        ("platform", PLATFORM_ORG_ID, 0),
        ("resource_holder", "a", 1),
        ("resource_holder", "b", 0),
    ]


def test_lines_are_in_canonical_order_platform_first():
    sale = rule((B, "x", 1000), (M, "b", 4000), (P, "z", 1000), (H, "y", 2000), (M, "a", 2000),
                fee=50)
    assert [(a.role, a.org_id) for a in split(10_000, sale)] == [
        (F, PLATFORM_ORG_ID), (H, "y"), (P, "z"), (M, "a"), (M, "b"), (B, "x"),
    ]


def test_zero_lines_are_kept():
    sale = rule((H, "h", 0), (M, "m", 10_000), fee=0)
    assert lines(split(500, sale)) == [
        ("platform", PLATFORM_ORG_ID, 0), ("resource_holder", "h", 0), ("merchant", "m", 500),
    ]


def test_a_full_fee_leaves_nothing_to_share():
    sale = rule((M, "m", 10_000), fee=10_000)
    assert lines(split(777, sale)) == [("platform", PLATFORM_ORG_ID, 777), ("merchant", "m", 0)]


def test_a_zero_sale_splits_into_zeros():
    sale = rule((H, "h", 5000), (M, "m", 5000), fee=100)
    assert [a.amount for a in split(0, sale)] == [0, 0, 0]


@pytest.mark.parametrize("amount", [-1, 1.0, True, "100", None])
def test_split_refuses_anything_but_a_non_negative_int(amount):
    with pytest.raises(InvalidInput) as excinfo:
        split(amount, rule((M, "m", 10_000)))
    assert "amount" in errors_of(excinfo)


# -- DistributionRule: validation and storage -------------------------------------------


@pytest.mark.parametrize(("shares", "fee", "field"), [
    ((), 0, "shares"),
    (((M, "m", 9999),), 0, "shares"),
    (((M, "m", 10_001),), 0, "shares"),
    (((H, "h", -1), (M, "m", 10_001)), 0, "shares.0.bps"),
    (((H, "h", 0.5), (M, "m", 9999.5)), 0, "shares.0.bps"),
    (((M, "m", True), (H, "h", 9999)), 0, "shares.0.bps"),
    (((M, "m", 10_000),), -1, "platform_fee_bps"),
    (((M, "m", 10_000),), 10_001, "platform_fee_bps"),
    (((M, "m", 10_000),), 1.5, "platform_fee_bps"),
    (((M, "m", 5000), (M, "m", 5000)), 0, "shares.1.org_id"),
    (((F, "platform", 100), (M, "m", 9900)), 0, "shares.0.role"),
    ((("merchant", "m", 10_000),), 0, "shares.0.role"),
    (((M, "", 10_000),), 0, "shares.0.org_id"),
])
def test_invalid_rules_are_refused(shares, fee, field):
    with pytest.raises(InvalidInput) as excinfo:
        DistributionRule(tuple(Share(*s) for s in shares), platform_fee_bps=fee)
    assert field in errors_of(excinfo)


def test_every_problem_is_named_at_once():
    with pytest.raises(InvalidInput) as excinfo:
        rule((F, "platform", 100), (M, "m", -1), (M, "m", 1), fee=20_000)
    assert set(errors_of(excinfo)) == {
        "platform_fee_bps", "shares.0.role", "shares.1.bps", "shares.2.org_id",
    }


def test_one_org_may_hold_two_roles():
    both = rule((H, "m", 2000), (M, "m", 8000))
    assert [(s.role, s.org_id) for s in both.shares] == [(H, "m"), (M, "m")]


def test_rules_keep_shares_in_canonical_order():
    one = rule((M, "m", 8000), (H, "b", 1000), (H, "a", 1000), fee=100)
    other = rule((H, "a", 1000), (M, "m", 8000), (H, "b", 1000), fee=100)
    assert one == other
    assert [s.org_id for s in one.shares] == ["a", "b", "m"]


def test_a_rule_round_trips_through_json():
    sale = rule((H, "org_h", 1000), (P, "org_p", 1000), (M, "org_m", 8000), fee=100)
    stored = json.loads(json.dumps(sale.as_dict()))
    assert stored == {"platform_fee_bps": 100, "shares": [
        {"role": "resource_holder", "org_id": "org_h", "bps": 1000},
        {"role": "processor", "org_id": "org_p", "bps": 1000},
        {"role": "merchant", "org_id": "org_m", "bps": 8000},
    ]}
    assert DistributionRule.from_dict(stored) == sale


@pytest.mark.parametrize(("data", "field"), [
    ({"platform_fee_bps": 0}, "shares"),
    ({"platform_fee_bps": 0, "shares": {"role": "merchant"}}, "shares"),
    ({"platform_fee_bps": 0, "shares": ["merchant"]}, "shares.0"),
    ({"platform_fee_bps": 0, "shares": [{"role": "seller", "org_id": "m", "bps": 10_000}]},
     "shares.0.role"),
    ({"platform_fee_bps": 0, "shares": [{"role": "merchant", "org_id": "m"}]}, "shares.0.bps"),
    ({"platform_fee_bps": 0, "shares": [{"role": "merchant", "bps": 10_000}]}, "shares.0.org_id"),
    ({"shares": [{"role": "merchant", "org_id": "m", "bps": 10_000}]}, "platform_fee_bps"),
    ({"platform_fee_bps": "100", "shares": [{"role": "merchant", "org_id": "m", "bps": 10_000}]},
     "platform_fee_bps"),
])
def test_malformed_stored_rules_are_refused(data, field):
    with pytest.raises(InvalidInput) as excinfo:
        DistributionRule.from_dict(data)
    assert field in errors_of(excinfo)


# -- rule_from_chain ----------------------------------------------------------------------


def chain_rule(links, **kwargs) -> list[tuple[str, str, int]]:
    options = {"merchant_org_id": "m", "holder_bps": 2000, "processor_bps": 1000,
               "platform_fee_bps": 100} | kwargs
    derived = rule_from_chain(links, **options)
    assert derived.platform_fee_bps == options["platform_fee_bps"]
    return [(s.role.value, s.org_id, s.bps) for s in derived.shares]


def test_two_holders_share_the_holder_part_equally():
    links = [("resource_holding", "h2"), ("resource_holding", "h1"), ("processing_use", "p"),
             ("product_operation", "m")]
    assert chain_rule(links, holder_bps=1001) == [
        ("resource_holder", "h1", 501), ("resource_holder", "h2", 500),
        ("processor", "p", 1000), ("merchant", "m", 7999),
    ]


def test_a_holder_named_twice_is_one_holder():
    links = [("resource_holding", "h"), ("resource_holding", "h"), ("processing_use", "p")]
    assert chain_rule(links) == [
        ("resource_holder", "h", 2000), ("processor", "p", 1000), ("merchant", "m", 7000),
    ]


def test_a_holder_who_is_also_the_merchant_gets_two_lines():
    links = [("resource_holding", "m"), ("product_operation", "m")]
    assert chain_rule(links) == [("resource_holder", "m", 2000), ("merchant", "m", 8000)]


def test_without_a_processor_the_processor_part_goes_to_the_merchant():
    links = [("resource_holding", "h"), ("product_operation", "m")]
    assert chain_rule(links) == [("resource_holder", "h", 2000), ("merchant", "m", 8000)]


def test_without_holders_or_processors_the_merchant_takes_everything():
    assert chain_rule([("product_operation", "m")]) == [("merchant", "m", 10_000)]
    assert chain_rule([]) == [("merchant", "m", 10_000)]


def test_processors_share_equally_and_zero_lines_are_dropped():
    links = [("processing_use", "p3"), ("processing_use", "p1"), ("processing_use", "p2")]
    assert chain_rule(links, holder_bps=0, processor_bps=2) == [
        ("processor", "p1", 1), ("processor", "p2", 1), ("merchant", "m", 9998),
    ]


def test_a_merchant_left_with_nothing_has_no_line():
    links = [("resource_holding", "h"), ("processing_use", "p")]
    assert chain_rule(links, holder_bps=6000, processor_bps=4000) == [
        ("resource_holder", "h", 6000), ("processor", "p", 4000),
    ]


@pytest.mark.parametrize(("links", "kwargs", "field"), [
    ([("ownership", "h")], {}, "links.0.kind"),
    ([("resource_holding", "")], {}, "links.0.org_id"),
    ([], {"holder_bps": 6000, "processor_bps": 5000}, "processor_bps"),
    ([], {"holder_bps": -1}, "holder_bps"),
    ([], {"processor_bps": 10_001}, "processor_bps"),
    ([], {"holder_bps": 1.5}, "holder_bps"),
    ([], {"merchant_org_id": ""}, "merchant_org_id"),
    ([], {"platform_fee_bps": 10_001}, "platform_fee_bps"),
])
def test_rule_from_chain_refuses_bad_input(links, kwargs, field):
    with pytest.raises(InvalidInput) as excinfo:
        chain_rule(links, **kwargs)
    assert field in errors_of(excinfo)


# -- reverse: examples --------------------------------------------------------------------


def test_a_full_refund_returns_everything():
    paid = split(10_000, rule((H, "h", 1000), (P, "p", 1000), (M, "m", 8000), fee=100))
    assert reverse(10_000, paid) == paid


def test_a_partial_refund_is_taken_in_proportion():
    paid = split(10_000, rule((H, "h", 1000), (P, "p", 1000), (M, "m", 8000), fee=100))
    assert [a.amount for a in reverse(5000, paid)] == [50, 495, 495, 3960]


def test_a_refund_never_touches_an_empty_line():
    held = [Allocation(F, PLATFORM_ORG_ID, 0), Allocation(H, "h", 1), Allocation(M, "m", 2)]
    assert [a.amount for a in reverse(2, held)] == [0, 1, 1]
    assert [a.amount for a in reverse(0, held)] == [0, 0, 0]


def test_reverse_answers_in_canonical_order():
    held = [Allocation(M, "m", 10), Allocation(F, PLATFORM_ORG_ID, 10), Allocation(H, "h", 10)]
    assert [(a.role, a.org_id, a.amount) for a in reverse(1, held)] == [
        (F, PLATFORM_ORG_ID, 1), (H, "h", 0), (M, "m", 0),
    ]


def test_nothing_to_refund_from_nothing():
    assert reverse(0, []) == []
    assert [a.amount for a in reverse(0, [Allocation(M, "m", 0)])] == [0]


@pytest.mark.parametrize(("refund", "held", "field"), [
    (11, [Allocation(M, "m", 10)], "refund"),
    (1, [], "refund"),
    (-1, [Allocation(M, "m", 10)], "refund"),
    (1.0, [Allocation(M, "m", 10)], "refund"),
    (1, [Allocation(M, "m", -1), Allocation(H, "h", 5)], "remaining.0.amount"),
    (1, [Allocation(M, "m", 5), Allocation(M, "m", 5)], "remaining.1"),
])
def test_reverse_refuses_bad_input(refund, held, field):
    with pytest.raises(InvalidInput) as excinfo:
        reverse(refund, held)
    assert field in errors_of(excinfo)


# -- properties ---------------------------------------------------------------------------

SHARE_ROLES = [role for role in ShareRole if role not in HOUSE_ROLES]
ORGS = ["org_a", "org_b", "org_c", "org_d", "m"]
amounts = st.integers(min_value=0, max_value=10**12)


@st.composite
def rules(draw: st.DrawFn) -> DistributionRule:
    keys = draw(st.lists(st.tuples(st.sampled_from(SHARE_ROLES), st.sampled_from(ORGS)),
                         min_size=1, max_size=8, unique=True))
    raw = draw(st.lists(st.integers(min_value=0, max_value=1000),
                        min_size=len(keys), max_size=len(keys)))
    if sum(raw) == 0:
        raw[0] = 1
    bps = allocate(10_000, raw)
    fee = draw(st.integers(min_value=0, max_value=10_000) | st.sampled_from([0, 100, 10_000]))
    return DistributionRule(
        tuple(Share(role, org, b) for (role, org), b in zip(keys, bps, strict=True)), fee)


def weights_of(sale: DistributionRule) -> list[int]:
    fee = sale.platform_fee_bps
    return [fee * 10_000] + [(10_000 - fee) * s.bps for s in sale.shares]


@PROPERTIES
@given(amount=amounts, sale=rules())
def test_parts_sum_exactly_to_the_amount(amount, sale):
    parts = split(amount, sale)
    assert sum(a.amount for a in parts) == amount
    assert all(a.amount >= 0 for a in parts)
    assert len(parts) == len(sale.shares) + 1
    assert parts[0].role is ShareRole.PLATFORM


@PROPERTIES
@given(amount=amounts, sale=rules())
def test_each_line_is_within_one_unit_of_its_exact_share(amount, sale):
    weights = weights_of(sale)
    for line, weight in zip(split(amount, sale), weights, strict=True):
        exact = Fraction(amount * weight, sum(weights))
        assert abs(line.amount - exact) < 1


@PROPERTIES
@given(amount=amounts, sale=rules(), data=st.data())
def test_the_order_of_the_shares_does_not_matter(amount, sale, data):
    shuffled = data.draw(st.permutations(sale.shares))
    again = DistributionRule(tuple(shuffled), sale.platform_fee_bps)
    assert split(amount, again) == split(amount, sale)


@PROPERTIES
@given(sale=rules())
def test_rules_survive_storage(sale):
    assert DistributionRule.from_dict(json.loads(json.dumps(sale.as_dict()))) == sale


@st.composite
def holdings(draw: st.DrawFn) -> list[Allocation]:
    keys = draw(st.lists(st.tuples(st.sampled_from(list(ShareRole)), st.sampled_from(ORGS)),
                         min_size=1, max_size=8, unique=True))
    held = draw(st.lists(st.integers(min_value=0, max_value=10**9) | st.just(0),
                         min_size=len(keys), max_size=len(keys)))
    return [Allocation(role, org, amount) for (role, org), amount in zip(keys, held, strict=True)]


@PROPERTIES
@given(held=holdings(), data=st.data())
def test_reverse_never_exceeds_what_a_line_holds(held, data):
    total = sum(a.amount for a in held)
    refund = data.draw(st.integers(min_value=0, max_value=total), label="refund")
    back = reverse(refund, held)
    assert sum(a.amount for a in back) == refund
    holding = {(a.role, a.org_id): a.amount for a in held}
    assert sorted(holding) == sorted((a.role, a.org_id) for a in back)
    for line in back:
        assert 0 <= line.amount <= holding[line.role, line.org_id]
    shuffled = data.draw(st.permutations(held), label="shuffled")
    assert reverse(refund, shuffled) == back


@PROPERTIES
@given(amount=st.integers(min_value=0, max_value=10**9), sale=rules(), data=st.data())
def test_partial_refunds_until_nothing_is_left_never_go_negative(amount, sale, data):
    held = split(amount, sale)
    for step in range(12):
        total = sum(a.amount for a in held)
        if total == 0:
            break
        refund = total if step == 11 else data.draw(st.integers(min_value=1, max_value=total))
        back = {(a.role, a.org_id): a.amount for a in reverse(refund, held)}
        held = [Allocation(a.role, a.org_id, a.amount - back[a.role, a.org_id]) for a in held]
        assert all(a.amount >= 0 for a in held)
        assert sum(a.amount for a in held) == total - refund
    assert all(a.amount == 0 for a in held)
