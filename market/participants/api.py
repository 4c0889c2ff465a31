"""Participants API: applications, admission decisions, users, API keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from market.kernel.actor import Role
from market.kernel.web import ApiBlueprint, current_actor, state, unit_of_work
from market.kernel.web.pagination import PageQuery, page_args, page_body, page_of
from market.participants import services
from market.participants.domain import Status
from market.participants.schemas import (
    ApiKeyIn,
    ApiKeyOut,
    ContactIn,
    IssuedKeyOut,
    MeOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationQuery,
    RegistrationOut,
    StatusChangeIn,
    StatusChangeOut,
    UserIn,
    UserOut,
)

bp = ApiBlueprint(
    "participants", __name__, description="Organisations, admission, users and API keys"
)



def _key_ttl() -> timedelta:
    return timedelta(days=state().settings.api_key_default_ttl_days)


def _issued(issued: services.IssuedKey) -> dict[str, Any]:
    key = issued.key
    return {
        "id": key.id, "user_id": key.user_id, "organisation_id": key.organisation_id,
        "name": key.name, "scopes": key.scopes, "created_at": key.created_at,
        "expires_at": key.expires_at, "revoked_at": key.revoked_at, "token": issued.token,
    }


def _org_input(body: dict[str, Any]) -> services.OrganisationInput:
    return services.OrganisationInput(
        name=body["name"], credit_code=body["credit_code"].upper(),
        contact_name=body["contact_name"], contact_email=body["contact_email"].lower(),
        contact_phone=body.get("contact_phone"), roles=frozenset(body["roles"]),
    )


@bp.route("/participants", methods=["POST"])
@bp.access(roles=[Role.OPERATOR], anonymous=True)
@bp.idempotent
@bp.arguments(OrganisationIn)
@bp.response(201, RegistrationOut)
def apply_or_register(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Apply for admission, or (as the operator) register an admitted organisation.

    Without a key this is an application: the organisation starts as `applied`, and the key
    in the answer can only follow the application until the operator admits it. With the
    operator's key the organisation is registered and admitted at once. The answer is the
    only time the key's secret is shown.
    """
    data = _org_input(body)
    if current_actor().is_anonymous:
        reg = services.apply_for_admission(data, uow=unit_of_work(), key_ttl=_key_ttl())
    else:
        reg = services.register_organisation(data, uow=unit_of_work(), key_ttl=_key_ttl(),
                                             reason="registered by the operator")
    out = {"organisation": reg.organisation, "user": reg.user, "api_key": _issued(reg.api_key)}
    return out, 201, {"Location": f"/api/v1/participants/{reg.organisation.id}"}


@bp.route("/participants", methods=["GET"])
@bp.access(unadmitted=True)
@bp.arguments(OrganisationQuery, location="query")
@bp.response(200, page_of(OrganisationOut))
def list_participants(query: dict[str, Any]) -> dict[str, Any]:
    """List organisations: all of them for the operator and regulators, else your own."""
    page = services.list_organisations(
        uow=unit_of_work(), status=query["status"], role=query["role"],
        **page_args(query),
    )
    return page_body(page)


@bp.route("/participants/<org_id>", methods=["GET"])
@bp.access(unadmitted=True, object_scoped=True)
@bp.response(200, OrganisationOut)
def get_participant(org_id: str) -> Any:
    """One organisation: your own, or any for the operator and regulators."""
    return services.get_organisation(org_id, uow=unit_of_work())


@bp.route("/participants/<org_id>", methods=["PATCH"])
@bp.access(roles=[r.value for r in Role if r is not Role.REGULATOR], object_scoped=True)
@bp.arguments(ContactIn)
@bp.response(200, OrganisationOut)
def update_participant(body: dict[str, Any], org_id: str) -> Any:
    """Change your organisation's contact details (the operator may change any)."""
    changes = services.ContactChanges(
        contact_name=body.get("contact_name"),
        contact_email=body["contact_email"].lower() if body.get("contact_email") else None,
        contact_phone=body.get("contact_phone"), fields=frozenset(body),
    )
    return services.update_contact(org_id, changes, uow=unit_of_work())


