"""Public credit marks (信用评价, 信用标识): participants keep each organisation's current
mark, computed by :func:`market.participants.credit.compute` from the records a caller in
an upper context gathers and passes down by value (fulfilment and disputes from trading,
breaches from compliance); the sanctions part comes from participants' own admission
history (:func:`sanction_records`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from market.kernel.actor import Role
from market.kernel.clock import as_utc
from market.kernel.uow import UnitOfWork
from market.participants.credit import CreditInputs, compute
from market.participants.domain import Status
from market.participants.errors import CreditMarkNotFound, OrganisationNotFound
from market.participants.models import CreditMarkRow, Organisation, OrganisationRole, StatusChange

GRADE_CHANGED_TOPIC = "participant.credit_grade_changed"


@dataclass(frozen=True)
class Sanctions:
    suspended_now: bool
    blacklisted: bool
    past_suspensions: int


@dataclass(frozen=True)
class CreditMarkView:
    org_id: str
    name: str
    score: int
    grade: str
    components: dict[str, Any]
    computed_at: datetime


def rated_organisations(*, uow: UnitOfWork) -> list[str]:
    """The organisations that carry a mark: every trading one (merchants and buyers) that
    has been admitted at least once."""
    return list(uow.session.scalars(
        select(Organisation.id).where(
            Organisation.status != Status.APPLIED.value,
            Organisation.id.in_(select(OrganisationRole.organisation_id).where(
                OrganisationRole.role.in_([Role.MERCHANT.value, Role.BUYER.value]))))
        .order_by(Organisation.id)))


def sanction_records(org_ids: Iterable[str], *, uow: UnitOfWork) -> dict[str, Sanctions]:
    """Each organisation's sanctions: whether it is suspended or blacklisted now, and how
    many suspensions it had before the current one."""
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    statuses = {org: str(status) for org, status in uow.session.execute(
        select(Organisation.id, Organisation.status).where(Organisation.id.in_(ids)))}
    counts = {org: int(n) for org, n in uow.session.execute(
        select(StatusChange.organisation_id, func.count())
        .where(StatusChange.organisation_id.in_(ids),
               StatusChange.to_status == Status.SUSPENDED.value)
        .group_by(StatusChange.organisation_id))}
    found = {}
    for org_id, status in statuses.items():
        now = status == Status.SUSPENDED.value
        found[org_id] = Sanctions(now, status == Status.BLACKLISTED.value,
                                  int(counts.get(org_id, 0)) - (1 if now else 0))
    return found


def record_credit_marks(inputs: Mapping[str, CreditInputs], *, uow: UnitOfWork) -> list[str]:
    """Compute and keep each organisation's mark from its records, in the caller's
    transaction; a changed mark is audited, and a changed grade is told to its organisation
    (``participant.credit_grade_changed``). Returns the ids whose mark changed."""
    changed: list[str] = []
    rows = {r.organisation_id: r for r in uow.session.scalars(
        select(CreditMarkRow).where(CreditMarkRow.organisation_id.in_(sorted(inputs))))}
    now = uow.clock.now()
    for org_id in sorted(inputs):
        mark = compute(inputs[org_id])
        row = rows.get(org_id)
        previous = row.grade if row is not None else None
        if row is None:
            row = CreditMarkRow(organisation_id=org_id, score=mark.score, grade=mark.grade,
                                components=mark.components, inputs=inputs[org_id].as_dict(),
                                computed_at=now)
            uow.session.add(row)
        elif (row.score, row.grade, row.components) == (mark.score, mark.grade,
                                                         mark.components):
            row.computed_at = now
            continue
        else:
            row.score, row.grade, row.components = mark.score, mark.grade, mark.components
            row.inputs, row.computed_at = inputs[org_id].as_dict(), now
        uow.session.flush()
        uow.audit.record(uow.actor, "credit_mark.computed", "organisation", org_id,
                         row.state())
        if previous is not None and previous != row.grade:
            uow.outbox.enqueue(GRADE_CHANGED_TOPIC, {
                "organisation_id": org_id, "grade": row.grade, "previous_grade": previous,
                "score": row.score})
        changed.append(org_id)
    return changed


def credit_marks(org_ids: Iterable[str], *, uow: UnitOfWork) -> dict[str, CreditMarkView]:
    """The current marks of organisations that have one, in one query (matching)."""
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    rows = uow.session.execute(
        select(CreditMarkRow, Organisation.name)
        .join(Organisation, Organisation.id == CreditMarkRow.organisation_id)
        .where(CreditMarkRow.organisation_id.in_(ids)))
    return {row.organisation_id: CreditMarkView(row.organisation_id, name, row.score, row.grade,
                                                dict(row.components), as_utc(row.computed_at))
            for row, name in rows}


def get_credit_mark(org_id: str, *, uow: UnitOfWork) -> CreditMarkView:
    """An organisation's public credit mark with its components (any caller: the mark is
    public, like the sanctions list).

    Raises:
        OrganisationNotFound: no such organisation, or one that carries no mark (the venue,
            regulators, assessors, an applicant).
        CreditMarkNotFound: none computed yet.
    """
    with uow:
        org = uow.session.get(Organisation, org_id)
        if org is None or org.status == Status.APPLIED.value or not (
                set(org.roles) & {Role.MERCHANT.value, Role.BUYER.value}):
            raise OrganisationNotFound()
        found = credit_marks([org_id], uow=uow).get(org_id)
        if found is None:
            raise CreditMarkNotFound()
        return found
