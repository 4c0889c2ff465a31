"""Web console sessions: an API key exchanged once for a server-side session.

The browser keeps only a random token (in an HttpOnly cookie); the session row keeps its
SHA-256, the key it was opened with, when it was last used and when it ends whatever its
use. Each request resumes the session as the key's principal, checked again as the API
checks a key, so a revoked or expired key, a deactivated user or an organisation that has
exited ends its console sessions at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from market.kernel.actor import Actor
from market.kernel.errors import InvalidApiKey, ParticipantNotAdmitted
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.participants.errors import ConsoleSessionEnded
from market.participants.models import ConsoleSession
from market.participants.repository import ParticipantRepository
from market.participants.services._common import hash_secret
from market.participants.services.keys import actor_of_key, matching_key, token_parts

# A session's last use is written at most this often (so idle timeouts are this coarse):
# pages that only read do not write on every request.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class OpenedConsoleSession:
    """A new session: the token for the browser's cookie (shown once) and its principal."""

    token: str
    session_id: str
    expires_at: datetime
    actor: Actor


@dataclass(frozen=True)
class ResumedConsoleSession:
    """A session found usable: its principal, and whether its last use should be noted."""

    session_id: str
    actor: Actor
    expires_at: datetime
    touch_due: bool


def open_console_session(api_key: str, *, uow: UnitOfWork, lifetime: timedelta,
                         ) -> OpenedConsoleSession:
    """Check ``api_key`` as the API would and open a session acting as it.

    Raises:
        InvalidApiKey: malformed, unknown, revoked or expired key, or inactive user.
        ParticipantNotAdmitted: the organisation has exited or is blacklisted.
    """
    key_id, secret = token_parts(api_key.strip())
    with uow:
        key = matching_key(ParticipantRepository(uow.session).get_key_for_auth(key_id), secret)
        now = uow.clock.now()
        actor = actor_of_key(key, now)
        token = secrets.token_urlsafe(32)
        row = ConsoleSession(
            id=new_id("csn"), token_hash=hash_secret(token), key_id=key.key_id,
            user_id=key.user_id, organisation_id=key.org_id, created_at=now,
            last_seen_at=now, expires_at=now + lifetime)
        uow.session.add(row)
        uow.session.flush()
        uow.audit.record(actor, "console.session_opened", "console_session", row.id,
                         row.state())
        uow.commit()
        return OpenedConsoleSession(token=token, session_id=row.id,
                                    expires_at=row.expires_at, actor=actor)


def resume_console_session(token: str, *, uow: UnitOfWork, idle: timedelta,
                           ) -> ResumedConsoleSession:
    """The session ``token`` names, if still usable: not closed, not past its absolute
    end, used within ``idle``, and its key still good. Only reads.

    Raises:
        ConsoleSessionEnded: no such session, or it ended (logout, timeout, key revoked or
            expired, user inactive, organisation exited or blacklisted).
    """
    with uow:
        row = uow.session.scalars(select(ConsoleSession).where(
            ConsoleSession.token_hash == hash_secret(token))).one_or_none()
        if row is None or row.ended_at is not None:
            raise ConsoleSessionEnded()
        now = uow.clock.now()
        if now >= row.expires_at or now - row.last_seen_at >= idle:
            raise ConsoleSessionEnded()
        key = ParticipantRepository(uow.session).get_key_for_auth(row.key_id)
        if key is None:
            raise ConsoleSessionEnded()
        try:
            actor = actor_of_key(key, now)
        except (InvalidApiKey, ParticipantNotAdmitted):
            raise ConsoleSessionEnded() from None
        return ResumedConsoleSession(session_id=row.id, actor=actor, expires_at=row.expires_at,
                                     touch_due=now - row.last_seen_at >= TOUCH_EVERY)


def touch_console_session(session_id: str, *, uow: UnitOfWork) -> None:
    """Note that the session was used now (what its idle timeout counts from)."""
    with uow:
        uow.session.execute(update(ConsoleSession).where(
            ConsoleSession.id == session_id, ConsoleSession.ended_at.is_(None),
        ).values(last_seen_at=uow.clock.now()))
        uow.commit()


def close_console_session(token: str, *, uow: UnitOfWork) -> bool:
    """Log out: end the session ``token`` names (audited as ``uow``'s actor, the person
    signed in). False when there was none open."""
    with uow:
        row = uow.session.scalars(select(ConsoleSession).where(
            ConsoleSession.token_hash == hash_secret(token)).with_for_update()).one_or_none()
        if row is None or row.ended_at is not None:
            return False
        row.ended_at = uow.clock.now()
        row.end_reason = "logout"
        uow.session.flush()
        uow.audit.record(uow.actor, "console.session_closed", "console_session", row.id,
                         row.state())
        uow.commit()
        return True
