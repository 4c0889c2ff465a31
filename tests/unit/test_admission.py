"""The admission (准入) state machine and the role rules, without a database.

The expected tables are written out by hand from the product rules, not derived from
``TRANSITIONS``: applied → admitted → suspended ⇄ admitted → exited, any state but
blacklisted → blacklisted, and nothing ever returns to applied.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import combinations

import pytest

from market.kernel.actor import Role
from market.kernel.errors import Conflict, InvalidTransition
from market.participants.domain import TRANSITIONS, Status, can_transition, roles_problem
from market.participants.models import Organisation

A, AD, SU, EX, BL = "applied", "admitted", "suspended", "exited", "blacklisted"
ALLOWED = {
    (A, AD), (A, EX), (A, BL),
    (AD, SU), (AD, EX), (AD, BL),
    (SU, AD), (SU, EX), (SU, BL),
    (EX, BL),
}
ALL_PAIRS = [(current, target) for current in Status for target in Status]
AT = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def org(status: str) -> Organisation:
    return Organisation(
        id="org_test", name="测试机构", credit_code="91350100M000100Y43",
        contact_name="张三", contact_email="zhang@example.cn", status=status,
        status_reason=None, created_at=AT, updated_at=AT,
    )


def test_every_status_has_a_row():
    assert set(TRANSITIONS) == set(Status)
    assert {s.value for s in Status} == {A, AD, SU, EX, BL}
    assert len(ALL_PAIRS) == 25


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transition(current, target):
    assert can_transition(Status(current), Status(target))


@pytest.mark.parametrize(
    ("current", "target"),
    [(c.value, t.value) for c, t in ALL_PAIRS if (c.value, t.value) not in ALLOWED],
)
def test_forbidden_transition(current, target):
    assert not can_transition(Status(current), Status(target))


def test_tables_agree():
    assert {(c.value, t.value) for c, targets in TRANSITIONS.items() for t in targets} == ALLOWED


def test_nothing_returns_to_applied_and_blacklisted_is_final():
    assert not any(can_transition(s, Status.APPLIED) for s in Status)
    assert not any(can_transition(Status.BLACKLISTED, s) for s in Status)
    assert all(can_transition(s, Status.BLACKLISTED) for s in Status if s is not Status.BLACKLISTED)
    assert not any(can_transition(s, s) for s in Status)


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_organisation_moves_along_an_allowed_transition(current, target):
    o = org(current)
    later = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    previous = o.change_status(Status(target), reason="材料齐全", at=later)
    assert previous == current
    assert o.status == target
    assert o.status_reason == "材料齐全"
    assert o.updated_at == later


@pytest.mark.parametrize(
    ("current", "target"),
    [(c.value, t.value) for c, t in ALL_PAIRS if (c.value, t.value) not in ALLOWED],
)
def test_organisation_refuses_a_forbidden_transition(current, target):
    o = org(current)
    with pytest.raises(InvalidTransition) as caught:
        o.change_status(Status(target), reason="不应生效", at=datetime(2027, 1, 1, tzinfo=UTC))
    error = caught.value
    assert isinstance(error, Conflict)
    assert (error.status, error.code) == (409, "invalid_transition")
    assert error.params == {"current": current, "target": target}
    assert error.rendered_detail() == f"Cannot go from {current} to {target}"
    # nothing changed
    assert (o.status, o.status_reason, o.updated_at) == (current, None, AT)


def test_a_whole_life():
    o = org(A)
    path = [AD, SU, AD, SU, EX, BL]
    for step in path:
        o.change_status(Status(step), reason=step, at=AT)
    assert o.status == BL
    for target in Status:
        with pytest.raises(InvalidTransition):
            o.change_status(target, reason="again", at=AT)


# -- roles ------------------------------------------------------------------------------


@pytest.mark.parametrize("roles", [
    {"merchant", "buyer"}, {"merchant"}, {"buyer"}, {"assessor"}, {"broker"},
    {"operator"}, {"regulator"}, {"merchant", "buyer", "assessor", "broker"},
])
def test_allowed_role_sets(roles):
    assert roles_problem(frozenset(roles)) is None


@pytest.mark.parametrize(("roles", "reason"), [
    ({"operator", "merchant"}, "an operator organisation can never hold merchant or buyer roles"),
    ({"operator", "buyer"}, "an operator organisation can never hold merchant or buyer roles"),
    ({"operator", "merchant", "buyer"},
     "an operator organisation can never hold merchant or buyer roles"),
    (set(), "at least one role is required"),
    ({"trader"}, "unknown roles: trader"),
    ({"buyer", "Merchant", "seller"}, "unknown roles: Merchant, seller"),
    ({"regulator", "buyer"}, "a regulator organisation holds no other role"),
    ({"regulator", "assessor"}, "a regulator organisation holds no other role"),
])
def test_refused_role_sets(roles, reason):
    assert roles_problem(frozenset(roles)) == reason


@pytest.mark.parametrize("other", [r.value for r in Role if r is not Role.REGULATOR])
def test_a_regulator_holds_only_that_role(other):
    assert roles_problem(frozenset({"regulator"})) is None
    assert roles_problem(frozenset({"regulator", other})) is not None


def test_every_pair_of_roles():
    """venue/merchant separation: the operator never trades; the regulator stands alone."""
    unspecified = {frozenset({"operator", "assessor"}), frozenset({"operator", "broker"})}
    for a, b in combinations([r.value for r in Role], 2):
        pair = frozenset({a, b})
        if pair in unspecified:  # allowed today; the rules above do not decide them
            continue
        refused = ("operator" in pair and pair & {"merchant", "buyer"}) or "regulator" in pair
        assert (roles_problem(pair) is not None) == bool(refused), pair
