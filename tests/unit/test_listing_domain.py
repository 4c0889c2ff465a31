"""Pure listing rules: the lifecycle table, every rule of an offer, usage terms, and the
version's own guard against forbidden moves (no database)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from market.kernel.errors import InvalidTransition
from market.listing.domain import (
    EDITABLE,
    LIVE,
    ON_SALE,
    OPEN,
    PERIODS,
    TRANSITIONS,
    UNITS,
    ListingStatus,
    OfferKind,
    OfferSpec,
    UsageTerms,
    can_transition,
)
from market.listing.models import ProductVersion
from tests.conftest import START

S = ListingStatus
K = OfferKind

# The lifecycle as the product rules state it, written out by hand.
EXPECTED = {
    S.DRAFT: {S.SUBMITTED},
    S.RETURNED: {S.SUBMITTED, S.SUPERSEDED},
    S.SUBMITTED: {S.UNDER_REVIEW},
    S.UNDER_REVIEW: {S.LISTED, S.RETURNED, S.REJECTED, S.SUBMITTED},
    S.LISTED: {S.SUSPENDED, S.DELISTED, S.SUPERSEDED},
    S.SUSPENDED: {S.LISTED, S.DELISTED, S.SUBMITTED},
    S.REJECTED: set(),
    S.DELISTED: set(),
    S.SUPERSEDED: set(),
}

# -- lifecycle -------------------------------------------------------------------------


def test_every_status_has_a_row_and_the_table_is_the_lifecycle() -> None:
    assert set(TRANSITIONS) == set(ListingStatus)
    assert {k: set(v) for k, v in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize("current", list(ListingStatus))
@pytest.mark.parametrize("target", list(ListingStatus))
def test_can_transition_follows_the_table(current: S, target: S) -> None:
    assert can_transition(current, target) is (target in EXPECTED[current])


def test_terminal_statuses_lead_nowhere() -> None:
    assert {s for s, targets in TRANSITIONS.items() if not targets} == {
        S.REJECTED, S.DELISTED, S.SUPERSEDED}


def test_nothing_is_listed_without_review() -> None:
    """Only a review (under_review) or the operator's reinstatement (suspended) lists."""
    assert {s for s, targets in TRANSITIONS.items() if S.LISTED in targets} == {
        S.UNDER_REVIEW, S.SUSPENDED}
    for status in (S.DRAFT, S.RETURNED, S.SUBMITTED, S.DELISTED, S.REJECTED):
        assert not can_transition(status, S.LISTED)


def test_status_groups() -> None:
    assert set(EDITABLE) == {S.DRAFT, S.RETURNED}
    assert set(ON_SALE) == {S.LISTED}
    assert set(LIVE) == {S.LISTED, S.SUSPENDED}
    assert set(OPEN) == {S.DRAFT, S.RETURNED, S.SUBMITTED, S.UNDER_REVIEW}


def _version(status: S) -> ProductVersion:
    return ProductVersion(id="ver_x", status=status.value, status_reason="before",
                          suspended_by_rights=True, updated_at=START, listed_at=None)


def test_a_version_moves_along_the_lifecycle_and_records_when() -> None:
    version = _version(S.UNDER_REVIEW)
    later = START + timedelta(hours=1)
    assert version.move(S.LISTED, reason="ok", at=later) == "under_review"
    assert (version.status, version.status_reason) == ("listed", "ok")
    assert version.updated_at == later
    assert version.listed_at == later
    assert version.suspended_by_rights is False


def test_a_move_that_does_not_list_keeps_listed_at_and_the_rights_flag() -> None:
    version = _version(S.LISTED)
    version.listed_at = START
    later = START + timedelta(hours=1)
    assert version.move(S.SUSPENDED, reason="rights", at=later) == "listed"
    assert version.listed_at == START
    assert version.suspended_by_rights is True


@pytest.mark.parametrize(("current", "target"), [
    (S.DRAFT, S.LISTED), (S.SUBMITTED, S.SUBMITTED), (S.DELISTED, S.LISTED),
    (S.REJECTED, S.SUBMITTED), (S.SUPERSEDED, S.LISTED), (S.DRAFT, S.UNDER_REVIEW),
    (S.LISTED, S.SUBMITTED),
])
def test_a_forbidden_move_raises_and_changes_nothing(current: S, target: S) -> None:
    version = _version(current)
    with pytest.raises(InvalidTransition) as raised:
        version.move(target, reason="no", at=START + timedelta(hours=1))
    assert raised.value.params == {"current": current.value, "target": target.value}
    assert (version.status, version.status_reason, version.updated_at) == (
        current.value, "before", START)


