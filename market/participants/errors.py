"""Named errors of the participants context."""

from market.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation


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
