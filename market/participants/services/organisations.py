"""Organisations and their admission: applying to join, registration by the operator,
contact details, and the operator's admission decisions with their history. Admitting an
applicant publishes :data:`ADMITTING` first, so contexts above may refuse it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from market.kernel import events
from market.kernel.actor import Role, require
from market.kernel.db import present
from market.kernel.errors import RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.participants.domain import (
    Status,
    can_transition,
    credit_code_problem,
    roles_problem,
)
from market.participants.errors import (
    CreditCodeTaken,
    EmailTaken,
    InvalidCreditCode,
    OperatorRoleReserved,
    OrganisationNotFound,
    RolesNotAllowed,
)
from market.participants.models import Organisation, OrganisationRole, StatusChange, User
from market.participants.repository import ParticipantRepository
from market.participants.services._common import SCOPES, IssuedKey, issue_key
from market.participants.services._status import move_status
from market.participants.services.documents import Papers, check_admissible, file_papers

ADMITTING = "participants.admitting"  # an applicant is about to be admitted


@dataclass(frozen=True)
class OrganisationInput:
    name: str
    credit_code: str
    contact_name: str
    contact_email: str
    roles: frozenset[str]
    contact_phone: str | None = None


@dataclass(frozen=True)
class Registration:
    organisation: Organisation
    user: User
    api_key: IssuedKey


@dataclass(frozen=True)
class ContactChanges:
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    fields: frozenset[str] = field(default_factory=frozenset)


def _validate_org(data: OrganisationInput) -> None:
    problem = credit_code_problem(data.credit_code)
    if problem:
        raise InvalidCreditCode(problem, errors={"credit_code": [problem]})
    problem = roles_problem(data.roles)
    if problem:
        raise RolesNotAllowed(problem, errors={"roles": [problem]})


def _create_org(
    uow: UnitOfWork, data: OrganisationInput, *, status: Status, reason: str, key_ttl: timedelta,
    papers: Papers | None = None,
) -> Registration:
    repo = ParticipantRepository(uow.session)
    if repo.credit_code_exists(data.credit_code):
        raise CreditCodeTaken(errors={"credit_code": ["already registered"]})
    if repo.email_exists(data.contact_email):
        raise EmailTaken(errors={"contact_email": ["already registered"]})
    now = uow.clock.now()
    org = Organisation(
        id=new_id("org"), name=data.name, credit_code=data.credit_code,
        contact_name=data.contact_name, contact_email=data.contact_email,
        contact_phone=data.contact_phone, status=status.value, status_reason=reason,
        created_at=now, updated_at=now,
        role_rows=[OrganisationRole(role=r) for r in sorted(data.roles)],
    )
    user = User(id=new_id("usr"), organisation_id=org.id, name=data.contact_name,
                email=data.contact_email, active=True, created_at=now)
    uow.session.add_all([org, user])
    uow.session.add(StatusChange(
        id=new_id("stc"), organisation_id=org.id, from_status=None, to_status=status.value,
        reason=reason, decided_by_user_id=uow.actor.user_id, decided_by_label=uow.actor.label,
        at=now,
    ))
    try:
        uow.session.flush()
    except IntegrityError as exc:  # lost a race with a concurrent registration
        raise CreditCodeTaken(errors={"credit_code": ["already registered"]}) from exc
    uow.audit.record(uow.actor, f"organisation.{status.value}", "organisation", org.id, org.state())
    uow.audit.record(uow.actor, "user.created", "user", user.id, user.state())
    if papers is not None:  # the operator's registration has checked the originals
        file_papers(uow, org, papers, verified=status is Status.ADMITTED)
    issued = issue_key(uow, user, name="initial key", scopes=SCOPES, expires_at=now + key_ttl)
    uow.outbox.enqueue(f"participant.{status.value}", {"organisation_id": org.id})
    return Registration(org, user, issued)


def apply_for_admission(
    data: OrganisationInput, *, uow: UnitOfWork, key_ttl: timedelta,
    papers: Papers | None = None,
) -> Registration:
    """An organisation applies to join; its key can only follow the application until admitted.

    ``papers``: its qualification documents (主体资格) and the people behind it (实名制),
    which the operator verifies before admitting it.

    Raises:
        InvalidCreditCode, RolesNotAllowed: the application is malformed.
        InvalidIdentityNumber, DocumentMismatch: an identity or a document is malformed.
        OperatorRoleReserved: the application asks for the operator role.
        CreditCodeTaken, EmailTaken: the organisation or contact is already registered.
    """
    _validate_org(data)
    if Role.OPERATOR in data.roles:
        raise OperatorRoleReserved()
    with uow:
        registration = _create_org(uow, data, status=Status.APPLIED,
                                   reason="application submitted", key_ttl=key_ttl,
                                   papers=papers)
        uow.commit()
        return registration


def register_organisation(
    data: OrganisationInput, *, uow: UnitOfWork, key_ttl: timedelta, reason: str,
    papers: Papers | None = None,
) -> Registration:
    """The operator (or the command line) registers an organisation, admitted at once;
    the documents in ``papers`` count as verified (the operator has seen the originals).

    Only the command line may create operator organisations.

    Raises:
        RoleNotAllowed: the actor is not the operator.
        OperatorRoleReserved: an API caller asks for the operator role.
        InvalidCreditCode, RolesNotAllowed, CreditCodeTaken, EmailTaken: as for applications.
    """
    require(uow.actor, Role.OPERATOR)
    _validate_org(data)
    if Role.OPERATOR in data.roles and not uow.actor.is_system:
        raise OperatorRoleReserved()
    with uow:
        registration = _create_org(uow, data, status=Status.ADMITTED, reason=reason,
                                   key_ttl=key_ttl, papers=papers)
        uow.commit()
        return registration


def get_organisation(org_id: str, *, uow: UnitOfWork) -> Organisation:
    """Raises: OrganisationNotFound: unknown or not visible to the actor."""
    with uow:
        org = ParticipantRepository(uow.session).get_org(org_id, uow.actor)
        if org is None:
            raise OrganisationNotFound()
        return org


def list_organisations(
    *, uow: UnitOfWork, status: str | None = None, role: str | None = None,
    after: str | None = None, limit: int = 50,
) -> Page[Organisation]:
    with uow:
        return ParticipantRepository(uow.session).list_orgs(
            uow.actor, status=status, role=role, after=after, limit=limit
        )


def update_contact(org_id: str, changes: ContactChanges, *, uow: UnitOfWork) -> Organisation:
    """The organisation (or the operator) updates its contact details.

    Raises:
        OrganisationNotFound: unknown or not visible.
        Forbidden: a regulator tries to write.
    """
    if uow.actor.has_role(Role.REGULATOR):
        raise RoleNotAllowed()
    with uow:
        repo = ParticipantRepository(uow.session)
        org = present(repo.get_org(org_id, uow.actor, for_update=True), OrganisationNotFound)
        for name in changes.fields:
            setattr(org, name, getattr(changes, name))
        org.updated_at = uow.clock.now()
        uow.session.flush()
        uow.audit.record(uow.actor, "organisation.contact_updated", "organisation", org.id,
                         org.state())
        uow.commit()
        return org


def change_status(org_id: str, target: Status, reason: str, *, uow: UnitOfWork) -> Organisation:
    """The operator decides on admission: admit, suspend, reinstate, exit or blacklist.

    Raises:
        RoleNotAllowed: the actor is not the operator.
        OrganisationNotFound: unknown organisation.
        OperatorStatusFixed: the target is an operator organisation.
        InvalidTransition: the workflow does not allow the move.
        AdmissionDocumentsMissing: admitting an applicant whose required documents are not
            all verified and in force, or reinstating one whose document expired unrenewed.
    """
    require(uow.actor, Role.OPERATOR)
    with uow:
        repo = ParticipantRepository(uow.session)
        org = present(repo.get_org(org_id, uow.actor, for_update=True), OrganisationNotFound)
        if Role.OPERATOR not in org.roles and can_transition(Status(org.status), target):
            if org.status == Status.APPLIED.value and target is Status.ADMITTED:
                # contexts above may refuse the admission (compliance: the commitment)
                events.publish(uow, ADMITTING, {"organisation_id": org.id})
            check_admissible(uow, org, target)
        move_status(uow, org, target, reason)
        uow.commit()
        return org


def list_status_changes(
    org_id: str, *, uow: UnitOfWork, after: str | None = None, limit: int = 50
) -> Page[StatusChange]:
    """Raises: OrganisationNotFound: unknown or not visible."""
    with uow:
        repo = ParticipantRepository(uow.session)
        org = present(repo.get_org(org_id, uow.actor), OrganisationNotFound)
        return repo.status_changes(org.id, after=after, limit=limit)
