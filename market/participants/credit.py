"""The public credit mark (信用评价, 信用标识) of a participant, as a pure computation.

The mark is a 0-100 score and a grade (A ≥ 90, B ≥ 75, C ≥ 60, D below; a blacklisted
participant is always D with 0), the sum of four components, each shown with the records
it was computed from:

=============  ======  ============================================================
component      points  earned
=============  ======  ============================================================
fulfilment     30      30 × completed / (completed + failed by the seller); a
                       participant that never sold keeps the 30
disputes       20      20 less 5 per dispute lost as seller and 1 per other dispute
                       opened against it (at least 0)
breaches       30      30 less the points of its declaration breaches (compliance's
                       ``BREACH_POINTS``: minor 5, serious 20, grave 50; at least 0)
sanctions      20      0 while suspended or blacklisted, else 20 less 5 per earlier
                       suspension (at least 0)
=============  ======  ============================================================

The records come from three contexts (trading's orders and disputes, compliance's
breaches, participants' admission history) and are passed in by value.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

COMPONENT_POINTS = {"fulfilment": 30, "disputes": 20, "breaches": 30, "sanctions": 20}
GRADES = (("A", 90), ("B", 75), ("C", 60), ("D", 0))
LOST_DISPUTE_POINTS = 5
OPENED_DISPUTE_POINTS = 1
SUSPENSION_POINTS = 5


@dataclass(frozen=True)
class CreditInputs:
    """The records a mark is computed from."""

    completed: int = 0  # orders sold and settled (or accepted)
    failed: int = 0  # orders sold and refunded for the seller's fault (undelivered, lost)
    on_time: int = 0  # orders sold and delivered within the delivery window
    late: int = 0  # orders sold and not delivered within it
    disputes_opened: int = 0  # disputes opened against it as seller
    disputes_lost: int = 0  # of those, decided with a partial or full refund
    breach_points: int = 0  # the points of its declaration breaches
    breaches: int = 0
    suspended_now: bool = False
    blacklisted: bool = False
    past_suspensions: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class CreditMark:
    score: int
    grade: str
    components: dict[str, dict[str, Any]]


def grade_of(score: int) -> str:
    return next(grade for grade, floor in GRADES if score >= floor)


def compute(inputs: CreditInputs) -> CreditMark:
    """The mark and its components from the records."""
    sold = inputs.completed + inputs.failed
    fulfilment = (COMPONENT_POINTS["fulfilment"] if sold == 0 else
                  round(Fraction(COMPONENT_POINTS["fulfilment"] * inputs.completed, sold)))
    other_disputes = max(0, inputs.disputes_opened - inputs.disputes_lost)
    disputes = max(0, COMPONENT_POINTS["disputes"] - LOST_DISPUTE_POINTS * inputs.disputes_lost
                   - OPENED_DISPUTE_POINTS * other_disputes)
    breaches = max(0, COMPONENT_POINTS["breaches"] - inputs.breach_points)
    barred = inputs.suspended_now or inputs.blacklisted
    sanctions = 0 if barred else max(
        0, COMPONENT_POINTS["sanctions"] - SUSPENSION_POINTS * inputs.past_suspensions)
    components = {
        "fulfilment": {"points": fulfilment, "of": COMPONENT_POINTS["fulfilment"],
                       "completed": inputs.completed, "failed": inputs.failed,
                       "on_time": inputs.on_time, "late": inputs.late},
        "disputes": {"points": disputes, "of": COMPONENT_POINTS["disputes"],
                     "opened": inputs.disputes_opened, "lost": inputs.disputes_lost},
        "breaches": {"points": breaches, "of": COMPONENT_POINTS["breaches"],
                     "breaches": inputs.breaches, "breach_points": inputs.breach_points},
        "sanctions": {"points": sanctions, "of": COMPONENT_POINTS["sanctions"],
                      "suspended_now": inputs.suspended_now,
                      "blacklisted": inputs.blacklisted,
                      "past_suspensions": inputs.past_suspensions},
    }
    score = 0 if inputs.blacklisted else sum(int(c["points"]) for c in components.values())
    return CreditMark(score, "D" if inputs.blacklisted else grade_of(score), components)
