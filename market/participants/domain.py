"""Pure rules about participants: credit codes, roles, admission states."""

from __future__ import annotations

import random
from enum import StrEnum

from market.kernel.actor import Role

# GB 32100-2015 alphabet: digits and capitals without I, O, S, V, Z.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = [pow(3, i, 31) for i in range(17)]
# GB 11714 organisation code (positions 9-17 of the credit code).
_ORG_CODE_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


class Status(StrEnum):
    APPLIED = "applied"
    ADMITTED = "admitted"
    SUSPENDED = "suspended"
    EXITED = "exited"
    BLACKLISTED = "blacklisted"


TRADING_ROLES = frozenset({Role.MERCHANT, Role.BUYER})

# applied → admitted → suspended ⇄ admitted → exited; any (but blacklisted) → blacklisted.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.APPLIED: frozenset({Status.ADMITTED, Status.EXITED, Status.BLACKLISTED}),
    Status.ADMITTED: frozenset({Status.SUSPENDED, Status.EXITED, Status.BLACKLISTED}),
    Status.SUSPENDED: frozenset({Status.ADMITTED, Status.EXITED, Status.BLACKLISTED}),
    Status.EXITED: frozenset({Status.BLACKLISTED}),
    Status.BLACKLISTED: frozenset(),
}


def credit_code_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a credit code."""
    pairs = zip(first17, _CREDIT_WEIGHTS, strict=True)
    total = sum(CREDIT_CODE_ALPHABET.index(c) * w for c, w in pairs)
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """The GB 11714 check character for an 8-character organisation code body."""
    total = sum(int(c, 36) * w for c, w in zip(first8, _ORG_CODE_WEIGHTS, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def credit_code_problem(code: str) -> str | None:
    """Why ``code`` is not a valid unified social credit code, or None if it is."""
    if len(code) != 18:
        return "must be 18 characters"
    bad = sorted({c for c in code if c not in CREDIT_CODE_ALPHABET})
    if bad:
        return "contains characters outside the GB 32100 alphabet: " + "".join(bad)
    if not code[2:8].isdigit():
        return "positions 3-8 must be an administrative division code (digits)"
    if credit_code_check_char(code[:17]) != code[17]:
        return "check character does not match (GB 32100)"
    if org_code_check_char(code[8:16]) != code[16]:
        return "organisation code check character does not match (GB 11714)"
    return None


def is_valid_credit_code(code: str) -> bool:
    return credit_code_problem(code) is None


def roles_problem(roles: frozenset[str]) -> str | None:
    """Why a role set is not allowed, or None.

    The venue never trades (venue/merchant separation); regulators hold no other role.
    """
    if not roles:
        return "at least one role is required"
    unknown = roles - {r.value for r in Role}
    if unknown:
        return "unknown roles: " + ", ".join(sorted(unknown))
    if Role.OPERATOR in roles and roles & TRADING_ROLES:
        return "an operator organisation can never hold merchant or buyer roles"
    if Role.REGULATOR in roles and len(roles) > 1:
        return "a regulator organisation holds no other role"
    return None


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


def random_credit_code(rng: random.Random | None = None) -> str:
    """A random code passing the GB 32100 and GB 11714 checks (demos and tests)."""
    rng = rng or random.SystemRandom()
    org = "".join(rng.choice(CREDIT_CODE_ALPHABET) for _ in range(8))
    first17 = "91" + "".join(rng.choice("0123456789") for _ in range(6)) + org
    first17 += org_code_check_char(org)
    return first17 + credit_code_check_char(first17)
