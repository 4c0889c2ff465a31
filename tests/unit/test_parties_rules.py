"""The parties' rules without a database: admission documents (主体资格) in force,
reminders, identities kept as keyed digests (实名制), related parties (关联方), the credit
mark (信用评价) and the two compliance rules, each both ways."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from market.compliance.domain import Facts, Outcome, PartyFacts, ProductFacts, Stage, evaluate
from market.compliance.rules.parties import with_parties
from market.participants import documents as d
from market.participants.credit import CreditInputs, compute, grade_of
from tests.papers import resident_id

TODAY = date(2026, 11, 21)
KEY = b"k" * 32


def doc(id_: str, kind: d.DocumentKind, status: str = "verified",
        expires_on: date | None = date(2027, 1, 1)) -> d.DocumentState:
    return d.DocumentState(id_, kind.value, status, expires_on)


ALL = [doc("doc_1", d.DocumentKind.BUSINESS_LICENCE),
       doc("doc_2", d.DocumentKind.LEGAL_REPRESENTATIVE),
       doc("doc_3", d.DocumentKind.DATA_SECURITY_OFFICER)]


# -- documents -------------------------------------------------------------------------------


def test_every_required_document_verified_and_in_force_admits() -> None:
    assert d.shortfalls(ALL, TODAY) == []


def test_a_missing_unverified_or_expired_document_keeps_out() -> None:
    found = d.shortfalls([ALL[0], dataclasses.replace(ALL[1], status="submitted"),
                          dataclasses.replace(ALL[2], expires_on=date(2026, 11, 20))], TODAY)
    assert [(s.kind, s.problem) for s in found] == [
        ("legal_representative", "unverified"), ("data_security_officer", "expired")]
    assert d.shortfalls(ALL[:2], TODAY)[0].describe() == (
        "data_security_officer (数据安全负责人任命书) is missing")
    rejected = dataclasses.replace(ALL[0], status="rejected")
    assert [s.problem for s in d.shortfalls([rejected, *ALL[1:]], TODAY)] == ["missing"]


def test_a_document_is_in_force_on_its_last_day_and_lapses_after_it() -> None:
    last = dataclasses.replace(ALL[0], expires_on=TODAY)
    assert d.lapsed([last], TODAY) == []
    assert d.lapsed([last], date(2026, 11, 22)) == [last]
    assert d.lapsed([dataclasses.replace(ALL[0], expires_on=None)], date(2099, 1, 1)) == []


def test_a_verified_renewal_counts_and_a_pending_one_does_not() -> None:
    old = dataclasses.replace(ALL[0], expires_on=date(2026, 11, 1))
    pending = doc("doc_9", d.DocumentKind.BUSINESS_LICENCE, "submitted", date(2030, 1, 1))
    assert d.lapsed([old, pending], TODAY) == [old]
    renewed = dataclasses.replace(pending, status="verified")
    superseded = dataclasses.replace(old, status="superseded")
    assert d.lapsed([superseded, renewed], TODAY) == []


def test_reminders_are_due_once_per_document_and_threshold() -> None:
    soon = dataclasses.replace(ALL[0], expires_on=date(2026, 12, 11))  # 20 days left
    assert d.reminders_due([soon], TODAY, (30, 7), set()) == [(soon, 30)]
    assert d.reminders_due([soon], TODAY, (30, 7), {("doc_1", 30)}) == []
    # 5 days left: only the nearest threshold, once, whatever was sent before
    assert d.reminders_due([soon], date(2026, 12, 6), (30, 7), {("doc_1", 30)}) == [(soon, 7)]
    assert d.reminders_due([soon], date(2026, 12, 6), (30, 7), set()) == [(soon, 7)]
    assert d.reminders_due([soon], date(2026, 12, 12), (30, 7), set()) == []  # expired
    assert d.reminders_due([ALL[1]], TODAY, (30, 7), set()) == []  # 41 days left


def test_resident_identity_numbers_need_their_check_character() -> None:
    good = resident_id(1)
    assert d.identity_number_problem(good) is None
    assert d.identity_number_problem(good.lower()) is None
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    assert d.identity_number_problem(wrong) == "check character does not match (GB 11643)"
    assert d.identity_number_problem("E12345678") is None  # a passport
    assert d.identity_number_problem("a b") == "must be 5 to 30 letters and digits"


def test_identities_are_kept_as_keyed_digests_and_shown_by_their_last_four() -> None:
    number = resident_id(1)
    a = d.identity_digest(KEY, "person", number.lower())
    assert a == d.identity_digest(KEY, "person", f"{number[:6]} {number[6:14]}-{number[14:]}")
    assert a != d.identity_digest(b"o" * 32, "person", number)
    assert a != d.identity_digest(KEY, "organisation", number)
    assert number not in a
    assert d.masked(number) == "*" * 14 + number[-4:]


def party(org: str, code: str, **kw: str | None) -> d.PartyIdentity:
    return d.PartyIdentity(org, code, **kw)


@pytest.mark.parametrize(("a", "b", "links"), [
    (party("a", "A", legal_representative="p1"), party("b", "B", legal_representative="p1"),
     ["same_legal_representative"]),
    (party("a", "A", controller="c1"), party("b", "B", controller="c1"), ["same_controller"]),
    (party("a", "A"), party("b", "B", controller_credit_code="A"), ["one_controls_the_other"]),
    (party("a", "A", controller_credit_code="B"), party("b", "B"), ["one_controls_the_other"]),
    (party("a", "A", legal_representative="p1"), party("b", "B", controller="p1"),
     ["representative_controls_the_other"]),
    (party("a", "A", legal_representative="p1", controller="c1"),
     party("b", "B", legal_representative="p2", controller="c2"), []),
    (party("a", "A"), party("b", "B"), []),  # nothing recorded: not known to be related
    (party("a", "A", legal_representative="p1"), party("a", "A", legal_representative="p1"),
     []),
])
def test_related_parties_are_found_by_their_links(a: d.PartyIdentity, b: d.PartyIdentity,
                                                  links: list[str]) -> None:
    assert d.relation_links(a, b) == links
    assert d.relation_links(b, a) == links


# -- the credit mark ---------------------------------------------------------------------------


def test_a_newcomer_has_full_marks() -> None:
    mark = compute(CreditInputs())
    assert (mark.score, mark.grade) == (100, "A")
    assert {k: v["points"] for k, v in mark.components.items()} == {
        "fulfilment": 30, "disputes": 20, "breaches": 30, "sanctions": 20}


def test_each_component_follows_its_records() -> None:
    mark = compute(CreditInputs(completed=3, failed=1, disputes_opened=3, disputes_lost=1,
                                breach_points=20, breaches=1, past_suspensions=1))
    points = {k: v["points"] for k, v in mark.components.items()}
    assert points == {"fulfilment": 22, "disputes": 13, "breaches": 10, "sanctions": 15}
    assert (mark.score, mark.grade) == (60, "C")
    assert compute(CreditInputs(suspended_now=True)).components["sanctions"]["points"] == 0
    assert compute(CreditInputs(breach_points=50)).components["breaches"]["points"] == 0
    assert compute(CreditInputs(disputes_lost=9, disputes_opened=9)).components[
        "disputes"]["points"] == 0


def test_a_blacklisted_participant_is_d_with_nothing() -> None:
    assert (compute(CreditInputs(blacklisted=True)).score,
            compute(CreditInputs(blacklisted=True)).grade) == (0, "D")


@pytest.mark.parametrize(("score", "grade"), [(100, "A"), (90, "A"), (89, "B"), (75, "B"),
                                              (74, "C"), (60, "C"), (59, "D"), (0, "D")])
def test_grades(score: int, grade: str) -> None:
    assert grade_of(score) == grade


# -- the compliance rules --------------------------------------------------------------------

SELLER = PartyFacts("org_s", "admitted", frozenset({"merchant"}))
BUYER = PartyFacts("org_b", "admitted", frozenset({"buyer"}))
PRODUCT = ProductFacts("general", "none", True, True, False, ("授信",), False)


def facts(**kw: object) -> Facts:
    return with_parties(Facts(Stage.ORDER, SELLER, PRODUCT, True, buyer=BUYER), **kw)  # type: ignore[arg-type]


def verdict(found: Facts, rule: str):  # type: ignore[no-untyped-def]
    return next(v for v in evaluate(found)[1] if v.rule == rule)


def test_documents_rule_refuses_a_party_whose_document_expired_and_names_it() -> None:
    refused = verdict(facts(expired={"org_s": ["business_licence"]}),
                      "PartiesDocumentsMustBeInForce")
    assert refused.outcome is Outcome.BLOCK
    assert refused.reason == "the seller's admission documents have expired: business_licence"
    assert refused.detail == {"side": "seller", "org_id": "org_s",
                              "expired_documents": ["business_licence"]}
    assert verdict(facts(expired={"org_b": ["data_security_officer"]}),
                   "PartiesDocumentsMustBeInForce").outcome is Outcome.BLOCK


@pytest.mark.parametrize("given", [{}, {"expired": {}}, {"expired": {"org_x": ["x"]}}])
def test_documents_rule_passes_in_force_or_not_gathered(given: dict[str, object]) -> None:
    assert verdict(facts(**given), "PartiesDocumentsMustBeInForce").outcome is Outcome.PASS


def test_related_party_rule_flags_with_the_relation_and_lets_through() -> None:
    flagged = verdict(facts(related=["same_controller"]), "RelatedPartyTradesAreFlagged")
    assert flagged.outcome is Outcome.PASS
    assert flagged.detail == {"flag": "related_party_trade", "links": ["same_controller"],
                              "org_ids": ["org_b", "org_s"]}
    assert evaluate(facts(related=["same_controller"]))[0] is Outcome.PASS


@pytest.mark.parametrize("given", [{}, {"related": []}])
def test_related_party_rule_is_quiet_for_unrelated_or_ungathered(given: dict[str, object]) -> None:
    found = verdict(facts(**given), "RelatedPartyTradesAreFlagged")
    assert (found.outcome, found.detail) == (Outcome.PASS, None)
