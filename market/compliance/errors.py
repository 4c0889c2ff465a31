"""Named errors of the compliance context."""

from __future__ import annotations

from market.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation


class DeclarationNotFound(NotFound):
    """No such declaration visible to the caller."""

    code = "declaration_not_found"
    title = "Declaration not found"


class DecisionNotFound(NotFound):
    """No such compliance decision visible to the caller."""

    code = "decision_not_found"
    title = "Decision not found"


class InvalidDeclarationSignature(InvalidInput):
    """The organisation-key signature does not recover to an address over this declaration."""

    code = "invalid_declaration_signature"
    title = "The declaration's signature is not valid"


class FilingNotFound(NotFound):
    """No such filing visible to the caller."""

    code = "filing_not_found"
    title = "Filing not found"


class AlertNotFound(NotFound):
    """No such risk alert."""

    code = "alert_not_found"
    title = "Alert not found"


class ReviewItemNotFound(NotFound):
    """No such item in the review queue."""

    code = "review_item_not_found"
    title = "Review item not found"


class ReviewerIsParty(Forbidden):
    """An organisation may not assess what it submitted itself."""

    code = "reviewer_is_party"
    title = "You may not assess your own submission"


class ReviewerAlreadyApproved(Conflict):
    """A subject that needs two different reviewers (双重审核) is approved a second time by
    the reviewer who approved it first."""

    code = "reviewer_already_approved"
    title = "You have already approved this review"
    detail_template = "It needs an approval by a different reviewer."


class AdmissionCommitmentMissing(RuleViolation):
    """An applicant is admitted only after signing the admission commitment, every
    commitment in it made."""

    code = "admission_commitment_missing"
    title = "The applicant has not made the admission commitment"
