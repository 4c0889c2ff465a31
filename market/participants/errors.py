"""Named errors of the participants context."""

from market.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RuleViolation,
    Unauthorized,
)


class OrganisationNotFound(NotFound):
    """No such organisation visible to the caller."""

    code = "organisation_not_found"
    title = "Organisation not found"


class UserNotFound(NotFound):
    """No such user visible to the caller."""

    code = "user_not_found"
    title = "User not found"


class ApiKeyNotFound(NotFound):
    """No such API key visible to the caller."""

    code = "api_key_not_found"
    title = "API key not found"


class InvalidCreditCode(InvalidInput):
    """The unified social credit code fails the GB 32100 format or check digit."""

    code = "invalid_credit_code"
    title = "Invalid unified social credit code"


class CreditCodeTaken(Conflict):
    """Another organisation already holds this credit code."""

    code = "credit_code_taken"
    title = "An organisation with this credit code already exists"


class EmailTaken(Conflict):
    """Another user already has this e-mail address."""

    code = "email_taken"
    title = "A user with this e-mail address already exists"


class RolesNotAllowed(RuleViolation):
    """The role set breaks venue/merchant separation or names unknown roles."""

    code = "roles_not_allowed"
    title = "Role combination not allowed"


class OperatorRoleReserved(Forbidden):
    """Operator organisations are created only by the bootstrap command."""

    code = "operator_role_reserved"
    title = "Operator organisations can only be created from the command line"


class OperatorStatusFixed(Forbidden):
    """The venue's own admission state is not changed through the API."""

    code = "operator_status_fixed"
    title = "An operator organisation's admission state cannot be changed here"


class ScopesNotAllowed(InvalidInput):
    """A key may only carry known scopes, and no more than the creating key holds."""

    code = "scopes_not_allowed"
    title = "Scopes not allowed"


class SigningKeyNotFound(NotFound):
    """No such signing key of this organisation visible to the caller."""

    code = "signing_key_not_found"
    title = "Signing key not found"


class NotOwnOrganisation(Forbidden):
    """Only an organisation's own users manage its signing keys (the operator reads them)."""

    code = "not_own_organisation"
    title = "Only the organisation itself manages its signing keys"


class InvalidSigningKey(InvalidInput):
    """The public key is not a key of the named suite."""

    code = "invalid_signing_key"
    title = "Invalid signing key"


class SigningKeyTaken(Conflict):
    """The key is already a verified, unrevoked key of an organisation."""

    code = "signing_key_taken"
    title = "This key is already registered and verified"


class SigningKeyNotPending(Conflict):
    """Only a pending key is verified by its challenge."""

    code = "signing_key_not_pending"
    title = "The signing key is not waiting for verification"
    detail_template = "the key is %(status)s"


class ChallengeSignatureInvalid(InvalidInput):
    """The signature of a key's challenge does not verify against the key."""

    code = "challenge_signature_invalid"
    title = "The signature does not verify against the key"
    detail_template = "sign the key's challenge text with the key itself; the key stays pending"


class IdentityChangeNeedsOperator(Conflict):
    """Once admitted, an organisation's legal representative and controller change only
    through the operator, upon the documents that show the change: the related-party
    checks rely on them."""

    code = "identity_change_needs_operator"
    title = "After admission, the operator records identity changes"
    detail_template = ("send the operator the documents showing the new legal representative "
                       "or controlling shareholder; the organisation is %(status)s")


class AdmissionDocumentsMissing(RuleViolation):
    """Admission (or reinstatement) needs every required document verified and in force."""

    code = "admission_documents_missing"
    title = "Required admission documents are missing, unverified or expired"


class DocumentNotFound(NotFound):
    """No such qualification document of an organisation visible to the caller."""

    code = "document_not_found"
    title = "Document not found"


class DocumentMismatch(InvalidInput):
    """An uploaded document does not match its SHA-256, or its dates cannot be right."""

    code = "document_mismatch"
    title = "The document does not match what was declared of it"


class DocumentAlreadyReviewed(Conflict):
    """The operator reviews a document once; a renewal is a new document."""

    code = "document_already_reviewed"
    title = "This document has already been reviewed"


class InvalidIdentityNumber(InvalidInput):
    """An identity number fails its format or check character (GB 11643)."""

    code = "invalid_identity_number"
    title = "Invalid identity number"


class CreditMarkNotFound(NotFound):
    """No credit mark is computed for this organisation yet."""

    code = "credit_mark_not_found"
    title = "No credit mark has been computed for this organisation yet"


class ConsoleSessionEnded(Unauthorized):
    """The console session is unknown or has ended (logout, timeout, or its key no longer
    usable)."""

    code = "console_session_ended"
    title = "Your console session has ended"
    detail_template = "Log in again with an API key."
