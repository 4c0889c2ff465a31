"""What issuing an API key needs, shared by registration (an organisation's initial key)
and key management: the scopes, the token format and the hash of a key's secret."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.participants.models import ApiKey, User

SCOPES = frozenset({"read", "write"})
KEY_PREFIX = "mk"


@dataclass(frozen=True)
class IssuedKey:
    """A key as created: the one time its secret is available."""

    key: ApiKey
    token: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(
    uow: UnitOfWork, user: User, *, name: str, scopes: Iterable[str], expires_at: datetime | None
) -> IssuedKey:
    """A new key for ``user``, audited; only the hash of its secret is stored."""
    key_id = new_id("key")
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        id=key_id, user_id=user.id, organisation_id=user.organisation_id, name=name,
        secret_hash=hash_secret(secret), scopes=sorted(set(scopes)),
        created_at=uow.clock.now(), expires_at=expires_at,
    )
    uow.session.add(key)
    uow.session.flush()
    uow.audit.record(uow.actor, "api_key.created", "api_key", key.id, key.state())
    return IssuedKey(key=key, token=f"{KEY_PREFIX}.{key_id}.{secret}")