# -- offers ----------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [
    OfferSpec(K.ONE_TIME, amount=1),
    OfferSpec(K.ONE_TIME, amount=10**12, quantity=1),
    OfferSpec(K.SUBSCRIPTION, amount=9900, period="month"),
    OfferSpec(K.SUBSCRIPTION, amount=9900, period="year", quantity=5),
    OfferSpec(K.PAY_PER_USE, amount=5, unit="call"),
    OfferSpec(K.PAY_PER_USE, amount=5, unit="mb", cap_amount=5),
    OfferSpec(K.PAY_PER_USE, amount=5, unit="call", cap_amount=100_000),
    OfferSpec(K.FREE),
    OfferSpec(K.FREE, amount=0),
    OfferSpec(K.NEGOTIABLE),
    OfferSpec(K.NEGOTIABLE, amount=0, quantity=1),
], ids=repr)
def test_valid_offers_have_no_problems(spec: OfferSpec) -> None:
    assert spec.problems() == {}


@pytest.mark.parametrize(("spec", "fields"), [
    # priced offers need a positive amount
    (OfferSpec(K.ONE_TIME), {"amount"}),
    (OfferSpec(K.ONE_TIME, amount=0), {"amount"}),
    (OfferSpec(K.ONE_TIME, amount=-1), {"amount"}),
    (OfferSpec(K.SUBSCRIPTION, period="month"), {"amount"}),
    (OfferSpec(K.PAY_PER_USE, unit="call"), {"amount"}),
    # free and negotiable offers have no price
    (OfferSpec(K.FREE, amount=1), {"amount"}),
    (OfferSpec(K.NEGOTIABLE, amount=100), {"amount"}),
    # subscriptions, and only they, have a period, one of the known ones
    (OfferSpec(K.SUBSCRIPTION, amount=100), {"period"}),
    (OfferSpec(K.ONE_TIME, amount=100, period="month"), {"period"}),
    (OfferSpec(K.FREE, period="year"), {"period"}),
    (OfferSpec(K.SUBSCRIPTION, amount=100, period="week"), {"period"}),
    # pay-per-use offers, and only they, have a unit, one of the known ones
    (OfferSpec(K.PAY_PER_USE, amount=5), {"unit"}),
    (OfferSpec(K.ONE_TIME, amount=100, unit="call"), {"unit"}),
    (OfferSpec(K.PAY_PER_USE, amount=5, unit="gb"), {"unit"}),
    # only pay-per-use offers have a cap, at least one unit's price
    (OfferSpec(K.PAY_PER_USE, amount=5, unit="call", cap_amount=4), {"cap_amount"}),
    (OfferSpec(K.PAY_PER_USE, amount=5, unit="call", cap_amount=0), {"cap_amount"}),
    (OfferSpec(K.ONE_TIME, amount=100, cap_amount=1000), {"cap_amount"}),
    (OfferSpec(K.SUBSCRIPTION, amount=100, period="month", cap_amount=1000), {"cap_amount"}),
    # a limited offer sells at least one
    (OfferSpec(K.ONE_TIME, amount=100, quantity=0), {"quantity"}),
    (OfferSpec(K.ONE_TIME, amount=100, quantity=-3), {"quantity"}),
    # every problem is named at once
    (OfferSpec(K.SUBSCRIPTION, unit="call", cap_amount=1, quantity=0),
     {"amount", "period", "unit", "cap_amount", "quantity"}),
    (OfferSpec(K.FREE, amount=5, period="month", unit="mb"), {"amount", "period", "unit"}),
], ids=lambda v: repr(sorted(v)) if isinstance(v, set) else repr(v))
def test_each_offer_rule_names_its_field(spec: OfferSpec, fields: set[str]) -> None:
    problems = spec.problems()
    assert set(problems) == fields
    assert all(isinstance(message, str) and message for message in problems.values())


def test_offer_messages_name_the_allowed_values() -> None:
    period = OfferSpec(K.SUBSCRIPTION, amount=1, period="week").problems()["period"]
    unit = OfferSpec(K.PAY_PER_USE, amount=1, unit="gb").problems()["unit"]
    assert all(p in period for p in PERIODS)
    assert all(u in unit for u in UNITS)
    assert "free" in OfferSpec(K.FREE, amount=1).problems()["amount"]
    assert "negotiable" in OfferSpec(K.NEGOTIABLE, amount=1).problems()["amount"]


# -- usage terms -----------------------------------------------------------------------


def test_usage_terms_round_trip_through_their_stored_form() -> None:
    terms = UsageTerms(purposes=("风控建模",), scenarios=("信贷审批", "反欺诈"),
                       territory="domestic", duration_days=365, onward_transfer=False,
                       resale=True, max_users=10, attribution="来源：示例数据商")
    stored = terms.as_dict()
    assert stored == {"purposes": ["风控建模"], "scenarios": ["信贷审批", "反欺诈"],
                      "territory": "domestic", "duration_days": 365,
                      "onward_transfer": False, "resale": True, "max_users": 10,
                      "attribution": "来源：示例数据商"}
    assert UsageTerms.of(stored) == terms


def test_usage_terms_default_to_the_restrictive_side() -> None:
    terms = UsageTerms.of({"purposes": ["a"], "scenarios": ["b"], "territory": "domestic"})
    assert terms == UsageTerms(purposes=("a",), scenarios=("b",), territory="domestic",
                               duration_days=None, onward_transfer=False, resale=False,
                               max_users=None, attribution=None)
