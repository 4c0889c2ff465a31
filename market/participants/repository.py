"""Participant queries, always scoped to what the acting principal may see. Never commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from market.actor import Actor
from market.pagination import Page, keyset_page
from market.participants.domain import Role
from market.participants.models import ApiKey, Organisation, OrganisationRole, StatusChange, User

# Roles whose duties need every organisation: the venue admits them, regulators inspect them.
SEE_ALL_ORGANISATIONS = (Role.OPERATOR.value, Role.REGULATOR.value)


class ParticipantRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- organisations --------------------------------------------------------------------

    def _visible_orgs(self, actor: Actor) -> Select[Any]:
        stmt = select(Organisation)
        if actor.is_system or actor.has_role(*SEE_ALL_ORGANISATIONS):
            return stmt
        return stmt.where(Organisation.id == (actor.org_id or ""))

    def get_org(
        self, org_id: str, actor: Actor, *, for_update: bool = False
    ) -> Organisation | None:
        stmt = self._visible_orgs(actor).where(Organisation.id == org_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.scalars(stmt).one_or_none()

    def get_org_unscoped(self, org_id: str) -> Organisation | None:
        return self.session.get(Organisation, org_id)

    def credit_code_exists(self, credit_code: str) -> bool:
        stmt = select(Organisation.id).where(Organisation.credit_code == credit_code)
        return self.session.scalar(stmt) is not None

    def list_orgs(
        self, actor: Actor, *, status: str | None, role: str | None, after: str | None,
        limit: int,
    ) -> Page[Organisation]:
        stmt = self._visible_orgs(actor)
        if status:
            stmt = stmt.where(Organisation.status == status)
        if role:
            stmt = stmt.where(
                Organisation.id.in_(
                    select(OrganisationRole.organisation_id).where(OrganisationRole.role == role)
                )
            )
        return keyset_page(self.session, stmt, Organisation.id, after=after, limit=limit)

    def status_changes(self, org_id: str, *, after: str | None, limit: int) -> Page[StatusChange]:
        stmt = select(StatusChange).where(StatusChange.organisation_id == org_id)
        return keyset_page(self.session, stmt, StatusChange.id, after=after, limit=limit)

    # -- users ----------------------------------------------------------------------------

    def email_exists(self, email: str) -> bool:
        return self.session.scalar(select(User.id).where(User.email == email)) is not None

    def get_user(self, user_id: str, actor: Actor) -> User | None:
        stmt = select(User).where(User.id == user_id)
        if not actor.is_system:
            stmt = stmt.where(User.organisation_id == (actor.org_id or ""))
        return self.session.scalars(stmt).one_or_none()

    def list_users(self, org_id: str, *, after: str | None, limit: int) -> Page[User]:
        stmt = select(User).where(User.organisation_id == org_id)
        return keyset_page(self.session, stmt, User.id, after=after, limit=limit)

    # -- API keys -------------------------------------------------------------------------

    def get_key(self, key_id: str, actor: Actor, *, for_update: bool = False) -> ApiKey | None:
        stmt = select(ApiKey).where(ApiKey.id == key_id)
        if not actor.is_system:
            stmt = stmt.where(ApiKey.organisation_id == (actor.org_id or ""))
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.scalars(stmt).one_or_none()

    def get_key_for_auth(self, key_id: str) -> tuple[ApiKey, User, Organisation] | None:
        stmt = (
            select(ApiKey, User, Organisation)
            .join(User, User.id == ApiKey.user_id)
            .join(Organisation, Organisation.id == ApiKey.organisation_id)
            .where(ApiKey.id == key_id)
        )
        row = self.session.execute(stmt).one_or_none()
        return None if row is None else (row[0], row[1], row[2])

    def list_keys(self, org_id: str, *, after: str | None, limit: int) -> Page[ApiKey]:
        stmt = select(ApiKey).where(ApiKey.organisation_id == org_id)
        return keyset_page(self.session, stmt, ApiKey.id, after=after, limit=limit)
