"""Participants' public surface: organisations and their admission, users, API keys and
authentication, and the facts other contexts' rules ask about organisations, with the value
types callers pass and get back (:class:`Status`, :class:`OrganisationInput`,
:class:`OrganisationFacts` …)."""

from market.participants.domain import Status, random_credit_code
from market.participants.services._common import KEY_PREFIX, SCOPES, IssuedKey
from market.participants.services.facts import (
    OrganisationFacts,
    Sanction,
    organisation_facts,
    sanctioned,
)
from market.participants.services.keys import (
    MAX_KEY_LIFETIME,
    authenticate,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)
from market.participants.services.organisations import (
    ADMITTING,
    ContactChanges,
    OrganisationInput,
    Registration,
    apply_for_admission,
    change_status,
    get_organisation,
    list_organisations,
    list_status_changes,
    register_organisation,
    update_contact,
)
from market.participants.services.users import create_user, list_users, whoami

__all__ = [
    "ADMITTING",
    "KEY_PREFIX",
    "MAX_KEY_LIFETIME",
    "SCOPES",
    "ContactChanges",
    "IssuedKey",
    "OrganisationFacts",
    "OrganisationInput",
    "Registration",
    "Sanction",
    "Status",
    "apply_for_admission",
    "authenticate",
    "change_status",
    "create_api_key",
    "create_user",
    "get_organisation",
    "list_api_keys",
    "list_organisations",
    "list_status_changes",
    "list_users",
    "organisation_facts",
    "random_credit_code",
    "register_organisation",
    "revoke_api_key",
    "sanctioned",
    "update_contact",
    "whoami",
]
