"""Who is acting: the principal behind a request, a CLI command or the worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from market.kernel.errors import RoleNotAllowed


class Role(StrEnum):
    """An organisation's roles on the exchange (an organisation may hold several)."""

    MERCHANT = "merchant"
    BUYER = "buyer"
    OPERATOR = "operator"
    ASSESSOR = "assessor"
    BROKER = "broker"
    REGULATOR = "regulator"


@dataclass(frozen=True)
class Actor:
    """The caller of a service.

    ``kind`` is ``user`` for API-key holders, ``system`` for the CLI and the worker and
    ``anonymous`` for unauthenticated requests. ``roles`` are the roles of the user's
    organisation; ``org_status`` its admission state.
    """

    kind: str
    label: str
    user_id: str | None = None
    org_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    org_status: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    key_id: str | None = None

    def has_role(self, *roles: Role | str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_system(self) -> bool:
        return self.kind == "system"

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"


ANONYMOUS = Actor(kind="anonymous", label="anonymous")


def system_actor(label: str = "system") -> Actor:
    return Actor(kind="system", label=label)


def require(actor: Actor, *roles: Role) -> None:
    """Refuse unless the actor is the system or its organisation holds one of ``roles``.

    Raises:
        RoleNotAllowed: none of the roles.
    """
    if not (actor.is_system or actor.has_role(*roles)):
        raise RoleNotAllowed()
