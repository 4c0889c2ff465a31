"""What other contexts may ask about participants, in their own transaction: an
organisation's public facts for their rules, and the sanctioned organisations for public
disclosure (信息披露)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from market.kernel.clock import as_utc
from market.kernel.uow import UnitOfWork
from market.participants.domain import Status
from market.participants.repository import ParticipantRepository


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


def organisation_facts(org_ids: Iterable[str], *, uow: UnitOfWork
                       ) -> dict[str, OrganisationFacts]:
    """Facts about organisations for other contexts' rules, in the caller's transaction."""
    wanted = sorted(set(org_ids))
    if not wanted:
        return {}
    states: dict[str, tuple[str, str]] = {}
    roles: dict[str, set[str]] = {}
    for org_id, name, status, role in ParticipantRepository(uow.session).facts_rows(wanted):
        states[org_id] = (name, status)
        roles.setdefault(org_id, set()).update([role] if role else [])
    return {org_id: OrganisationFacts(org_id, name, status, frozenset(roles[org_id]))
            for org_id, (name, status) in states.items()}


@dataclass(frozen=True)
class Sanction:
    """A participant barred from trading, as the public disclosure shows it."""

    org_id: str
    name: str
    credit_code: str
    status: str
    reason: str | None
    since: datetime


def sanctioned(*, uow: UnitOfWork) -> list[Sanction]:
    """Every suspended or blacklisted organisation, most recent first, with the time and
    reason of the change that put it there (public disclosure, 信息披露)."""
    barred = (Status.SUSPENDED.value, Status.BLACKLISTED.value)
    repo = ParticipantRepository(uow.session)
    orgs = repo.in_statuses(barred)
    since = repo.last_moved_to([o.id for o in orgs], barred)
    found = [Sanction(o.id, o.name, o.credit_code, o.status, o.status_reason,
                      since.get(o.id, as_utc(o.updated_at))) for o in orgs]
    return sorted(found, key=lambda s: (s.since, s.org_id), reverse=True)
