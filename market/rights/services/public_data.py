"""Public-data authorised operation (公共数据授权运营): the exchange operator authorises an
organisation to operate public data once it has checked its qualification and reputation
(授权具备条件、信誉良好的企事业单位), for a term and a scope (授权范围: public-data categories
or resources; 授权场景: scenarios); revocable, and over at its term.

Only an organisation an in-term authorisation covers registers public data (resources of
origin ``public_authorised``) and rights over it; listing and ordering judge the same
scopes through the compliance rules (:func:`public_data_scopes` gives them by value).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from market.kernel.actor import Actor, Role, require
from market.kernel.errors import InvalidInput
from market.kernel.ids import new_id
from market.kernel.pagination import Page, keyset_page, where_given
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.rights.domain import Origin, Term
from market.rights.errors import (
    PublicDataAuthorisationNotFound,
    PublicDataNotAuthorised,
    PublicDataOperatorNotEligible,
)
from market.rights.models import DataResource, PublicDataAuthorisation

# The checks an authorisation rests on: documents of both are needed.
CHECKS = ("qualification", "reputation")
EVIDENCE_KINDS = (*CHECKS, "agreement", "other")


@dataclass(frozen=True)
class AuthorisationDocument:
    kind: str  # qualification, reputation, agreement or other
    name: str
    sha256: str


@dataclass(frozen=True)
class AuthorisationInput:
    org_id: str
    categories: Sequence[str]
    resource_ids: Sequence[str]
    scenarios: Sequence[str]
    term: Term
    qualification: str  # what was checked of the operator's qualification (具备条件)
    reputation: str  # what was checked of its reputation (信誉良好)
    evidence: Sequence[AuthorisationDocument]


def _sees_all(actor: Actor) -> bool:
    return actor.is_system or actor.has_role(Role.OPERATOR, Role.REGULATOR)


def _problems(data: AuthorisationInput, session: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if data.term.valid_to is None or data.term.valid_to <= data.term.valid_from:
        found["valid_to"] = ["an authorisation has a term: valid_to after valid_from"]
    if not data.categories and not data.resource_ids:
        found["categories"] = ["name the categories or resources authorised"]
    missing = [k for k in CHECKS if k not in {d.kind for d in data.evidence}]
    if missing:
        found["evidence"] = ["documents of the checks are needed: " + ", ".join(missing)]
    if data.resource_ids:
        known = {r.id for r in session.scalars(select(DataResource).where(
            DataResource.id.in_(list(data.resource_ids)),
            DataResource.origin == Origin.PUBLIC_AUTHORISED.value))}
        unknown = sorted(set(data.resource_ids) - known)
        if unknown:
            found["resource_ids"] = ["not public-data resources: " + ", ".join(unknown)]
    return found


def authorise_public_data_operator(data: AuthorisationInput, *,
                                   uow: UnitOfWork) -> PublicDataAuthorisation:
    """The exchange operator authorises an organisation to operate public data, with the
    documents of its qualification and reputation checks, a term and a scope.

    Raises:
        RoleNotAllowed: the caller is not the operator.
        PublicDataOperatorNotEligible: the organisation is unknown, not admitted, not a
            merchant, or the operator itself.
        InvalidInput: no term end, no scope, a check without its document, or resources
            that are not public data.
    """
    require(uow.actor, Role.OPERATOR)
    with uow:
        org = participants.organisation_facts([data.org_id], uow=uow.joined()).get(data.org_id)
        if (org is None or not org.admitted or Role.MERCHANT.value not in org.roles
                or Role.OPERATOR.value in org.roles):
            raise PublicDataOperatorNotEligible(errors={"org_id": [
                "must be an admitted merchant other than the exchange operator"]})
        problems = _problems(data, uow.session)
        if problems:
            raise InvalidInput(errors=problems)
        assert data.term.valid_to is not None
        authorisation = PublicDataAuthorisation(
            id=new_id("pda"), org_id=data.org_id, categories=sorted(set(data.categories)),
            resource_ids=sorted(set(data.resource_ids)), scenarios=sorted(set(data.scenarios)),
            valid_from=data.term.valid_from, valid_to=data.term.valid_to,
            qualification=data.qualification, reputation=data.reputation,
            evidence=[{"kind": d.kind, "name": d.name, "sha256": d.sha256}
                      for d in data.evidence],
            status="active", granted_by_org_id=uow.actor.org_id, created_at=uow.clock.now())
        uow.session.add(authorisation)
        uow.session.flush()
        uow.audit.record(uow.actor, "public_data.authorised", "public_data_authorisation",
                         authorisation.id, authorisation.state())
        uow.outbox.enqueue("public_data.authorised", {
            "authorisation_id": authorisation.id, "org_id": authorisation.org_id})
        uow.commit()
        return authorisation


def revoke_public_data_authorisation(authorisation_id: str, reason: str, *,
                                     uow: UnitOfWork) -> PublicDataAuthorisation:
    """The exchange operator revokes an authorisation; its public data can no longer be
    registered, listed or ordered under it (the rules judge every listing and order).

    Raises:
        RoleNotAllowed: the caller is not the operator.
        PublicDataAuthorisationNotFound: no such authorisation.
    """
    require(uow.actor, Role.OPERATOR)
    with uow:
        found = uow.session.get(PublicDataAuthorisation, authorisation_id,
                                with_for_update=True)
        if found is None:
            raise PublicDataAuthorisationNotFound()
        if found.revoke(reason, at=uow.clock.now()):
            uow.session.flush()
            uow.audit.record(uow.actor, "public_data.authorisation_revoked",
                             "public_data_authorisation", found.id, found.state())
            uow.outbox.enqueue("public_data.authorisation_revoked", {
                "authorisation_id": found.id, "org_id": found.org_id})
        uow.commit()
        return found


def get_public_data_authorisation(authorisation_id: str, *,
                                  uow: UnitOfWork) -> PublicDataAuthorisation:
    """Raises: PublicDataAuthorisationNotFound: unknown, or neither the caller's own nor
    visible to it by duty (the operator and regulators see every one)."""
    with uow:
        found = uow.session.get(PublicDataAuthorisation, authorisation_id)
        if found is None or not (_sees_all(uow.actor) or found.org_id == uow.actor.org_id):
            raise PublicDataAuthorisationNotFound()
        return found


def list_public_data_authorisations(
    *, uow: UnitOfWork, org_id: str | None = None, status: str | None = None,
    after: str | None = None, limit: int = 50,
) -> Page[PublicDataAuthorisation]:
    """Authorisations: every one for the operator and regulators, an organisation its own."""
    with uow:
        stmt = where_given(select(PublicDataAuthorisation),
                           (PublicDataAuthorisation.org_id, org_id),
                           (PublicDataAuthorisation.status, status))
        if not _sees_all(uow.actor):
            stmt = stmt.where(PublicDataAuthorisation.org_id == (uow.actor.org_id or ""))
        return keyset_page(uow.session, stmt, PublicDataAuthorisation.id, after=after,
                           limit=limit)


def _in_term(uow: UnitOfWork, org_id: str, at: datetime) -> list[PublicDataAuthorisation]:
    rows = uow.session.scalars(select(PublicDataAuthorisation).where(
        PublicDataAuthorisation.org_id == org_id, PublicDataAuthorisation.status == "active",
        PublicDataAuthorisation.valid_from <= at, PublicDataAuthorisation.valid_to > at)
        .order_by(PublicDataAuthorisation.id))
    return list(rows)


def public_data_scopes(org_id: str, *, at: datetime, uow: UnitOfWork) -> list[dict[str, Any]]:
    """The scopes of the organisation's in-term authorisations at ``at`` ({id, categories,
    resource_ids, scenarios}), in the caller's transaction."""
    return [a.scope() for a in _in_term(uow, org_id, at)]


