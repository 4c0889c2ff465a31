"""Participant use cases. Each opens one unit of work and commits at most once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from market.kernel import events
from market.kernel.actor import Actor, Role, require
from market.kernel.clock import Clock, as_utc
from market.kernel.errors import InvalidApiKey, InvalidInput, ParticipantNotAdmitted, RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.participants.domain import Status, credit_code_problem, roles_problem
from market.participants.errors import (
    ApiKeyNotFound,
    CreditCodeTaken,
    EmailTaken,
    InvalidCreditCode,
    OperatorRoleReserved,
    OperatorStatusFixed,
    OrganisationNotFound,
    RolesNotAllowed,
    ScopesNotAllowed,
    UserNotFound,
)
from market.participants.models import ApiKey, Organisation, OrganisationRole, StatusChange, User
from market.participants.repository import ParticipantRepository

ADMITTING = "participants.admitting"  # an applicant is about to be admitted

SCOPES = frozenset({"read", "write"})
KEY_PREFIX = "mk"
MAX_KEY_LIFETIME = timedelta(days=3650)


@dataclass(frozen=True)
class OrganisationInput:
    name: str
    credit_code: str
    contact_name: str
    contact_email: str
    roles: frozenset[str]
    contact_phone: str | None = None


@dataclass(frozen=True)
class IssuedKey:
    """A key as created: the one time its secret is available."""

    key: ApiKey
    token: str


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


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()



def _validate_org(data: OrganisationInput) -> None:
    problem = credit_code_problem(data.credit_code)
    if problem:
        raise InvalidCreditCode(problem, errors={"credit_code": [problem]})
    problem = roles_problem(data.roles)
    if problem:
        raise RolesNotAllowed(problem, errors={"roles": [problem]})


def _issue_key(
    uow: UnitOfWork, user: User, *, name: str, scopes: Iterable[str], expires_at: datetime | None
) -> IssuedKey:
    key_id = new_id("key")
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        id=key_id, user_id=user.id, organisation_id=user.organisation_id, name=name,
        secret_hash=_hash_secret(secret), scopes=sorted(set(scopes)),
        created_at=uow.clock.now(), expires_at=expires_at,
    )
    uow.session.add(key)
    uow.session.flush()
    uow.audit.record(uow.actor, "api_key.created", "api_key", key.id, key.state())
    return IssuedKey(key=key, token=f"{KEY_PREFIX}.{key_id}.{secret}")


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
    issued = _issue_key(uow, user, name="initial key", scopes=SCOPES, expires_at=now + key_ttl)
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
        org = repo.get_org(org_id, uow.actor, for_update=True)
        if org is None:
            raise OrganisationNotFound()
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
        org = repo.get_org(org_id, uow.actor, for_update=True)
        if org is None:
            raise OrganisationNotFound()
        if Role.OPERATOR in org.roles:
            raise OperatorStatusFixed()
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
        if repo.get_org(org_id, uow.actor) is None:
            raise OrganisationNotFound()
        return repo.status_changes(org_id, after=after, limit=limit)


def create_user(org_id: str, name: str, email: str, *, uow: UnitOfWork) -> User:
    """An organisation adds a user to itself.

    Raises:
        OrganisationNotFound: the organisation is not the caller's own.
        EmailTaken: the address is in use.
    """
    with uow:
        repo = ParticipantRepository(uow.session)
        org = repo.get_org(org_id, uow.actor)
        if org is None or (not uow.actor.is_system and org.id != uow.actor.org_id):
            raise OrganisationNotFound()
        if repo.email_exists(email):
            raise EmailTaken(errors={"email": ["already registered"]})
        user = User(id=new_id("usr"), organisation_id=org.id, name=name, email=email,
                    active=True, created_at=uow.clock.now())
        uow.session.add(user)
        uow.session.flush()
        uow.audit.record(uow.actor, "user.created", "user", user.id, user.state())
        uow.commit()
        return user


def list_users(
    org_id: str, *, uow: UnitOfWork, after: str | None = None, limit: int = 50
) -> Page[User]:
    """Raises: OrganisationNotFound: unknown or not visible."""
    with uow:
        repo = ParticipantRepository(uow.session)
        if repo.get_org(org_id, uow.actor) is None:
            raise OrganisationNotFound()
        return repo.list_users(org_id, after=after, limit=limit)


def create_api_key(
    *, uow: UnitOfWork, user_id: str | None, name: str, scopes: frozenset[str],
    expires_at: datetime | None, default_ttl: timedelta,
) -> IssuedKey:
    """Issue a key to a user of the caller's organisation (the caller by default).

    A key never carries scopes its creator lacks. The secret is returned once.

    Raises:
        UserNotFound: the user is not in the caller's organisation.
        ScopesNotAllowed: unknown scopes, or more than the creating key holds.
        InvalidInput: the expiry is not in the future, or more than ten years ahead.
    """
    unknown = scopes - SCOPES
    if unknown or not scopes:
        raise ScopesNotAllowed(errors={"scopes": ["must be a non-empty subset of read, write"]})
    if not uow.actor.is_system and not scopes <= uow.actor.scopes:
        raise ScopesNotAllowed(errors={"scopes": ["cannot exceed the scopes of your own key"]})
    with uow:
        now = uow.clock.now()
        if expires_at is None:
            expires_at = now + default_ttl
        if expires_at <= now:
            raise InvalidInput("expiry must be in the future",
                               errors={"expires_at": ["must be in the future"]})
        if expires_at > now + MAX_KEY_LIFETIME:
            raise InvalidInput("expiry must be at most ten years ahead",
                               errors={"expires_at": ["must be at most ten years ahead"]})
        repo = ParticipantRepository(uow.session)
        target = user_id or uow.actor.user_id
        user = repo.get_user(target, uow.actor) if target else None
        if user is None or not user.active:
            raise UserNotFound()
        issued = _issue_key(uow, user, name=name, scopes=scopes, expires_at=expires_at)
        uow.commit()
        return issued


def list_api_keys(*, uow: UnitOfWork, after: str | None = None, limit: int = 50) -> Page[ApiKey]:
    with uow:
        return ParticipantRepository(uow.session).list_keys(
            uow.actor.org_id or "", after=after, limit=limit
        )


def revoke_api_key(key_id: str, *, uow: UnitOfWork) -> ApiKey:
    """Revoke one of the caller's organisation's keys; revoking twice changes nothing.

    Raises:
        ApiKeyNotFound: not a key of the caller's organisation.
    """
    with uow:
        key = ParticipantRepository(uow.session).get_key(key_id, uow.actor, for_update=True)
        if key is None:
            raise ApiKeyNotFound()
        if key.revoked_at is None:
            key.revoked_at = uow.clock.now()
            key.revoked_by_user_id = uow.actor.user_id
            uow.session.flush()
            uow.audit.record(uow.actor, "api_key.revoked", "api_key", key.id, key.state())
            uow.commit()
        return key


_DUMMY_HASH = _hash_secret("no such key")


def authenticate(token: str, *, session_factory: Callable[[], Session], clock: Clock) -> Actor:
    """Turn a bearer token into an :class:`Actor`; the secret is compared in constant time.

    Raises:
        InvalidApiKey: malformed, unknown, revoked or expired key, or inactive user.
        Forbidden: the organisation has exited or is blacklisted.
    """
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise InvalidApiKey()
    _, key_id, secret = parts
    with session_factory() as session:
        key = ParticipantRepository(session).get_key_for_auth(key_id)
    presented = _hash_secret(secret)
    if key is None:
        hmac.compare_digest(presented, _DUMMY_HASH)
        raise InvalidApiKey()
    if not hmac.compare_digest(presented, key.secret_hash):
        raise InvalidApiKey()
    if not key.is_usable(clock.now()) or not key.user_active:
        raise InvalidApiKey()
    if key.org_status in (Status.EXITED.value, Status.BLACKLISTED.value):
        raise ParticipantNotAdmitted(f"organisation is {key.org_status}")
    return Actor(
        kind="user", label=key.email, user_id=key.user_id, org_id=key.org_id,
        roles=frozenset(key.roles), org_status=key.org_status,
        scopes=frozenset(key.scopes), key_id=key.key_id,
    )


def whoami(*, uow: UnitOfWork) -> tuple[User, Organisation]:
    """The caller's user and organisation.

    Raises:
        UserNotFound: the actor is not a user (system or anonymous).
    """
    with uow:
        repo = ParticipantRepository(uow.session)
        user = repo.get_user(uow.actor.user_id, uow.actor) if uow.actor.user_id else None
        org = repo.get_org_unscoped(user.organisation_id) if user else None
        if user is None or org is None:
            raise UserNotFound()
        return user, org


@dataclass(frozen=True)
class OrganisationFacts:
    """What other contexts may know of an organisation: public name, state and roles."""

    id: str
    name: str
    status: str
    roles: frozenset[str]

    @property
    def admitted(self) -> bool:
        return self.status == Status.ADMITTED.value


def organisation_facts(session: Session, org_ids: Iterable[str]) -> dict[str, OrganisationFacts]:
    """Facts about organisations for other contexts' rules, in their own transaction."""
    wanted = sorted(set(org_ids))
    if not wanted:
        return {}
    states: dict[str, tuple[str, str]] = {}
    roles: dict[str, set[str]] = {}
    for org_id, name, status, role in session.execute(_FACTS, {"p_ids": wanted}):
        states[org_id] = (name, status)
        roles.setdefault(org_id, set()).update([role] if role else [])
    return {org_id: OrganisationFacts(org_id, name, status, frozenset(roles[org_id]))
            for org_id, (name, status) in states.items()}


