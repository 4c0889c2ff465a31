"""Rights API: resources, right registrations, review, grants, disputes, certificates and
the rights chain of a product."""

from __future__ import annotations

from typing import Any

from flask import current_app

from market.kernel.actor import Role
from market.kernel.storage import FileStore
from market.kernel.web import ApiBlueprint, state, unit_of_work
from market.kernel.web.files import stored_files
from market.kernel.web.pagination import PageQuery, page_args, page_body, page_of
from market.receipts.services import Signer, verify
from market.rights import services
from market.rights.schemas import (
    CertificateOut,
    CertificateVerificationOut,
    ChainOut,
    ChainQuery,
    DisputeIn,
    DisputeOut,
    EvidenceListIn,
    EvidenceListOut,
    GrantIn,
    GrantOut,
    GrantQuery,
    GrantSummaryOut,
    PublicDataAuthorisationIn,
    PublicDataAuthorisationOut,
    PublicDataAuthorisationQuery,
    ReasonIn,
    ResolutionIn,
    ResourceIn,
    ResourceOut,
    ResourceQuery,
    ResourceSummaryOut,
    ReviewIn,
    RightEventOut,
    RightIn,
    RightOut,
    RightQuery,
    RightStatusIn,
    RightSummaryOut,
)

bp = ApiBlueprint("rights", __name__,
                  description="Data resources, the three separated rights, grants, certificates")

REVIEWERS = [Role.OPERATOR, Role.ASSESSOR]


def signer() -> Signer:
    return current_app.extensions["market.signer"]  # type: ignore[no-any-return]


def _evidence_dir() -> FileStore:
    return stored_files("evidence")


def _evidence(items: list[dict[str, Any]]) -> list[services.EvidenceInput]:
    return [
        services.EvidenceInput(
            kind=services.EvidenceKind(item["kind"]), name=item["name"],
            media_type=item["media_type"], sha256=item["sha256"],
            content=services.decode_content(item["content_base64"]),
        )
        for item in items
    ]


def _scope_term(body: dict[str, Any]) -> tuple[services.Scope, services.Term]:
    scope = services.Scope(frozenset(body["purposes"]), frozenset(body["scenarios"]),
                           services.Territory(body["territory"]))
    return scope, services.Term(body["valid_from"], body["valid_to"])


def _with(obj: Any, **extra: Any) -> dict[str, Any]:
    data = {c.key: getattr(obj, c.key) for c in obj.__table__.columns}
    data.update(extra)
    return data


# -- resources -------------------------------------------------------------------------


