"""Named errors of the matching context."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from market.kernel.errors import Conflict, NotFound, RuleViolation


class DemandNotFound(NotFound):
    """No such demand visible to the caller."""

    code = "demand_not_found"
    title = "Demand not found"


class NegotiationNotFound(NotFound):
    """No such negotiation visible to the caller."""

    code = "negotiation_not_found"
    title = "Negotiation not found"


class SavedSearchNotFound(NotFound):
    """No such saved search of the caller's."""

    code = "saved_search_not_found"
    title = "Saved search not found"


class CapabilityNotFound(NotFound):
    """No such capability of the caller's."""

    code = "capability_not_found"
    title = "Capability not found"


class NotYourTurn(Conflict):
    """The side that made the terms on the table cannot answer them itself."""

    code = "not_your_turn"
    title = "It is the other side's turn"


class NegotiationExpired(Conflict):
    """The negotiation's time to answer has passed."""

    code = "negotiation_expired"
    title = "The negotiation has expired"


class DemandClosed(Conflict):
    """The demand is converted, closed or expired and takes no answers or changes."""

    code = "demand_closed"
    title = "The demand is closed"


class AgreementRefused(RuleViolation):
    """The agreed terms break a compliance rule or the listing's published usage policy."""

    code = "agreement_refused"
    title = "Agreement refused"

    def __init__(self, violations: Sequence[dict[str, Any]]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(str(v["message"]) for v in self.violations),
                         errors={"violations": self.violations})


class NotABroker(RuleViolation):
    """Only an admitted organisation with the broker role proposes matches."""

    code = "not_a_broker"
    title = "Not a broker"
