"""Named errors of the rights context."""

from __future__ import annotations

from collections.abc import Sequence

from market.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from market.rights.domain import Violation


class ResourceNotFound(NotFound):
    """No such data resource visible to the caller."""

    code = "resource_not_found"
    title = "Data resource not found"


class RightNotFound(NotFound):
    """No such right registration visible to the caller."""

    code = "right_not_found"
    title = "Right not found"


class GrantNotFound(NotFound):
    """No such grant visible to the caller."""

    code = "grant_not_found"
    title = "Grant not found"


class DisputeNotFound(NotFound):
    """No such resource dispute visible to the caller."""

    code = "dispute_not_found"
    title = "Dispute not found"


class CertificateNotFound(NotFound):
    """No certificate has this number."""

    code = "certificate_not_found"
    title = "Certificate not found"


class RightRefused(RuleViolation):
    """Automatic refusal: the registration breaks rules that need no reviewer to see."""

    code = "right_refused"
    title = "Right registration refused"

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        super().__init__(
            "; ".join(v.message for v in self.violations),
            errors={"violations": [v.as_dict() for v in self.violations]},
        )


class ReviewerIsHolder(Forbidden):
    """An organisation may not review a registration of its own (conflict of interest)."""

    code = "reviewer_is_holder"
    title = "You may not review your own registration"


class ProductHeldByOther(Conflict):
    """Another organisation holds (or has applied for) the product operation right."""

    code = "product_held_by_other"
    title = "Another organisation operates this product"


class NotTheHolder(Forbidden):
    """Only the holder of the right (or the operator) may do this."""

    code = "not_the_holder"
    title = "Only the holder may do this"


class ReviewClaimedByOther(Conflict):
    """Another reviewer has claimed this review."""

    code = "review_claimed"
    title = "Another reviewer has claimed this review"


class GranteeNotAdmitted(InvalidInput):
    """A grant must name an admitted organisation other than the grantor."""

    code = "grantee_not_admitted"
    title = "The grantee is not an admitted participant"


class EvidenceMismatch(InvalidInput):
    """The uploaded content does not hash to the declared SHA-256."""

    code = "evidence_mismatch"
    title = "Evidence content does not match its SHA-256"


class DisputeClosed(Conflict):
    """The dispute is already resolved."""

    code = "dispute_closed"
    title = "The dispute is already resolved"


class PublicDataAuthorisationNotFound(NotFound):
    """No such public-data authorisation visible to the caller."""

    code = "public_data_authorisation_not_found"
    title = "Public-data authorisation not found"


class PublicDataNotAuthorised(RuleViolation):
    """Public data is registered only by an organisation with an in-term public-data
    authorisation covering it (its category or id) and the scenarios asked for."""

    code = "public_data_not_authorised"
    title = "No public-data authorisation covers this"


class PublicDataOperatorNotEligible(InvalidInput):
    """Public-data operators are admitted merchants other than the exchange operator."""

    code = "public_data_operator_not_eligible"
    title = "This organisation cannot be authorised to operate public data"
