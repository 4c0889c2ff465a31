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
from market.participants.domain import Status, credit_code_problem, roles_problem
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
    uow: UnitOfWork, data: OrganisationInput, *, status: Status, reason: str, key_ttl: timedelta
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
    issued = issue_key(uow, user, name="initial key", scopes=SCOPES, expires_at=now + key_ttl)
    uow.outbox.enqueue(f"participant.{status.value}", {"organisation_id": org.id})
    return Registration(org, user, issued)


def apply_for_admission(
    data: OrganisationInput, *, uow: UnitOfWork, key_ttl: timedelta
) -> Registration:
    """An organisation applies to join; its key can only follow the application until admitted.

    Raises:
        InvalidCreditCode, RolesNotAllowed: the application is malformed.
        OperatorRoleReserved: the application asks for the operator role.
        CreditCodeTaken, EmailTaken: the organisation or contact is already registered.
    """
    _validate_org(data)
    if Role.OPERATOR in data.roles:
        raise OperatorRoleReserved()
    with uow:
        registration = _create_org(uow, data, status=Status.APPLIED,
                                   reason="application submitted", key_ttl=key_ttl)
        uow.commit()
        return registration


def register_organisation(
    data: OrganisationInput, *, uow: UnitOfWork, key_ttl: timedelta, reason: str
) -> Registration:
    """The operator (or the command line) registers an organisation, admitted at once.

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
                                   key_ttl=key_ttl)
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
    """
    require(uow.actor, Role.OPERATOR)
    with uow:
        repo = ParticipantRepository(uow.session)
        org = present(repo.get_org(org_id, uow.actor, for_update=True), OrganisationNotFound)
        now = uow.clock.now()
        previous = org.change_status(target, reason=reason, at=now)
        if previous == Status.APPLIED.value and target is Status.ADMITTED:
            # contexts above may refuse the admission (compliance: the admission commitment)
            events.publish(uow, ADMITTING, {"organisation_id": org.id})
        uow.session.add(StatusChange(
            id=new_id("stc"), organisation_id=org.id, from_status=previous,
            to_status=target.value, reason=reason, decided_by_user_id=uow.actor.user_id,
            decided_by_label=uow.actor.label, at=now,
        ))
        uow.session.flush()
        uow.audit.record(uow.actor, f"organisation.{target.value}", "organisation", org.id,
                         org.state())
        uow.outbox.enqueue(f"participant.{target.value}",
                           {"organisation_id": org.id, "from": previous, "reason": reason})
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