@bp.route("/resources", methods=["POST"])
@bp.access(roles=[Role.MERCHANT])
@bp.idempotent
@bp.arguments(ResourceIn)
@bp.response(201, ResourceOut)
def register_resource(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Register a data resource (数据资源) you hold, with its source-legality evidence."""
    data = services.ResourceInput(
        title=body["title"], description=body["description"],
        origin=services.Origin(body["origin"]),
        classification=services.Classification(body["classification"]),
        pi_level=services.PILevel(body["pi_level"]), collection_method=body["collection_method"],
        collection_source=body["collection_source"], scenarios=body["scenarios"],
        update_frequency=body["update_frequency"], evidence=_evidence(body["evidence"]),
        public_category=body["public_category"],
        sensitive_categories=body["sensitive_categories"],
        storage_location=body["storage_location"], storage_region=body["storage_region"],
    )
    resource = services.register_resource(data, uow=unit_of_work(),
                                          evidence_dir=_evidence_dir())
    resource, evidence = services.get_resource(resource.id, uow=unit_of_work())
    return (_with(resource, evidence=evidence), 201,
            {"Location": f"/api/v1/resources/{resource.id}"})


@bp.route("/resources", methods=["GET"])
@bp.access()
@bp.arguments(ResourceQuery, location="query")
@bp.response(200, page_of(ResourceSummaryOut))
def list_resources(query: dict[str, Any]) -> dict[str, Any]:
    """Resources: your own; every one for the operator, assessors and regulators."""
    return page_body(services.list_resources(uow=unit_of_work(), holder=query["holder"],
                                             **page_args(query)))


@bp.route("/resources/<resource_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, ResourceOut)
def get_resource(resource_id: str) -> dict[str, Any]:
    """One resource with its evidence."""
    resource, evidence = services.get_resource(resource_id, uow=unit_of_work())
    return _with(resource, evidence=evidence)


@bp.route("/resources/<resource_id>/evidence", methods=["POST"])
@bp.access(roles=[Role.MERCHANT], object_scoped=True)
@bp.arguments(EvidenceListIn)
@bp.response(201, EvidenceListOut)
def add_resource_evidence(body: dict[str, Any], resource_id: str) -> tuple[dict[str, Any], int]:
    """Add evidence documents (by SHA-256, optionally with their content) to your resource."""
    items = services.add_evidence("resource", resource_id, _evidence(body["evidence"]),
                                  uow=unit_of_work(), evidence_dir=_evidence_dir())
    return {"items": items}, 201


@bp.route("/resources/<resource_id>/disputes", methods=["POST"])
@bp.access(roles=[Role.OPERATOR], object_scoped=True)
@bp.idempotent
@bp.arguments(DisputeIn)
@bp.response(201, DisputeOut)
def open_dispute(body: dict[str, Any], resource_id: str) -> tuple[Any, int]:
    """The operator records an objection (登记异议) lodged by a claimant; the rights on the
    resource are suspended until the operator resolves it."""
    dispute = services.open_dispute(resource_id, body["reason"], uow=unit_of_work(),
                                    claimant_org_id=body["claimant_org_id"])
    return dispute, 201


@bp.route("/resources/<resource_id>/disputes", methods=["GET"])
@bp.access(object_scoped=True)
@bp.arguments(PageQuery, location="query")
@bp.response(200, page_of(DisputeOut))
def list_disputes(query: dict[str, Any], resource_id: str) -> dict[str, Any]:
    """Disputes over a resource you can see."""
    return page_body(services.list_disputes(resource_id, uow=unit_of_work(),
                                            **page_args(query)))


@bp.route("/resources/<resource_id>/disputes/<dispute_id>/resolution", methods=["POST"])
@bp.access(roles=[Role.OPERATOR], object_scoped=True)
@bp.arguments(ResolutionIn)
@bp.response(200, DisputeOut)
def resolve_dispute(body: dict[str, Any], resource_id: str, dispute_id: str) -> Any:
    """The operator resolves a dispute: dismissed restores the rights, upheld revokes them."""
    return services.resolve_dispute(dispute_id, body["outcome"] == "upheld",
                                    body["resolution"], uow=unit_of_work(),
                                    resource_id=resource_id)


# -- rights ----------------------------------------------------------------------------


@bp.route("/rights", methods=["POST"])
@bp.access(roles=[Role.MERCHANT])
@bp.idempotent
@bp.arguments(RightIn)
@bp.response(201, RightOut)
def submit_right(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Submit a right registration (确权登记) for review.

    Refused at once (422 `right_refused`, every violation named in `errors.violations`):
    core data, an open dispute, personal information without consent or anonymisation
    evidence, and a parent right that is missing, not registered, out of term, held by
    someone else without a grant, or narrower than what you ask for.
    """
    scope, term = _scope_term(body)
    data = services.RightInput(
        kind=services.RightKind(body["kind"]), scope=scope, term=term,
        resource_id=body["resource_id"], product_id=body["product_id"],
        product_title=body["product_title"],
        parent_ids=body["parent_ids"], grant_id=body["grant_id"],
        evidence=_evidence(body["evidence"]),
    )
    right = services.submit_right(data, uow=unit_of_work(), evidence_dir=_evidence_dir())
    return _right(right.id), 201, {"Location": f"/api/v1/rights/{right.id}"}


def _right(right_id: str) -> dict[str, Any]:
    right, parents, evidence = services.get_right(right_id, uow=unit_of_work())
    return _with(right, parent_ids=parents, evidence=evidence)


@bp.route("/rights", methods=["GET"])
@bp.access()
@bp.arguments(RightQuery, location="query")
@bp.response(200, page_of(RightSummaryOut))
def list_rights(query: dict[str, Any]) -> dict[str, Any]:
    """Rights you hold; every right for the operator, assessors and regulators."""
    return page_body(services.list_rights(
        uow=unit_of_work(), kind=query["kind"], status=query["status"],
        resource_id=query["resource_id"], product_id=query["product_id"],
        holder=query["holder"], **page_args(query),
    ))


@bp.route("/rights/<right_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, RightOut)
def get_right(right_id: str) -> dict[str, Any]:
    """One right with its parents and evidence."""
    return _right(right_id)


@bp.route("/rights/<right_id>/history", methods=["GET"])
@bp.access(object_scoped=True)
@bp.arguments(PageQuery, location="query")
@bp.response(200, page_of(RightEventOut))
def right_history(query: dict[str, Any], right_id: str) -> dict[str, Any]:
    """Every change of the right, oldest first, each with a snapshot of the right."""
    return page_body(services.right_history(right_id, uow=unit_of_work(),
                                            **page_args(query)))


@bp.route("/rights/<right_id>/evidence", methods=["POST"])
@bp.access(roles=[Role.MERCHANT], object_scoped=True)
@bp.arguments(EvidenceListIn)
@bp.response(201, EvidenceListOut)
def add_right_evidence(body: dict[str, Any], right_id: str) -> tuple[dict[str, Any], int]:
    """Add evidence to your right registration."""
    items = services.add_evidence("right", right_id, _evidence(body["evidence"]),
                                  uow=unit_of_work(), evidence_dir=_evidence_dir())
    return {"items": items}, 201


@bp.route("/rights/<right_id>/review-claims", methods=["POST"])
@bp.access(roles=REVIEWERS, object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.response(200, RightOut)
def claim_review(right_id: str) -> dict[str, Any]:
    """Take a submitted right into review (the operator or an accredited assessor)."""
    services.claim_review(right_id, uow=unit_of_work())
    return _right(right_id)


@bp.route("/rights/<right_id>/reviews", methods=["POST"])
@bp.access(roles=REVIEWERS, object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(ReviewIn)
@bp.response(200, RightOut)
def decide_review(body: dict[str, Any], right_id: str) -> dict[str, Any]:
    """Approve (register the right and issue its certificate) or reject, with a reason."""
    services.decide_review(right_id, approve=body["decision"] == "approve",
                           reason=body["reason"], uow=unit_of_work(), signer=signer())
    return _right(right_id)


@bp.route("/rights/<right_id>/status-changes", methods=["POST"])
@bp.access(roles=[Role.OPERATOR, Role.MERCHANT], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(RightStatusIn)
@bp.response(200, RightOut)
def change_right_status(body: dict[str, Any], right_id: str) -> dict[str, Any]:
    """Suspend, reinstate or revoke a right (the holder may only revoke its own).

    Everything resting on a right that stops being usable is suspended in the same
    transaction; reinstating restores it.
    """
    services.change_right_status(right_id, services.RightStatus(body["status"]), body["reason"],
                                 uow=unit_of_work())
    return _right(right_id)


@bp.route("/products/<product_id>/rights-chain", methods=["GET"])
@bp.access()
@bp.arguments(ChainQuery, location="query")
@bp.response(200, ChainOut)
def rights_chain(query: dict[str, Any], product_id: str) -> Any:
    """The product's rights chain at a moment (default now), or its precise broken link."""
    at = query["at"] or state().clock.now()
    return services.check_chain(product_id, at, uow=unit_of_work())


# -- grants ----------------------------------------------------------------------------


@bp.route("/grants", methods=["POST"])
@bp.access(roles=[Role.MERCHANT])
@bp.idempotent
@bp.arguments(GrantIn)
@bp.response(201, GrantOut)
def create_grant(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Grant processing use (授权) of a resource you hold to another organisation."""
    scope, term = _scope_term(body)
    grant = services.create_grant(
        services.GrantInput(holding_right_id=body["holding_right_id"],
                            grantee_org_id=body["grantee_org_id"], scope=scope, term=term,
                            evidence=_evidence(body["evidence"])),
        uow=unit_of_work(), evidence_dir=_evidence_dir(),
    )
    grant, evidence = services.get_grant(grant.id, uow=unit_of_work())
    return _with(grant, evidence=evidence), 201, {"Location": f"/api/v1/grants/{grant.id}"}


@bp.route("/grants", methods=["GET"])
@bp.access()
@bp.arguments(GrantQuery, location="query")
@bp.response(200, page_of(GrantSummaryOut))
def list_grants(query: dict[str, Any]) -> dict[str, Any]:
    """Grants you gave or received; every grant for the operator, assessors and regulators."""
    return page_body(services.list_grants(uow=unit_of_work(), status=query["status"],
                                          **page_args(query)))


@bp.route("/grants/<grant_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, GrantOut)
def get_grant(grant_id: str) -> dict[str, Any]:
    """One grant with its consent and authorisation evidence."""
    grant, evidence = services.get_grant(grant_id, uow=unit_of_work())
    return _with(grant, evidence=evidence)


@bp.route("/grants/<grant_id>/revoke", methods=["POST"])
@bp.access(roles=[Role.MERCHANT, Role.OPERATOR], object_scoped=True)
@bp.arguments(ReasonIn)
@bp.response(200, GrantSummaryOut)
def revoke_grant(body: dict[str, Any], grant_id: str) -> Any:
    """Revoke a grant you gave; rights resting on it are revoked, what rests on them
    suspended."""
    return services.revoke_grant(grant_id, body["reason"], uow=unit_of_work())


# -- certificates (public) -------------------------------------------------------------


@bp.route("/certificates/<number>", methods=["GET"])
@bp.access(anonymous=True, object_scoped=True)
@bp.response(200, CertificateOut)
def get_certificate(number: str) -> Any:
    """A registration certificate (登记证书): public fields, live status and the signature.

    Anyone can check it offline: SHA-256 over the RFC 8785 form of `document` must equal
    `signature.digest`, and the EIP-712 message `Receipt(kind, subject, digest, issuedAt)`
    under the domain `{name: "market", version: "1"}` must recover to `signature.signer`.
    """
    return services.get_certificate(number, uow=unit_of_work())


@bp.route("/certificates/<number>/verification", methods=["GET"])
@bp.access(anonymous=True, object_scoped=True)
@bp.response(200, CertificateVerificationOut)
def verify_certificate(number: str) -> dict[str, Any]:
    """Check a certificate's signature against the platform's signing address."""
    cert = services.get_certificate(number, uow=unit_of_work())
    sig = cert.signature
    valid = verify("certificate", number, cert.document, sig["issued_at"], sig["signature"],
                   signer().address) and sig["signer"] == signer().address
    return {"number": number, "valid": valid, "signer": signer().address,
            "digest": sig["digest"]}


# -- public-data authorisations (公共数据授权运营) ------------------------------------------


def _authorisation(found: Any) -> dict[str, Any]:
    return _with(found, in_term=found.in_term(state().clock.now()))


@bp.route("/public-data/authorisations", methods=["POST"])
@bp.access(roles=[Role.OPERATOR])
@bp.idempotent
@bp.arguments(PublicDataAuthorisationIn)
@bp.response(201, PublicDataAuthorisationOut)
def authorise_public_data_operator(body: dict[str, Any],
                                   ) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The exchange operator authorises an admitted merchant to operate public data
    (公共数据授权运营) after checking its qualification and reputation (documents by
    SHA-256), for a term and a scope: public-data categories or resources, and scenarios.

    Only an organisation an in-term authorisation covers registers public data and rights
    over it (422 `public_data_not_authorised`), and lists and sells its products (the rule
    `PublicDataNeedsAuthorisedOperator`).
    """
    data = services.AuthorisationInput(
        org_id=body["org_id"], categories=body["categories"],
        resource_ids=body["resource_ids"], scenarios=body["scenarios"],
        term=services.Term(body["valid_from"], body["valid_to"]),
        qualification=body["qualification"], reputation=body["reputation"],
        evidence=[services.AuthorisationDocument(d["kind"], d["name"], d["sha256"])
                  for d in body["evidence"]])
    found = services.authorise_public_data_operator(data, uow=unit_of_work())
    return (_authorisation(found), 201,
            {"Location": f"/api/v1/public-data/authorisations/{found.id}"})


@bp.route("/public-data/authorisations", methods=["GET"])
@bp.access()
@bp.arguments(PublicDataAuthorisationQuery, location="query")
@bp.response(200, page_of(PublicDataAuthorisationOut))
def list_public_data_authorisations(query: dict[str, Any]) -> dict[str, Any]:
    """Public-data authorisations: your own; every one for the operator and regulators."""
    page = services.list_public_data_authorisations(
        uow=unit_of_work(), org_id=query["org_id"], status=query["status"],
        **page_args(query))
    return page_body(page.map(_authorisation))


@bp.route("/public-data/authorisations/<authorisation_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, PublicDataAuthorisationOut)
def get_public_data_authorisation(authorisation_id: str) -> dict[str, Any]:
    """One authorisation, with its evidence, term and scope."""
    return _authorisation(services.get_public_data_authorisation(authorisation_id,
                                                                 uow=unit_of_work()))


@bp.route("/public-data/authorisations/<authorisation_id>/revoke", methods=["POST"])
@bp.access(roles=[Role.OPERATOR], object_scoped=True)
@bp.arguments(ReasonIn)
@bp.response(200, PublicDataAuthorisationOut)
def revoke_public_data_authorisation(body: dict[str, Any],
                                     authorisation_id: str) -> dict[str, Any]:
    """The exchange operator revokes an authorisation: its public data can no longer be
    registered, listed or sold under it."""
    return _authorisation(services.revoke_public_data_authorisation(
        authorisation_id, body["reason"], uow=unit_of_work()))