_FACTS = (select(Organisation.id, Organisation.name, Organisation.status,
                 OrganisationRole.role)
          .outerjoin(OrganisationRole, OrganisationRole.organisation_id == Organisation.id)
          .where(Organisation.id.in_(bindparam("p_ids", expanding=True))))


@dataclass(frozen=True)
class Sanction:
    """A participant barred from trading, as the public disclosure shows it."""

    org_id: str
    name: str
    credit_code: str
    status: str
    reason: str | None
    since: datetime


def sanctioned(session: Session) -> list[Sanction]:
    """Every suspended or blacklisted organisation, most recent first, with the time and
    reason of the change that put it there (public disclosure, 信息披露)."""
    barred = (Status.SUSPENDED.value, Status.BLACKLISTED.value)
    orgs = list(session.scalars(select(Organisation).where(Organisation.status.in_(barred))))
    since: dict[str, datetime] = {}
    if orgs:
        rows = session.execute(
            select(StatusChange.organisation_id, func.max(StatusChange.at))
            .where(StatusChange.organisation_id.in_([o.id for o in orgs]),
                   StatusChange.to_status.in_(barred))
            .group_by(StatusChange.organisation_id))
        since = {org_id: as_utc(at) for org_id, at in rows}
    found = [Sanction(o.id, o.name, o.credit_code, o.status, o.status_reason,
                      since.get(o.id, as_utc(o.updated_at))) for o in orgs]
    return sorted(found, key=lambda s: (s.since, s.org_id), reverse=True)
