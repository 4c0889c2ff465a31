"""Participant queries, always scoped to what the acting principal may see. Never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, select
from sqlalchemy.orm import Session

from market.kernel.actor import Actor, Role
from market.kernel.clock import as_utc
from market.kernel.db import one_or_none, record_type
from market.kernel.pagination import Page, keyset_page, where_given
from market.participants.models import (
    ApiKey,
    Organisation,
    OrganisationRole,
    SigningKey,
    StatusChange,
    User,
)

# Roles whose duties need every organisation: the venue admits them, regulators inspect them.
SEE_ALL_ORGANISATIONS = (Role.OPERATOR.value, Role.REGULATOR.value)


@dataclass(frozen=True)
class KeyFacts:
    """An API key as authentication sees it."""

    key_id: str
    secret_hash: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    revoked_at: datetime | None
    user_id: str
    email: str
    user_active: bool
    org_id: str
    org_status: str
    roles: tuple[str, ...]

    def is_usable(self, at: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or at < self.expires_at


_KEY_FOR_AUTH = (
    select(ApiKey.secret_hash, ApiKey.scopes, ApiKey.expires_at, ApiKey.revoked_at,
           User.id.label("user_id"), User.email, User.active,
           Organisation.id.label("org_id"), Organisation.status, OrganisationRole.role)
    .join(User, User.id == ApiKey.user_id)
    .join(Organisation, Organisation.id == ApiKey.organisation_id)
    .outerjoin(OrganisationRole, OrganisationRole.organisation_id == Organisation.id)
    .where(ApiKey.id == bindparam("p_key"))
)



def _labelled(model: Any, prefix: str) -> list[Any]:
    return [attr.columns[0].label(prefix + attr.key) for attr in model.__mapper__.column_attrs]


_USER_ATTRS = [attr.key for attr in User.__mapper__.column_attrs]
_ORG_ATTRS = [attr.key for attr in Organisation.__mapper__.column_attrs]
# A user and its organisation with their roles, in one statement (the roles aggregated in
# Python: one row per role).
_WHOAMI = (
    select(*_labelled(User, "u_"), *_labelled(Organisation, "o_"), OrganisationRole.role)
    .join(Organisation, Organisation.id == User.organisation_id)
    .outerjoin(OrganisationRole, OrganisationRole.organisation_id == Organisation.id)
    .where(User.id == bindparam("p_user"), User.organisation_id == bindparam("p_org"))
)

_FACTS = (select(Organisation.id, Organisation.name, Organisation.status,
                 OrganisationRole.role)
          .outerjoin(OrganisationRole, OrganisationRole.organisation_id == Organisation.id)
          .where(Organisation.id.in_(bindparam("p_ids", expanding=True))))


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
        found: Organisation | None = one_or_none(
            self.session, self._visible_orgs(actor).where(Organisation.id == org_id),
            for_update=for_update)
        return found

    def get_org_unscoped(self, org_id: str) -> Organisation | None:
        return self.session.get(Organisation, org_id)

    def credit_code_exists(self, credit_code: str) -> bool:
        stmt = select(Organisation.id).where(Organisation.credit_code == credit_code)
        return self.session.scalar(stmt) is not None

    def list_orgs(
        self, actor: Actor, *, status: str | None, role: str | None, after: str | None,
        limit: int,
    ) -> Page[Organisation]:
        stmt = where_given(self._visible_orgs(actor), (Organisation.status, status))
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

    def facts_rows(self, org_ids: Sequence[str]) -> Sequence[Row[str, str, str, str | None]]:
        """(id, name, status, role) of each organisation, one row per role (role None for
        an organisation without any)."""
        return self.session.execute(_FACTS, {"p_ids": list(org_ids)}).all()

    def in_statuses(self, statuses: Iterable[str]) -> list[Organisation]:
        return list(self.session.scalars(
            select(Organisation).where(Organisation.status.in_(list(statuses)))))

    def last_moved_to(self, org_ids: Sequence[str], statuses: Iterable[str],
                      ) -> dict[str, datetime]:
        """When each organisation last entered one of ``statuses``, if it ever did."""
        if not org_ids:
            return {}
        rows = self.session.execute(
            select(StatusChange.organisation_id, func.max(StatusChange.at))
            .where(StatusChange.organisation_id.in_(list(org_ids)),
                   StatusChange.to_status.in_(list(statuses)))
            .group_by(StatusChange.organisation_id))
        return {org_id: as_utc(at) for org_id, at in rows}

    # -- users ----------------------------------------------------------------------------

    def email_exists(self, email: str) -> bool:
        return self.session.scalar(select(User.id).where(User.email == email)) is not None

    def get_user(self, user_id: str, actor: Actor) -> User | None:
        stmt = select(User).where(User.id == user_id)
        if not actor.is_system:
            stmt = stmt.where(User.organisation_id == (actor.org_id or ""))
        return self.session.scalars(stmt).one_or_none()

    def user_and_organisation(self, user_id: str, org_id: str
                              ) -> tuple[Any, dict[str, Any]] | None:
        """The user (a frozen record) and its organisation (its columns and ``roles``), in
        one statement; None unless the user belongs to ``org_id``."""
        rows = self.session.connection().execute(
            _WHOAMI, {"p_user": user_id, "p_org": org_id}).all()
        if not rows:
            return None
        first = rows[0]._mapping
        user = record_type(User)(**{key: first["u_" + key] for key in _USER_ATTRS})
        org = {key: first["o_" + key] for key in _ORG_ATTRS}
        org["roles"] = sorted(row.role for row in rows if row.role)
        return user, org

    def list_users(self, org_id: str, *, after: str | None, limit: int) -> Page[User]:
        stmt = select(User).where(User.organisation_id == org_id)
        return keyset_page(self.session, stmt, User.id, after=after, limit=limit)

    # -- API keys -------------------------------------------------------------------------

    def get_key(self, key_id: str, actor: Actor, *, for_update: bool = False) -> ApiKey | None:
        stmt = select(ApiKey).where(ApiKey.id == key_id)
        if not actor.is_system:
            stmt = stmt.where(ApiKey.organisation_id == (actor.org_id or ""))
        found: ApiKey | None = one_or_none(self.session, stmt, for_update=for_update)
        return found

    def get_key_for_auth(self, key_id: str) -> KeyFacts | None:
        """What authenticating with this key needs, in one statement: the key, its user
        and organisation, and the organisation's roles."""
        rows = self.session.connection().execute(_KEY_FOR_AUTH, {"p_key": key_id}).all()
        if not rows:
            return None
        first = rows[0]
        return KeyFacts(
            key_id=key_id, secret_hash=first.secret_hash, scopes=tuple(first.scopes),
            expires_at=first.expires_at, revoked_at=first.revoked_at, user_id=first.user_id,
            email=first.email, user_active=first.active, org_id=first.org_id,
            org_status=first.status, roles=tuple(sorted(r.role for r in rows if r.role)))

    def list_keys(self, org_id: str, *, after: str | None, limit: int) -> Page[ApiKey]:
        stmt = select(ApiKey).where(ApiKey.organisation_id == org_id)
        return keyset_page(self.session, stmt, ApiKey.id, after=after, limit=limit)

    # -- signing keys ---------------------------------------------------------------------

    def get_signing_key(self, org_id: str, key_id: str, *, for_update: bool = False,
                        ) -> SigningKey | None:
        stmt = select(SigningKey).where(SigningKey.id == key_id,
                                        SigningKey.organisation_id == org_id)
        found: SigningKey | None = one_or_none(self.session, stmt, for_update=for_update)
        return found

    def list_signing_keys(self, org_id: str, *, status: str | None, after: str | None,
                          limit: int) -> Page[SigningKey]:
        stmt = where_given(select(SigningKey).where(SigningKey.organisation_id == org_id),
                           (SigningKey.status, status))
        return keyset_page(self.session, stmt, SigningKey.id, after=after, limit=limit)

    def verified_keys_named(self, suite: str, public_key: str) -> list[SigningKey]:
        """The verified, unrevoked keys of any organisation named ``public_key``."""
        return list(self.session.scalars(select(SigningKey).where(
            SigningKey.suite == suite, SigningKey.public_key == public_key,
            SigningKey.status == "verified")))

    def keys_named(self, org_id: str, suite: str, public_key: str) -> list[SigningKey]:
        """The organisation's keys named ``public_key``, whatever their state."""
        return list(self.session.scalars(select(SigningKey).where(
            SigningKey.organisation_id == org_id, SigningKey.suite == suite,
            SigningKey.public_key == public_key).order_by(SigningKey.id)))