def public_resources(resource_ids: Iterable[str], *, uow: UnitOfWork) -> list[tuple[str, str]]:
    """(id, category) of the public-data resources among ``resource_ids``."""
    rows = uow.session.scalars(select(DataResource).where(
        DataResource.id.in_(sorted(set(resource_ids))),
        DataResource.origin == Origin.PUBLIC_AUTHORISED.value).order_by(DataResource.id))
    return [(r.id, r.public_category or "") for r in rows]


def check_public_data(uow: UnitOfWork, *, holder: str, resources: Sequence[tuple[str, str]],
                      scenarios: Iterable[str], at: datetime) -> None:
    """Refuse registering public data (``resources``: id and category; a new resource has
    no id yet) that no in-term authorisation of ``holder`` covers with the scenarios.

    Raises:
        PublicDataNotAuthorised: naming what is not covered.
    """
    if not resources:
        return
    scopes = [a.scope() for a in _in_term(uow, holder, at)]

    def covering(resource_id: str, category: str) -> list[dict[str, Any]]:
        return [s for s in scopes if resource_id in s["resource_ids"]
                or (category and category in s["categories"])]

    uncovered = [rid or category for rid, category in resources
                 if not covering(rid, category)]
    if uncovered:
        raise PublicDataNotAuthorised(
            "no in-term public-data authorisation of yours covers "
            + ", ".join(sorted(uncovered)),
            errors={"public_data": sorted(uncovered)})
    allowed = {s for rid, category in resources for scope in covering(rid, category)
               for s in scope["scenarios"]}
    outside = sorted(set(scenarios) - allowed)
    if outside:
        raise PublicDataNotAuthorised(
            "scenarios outside your public-data authorisation: " + ", ".join(outside),
            errors={"scenarios": outside})
