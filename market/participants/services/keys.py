"""API keys: issuing further keys to an organisation's users, listing and revoking them,
and authenticating a bearer token as an :class:`Actor`."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from market.kernel.actor import Actor
from market.kernel.clock import Clock
from market.kernel.db import end_reading
from market.kernel.errors import InvalidApiKey, InvalidInput, ParticipantNotAdmitted
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.participants.domain import Status
from market.participants.errors import ApiKeyNotFound, ScopesNotAllowed, UserNotFound
from market.participants.models import ApiKey
from market.participants.repository import KeyFacts, ParticipantRepository
from market.participants.services._common import (
    KEY_PREFIX,
    SCOPES,
    IssuedKey,
    hash_secret,
    issue_key,
)

MAX_KEY_LIFETIME = timedelta(days=3650)


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
        issued = issue_key(uow, user, name=name, scopes=scopes, expires_at=expires_at)
        uow.commit()
        return issued


def list_api_keys(*, uow: UnitOfWork, after: str | None = None, limit: int = 50) -> Page[ApiKey]:
    """The caller's organisation's keys (their secrets are never shown again)."""
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
        if key.revoke(by_user_id=uow.actor.user_id, at=uow.clock.now()):
            uow.session.flush()
            uow.audit.record(uow.actor, "api_key.revoked", "api_key", key.id, key.state())
            uow.commit()
        return key


# Unknown keys are compared against this so they take as long as known ones.
_DUMMY_HASH = hash_secret("no such key")


def authenticate(token: str, *, session_factory: Callable[[], Session], clock: Clock) -> Actor:
    """Turn a bearer token into an :class:`Actor`; the secret is compared in constant time.

    Raises:
        InvalidApiKey: malformed, unknown, revoked or expired key, or inactive user.
        Forbidden: the organisation has exited or is blacklisted.
    """
    key_id, secret = token_parts(token)
    with session_factory() as session:
        key = ParticipantRepository(session).get_key_for_auth(key_id)
        end_reading(session)
    return actor_of_key(matching_key(key, secret), clock.now())


def token_parts(token: str) -> tuple[str, str]:
    """``mk.<key id>.<secret>`` → (key id, secret).

    Raises:
        InvalidApiKey: not a token of that form.
    """
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise InvalidApiKey()
    return parts[1], parts[2]


def matching_key(key: KeyFacts | None, secret: str) -> KeyFacts:
    """``key`` if ``secret`` is its secret, compared in constant time (an unknown key takes
    as long as a known one).

    Raises:
        InvalidApiKey: no such key, or another secret.
    """
    presented = hash_secret(secret)
    if key is None:
        hmac.compare_digest(presented, _DUMMY_HASH)
        raise InvalidApiKey()
    if not hmac.compare_digest(presented, key.secret_hash):
        raise InvalidApiKey()
    return key


def actor_of_key(key: KeyFacts, now: datetime) -> Actor:
    """The principal a key stands for now.

    Raises:
        InvalidApiKey: the key is revoked or expired, or its user inactive.
        ParticipantNotAdmitted: the organisation has exited or is blacklisted.
    """
    if not key.is_usable(now) or not key.user_active:
        raise InvalidApiKey()
    if key.org_status in (Status.EXITED.value, Status.BLACKLISTED.value):
        raise ParticipantNotAdmitted(f"organisation is {key.org_status}")
    return Actor(
        kind="user", label=key.email, user_id=key.user_id, org_id=key.org_id,
        roles=frozenset(key.roles), org_status=key.org_status,
        scopes=frozenset(key.scopes), key_id=key.key_id,
    )
