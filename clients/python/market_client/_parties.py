"""Participants (admission, keys) and data rights (resources, rights, grants, certificates)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, cast

from market_client._base import Group, seg
from market_client.types import (
    JSON,
    Certificate,
    Grant,
    Organisation,
    Page,
    Registration,
    Resource,
    Right,
)


class Participants(Group):
    """Organisations: applying for admission (anyone), the operator's admission decisions."""

    def apply(self, organisation: Mapping[str, Any], *,
              idempotency_key: str | None = None) -> Registration:
        """Apply for admission (no key needed): ``name``, ``credit_code`` (统一社会信用代码),
        ``contact_name``, ``contact_email``, ``roles``, optional documents and identity.
        The answer carries an API key (shown once) that can follow the application and sign
        the admission commitment. Called by the operator, registers an admitted one."""
        return cast(Registration, self._http.post("/participants", dict(organisation),
                                                  idempotent=True,
                                                  idempotency_key=idempotency_key))

    def sign_admission_commitment(self, commitment: Mapping[str, Any], *,
                                  idempotency_key: str | None = None) -> JSON:
        """Sign the admission commitment (入场承诺, template admission@1)."""
        return cast(JSON, self._http.post("/declarations/admission", dict(commitment),
                                          idempotent=True, idempotency_key=idempotency_key))

    def me(self) -> JSON:
        """Who the key belongs to: user, organisation (with its admission state), scopes."""
        return cast(JSON, self._http.get("/me"))

    def list(self, *, status: str | None = None, role: str | None = None,
             limit: int | None = None, cursor: str | None = None) -> Page[Organisation]:
        """Organisations: every one for the operator and regulators, else your own."""
        return cast(Page[Organisation], self._http.get(
            "/participants", status=status, role=role, limit=limit, cursor=cursor))

    def iter(self, *, status: str | None = None,
             role: str | None = None) -> Iterator[Organisation]:
        return self._http.items("/participants", {"status": status, "role": role})

    def get(self, org_id: str) -> Organisation:
        return cast(Organisation, self._http.get(f"/participants/{seg(org_id)}"))

    def change_status(self, org_id: str, status: str, reason: str, *,
                      idempotency_key: str | None = None) -> Organisation:
        """The operator's decision: ``admitted``, ``suspended``, ``exited``, ``blacklisted``."""
        return cast(Organisation, self._http.post(
            f"/participants/{seg(org_id)}/status-changes",
            {"status": status, "reason": reason}, idempotent=True,
            idempotency_key=idempotency_key))

    def admit(self, org_id: str, reason: str, *,
              idempotency_key: str | None = None) -> Organisation:
        """Admit an applicant (the operator)."""
        return self.change_status(org_id, "admitted", reason, idempotency_key=idempotency_key)

    def refuse(self, org_id: str, reason: str, *,
               idempotency_key: str | None = None) -> Organisation:
        """Refuse an application (the operator): the applicant exits."""
        return self.change_status(org_id, "exited", reason, idempotency_key=idempotency_key)

    def status_changes(self, org_id: str) -> Page[JSON]:
        """The organisation's admission history, oldest first."""
        return cast(Page[JSON], self._http.get(f"/participants/{seg(org_id)}/status-changes"))


class Rights(Group):
    """Data resources, the three rights (三权分置) and their review, grants, certificates."""

    # -- resources ---------------------------------------------------------------------------

    def register_resource(self, resource: Mapping[str, Any], *,
                          idempotency_key: str | None = None) -> Resource:
        """Register a data resource you hold, with its source-legality evidence."""
        return cast(Resource, self._http.post("/resources", dict(resource), idempotent=True,
                                              idempotency_key=idempotency_key))

    def resources(self, *, holder: str | None = None, limit: int | None = None,
                  cursor: str | None = None) -> Page[Resource]:
        return cast(Page[Resource], self._http.get("/resources", holder=holder, limit=limit,
                                                   cursor=cursor))

    def iter_resources(self, *, holder: str | None = None) -> Iterator[Resource]:
        return self._http.items("/resources", {"holder": holder})

    def resource(self, resource_id: str) -> Resource:
        return cast(Resource, self._http.get(f"/resources/{seg(resource_id)}"))

    # -- rights ------------------------------------------------------------------------------

    def submit(self, right: Mapping[str, Any], *,
               idempotency_key: str | None = None) -> Right:
        """Submit a right registration (确权登记) for review: ``kind`` resource_holding,
        processing_use (on a grant) or product_operation, with its scope and term."""
        return cast(Right, self._http.post("/rights", dict(right), idempotent=True,
                                           idempotency_key=idempotency_key))

    def list(self, *, kind: str | None = None, status: str | None = None,
             resource_id: str | None = None, product_id: str | None = None,
             holder: str | None = None, limit: int | None = None,
             cursor: str | None = None) -> Page[Right]:
        return cast(Page[Right], self._http.get(
            "/rights", kind=kind, status=status, resource_id=resource_id,
            product_id=product_id, holder=holder, limit=limit, cursor=cursor))

    def iter(self, *, kind: str | None = None, status: str | None = None,
             holder: str | None = None) -> Iterator[Right]:
        return self._http.items("/rights", {"kind": kind, "status": status, "holder": holder})

    def get(self, right_id: str) -> Right:
        return cast(Right, self._http.get(f"/rights/{seg(right_id)}"))

    def claim_review(self, right_id: str) -> Right:
        """Take a submitted right into review (the operator or an accredited assessor)."""
        return cast(Right, self._http.post(f"/rights/{seg(right_id)}/review-claims"))

    def review(self, right_id: str, decision: str, reason: str) -> Right:
        """``approve`` (registers the right and issues its certificate) or ``reject``."""
        return cast(Right, self._http.post(f"/rights/{seg(right_id)}/reviews",
                                           {"decision": decision, "reason": reason}))

    def change_status(self, right_id: str, status: str, reason: str) -> Right:
        """Suspend, reinstate (``registered``) or revoke a right."""
        return cast(Right, self._http.post(f"/rights/{seg(right_id)}/status-changes",
                                           {"status": status, "reason": reason}))

    def chain(self, product_id: str, *, at: str | None = None) -> JSON:
        """The product's rights chain, or its precise broken link."""
        return cast(JSON, self._http.get(f"/products/{seg(product_id)}/rights-chain", at=at))

    # -- grants and certificates -------------------------------------------------------------

    def grant(self, grant: Mapping[str, Any], *, idempotency_key: str | None = None) -> Grant:
        """Grant processing use (授权) of a resource you hold to another organisation."""
        return cast(Grant, self._http.post("/grants", dict(grant), idempotent=True,
                                           idempotency_key=idempotency_key))

    def grants(self, *, limit: int | None = None, cursor: str | None = None) -> Page[Grant]:
        return cast(Page[Grant], self._http.get("/grants", limit=limit, cursor=cursor))

    def certificate(self, number: str) -> Certificate:
        """A registration certificate (登记证书): public, no key needed."""
        return cast(Certificate, self._http.get(f"/certificates/{seg(number)}"))

    def verify_certificate(self, number: str) -> JSON:
        """The exchange's check of a certificate's signature."""
        return cast(JSON, self._http.get(f"/certificates/{seg(number)}/verification"))


__all__ = ["Participants", "Rights"]
