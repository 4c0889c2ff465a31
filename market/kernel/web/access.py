"""Authentication and access declarations: who the caller is, who may call a view, and the
unit of work a request's use case runs in."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import g, request

from market.kernel.actor import ANONYMOUS, Actor
from market.kernel.db import reading
from market.kernel.errors import (
    InvalidApiKey,
    ParticipantNotAdmitted,
    RoleNotAllowed,
    ScopeNotAllowed,
    Unauthorized,
)
from market.kernel.idempotency import (
    IdempotencyStore,
)
from market.kernel.uow import UnitOfWork
from market.kernel.web.contention import run_contended
from market.kernel.web.context import autocommitting, request_sessions, state
from market.kernel.web.parsing import unstorable_text

ADMITTED = "admitted"

F = TypeVar("F", bound=Callable[..., Any])

# -- authentication and access declarations -------------------------------------------


def current_actor() -> Actor:
    """The principal behind this request (anonymous when no Authorization header)."""
    cached = g.get("market_actor")
    if cached is not None:
        return cast(Actor, cached)
    header = request.headers.get("Authorization")
    if header is None:
        actor = ANONYMOUS
    else:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use: Authorization: Bearer <api key>")
        if unstorable_text(token):
            raise InvalidApiKey()
        with reading(), autocommitting():
            actor = state().authenticate(token.strip(), request_sessions())
    g.market_actor = actor
    return actor


@dataclass(frozen=True)
class Access:
    """Who may call an endpoint.

    ``roles``: organisation roles allowed (None: any admitted organisation);
    ``anonymous``: callers without a key allowed too; ``unadmitted``: organisations not (or
    no longer) admitted may call it, to follow their own application; ``scope``: the key
    scope needed (``read`` for safe methods, ``write`` otherwise by default).
    """

    roles: frozenset[str] | None
    anonymous: bool
    unadmitted: bool
    scope: str | None

    @property
    def public(self) -> bool:
        """Open to everyone: credentials, if any are sent, are not even looked at."""
        return self.anonymous and self.roles is None and not self.unadmitted

    def check(self, actor: Actor, method: str) -> None:
        if actor.is_anonymous:
            if not self.anonymous:
                raise Unauthorized()
            return
        if actor.org_status != ADMITTED and not self.unadmitted:
            raise ParticipantNotAdmitted()
        if self.roles is not None and not actor.has_role(*self.roles):
            raise RoleNotAllowed()
        scope = self.scope or ("read" if method in ("GET", "HEAD", "OPTIONS") else "write")
        if scope not in actor.scopes:
            raise ScopeNotAllowed()


def access_of(view: Callable[..., Any]) -> Access | None:
    return cast(Access | None, getattr(view, "_market_access", None))


class AccessViews:
    """Blueprint views declare who may call them (``@bp.access(...)``)."""

    if TYPE_CHECKING:  # provided by flask_smorest.Blueprint, which the blueprint mixes in
        def doc(self, **kwargs: Any) -> Callable[[Any], Any]: ...
        def alt_response(self, code: int, **kwargs: Any) -> Callable[[Any], Any]: ...

    def access(
        self,
        *,
        roles: Iterable[str] | None = None,
        anonymous: bool = False,
        unadmitted: bool = False,
        scope: str | None = None,
        object_scoped: bool = False,
    ) -> Callable[[F], F]:
        rule = Access(
            roles=frozenset(roles) if roles is not None else None,
            anonymous=anonymous, unadmitted=unadmitted, scope=scope,
        )

        def decorator(func: F) -> F:
            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                if not rule.public:
                    rule.check(current_actor(), request.method)
                if getattr(func, "_market_contended", False):  # it runs again by itself
                    return func(*args, **kwargs)
                return run_contended(func, state().settings.db_attempts, *args, **kwargs)

            wrapper._market_access = rule  # type: ignore[attr-defined]
            security: list[dict[str, list[str]]] = [{"bearerAuth": []}]
            if anonymous:
                security = [{}, {"bearerAuth": []}] if roles is not None or unadmitted else [{}]
            decorated: Any = self.doc(security=security)(wrapper)
            if not (anonymous and roles is None and not unadmitted):
                decorated = self.alt_response(401, response="UNAUTHORIZED")(decorated)
                decorated = self.alt_response(403, response="FORBIDDEN")(decorated)
            if object_scoped:
                decorated = self.alt_response(404, response="NOT_FOUND")(decorated)
            return cast(F, decorated)

        return decorator


def unit_of_work() -> UnitOfWork:
    """A unit of work for this request's actor, joined to its idempotency claim if any."""
    st = state()
    uow = UnitOfWork(request_sessions(), st.clock, current_actor(),
                     request_id=g.get("request_id"))
    record_id = g.get("idempotency_record_id")
    if record_id is not None:
        uow.add_before_commit(lambda session: IdempotencyStore.mark_committed(session, record_id))
    return uow