@bp.route("/participants/<org_id>/status-changes", methods=["POST"])
@bp.access(roles=[Role.OPERATOR], object_scoped=True)
@bp.idempotent
@bp.arguments(StatusChangeIn)
@bp.response(200, OrganisationOut)
def decide_admission(body: dict[str, Any], org_id: str) -> Any:
    """Admission decision by the operator: admit, suspend, reinstate, exit or blacklist.

    The workflow is applied → admitted → suspended ⇄ admitted → exited, and any state →
    blacklisted. Every decision needs a reason and is kept in the history.
    """
    return services.change_status(org_id, Status(body["status"]), body["reason"],
                                  uow=unit_of_work())


@bp.route("/participants/<org_id>/status-changes", methods=["GET"])
@bp.access(unadmitted=True, object_scoped=True)
@bp.arguments(PageQuery, location="query")
@bp.response(200, page_of(StatusChangeOut))
def list_admission_history(query: dict[str, Any], org_id: str) -> dict[str, Any]:
    """The admission history of an organisation, oldest first."""
    page = services.list_status_changes(org_id, uow=unit_of_work(),
                                        **page_args(query))
    return page_body(page)


@bp.route("/participants/<org_id>/users", methods=["POST"])
@bp.access(roles=[r.value for r in Role], object_scoped=True)
@bp.idempotent
@bp.arguments(UserIn)
@bp.response(201, UserOut)
def create_user(body: dict[str, Any], org_id: str) -> tuple[Any, int, dict[str, str]]:
    """Add a user to your own organisation."""
    user = services.create_user(org_id, body["name"], body["email"].lower(), uow=unit_of_work())
    return user, 201, {"Location": f"/api/v1/participants/{org_id}/users/{user.id}"}


@bp.route("/participants/<org_id>/users", methods=["GET"])
@bp.access(object_scoped=True)
@bp.arguments(PageQuery, location="query")
@bp.response(200, page_of(UserOut))
def list_users(query: dict[str, Any], org_id: str) -> dict[str, Any]:
    """Users of an organisation (yours; the operator and regulators see any)."""
    page = services.list_users(org_id, uow=unit_of_work(),
                               **page_args(query))
    return page_body(page)


@bp.route("/me", methods=["GET"])
@bp.access(unadmitted=True)
@bp.response(200, MeOut)
def me() -> dict[str, Any]:
    """Who the key belongs to: user, organisation (with admission state) and scopes."""
    user, org = services.whoami(uow=unit_of_work())
    actor = current_actor()
    return {"user": user, "organisation": org, "key_id": actor.key_id,
            "scopes": sorted(actor.scopes)}


@bp.route("/keys", methods=["POST"])
@bp.access()
@bp.idempotent
@bp.arguments(ApiKeyIn)
@bp.response(201, IssuedKeyOut)
def create_key(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Create an API key for yourself or another user of your organisation (secret shown once)."""
    issued = services.create_api_key(
        uow=unit_of_work(), user_id=body["user_id"], name=body["name"],
        scopes=frozenset(body["scopes"]), expires_at=body["expires_at"],
        default_ttl=_key_ttl(),
    )
    return _issued(issued), 201, {"Location": f"/api/v1/keys/{issued.key.id}"}


@bp.route("/keys", methods=["GET"])
@bp.access()
@bp.arguments(PageQuery, location="query")
@bp.response(200, page_of(ApiKeyOut))
def list_keys(query: dict[str, Any]) -> dict[str, Any]:
    """Your organisation's API keys (never their secrets)."""
    page = services.list_api_keys(uow=unit_of_work(), **page_args(query))
    return page_body(page)


@bp.route("/keys/<key_id>/revoke", methods=["POST"])
@bp.access(object_scoped=True)
@bp.response(200, ApiKeyOut)
def revoke_key(key_id: str) -> Any:
    """Revoke one of your organisation's keys; it stops working at once."""
    return services.revoke_api_key(key_id, uow=unit_of_work())
