"""Users of an organisation: adding and listing them, and who the caller is."""

from __future__ import annotations

from typing import Any

from market.kernel.db import present
from market.kernel.ids import new_id
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.participants.errors import EmailTaken, OrganisationNotFound, UserNotFound
from market.participants.models import User
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


def whoami(*, uow: UnitOfWork) -> tuple[Any, dict[str, Any]]:
    """The caller's user (a frozen record) and organisation (its fields and ``roles``).

    Raises:
        UserNotFound: the actor is not a user (system or anonymous).
    """
    actor = uow.actor
    if not actor.user_id or not actor.org_id:
        raise UserNotFound()
    with uow:
        found = ParticipantRepository(uow.session).user_and_organisation(
            actor.user_id, actor.org_id)
        if found is None:
            raise UserNotFound()
        return found
