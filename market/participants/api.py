"""Participants API: applications, admission decisions, users, API keys."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from market.kernel.actor import Role
from market.kernel.errors import InvalidInput
from market.kernel.storage import FileStore
from market.kernel.web import ApiBlueprint, current_actor, state, unit_of_work
from market.kernel.web.files import stored_files
from market.kernel.web.pagination import PageQuery, page_args, page_body, page_of
from market.participants import services
from market.participants.document_schemas import (
    CreditMarkOut,
    DocumentIn,
    DocumentListOut,
    DocumentOut,
    DocumentReviewIn,
    IdentityIn,
    IdentityOut,
)
from market.participants.domain import Status
from market.participants.schemas import (
    ApiKeyIn,
    ApiKeyOut,
    ContactIn,
    IssuedKeyOut,
    KeyRevocationIn,
    KeyVerificationIn,
    MeOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationQuery,
    RegistrationOut,
    SigningKeyIn,
    SigningKeyOut,
    SigningKeyQuery,
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
        reg = services.apply_for_admission(data, uow=unit_of_work(), key_ttl=_key_ttl(),
                                           papers=_papers(body))
    else:
        reg = services.register_organisation(data, uow=unit_of_work(), key_ttl=_key_ttl(),
                                             reason="registered by the operator",
                                             papers=_papers(body))
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


# -- signing keys (电子签名): the organisation's own users manage them; the operator and
# regulators read them.


@bp.route("/organisations/<org_id>/signing-keys", methods=["GET"])
@bp.access(object_scoped=True)
@bp.arguments(SigningKeyQuery, location="query")
@bp.response(200, page_of(SigningKeyOut))
def list_signing_keys(query: dict[str, Any], org_id: str) -> dict[str, Any]:
    """An organisation's signing keys, revoked ones too (yours; the operator and regulators
    read any)."""
    page = services.list_signing_keys(org_id, uow=unit_of_work(), status=query["status"],
                                      **page_args(query))
    return page_body(page)


@bp.route("/organisations/<org_id>/signing-keys", methods=["POST"])
@bp.access(roles=[r.value for r in Role if r is not Role.REGULATOR], object_scoped=True)
@bp.idempotent
@bp.arguments(SigningKeyIn)
@bp.response(201, SigningKeyOut)
def register_signing_key(body: dict[str, Any], org_id: str) -> tuple[Any, int]:
    """Register a signing key of your organisation: secp256k1 (an Ethereum address) or SM2
    (a public key). It is pending until verified: sign the `challenge` in the answer with
    the key and POST the signature to `.../verification`."""
    key = services.register_signing_key(org_id, services.SigningSuite(body["suite"]),
                                        body["public_key"], body["name"], uow=unit_of_work())
    return key, 201


@bp.route("/organisations/<org_id>/signing-keys/<signing_key_id>/verification",
          methods=["POST"])
@bp.access(roles=[r.value for r in Role if r is not Role.REGULATOR], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@bp.arguments(KeyVerificationIn)
@bp.response(200, SigningKeyOut)
def verify_signing_key(body: dict[str, Any], org_id: str, signing_key_id: str) -> Any:
    """Verify a pending key by its signature of the key's challenge; a signature that does
    not verify answers 422 challenge_signature_invalid and the key stays pending."""
    return services.verify_signing_key(org_id, signing_key_id, body["signature"],
                                       uow=unit_of_work())


@bp.route("/organisations/<org_id>/signing-keys/<signing_key_id>/revocation",
          methods=["POST"])
@bp.access(roles=[r.value for r in Role if r is not Role.REGULATOR], object_scoped=True)
@bp.arguments(KeyRevocationIn)
@bp.response(200, SigningKeyOut)
def revoke_signing_key(body: dict[str, Any], org_id: str, signing_key_id: str) -> Any:
    """Revoke a key of your organisation: it signs nothing from now on, and stays on record
    with `revoked_at` (what it signed before still verifies)."""
    return services.revoke_signing_key(org_id, signing_key_id, body["reason"],
                                       uow=unit_of_work())


# -- admission documents (主体资格), identities (实名制) and credit marks (信用标识) ----------


def _storage() -> FileStore:
    return stored_files("evidence")  # beside rights evidence, by SHA-256


def _identity_key() -> bytes:
    return services.identity_key_of(state().settings.secret_key)


def _document(item: dict[str, Any]) -> services.DocumentInput:
    content = None
    if item.get("content_base64") is not None:
        try:
            content = base64.b64decode(item["content_base64"], validate=True)
        except ValueError:
            raise InvalidInput(errors={"content_base64": ["not valid base64"]}) from None
    return services.DocumentInput(
        kind=services.DocumentKind(item["kind"]), name=item["name"], sha256=item["sha256"],
        issued_on=item.get("issued_on"), expires_on=item.get("expires_on"),
        media_type=item.get("media_type") or "application/octet-stream", content=content)


def _identity(body: dict[str, Any]) -> services.IdentityInput | None:
    rep, owner = body.get("legal_representative"), body.get("controlling_shareholder")
    officer = body.get("data_security_officer")
    if not (rep or owner or officer):
        return None
    return services.IdentityInput(
        legal_representative=services.PersonInput(rep["name"], rep["id_number"]) if rep
        else None,
        controlling_shareholder=services.ControllerInput(
            owner["name"], owner["kind"], owner["identifier"]) if owner else None,
        security_officer_name=officer["name"] if officer else None)


def _papers(body: dict[str, Any]) -> services.Papers:
    return services.Papers(documents=[_document(d) for d in body.get("documents") or []],
                           identity=_identity(body), storage=_storage(),
                           identity_key=_identity_key())


@bp.route("/organisations/<org_id>/documents", methods=["GET"])
@bp.access(unadmitted=True, object_scoped=True)
@bp.response(200, DocumentListOut)
def list_documents(org_id: str) -> dict[str, Any]:
    """An organisation's qualification documents (主体资格材料), oldest first: yours, or any
    for the operator and regulators."""
    return {"items": services.list_documents(org_id, uow=unit_of_work())}


@bp.route("/organisations/<org_id>/documents", methods=["POST"])
@bp.access(roles=[r.value for r in Role if r is not Role.REGULATOR], unadmitted=True,
           object_scoped=True)
@bp.idempotent
@bp.arguments(DocumentIn)
@bp.response(201, DocumentOut)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def submit_document(body: dict[str, Any], org_id: str) -> tuple[Any, int, dict[str, str]]:
    """Submit a document, or renew one: a new document of the same kind replaces the one
    before once the operator verifies it (and lifts a suspension its expiry caused)."""
    doc = services.submit_document(org_id, _document(body), uow=unit_of_work(),
                                   storage=_storage())
    return doc, 201, {"Location": f"/api/v1/organisations/{org_id}/documents"}


@bp.route("/organisations/<org_id>/documents/<document_id>/review", methods=["POST"])
@bp.access(roles=[Role.OPERATOR], object_scoped=True)
@bp.idempotent
@bp.arguments(DocumentReviewIn)
@bp.response(200, DocumentOut)
@bp.alt_response(409, response="CONFLICT")
def review_document(body: dict[str, Any], org_id: str, document_id: str) -> Any:
    """The operator verifies a document against its original, or rejects it, with a note.
    Admission needs every required document verified and in force."""
    return services.review_document(org_id, document_id, body["decision"] == "verified",
                                    body["note"], uow=unit_of_work())


@bp.route("/organisations/<org_id>/identity", methods=["GET"])
@bp.access(unadmitted=True, object_scoped=True)
@bp.response(200, IdentityOut)
def get_identity(org_id: str) -> Any:
    """The legal representative, controlling shareholder and data-security officer on
    record (names, and only the last four characters of any identity number)."""
    found = services.get_identity(org_id, uow=unit_of_work())
    return found if found is not None else {"organisation_id": org_id}


@bp.route("/organisations/<org_id>/identity", methods=["PUT"])
@bp.access(roles=[r.value for r in Role if r is not Role.REGULATOR], unadmitted=True,
           object_scoped=True)
@bp.arguments(IdentityIn)
@bp.response(200, IdentityOut)
@bp.alt_response(409, response="CONFLICT")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def record_identity(body: dict[str, Any], org_id: str) -> Any:
    """Record who stands behind your organisation, as its documents show: relations between
    participants (关联方) are found from these. An applicant records its own; once admitted,
    only the operator records a change (409 identity_change_needs_operator otherwise)."""
    identity = _identity(body)
    assert identity is not None  # the schema asks for at least one
    return services.record_identity(org_id, identity, uow=unit_of_work(),
                                    identity_key=_identity_key())


@bp.route("/organisations/<org_id>/credit", methods=["GET"])
@bp.access(anonymous=True, object_scoped=True)
@bp.response(200, CreditMarkOut)
def credit_mark(org_id: str) -> Any:
    """A participant's public credit mark (信用标识): a 0-100 score, its grade and the
    components it sums (fulfilment, disputes, breaches, sanctions) with their records.
    Public, like the sanctions list; recomputed by the worker."""
    return services.get_credit_mark(org_id, uow=unit_of_work())
