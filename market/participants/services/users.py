"""Users of an organisation: adding and listing them, and who the caller is."""

from __future__ import annotations

from market.kernel.db import present
from market.kernel.ids import new_id
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.participants.errors import EmailTaken, OrganisationNotFound, UserNotFound
from market.participants.models import Organisation, User
from market.participants.repository import ParticipantRepository


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
        org = present(repo.get_org(org_id, uow.actor), OrganisationNotFound)
        return repo.list_users(org.id, after=after, limit=limit)


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
