"""Classification-driven delivery, storage location and the double review, as rules over
facts: the default delivery matrix cell by cell at listing, ordering and delivery; the
matrix setting's grammar and its refusals; raw data, sensitive categories and data abroad.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

import pytest

from market.compliance import domain
from market.compliance.domain import CLASSIFICATION_ORDER, PI_ORDER, Facts, Outcome, Stage
from market.compliance.rules import delivery
from market.compliance.rules.delivery import (
    DEFAULT_MATRIX,
    DELIVERY_MODES,
    approvals_required,
    configure_matrix,
    current_matrix,
    describe,
    parse_matrix,
)
from market.kernel.errors import ConfigurationError
from tests.unit.test_compliance_rules import listing, order, verdict

# The default matrix, written out: (classification, pi level) -> {mode: condition}.
ANY = {"file": "", "api": "", "sandbox": ""}
IMPORTANT = {"file": "assessment", "api": "", "sandbox": ""}
SANDBOX = {"sandbox": ""}
EXPECTED: dict[tuple[str, str], dict[str, str]] = {
    **{("general", p): ANY for p in PI_ORDER},
    **{("important", p): IMPORTANT for p in PI_ORDER},
    **{("core", p): {} for p in PI_ORDER},
    ("general", "sensitive_personal"): SANDBOX,
    ("important", "sensitive_personal"): SANDBOX,
}
CELLS = list(itertools.product(CLASSIFICATION_ORDER, PI_ORDER, DELIVERY_MODES))


@pytest.fixture(autouse=True)
def _default_matrix() -> Iterator[None]:
    configure_matrix("")
    yield
    configure_matrix("")


def facts_of(stage: Stage, classification: str, pi_level: str, modes: tuple[str, ...], *,
             assessed: bool = False) -> Facts:
    build = listing if stage is Stage.LISTING else order
    facts = build(product={"classification": classification, "pi_level": pi_level,
                           "security_assessment": assessed})
    return dataclasses.replace(describe(facts, delivery_modes=modes), stage=stage)


def allowed(classification: str, pi_level: str, mode: str, assessed: bool) -> bool:
    condition = EXPECTED[(classification, pi_level)].get(mode)
    return condition is not None and (condition == "" or assessed)


RULE = "DeliveryModeMustSuitClassification"


@pytest.mark.parametrize("assessed", [False, True], ids=["no assessment", "assessed"])
@pytest.mark.parametrize("stage", [Stage.LISTING, Stage.ORDER, Stage.DELIVERY], ids=str)
@pytest.mark.parametrize(("classification", "pi_level", "mode"), CELLS,
                         ids=["-".join(c) for c in CELLS])
def test_the_default_matrix_cell_by_cell(classification: str, pi_level: str, mode: str,
                                         stage: Stage, assessed: bool) -> None:
    found = verdict(facts_of(stage, classification, pi_level, (mode,), assessed=assessed),
                    RULE)
    expected = allowed(classification, pi_level, mode, assessed)
    assert found.outcome is (Outcome.PASS if expected else Outcome.BLOCK), found
    assert found.detail is not None
    assert (found.detail["classification"], found.detail["pi_level"]) == (
        classification, pi_level)
    assert found.detail["allowed_modes"] == [
        m for m in DELIVERY_MODES if allowed(classification, pi_level, m, assessed)]
    if not expected:
        assert found.detail["refused_modes"] == [mode]
        assert f"{classification} data with pi level {pi_level}" in found.reason
        assert mode in found.reason


def test_the_parsed_default_is_the_matrix_written_out() -> None:
    matrix = current_matrix()
    assert matrix.source == DEFAULT_MATRIX
    for (classification, pi_level), cell in EXPECTED.items():
        assert dict(matrix.cell(classification, pi_level)) == {
            m: ("security_assessment" if c else "") for m, c in cell.items()}


def test_file_delivery_of_important_data_names_its_condition() -> None:
    found = verdict(facts_of(Stage.DELIVERY, "important", "none", ("file",)), RULE)
    assert found.outcome is Outcome.BLOCK
    assert "file only with a security assessment on record" in found.reason
    assert found.detail is not None
    assert found.detail["conditions"] == {"file": "security_assessment"}
    declared = dataclasses.replace(
        facts_of(Stage.DELIVERY, "important", "none", ("file",)),
        declaration={**listing().declaration, "security_assessment_ref": "CAC-2026-7"})
    assert verdict(declared, RULE).outcome is Outcome.PASS


def test_a_listing_is_refused_for_any_mode_its_cell_refuses() -> None:
    found = verdict(facts_of(Stage.LISTING, "general", "sensitive_personal",
                             ("file", "api", "sandbox")), RULE)
    assert found.outcome is Outcome.BLOCK
    assert found.detail is not None
    assert found.detail["refused_modes"] == ["file", "api"]


def test_an_order_needs_one_allowed_mode_among_those_it_may_be_delivered_by() -> None:
    some = facts_of(Stage.ORDER, "general", "sensitive_personal", ("file", "sandbox"))
    assert verdict(some, RULE).outcome is Outcome.PASS
    none = facts_of(Stage.ORDER, "general", "sensitive_personal", ("file", "api"))
    found = verdict(none, RULE)
    assert found.outcome is Outcome.BLOCK
    assert "could only be delivered by file, api" in found.reason


def test_facts_without_modes_pass() -> None:
    assert verdict(listing(product={"classification": "important"}), RULE).outcome is (
        Outcome.PASS)


def test_a_configured_matrix_is_used() -> None:
    configure_matrix("*:*=sandbox; core:*=")
    assert verdict(facts_of(Stage.DELIVERY, "general", "none", ("api",)), RULE).outcome is (
        Outcome.BLOCK)
    assert verdict(facts_of(Stage.DELIVERY, "general", "none", ("sandbox",)),
                   RULE).outcome is Outcome.PASS


def test_a_specific_entry_wins_over_a_wildcard() -> None:
    matrix = parse_matrix("*:*=api; general:*=file; *:personal=sandbox; "
                          "general:personal=file,api; core:*=")
    assert dict(matrix.cell("general", "personal")) == {"file": "", "api": ""}
    assert dict(matrix.cell("general", "none")) == {"file": ""}
    assert dict(matrix.cell("important", "personal")) == {"sandbox": ""}
    assert dict(matrix.cell("important", "none")) == {"api": ""}


@pytest.mark.parametrize(("raw", "message"), [
    ("general=file", "is not classification:pi_level=modes"),
    ("secret:*=file; *:*=api; core:*=", "unknown classification 'secret'"),
    ("general:private=file; *:*=api; core:*=", "unknown personal-information level"),
    ("*:*=email; core:*=", "unknown delivery mode 'email'"),
    ("*:*=file+audit; core:*=", "unknown condition 'audit'"),
    ("*:*=file,file; core:*=", "names file twice"),
    ("*:*=api; *:*=file; core:*=", "is given twice"),
    ("general:*=api; important:*=api", "leaves core:none undefined"),
    ("*:*=api", "core data is never traded"),
])
def test_a_malformed_matrix_setting_is_a_configuration_error(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match="MARKET_DELIVERY_MATRIX") as raised:
        configure_matrix(raw)
    assert message in str(raised.value)
    assert current_matrix().source == DEFAULT_MATRIX  # the one in force is kept


# -- raw data, sensitive categories, data abroad ------------------------------------------


def test_raw_data_goes_to_review_at_listing() -> None:
    raw = describe(listing(), development_level="raw")
    assert verdict(raw, "RawDataNeedsCarefulReview").outcome is Outcome.NEEDS_REVIEW
    modelled = describe(listing(), development_level="modelled")
    assert verdict(modelled, "RawDataNeedsCarefulReview").outcome is Outcome.PASS
    ordered = describe(order(), development_level="raw")  # orders are not held for it
    assert verdict(ordered, "RawDataNeedsCarefulReview").outcome is Outcome.PASS


def test_sensitive_categories_go_to_review() -> None:
    flagged = listing(product={"pi_level": "personal", "sensitive_categories": ("health",)},
                      declaration={"contains_personal_information": True,
                                   "personal_information_basis": "consent"})
    found = verdict(flagged, "SensitiveCategoriesNeedReview")
    assert (found.outcome, found.reason) == (
        Outcome.NEEDS_REVIEW, "sensitive categories are reviewed by staff: health")
    assert verdict(listing(), "SensitiveCategoriesNeedReview").outcome is Outcome.PASS


@pytest.mark.parametrize(("facts", "expected"), [
    (describe(listing(), storage_location="SG"), Outcome.NEEDS_ASSESSMENT),
    (listing(product={"storage_locations": ("CN", "US")}), Outcome.NEEDS_ASSESSMENT),
    (order(product={"cross_border_allowed": True}, commitment={"cross_border": True}),
     Outcome.NEEDS_ASSESSMENT),
    (describe(listing(product={"security_assessment": True}), storage_location="SG"),
     Outcome.PASS),
    (describe(listing(declaration={"security_assessment_ref": "CAC-2026-9"}),
              storage_location="SG"), Outcome.PASS),
    (order(product={"cross_border_allowed": True, "security_assessment": True},
           commitment={"cross_border": True}), Outcome.PASS),
    (describe(listing(), storage_location="CN"), Outcome.PASS),
    (order(), Outcome.PASS),
], ids=["stored abroad", "a resource abroad", "cross-border buyer", "stored abroad, assessed",
        "stored abroad, assessment declared", "cross-border buyer, assessed", "stored at home",
        "domestic buyer"])
def test_data_abroad_needs_a_security_assessment(facts: Facts, expected: Outcome) -> None:
    found = verdict(facts, "DataAbroadNeedsSecurityAssessment")
    assert found.outcome is expected, found


def test_matching_screens_for_data_abroad_too() -> None:
    assert delivery.data_abroad_needs_security_assessment in domain.USE_RULES
    assert delivery.data_abroad_needs_security_assessment in domain.MATCH_RULES


def test_raw_data_and_sensitive_information_need_two_reviewers() -> None:
    assert approvals_required("listing", ["RawDataNeedsCarefulReview"]) == 2
    assert approvals_required("listing", ["SensitivePersonalInfoNeedsReview"]) == 2
    assert approvals_required("listing", ["SensitiveCategoriesNeedReview"]) == 2
    assert approvals_required("listing", ["DataAbroadNeedsSecurityAssessment"]) == 1
    assert approvals_required("order", ["SensitivePersonalInfoNeedsReview"]) == 1


def test_the_facts_keep_what_the_listing_says() -> None:
    facts = describe(listing(), development_level="raw", storage_location="SG",
                     delivery_modes=("api",))
    kept = facts.as_dict()
    assert kept["delivery_modes"] == ["api"]
    assert kept["product"]["development_level"] == "raw"
    assert kept["product"]["storage_locations"] == ["SG"]
    assert domain.ProductFacts.of(kept["product"]) == facts.product

