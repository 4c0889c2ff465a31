"""The pure rules of the three separated data rights: automatic refusals, the state machine,
scopes and terms.

Every rule in ``REFUSALS`` is exercised on a crafted good application (nothing refused) and
on a bad one that differs from it in one fact; the bad one must be refused by exactly the
expected codes, so a test also shows that no other rule fires by accident.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.kernel.errors import InvalidTransition
from market.rights import domain
from market.rights.domain import (
    LIVE,
    PENDING,
    REFUSALS,
    TRANSITIONS,
    Application,
    Classification,
    EvidenceKind,
    GrantFacts,
    PILevel,
    ResourceFacts,
    RightFacts,
    RightKind,
    RightStatus,
    Rule,
    Scope,
    Term,
    Territory,
    Violation,
    can_transition,
    refusals,
)
from market.rights.models import Right

T0 = datetime(2026, 1, 1, tzinfo=UTC)
AT = T0 + timedelta(days=10)
DAY = timedelta(days=1)
YEAR = timedelta(days=365)

HOLDER, OTHER, THIRD = "org_holder", "org_other", "org_third"
R1, R2 = "res_1", "res_2"

WIDE = Scope(frozenset({"analytics", "marketing", "risk"}), frozenset({"finance", "retail"}),
             Territory.CROSS_BORDER)
NARROW = Scope(frozenset({"analytics"}), frozenset({"finance"}), Territory.DOMESTIC)
PARENT_TERM = Term(T0, T0 + YEAR)
CHILD_TERM = Term(T0, T0 + YEAR / 2)

SOURCE = frozenset({EvidenceKind.SOURCE_LEGALITY})
CONSENT = frozenset({EvidenceKind.CONSENT})
ANONYMISATION = frozenset({EvidenceKind.ANONYMISATION})
NONE: frozenset[EvidenceKind] = frozenset()

# No example database: the checkout stays clean, and every run draws afresh.
PROPERTIES = settings(database=None, deadline=None)


def resource(rid: str = R1, holder: str = HOLDER, *,
             classification: Classification = Classification.GENERAL,
             pi: PILevel = PILevel.NONE, evidence: frozenset[EvidenceKind] = SOURCE,
             disputed: bool = False) -> ResourceFacts:
    return ResourceFacts(rid, holder, classification, pi, evidence, disputed)


def right(rid: str, kind: RightKind = RightKind.RESOURCE_HOLDING, *, holder: str = HOLDER,
          resource_id: str | None = R1, status: RightStatus = RightStatus.REGISTERED,
          scope: Scope = WIDE, term: Term = PARENT_TERM) -> RightFacts:
    return RightFacts(rid, kind, status, holder, resource_id, scope, term)


def grant(*, holding: str = "rgt_h1", grantor: str = HOLDER, grantee: str = OTHER,
          active: bool = True, scope: Scope = WIDE, term: Term = PARENT_TERM,
          evidence: frozenset[EvidenceKind] = NONE) -> GrantFacts:
    return GrantFacts("gnt_1", holding, grantor, grantee, R1, active, scope, term, evidence)


H1 = right("rgt_h1")  # the holder's resource holding right over R1
H2 = right("rgt_h2", resource_id=R2)  # the holder's resource holding right over R2

# A resource holding right over the holder's own resource, with source-legality evidence.
GOOD_HOLDING = Application(
    kind=RightKind.RESOURCE_HOLDING, holder_org_id=HOLDER, scope=WIDE, term=PARENT_TERM,
    resources=[resource()], parents=[], missing_parents=[], grant=None, evidence=NONE, at=AT,
)
# The holder processes its own resource: no grant needed.
GOOD_OWN_USE = Application(
    kind=RightKind.PROCESSING_USE, holder_org_id=HOLDER, scope=NARROW, term=CHILD_TERM,
    resources=[resource()], parents=[H1], missing_parents=[], grant=None, evidence=NONE, at=AT,
)
# Another organisation processes the resource under a grant of the holding right.
GOOD_GRANTED_USE = replace(GOOD_OWN_USE, holder_org_id=OTHER, grant=grant())
P1 = right("rgt_p1", RightKind.PROCESSING_USE, scope=NARROW, term=CHILD_TERM)
# A product derived from two resources: one through processing use, one held directly.
GOOD_PRODUCT = Application(
    kind=RightKind.PRODUCT_OPERATION, holder_org_id=HOLDER, scope=NARROW,
    term=Term(T0, T0 + YEAR / 4), resources=[resource(), resource(R2)], parents=[P1, H2],
    missing_parents=[], grant=None, evidence=NONE, at=AT,
)


def codes(violations: list[Violation]) -> list[str]:
    return [v.code for v in violations]


@dataclass(frozen=True)
class Case:
    name: str
    rule: Rule
    good: Application
    bad: Application
    expected: tuple[str, ...]  # every code refusals(bad) returns, in order
    right_id: str | None = None  # the link the rule's violation names, if any

    def __str__(self) -> str:
        return self.name


R = domain  # rules by name, for a readable table

CASES = [
    # -- terms ------------------------------------------------------------------------------
    Case("term ending when it starts", R.terms_must_be_well_formed, GOOD_HOLDING,
         replace(GOOD_HOLDING, term=Term(T0, T0)), ("term_invalid",)),
    Case("term ending before it starts", R.terms_must_be_well_formed,
         replace(GOOD_HOLDING, term=Term(T0, None)),
         replace(GOOD_HOLDING, term=Term(T0, T0 - DAY)), ("term_invalid",)),
    # -- core data --------------------------------------------------------------------------
    Case("core data", R.core_data_is_never_registered,
         replace(GOOD_HOLDING, resources=[resource(classification=Classification.IMPORTANT)]),
         replace(GOOD_HOLDING, resources=[resource(classification=Classification.CORE)]),
         ("core_data",)),
    Case("product deriving from core data", R.core_data_is_never_registered, GOOD_PRODUCT,
         replace(GOOD_PRODUCT, resources=[resource(),
                                          resource(R2, classification=Classification.CORE)]),
         ("core_data",)),
    # -- disputes ---------------------------------------------------------------------------
    Case("open dispute", R.disputed_subjects_wait_for_resolution, GOOD_HOLDING,
         replace(GOOD_HOLDING, resources=[resource(disputed=True)]), ("subject_disputed",)),
    Case("product deriving from a disputed resource", R.disputed_subjects_wait_for_resolution,
         GOOD_PRODUCT, replace(GOOD_PRODUCT, resources=[resource(), resource(R2, disputed=True)]),
         ("subject_disputed",)),
    # -- personal information ---------------------------------------------------------------
    Case("personal data without consent", R.personal_information_needs_a_lawful_basis,
         replace(GOOD_HOLDING, resources=[resource(pi=PILevel.PERSONAL,
                                                   evidence=SOURCE | CONSENT)]),
         replace(GOOD_HOLDING, resources=[resource(pi=PILevel.PERSONAL)]),
         ("personal_data_without_basis",)),
    Case("personal data with only anonymisation evidence",
         R.personal_information_needs_a_lawful_basis,
         replace(GOOD_HOLDING, resources=[resource(pi=PILevel.PERSONAL)], evidence=CONSENT),
         replace(GOOD_HOLDING, resources=[resource(pi=PILevel.PERSONAL,
                                                   evidence=SOURCE | ANONYMISATION)]),
         ("personal_data_without_basis",)),
    Case("sensitive personal data without consent", R.personal_information_needs_a_lawful_basis,
         replace(GOOD_HOLDING, resources=[resource(pi=PILevel.SENSITIVE_PERSONAL)],
                 evidence=CONSENT),
         replace(GOOD_HOLDING, resources=[resource(pi=PILevel.SENSITIVE_PERSONAL)]),
         ("personal_data_without_basis",)),
    Case("personal data processed with consent on the grant only",
         R.personal_information_needs_a_lawful_basis,
         replace(GOOD_GRANTED_USE, resources=[resource(pi=PILevel.PERSONAL)],
                 grant=grant(evidence=CONSENT)),
         replace(GOOD_GRANTED_USE, resources=[resource(pi=PILevel.PERSONAL)]),
         ("personal_data_without_basis",)),
    Case("anonymised data without evidence", R.personal_information_needs_a_lawful_basis,
         replace(GOOD_HOLDING, resources=[resource(pi=PILevel.ANONYMISED,
                                                   evidence=SOURCE | ANONYMISATION)]),
         replace(GOOD_HOLDING, resources=[resource(pi=PILevel.ANONYMISED)]),
         ("personal_data_without_basis",)),
    Case("anonymised data with consent instead", R.personal_information_needs_a_lawful_basis,
         replace(GOOD_HOLDING, resources=[resource(pi=PILevel.ANONYMISED)], evidence=CONSENT),
         replace(GOOD_HOLDING, resources=[resource(pi=PILevel.ANONYMISED)],
                 evidence=frozenset({EvidenceKind.SECURITY_ASSESSMENT})),
         ("personal_data_without_basis",)),
    Case("de-identified data without evidence (consent on the grant counts)",
         R.personal_information_needs_a_lawful_basis,
         replace(GOOD_GRANTED_USE, resources=[resource(pi=PILevel.DEIDENTIFIED)],
                 grant=grant(evidence=CONSENT)),
         replace(GOOD_GRANTED_USE, resources=[resource(pi=PILevel.DEIDENTIFIED)],
                 grant=grant(evidence=frozenset({EvidenceKind.CONTRACT}))),
         ("personal_data_without_basis",)),
    Case("de-identified resource in a product", R.personal_information_needs_a_lawful_basis,
         replace(GOOD_PRODUCT, resources=[resource(), resource(
             R2, pi=PILevel.DEIDENTIFIED, evidence=SOURCE | ANONYMISATION)]),
         replace(GOOD_PRODUCT, resources=[resource(), resource(R2, pi=PILevel.DEIDENTIFIED)]),
         ("personal_data_without_basis",)),
    # -- source legality --------------------------------------------------------------------
    Case("holding right without source-legality evidence",
         R.holding_rights_need_source_legality_evidence,
         replace(GOOD_HOLDING, resources=[resource(evidence=NONE)], evidence=SOURCE),
         replace(GOOD_HOLDING, resources=[resource(evidence=CONSENT)]),
         ("source_legality_missing",)),
    Case("processing use needs no source-legality evidence of its own",
         R.holding_rights_need_source_legality_evidence,
         replace(GOOD_OWN_USE, resources=[resource(evidence=NONE)]),
         replace(GOOD_HOLDING, resources=[resource(evidence=NONE)]),
         ("source_legality_missing",)),
    # -- the holder -------------------------------------------------------------------------
    Case("holding right by a non-holder", R.holding_rights_belong_to_the_resource_holder,
         GOOD_HOLDING, replace(GOOD_HOLDING, holder_org_id=OTHER), ("wrong_holder",)),
    # -- parents exist ----------------------------------------------------------------------
    Case("missing parent", R.parents_must_exist, GOOD_OWN_USE,
         replace(GOOD_OWN_USE, parents=[], missing_parents=["rgt_gone"]), ("parent_missing",),
         right_id="rgt_gone"),
    Case("processing use without a parent", R.parents_must_exist, GOOD_OWN_USE,
         replace(GOOD_OWN_USE, parents=[]), ("parent_missing",)),
    Case("product operation without a parent", R.parents_must_exist, GOOD_PRODUCT,
         replace(GOOD_PRODUCT, parents=[], resources=[]), ("parent_missing",)),
    Case("holding right with a parent", R.parents_must_exist, GOOD_HOLDING,
         replace(GOOD_HOLDING, parents=[right("rgt_h0")]), ("wrong_parent_kind",)),
    Case("holding right with a missing parent", R.parents_must_exist, GOOD_HOLDING,
         replace(GOOD_HOLDING, missing_parents=["rgt_gone"]),
         ("parent_missing", "wrong_parent_kind"), right_id="rgt_gone"),
    # -- parents of the right kind ----------------------------------------------------------
    Case("processing use on a product operation right", R.parents_must_fit_the_kind,
         GOOD_OWN_USE,
         replace(GOOD_OWN_USE, parents=[right("rgt_o", RightKind.PRODUCT_OPERATION,
                                              resource_id=None)]),
         ("wrong_parent_kind",), right_id="rgt_o"),
    Case("processing use on a processing use right", R.parents_must_fit_the_kind, GOOD_OWN_USE,
         replace(GOOD_OWN_USE, parents=[right("rgt_p0", RightKind.PROCESSING_USE)]),
         ("wrong_parent_kind",), right_id="rgt_p0"),
    Case("processing use on another resource's holding right", R.parents_must_fit_the_kind,
         GOOD_OWN_USE, replace(GOOD_OWN_USE, parents=[H2]), ("wrong_parent_kind",),
         right_id=H2.id),
    Case("processing use with two parents", R.parents_must_fit_the_kind, GOOD_OWN_USE,
         replace(GOOD_OWN_USE, parents=[H1, right("rgt_h1b")]), ("wrong_parent_kind",)),
    Case("product operation on a product operation right", R.parents_must_fit_the_kind,
         GOOD_PRODUCT,
         replace(GOOD_PRODUCT, resources=[], parents=[
             right("rgt_o", RightKind.PRODUCT_OPERATION, resource_id=None, scope=NARROW,
                   term=GOOD_PRODUCT.term)]),
         ("wrong_parent_kind",), right_id="rgt_o"),
    Case("product operation with two parents over the same resource",
         R.parents_must_fit_the_kind, GOOD_PRODUCT,
         replace(GOOD_PRODUCT, resources=[resource()], parents=[P1, H1]),
         ("wrong_parent_kind",)),
    # -- parents registered and in term -----------------------------------------------------
    *[
        Case(f"parent {status.value}", R.parents_must_be_registered_and_in_term, GOOD_OWN_USE,
             replace(GOOD_OWN_USE, parents=[replace(H1, status=status)]),
             ("parent_not_registered",), right_id=H1.id)
        for status in RightStatus if status is not RightStatus.REGISTERED
    ],
    Case("parent whose term has ended", R.parents_must_be_registered_and_in_term,
         replace(GOOD_OWN_USE, at=AT - timedelta(microseconds=1),
                 parents=[replace(H1, term=Term(T0, AT))], term=Term(T0, AT)),
         replace(GOOD_OWN_USE, parents=[replace(H1, term=Term(T0, AT))], term=Term(T0, AT)),
         ("parent_not_in_term",), right_id=H1.id),
    Case("parent whose term has not begun", R.parents_must_be_registered_and_in_term,
         replace(GOOD_OWN_USE, at=AT + DAY, parents=[replace(H1, term=Term(AT + DAY, None))],
                 term=Term(AT + DAY, AT + 2 * DAY)),
         replace(GOOD_OWN_USE, parents=[replace(H1, term=Term(AT + DAY, None))],
                 term=Term(AT + DAY, AT + 2 * DAY)),
         ("parent_not_in_term",), right_id=H1.id),
    # -- parents cover the child ------------------------------------------------------------
    Case("purpose beyond the parent", R.parents_must_cover_the_child, GOOD_OWN_USE,
         replace(GOOD_OWN_USE, parents=[replace(H1, scope=replace(WIDE, purposes=frozenset(
             {"risk"})))]), ("scope_exceeded",), right_id=H1.id),
    Case("scenario beyond the parent", R.parents_must_cover_the_child, GOOD_OWN_USE,
         replace(GOOD_OWN_USE, scope=replace(NARROW, scenarios=frozenset({"finance", "health"}))),
         ("scope_exceeded",), right_id=H1.id),
    Case("cross-border use on a domestic parent", R.parents_must_cover_the_child,
         replace(GOOD_OWN_USE, scope=replace(NARROW, territory=Territory.CROSS_BORDER)),
         replace(GOOD_OWN_USE, scope=replace(NARROW, territory=Territory.CROSS_BORDER),
                 parents=[replace(H1, scope=replace(WIDE, territory=Territory.DOMESTIC))]),
         ("scope_exceeded",), right_id=H1.id),
    Case("term ending after the parent's", R.parents_must_cover_the_child, GOOD_OWN_USE,
         replace(GOOD_OWN_USE, term=Term(T0, T0 + YEAR + DAY)), ("term_exceeded",),
         right_id=H1.id),
    Case("term starting before the parent's", R.parents_must_cover_the_child, GOOD_OWN_USE,
         replace(GOOD_OWN_USE, term=Term(T0 - DAY, T0 + DAY)), ("term_exceeded",),
         right_id=H1.id),
    Case("open-ended term on a bounded parent", R.parents_must_cover_the_child,
         replace(GOOD_OWN_USE, term=Term(T0, None),
                 parents=[replace(H1, term=Term(T0, None))]),
         replace(GOOD_OWN_USE, term=Term(T0, None)), ("term_exceeded",), right_id=H1.id),
    # -- parents held or granted ------------------------------------------------------------
    Case("processing use of another's right without a grant",
         R.parents_must_be_held_or_granted, GOOD_GRANTED_USE,
         replace(GOOD_GRANTED_USE, grant=None), ("wrong_holder",), right_id=H1.id),
    Case("processing use with a grant of another holding right",
         R.parents_must_be_held_or_granted, GOOD_GRANTED_USE,
         replace(GOOD_GRANTED_USE, grant=grant(holding="rgt_elsewhere")), ("wrong_holder",),
         right_id=H1.id),
    Case("product operation on another's processing use right",
         R.parents_must_be_held_or_granted, GOOD_PRODUCT,
         replace(GOOD_PRODUCT, parents=[replace(P1, holder_org_id=OTHER), H2]), ("wrong_holder",),
         right_id=P1.id),
    Case("product operation on another's holding right, even with a grant of it",
         R.parents_must_be_held_or_granted, GOOD_PRODUCT,
         replace(GOOD_PRODUCT, holder_org_id=OTHER, resources=[resource()], parents=[H1],
                 grant=grant()),
         ("wrong_holder", "grant_invalid"), right_id=H1.id),
    # -- grants -----------------------------------------------------------------------------
    Case("grant naming another grantee", R.grants_must_be_live_and_cover_the_right,
         GOOD_GRANTED_USE, replace(GOOD_GRANTED_USE, grant=grant(grantee=THIRD)),
         ("wrong_holder", "grant_invalid")),
    Case("revoked grant", R.grants_must_be_live_and_cover_the_right, GOOD_GRANTED_USE,
         replace(GOOD_GRANTED_USE, grant=grant(active=False)), ("grant_invalid",)),
    Case("grant whose term has ended", R.grants_must_be_live_and_cover_the_right,
         replace(GOOD_GRANTED_USE, term=Term(T0, AT), grant=grant(term=Term(T0, AT + DAY))),
         replace(GOOD_GRANTED_USE, term=Term(T0, AT), grant=grant(term=Term(T0, AT))),
         ("grant_invalid",)),
    Case("grant whose term has not begun", R.grants_must_be_live_and_cover_the_right,
         replace(GOOD_GRANTED_USE, term=Term(AT + DAY, AT + 2 * DAY),
                 grant=grant(term=Term(AT, None))),
         replace(GOOD_GRANTED_USE, term=Term(AT + DAY, AT + 2 * DAY),
                 grant=grant(term=Term(AT + DAY, None))),
         ("grant_invalid",)),
    Case("grant narrower in purpose", R.grants_must_be_live_and_cover_the_right,
         GOOD_GRANTED_USE,
         replace(GOOD_GRANTED_USE, scope=replace(NARROW, purposes=frozenset({"analytics",
                                                                             "risk"})),
                 grant=grant(scope=replace(WIDE, purposes=frozenset({"analytics"})))),
         ("scope_exceeded",)),
    Case("grant narrower in scenario", R.grants_must_be_live_and_cover_the_right,
         GOOD_GRANTED_USE,
         replace(GOOD_GRANTED_USE, grant=grant(scope=replace(WIDE, scenarios=frozenset(
             {"retail"})))),
         ("scope_exceeded",)),
    Case("grant domestic only", R.grants_must_be_live_and_cover_the_right,
         replace(GOOD_GRANTED_USE, scope=replace(NARROW, territory=Territory.CROSS_BORDER)),
         replace(GOOD_GRANTED_USE, scope=replace(NARROW, territory=Territory.CROSS_BORDER),
                 grant=grant(scope=replace(WIDE, territory=Territory.DOMESTIC))),
         ("scope_exceeded",)),
    Case("term beyond the grant's", R.grants_must_be_live_and_cover_the_right,
         GOOD_GRANTED_USE,
         replace(GOOD_GRANTED_USE, grant=grant(term=Term(T0, T0 + YEAR / 4))),
         ("term_exceeded",)),
    Case("grant on a holding right", R.grants_must_be_live_and_cover_the_right, GOOD_HOLDING,
         replace(GOOD_HOLDING, grant=grant(grantee=HOLDER)), ("grant_invalid",)),
]


def test_every_refusal_rule_has_cases() -> None:
    assert {case.rule for case in CASES} == set(REFUSALS)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_rule_passes_the_good_application(case: Case) -> None:
    assert case.rule(case.good) == []
    assert refusals(case.good) == []


@pytest.mark.parametrize("case", CASES, ids=str)
def test_rule_refuses_the_bad_application_and_nothing_else_does(case: Case) -> None:
    own = case.rule(case.bad)
    found = refusals(case.bad)

    assert own, "the rule under test must refuse"
    assert set(own) <= set(found)
    assert tuple(codes(found)) == case.expected
    assert all(v.message for v in found)
    if case.right_id is not None:
        assert own[0].right_id == case.right_id


@pytest.mark.parametrize("good", [GOOD_HOLDING, GOOD_OWN_USE, GOOD_GRANTED_USE, GOOD_PRODUCT],
                         ids=["holding", "own use", "granted use", "product"])
def test_the_good_applications_pass_every_rule(good: Application) -> None:
    assert refusals(good) == []


def test_refusals_name_every_broken_rule_at_once() -> None:
    bad = replace(
        GOOD_GRANTED_USE,
        term=Term(T0, T0 + 2 * YEAR),
        resources=[resource(classification=Classification.CORE, pi=PILevel.PERSONAL,
                            disputed=True)],
        parents=[replace(H1, status=RightStatus.SUSPENDED)],
        grant=grant(active=False),
    )

    assert codes(refusals(bad)) == [
        "core_data", "subject_disputed", "personal_data_without_basis",
        "parent_not_registered", "term_exceeded", "grant_invalid", "term_exceeded",
    ]


def test_scope_messages_name_each_gap() -> None:
    child = Scope(frozenset({"analytics", "resale", "ads"}), frozenset({"finance", "health"}),
                  Territory.CROSS_BORDER)
    parent = Scope(frozenset({"analytics"}), frozenset({"finance"}), Territory.DOMESTIC)

    assert parent.uncovered(child) == ["purpose 'ads'", "purpose 'resale'",
                                       "scenario 'health'", "cross-border use"]
    [violation] = domain.parents_must_cover_the_child(
        replace(GOOD_OWN_USE, scope=child, parents=[replace(H1, scope=parent)]))
    assert "purpose 'ads'" in violation.message
    assert "cross-border use" in violation.message


def test_violation_as_dict() -> None:
    assert Violation("x", "y", "rgt_1").as_dict() == {"code": "x", "message": "y",
                                                      "right_id": "rgt_1"}


# -- the state machine ---------------------------------------------------------------------

S = RightStatus
ALLOWED = {
    (S.SUBMITTED, S.UNDER_REVIEW),
    (S.UNDER_REVIEW, S.REGISTERED), (S.UNDER_REVIEW, S.REJECTED),
    (S.UNDER_REVIEW, S.SUBMITTED),  # a reviewer hands the claim back
    (S.REGISTERED, S.SUSPENDED), (S.REGISTERED, S.REVOKED), (S.REGISTERED, S.EXPIRED),
    (S.SUSPENDED, S.REGISTERED), (S.SUSPENDED, S.REVOKED), (S.SUSPENDED, S.EXPIRED),
}
ALL_PAIRS = list(itertools.product(RightStatus, repeat=2))


def test_transition_table_is_exactly_the_lifecycle() -> None:
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED
    assert set(TRANSITIONS) == set(RightStatus)
    assert {s for s in RightStatus if not TRANSITIONS[s]} == {S.REJECTED, S.REVOKED, S.EXPIRED}
    assert {S.REGISTERED, S.SUSPENDED} == LIVE
    assert {S.SUBMITTED, S.UNDER_REVIEW} == PENDING


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: s.value)
def test_can_transition(current: RightStatus, target: RightStatus) -> None:
    assert can_transition(current, target) is ((current, target) in ALLOWED)


def _right_in(status: RightStatus) -> Right:
    return Right(id="rgt_1", status=status.value, suspended_by="rgt_parent",
                 registered_at=None, updated_at=T0)


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED), ids=lambda s: s.value)
def test_move_follows_allowed_transitions(current: RightStatus, target: RightStatus) -> None:
    right = _right_in(current)

    previous = right.move(target, reason="because", at=AT)

    assert previous == current.value
    assert (right.status, right.status_reason, right.updated_at) == (target.value, "because", AT)


@pytest.mark.parametrize(("current", "target"),
                         sorted(set(ALL_PAIRS) - ALLOWED), ids=lambda s: s.value)
def test_move_refuses_forbidden_transitions(current: RightStatus, target: RightStatus) -> None:
    right = _right_in(current)

    with pytest.raises(InvalidTransition) as refused:
        right.move(target, reason="because", at=AT)

    assert refused.value.code == "invalid_transition"
    assert (right.status, right.updated_at) == (current.value, T0)


def test_registering_clears_the_suspension_cause_and_keeps_the_first_registration_time() -> None:
    right = _right_in(S.UNDER_REVIEW)
    right.move(S.REGISTERED, reason=None, at=AT)
    assert right.registered_at == AT
    assert right.suspended_by is None

    right.suspended_by = "dsp_1"
    right.move(S.SUSPENDED, reason="dispute", at=AT + DAY)
    assert right.suspended_by == "dsp_1"
    right.move(S.REGISTERED, reason="dismissed", at=AT + 2 * DAY)
    assert right.registered_at == AT
    assert _cause(right) is None


def _cause(right: Right) -> str | None:
    return right.suspended_by


# -- scope ---------------------------------------------------------------------------------

WORDS = st.frozensets(st.sampled_from(["analytics", "marketing", "risk", "ads", "credit"]))
SCENES = st.frozensets(st.sampled_from(["finance", "retail", "health", "transport"]))
SCOPES = st.builds(Scope, WORDS, SCENES, st.sampled_from(Territory))


@PROPERTIES
@given(parent=SCOPES, child=SCOPES)
def test_scope_uncovered_is_empty_iff_the_child_is_within_the_parent(
    parent: Scope, child: Scope
) -> None:
    within = (child.purposes <= parent.purposes and child.scenarios <= parent.scenarios
              and not (child.territory is Territory.CROSS_BORDER
                       and parent.territory is Territory.DOMESTIC))
    gaps = parent.uncovered(child)

    assert (gaps == []) is within
    assert len(gaps) == (len(child.purposes - parent.purposes)
                         + len(child.scenarios - parent.scenarios)
                         + (not within and child.territory is Territory.CROSS_BORDER
                            and parent.territory is Territory.DOMESTIC))


@PROPERTIES
@given(a=SCOPES, b=SCOPES, c=SCOPES)
def test_scope_cover_is_reflexive_and_transitive(a: Scope, b: Scope, c: Scope) -> None:
    assert a.uncovered(a) == []
    if not a.uncovered(b) and not b.uncovered(c):
        assert a.uncovered(c) == []


def test_scope_edge_cases() -> None:
    empty = Scope(frozenset(), frozenset(), Territory.DOMESTIC)
    assert empty.uncovered(empty) == []
    assert WIDE.uncovered(empty) == []
    assert empty.uncovered(replace(empty, territory=Territory.CROSS_BORDER)) == [
        "cross-border use"]
    # domestic use is always within a cross-border scope
    assert replace(empty, territory=Territory.CROSS_BORDER).uncovered(empty) == []


# -- term ----------------------------------------------------------------------------------

INSTANTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                        timezones=st.just(UTC))


@st.composite
def terms(draw: st.DrawFn) -> Term:
    start = draw(INSTANTS)
    end = draw(st.one_of(st.none(), INSTANTS.filter(lambda e: e > start)))
    return Term(start, end)


@PROPERTIES
@given(term=terms(), at=INSTANTS)
def test_term_contains_is_half_open(term: Term, at: datetime) -> None:
    expected = term.valid_from <= at and (term.valid_to is None or at < term.valid_to)
    assert term.contains(at) is expected
    assert term.contains(term.valid_from)
    if term.valid_to is not None:
        assert not term.contains(term.valid_to)
        assert term.contains(term.valid_to - timedelta(microseconds=1))


@PROPERTIES
@given(parent=terms(), child=terms(), at=INSTANTS)
def test_a_covered_term_lies_inside_its_parent(parent: Term, child: Term, at: datetime) -> None:
    assert parent.covers(parent)
    if parent.covers(child):
        assert child.valid_from >= parent.valid_from
        if child.contains(at):
            assert parent.contains(at)
        if parent.valid_to is not None:
            assert child.valid_to is not None
            assert child.valid_to <= parent.valid_to


@PROPERTIES
@given(a=terms(), b=terms(), c=terms())
def test_term_cover_is_transitive(a: Term, b: Term, c: Term) -> None:
    if a.covers(b) and b.covers(c):
        assert a.covers(c)


@pytest.mark.parametrize(("parent", "child", "covered"), [
    (Term(T0, None), Term(T0, None), True),
    (Term(T0, None), Term(T0 + DAY, T0 + 2 * DAY), True),
    (Term(T0, None), Term(T0 - DAY, None), False),
    (Term(T0, T0 + DAY), Term(T0, None), False),
    (Term(T0, T0 + DAY), Term(T0, T0 + DAY), True),  # same end: covered
    (Term(T0, T0 + DAY), Term(T0, T0 + DAY + timedelta(microseconds=1)), False),
    (Term(T0, T0 + DAY), Term(T0 - timedelta(microseconds=1), T0 + DAY), False),
], ids=["open/open", "open/bounded", "open/earlier", "bounded/open", "same",
        "one microsecond longer", "one microsecond earlier"])
def test_term_cover_edge_cases(parent: Term, child: Term, covered: bool) -> None:
    assert parent.covers(child) is covered


def test_open_ended_terms_contain_the_far_future() -> None:
    assert Term(T0, None).contains(datetime(9999, 12, 31, tzinfo=UTC))
    assert not Term(T0, None).contains(T0 - timedelta(microseconds=1))
