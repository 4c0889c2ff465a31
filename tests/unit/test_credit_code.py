"""Unified social credit codes (统一社会信用代码): GB 32100-2015 and the GB 11714 org code.

The domain functions expect upper case; the API upper-cases what clients send before calling
them.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.participants.domain import (
    CREDIT_CODE_ALPHABET,
    credit_code_check_char,
    credit_code_problem,
    is_valid_credit_code,
    org_code_check_char,
    random_credit_code,
)

# Published codes of real enterprises (and the example used in the API documentation).
REAL = [
    "91350100M000100Y43",
    "91110000802100433B",
    "914403001922038216",
    "9144030071526726XG",
    "91330100716105852F",
]
FORBIDDEN_LETTERS = "IOSVZ"
PROPERTIES = settings(database=None, deadline=None, max_examples=300)


def with_checks(first16: str) -> str:
    """Complete 16 characters with a correct GB 11714 and then GB 32100 check character."""
    first17 = first16 + org_code_check_char(first16[8:16])
    return first17 + credit_code_check_char(first17)


@pytest.mark.parametrize("code", REAL)
def test_real_world_codes_are_valid(code):
    assert credit_code_problem(code) is None
    assert is_valid_credit_code(code)


def test_alphabet_is_gb_32100():
    assert len(CREDIT_CODE_ALPHABET) == 31
    assert len(set(CREDIT_CODE_ALPHABET)) == 31
    assert not set(FORBIDDEN_LETTERS) & set(CREDIT_CODE_ALPHABET)
    assert set("0123456789") <= set(CREDIT_CODE_ALPHABET)


def test_check_characters_of_a_known_code():
    code = "91350100M000100Y43"
    assert org_code_check_char(code[8:16]) == code[16]
    assert credit_code_check_char(code[:17]) == code[17]


@pytest.mark.parametrize(("body", "check"), [
    ("D2143569", "X"),  # the GB 11714 standard's own example: D2143569-X
    ("80210043", "3"),
    ("00000000", "0"),  # 11 - 0 = 11 → "0"
])
def test_organisation_code_check_character(body, check):
    assert org_code_check_char(body) == check


@pytest.mark.parametrize("code", ["", "9135010", "91350100M000100Y4", "91350100M000100Y433",
                                  "91350100M000100Y43 "])
def test_wrong_length_is_refused(code):
    assert credit_code_problem(code) == "must be 18 characters"


def test_lower_case_is_refused_by_the_domain_and_fine_once_upper_cased():
    lower = "91350100m000100y43"
    problem = credit_code_problem(lower)
    assert problem is not None
    assert problem.startswith("contains characters outside the GB 32100 alphabet")
    assert "m" in problem
    assert "y" in problem
    assert is_valid_credit_code(lower.upper())


@pytest.mark.parametrize("letter", FORBIDDEN_LETTERS)
def test_forbidden_letters_are_refused(letter):
    code = "91350100M000100Y43"
    bad = code[:8] + letter + code[9:]
    assert credit_code_problem(bad) == (
        f"contains characters outside the GB 32100 alphabet: {letter}")


def test_forbidden_letters_are_refused_even_with_a_matching_organisation_check():
    # int("S", 36) works, so GB 11714 alone would accept an S; the alphabet check does not
    body = "0000000S"
    code = "91350100" + body + org_code_check_char(body) + "0"
    assert credit_code_problem(code) == "contains characters outside the GB 32100 alphabet: S"


def test_bad_gb_32100_check_character_is_refused():
    code = "91350100M000100Y43"
    for replacement in CREDIT_CODE_ALPHABET.replace("3", ""):
        assert credit_code_problem(code[:17] + replacement) == (
            "check character does not match (GB 32100)")


def test_bad_gb_11714_check_character_is_refused():
    code = "91350100M000100Y43"
    for replacement in CREDIT_CODE_ALPHABET.replace("4", ""):
        first17 = code[:16] + replacement
        bad = first17 + credit_code_check_char(first17)  # the GB 32100 check still holds
        assert credit_code_problem(bad) == (
            "organisation code check character does not match (GB 11714)")


@pytest.mark.parametrize("division", ["35010A", "X50100", "3501Y0"])
def test_non_digit_division_code_is_refused(division):
    code = with_checks("91" + division + "M000100Y")
    assert credit_code_problem(code) == (
        "positions 3-8 must be an administrative division code (digits)")


@pytest.mark.parametrize("code", REAL)
def test_every_single_substitution_of_a_real_code_is_detected(code):
    for position in range(18):
        for replacement in CREDIT_CODE_ALPHABET:
            if replacement != code[position]:
                changed = code[:position] + replacement + code[position + 1:]
                assert not is_valid_credit_code(changed), changed


@PROPERTIES
@given(st.randoms(use_true_random=False))
def test_random_credit_code_is_always_valid(rng):
    code = random_credit_code(rng)
    assert len(code) == 18
    assert credit_code_problem(code) is None


def test_random_credit_code_without_a_generator():
    assert is_valid_credit_code(random_credit_code())


def test_random_credit_code_is_reproducible_with_a_seed():
    assert random_credit_code(random.Random(7)) == random_credit_code(random.Random(7))


@PROPERTIES
@given(st.randoms(use_true_random=False), st.integers(0, 17),
       st.sampled_from(CREDIT_CODE_ALPHABET + FORBIDDEN_LETTERS + "abcz-* "))
def test_any_single_character_change_is_detected(rng, position, replacement):
    code = random_credit_code(rng)
    if replacement == code[position]:
        replacement = CREDIT_CODE_ALPHABET[(CREDIT_CODE_ALPHABET.index(replacement) + 1) % 31]
    changed = code[:position] + replacement + code[position + 1:]
    assert credit_code_problem(changed) is not None


@PROPERTIES
@given(st.randoms(use_true_random=False), st.integers(0, 16))
def test_swapping_two_different_neighbours_is_detected(rng, position):
    code = random_credit_code(rng)
    a, b = code[position], code[position + 1]
    if a == b:
        return
    swapped = code[:position] + b + a + code[position + 2:]
    assert not is_valid_credit_code(swapped)
