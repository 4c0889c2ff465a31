"""Rights queries, scoped to what the acting principal may see. Never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from market.kernel.actor import Actor
from market.kernel.db import one_or_none
from market.kernel.pagination import Page, keyset_page, where_given
from market.rights.domain import ENDED, EvidenceKind, RightStatus
from market.rights.models import (
    Certificate,
    CertificateCounter,
    DataResource,
    Evidence,
    Grant,
    ResourceDispute,
    Right,
    RightEvent,
    RightParent,
)

# Duties that need every record: the venue reviews, assessors define rights (产权界定),
# regulators inspect.
SEE_ALL = ("operator", "assessor", "regulator")
ENDED_VALUES = sorted(s.value for s in ENDED)


def sees_all(actor: Actor) -> bool:
    return actor.is_system or actor.has_role(*SEE_ALL)


class RightsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- resources ----------------------------------------------------------------------

    def _resources(self, actor: Actor) -> Select[Any]:
        stmt = select(DataResource)
        if sees_all(actor):
            return stmt
        return stmt.where(DataResource.holder_org_id == (actor.org_id or ""))

    def get_resource(self, resource_id: str, actor: Actor) -> DataResource | None:
        stmt = self._resources(actor).where(DataResource.id == resource_id)
        return self.session.scalars(stmt).one_or_none()

    def resources_by_id(self, ids: Iterable[str]) -> dict[str, DataResource]:
        wanted = sorted(set(ids))
        rows = self.session.scalars(select(DataResource).where(DataResource.id.in_(wanted)))
        return {r.id: r for r in rows}

    def list_resources(self, actor: Actor, *, holder: str | None, after: str | None,
                       limit: int) -> Page[DataResource]:
        stmt = where_given(self._resources(actor), (DataResource.holder_org_id, holder))
        return keyset_page(self.session, stmt, DataResource.id, after=after, limit=limit)

    def open_disputes(self, resource_ids: Iterable[str]) -> set[str]:
        stmt = select(ResourceDispute.resource_id).where(
            ResourceDispute.resource_id.in_(sorted(set(resource_ids))),
            ResourceDispute.status == "open",
        )
        return set(self.session.scalars(stmt))

    # -- evidence -----------------------------------------------------------------------

    def evidence_of(self, owner_type: str, owner_ids: Iterable[str]) -> list[Evidence]:
        stmt = select(Evidence).where(Evidence.owner_type == owner_type,
                                      Evidence.owner_id.in_(sorted(set(owner_ids))))
        return list(self.session.scalars(stmt.order_by(Evidence.id)))

    def evidence_kinds(self, owner_type: str, owner_id: str) -> frozenset[EvidenceKind]:
        return frozenset(EvidenceKind(e.kind) for e in self.evidence_of(owner_type, [owner_id]))

    # -- rights -------------------------------------------------------------------------

    def _rights(self, actor: Actor) -> Select[Any]:
        stmt = select(Right)
        if sees_all(actor):
            return stmt
        return stmt.where(Right.holder_org_id == (actor.org_id or ""))

    def get_right(self, right_id: str, actor: Actor, *, for_update: bool = False) -> Right | None:
        found: Right | None = one_or_none(
            self.session, self._rights(actor).where(Right.id == right_id), for_update=for_update)
        return found

    def rights_by_id(self, ids: Iterable[str], *, for_update: bool = False) -> dict[str, Right]:
        stmt = select(Right).where(Right.id.in_(sorted(set(ids))))
        if for_update:
            stmt = stmt.with_for_update()
        return {r.id: r for r in self.session.scalars(stmt)}

    def list_rights(
        self, actor: Actor, *, kind: str | None, status: str | None, resource_id: str | None,
        product_id: str | None, holder: str | None, after: str | None, limit: int,
    ) -> Page[Right]:
        stmt = self._rights(actor)
        for column, value in ((Right.kind, kind), (Right.status, status),
                              (Right.resource_id, resource_id), (Right.product_id, product_id),
                              (Right.holder_org_id, holder)):
            if value:
                stmt = stmt.where(column == value)
        return keyset_page(self.session, stmt, Right.id, after=after, limit=limit)

    def parent_ids(self, right_id: str) -> list[str]:
        stmt = select(RightParent.parent_id).where(RightParent.right_id == right_id)
        return sorted(self.session.scalars(stmt))

    def parents_of(self, right_ids: Sequence[str]) -> dict[str, list[str]]:
        stmt = select(RightParent).where(RightParent.right_id.in_(sorted(set(right_ids))))
        found: dict[str, list[str]] = {r: [] for r in right_ids}
        for link in self.session.scalars(stmt):
            found[link.right_id].append(link.parent_id)
        return found

    def children_of(self, parent_ids: Sequence[str], status: RightStatus) -> list[Right]:
        stmt = (
            select(Right)
            .join(RightParent, RightParent.right_id == Right.id)
            .where(RightParent.parent_id.in_(sorted(set(parent_ids))),
                   Right.status == status.value)
            .order_by(Right.id)
            .with_for_update()
        )
        return list(self.session.scalars(stmt).unique())

    def live_rights_on_resource(self, resource_id: str, status: RightStatus) -> list[Right]:
        stmt = (select(Right).where(Right.resource_id == resource_id,
                                    Right.status == status.value)
                .order_by(Right.id).with_for_update())
        return list(self.session.scalars(stmt))

    def rights_suspended_by(self, cause: str) -> list[Right]:
        stmt = (select(Right).where(Right.suspended_by == cause,
                                    Right.status == RightStatus.SUSPENDED.value)
                .order_by(Right.id).with_for_update())
        return list(self.session.scalars(stmt))

    def rights_on_grant(self, grant_id: str) -> list[Right]:
        stmt = select(Right).where(Right.grant_id == grant_id).order_by(Right.id).with_for_update()
        return list(self.session.scalars(stmt))

    def due_to_expire(self, at: Any) -> list[Right]:
        stmt = (
            select(Right)
            .where(Right.status.in_([RightStatus.REGISTERED.value, RightStatus.SUSPENDED.value]),
                   Right.valid_to.is_not(None), Right.valid_to <= at)
            .order_by(Right.id)
            .with_for_update()
        )
        return list(self.session.scalars(stmt))

    def product_operation_rights(self, product_id: str) -> list[Right]:
        """Most recently registered first; never-registered ones last (on every backend)."""
        stmt = (select(Right).where(Right.product_id == product_id)
                .order_by(Right.registered_at.desc().nulls_last(), Right.id.desc()))
        return list(self.session.scalars(stmt))

    def product_held_by_other(self, product_id: str, holder: str) -> bool:
        stmt = select(Right.id).where(Right.product_id == product_id,
                                      Right.holder_org_id != holder,
                                      Right.status.not_in(ENDED_VALUES)).limit(1)
        return self.session.scalar(stmt) is not None

    def product_held_by(self, product_id: str, holder: str) -> bool:
        """Whether ``holder`` holds or seeks the product operation right over the product."""
        stmt = select(Right.id).where(Right.product_id == product_id,
                                      Right.holder_org_id == holder,
                                      Right.status.not_in(ENDED_VALUES)).limit(1)
        return self.session.scalar(stmt) is not None

    def history(self, right_id: str, *, after: str | None, limit: int) -> Page[RightEvent]:
        stmt = select(RightEvent).where(RightEvent.right_id == right_id)
        return keyset_page(self.session, stmt, RightEvent.id, after=after, limit=limit)

    # -- grants -------------------------------------------------------------------------

    def _grants(self, actor: Actor) -> Select[Any]:
        stmt = select(Grant)
        if sees_all(actor):
            return stmt
        org = actor.org_id or ""
        return stmt.where(or_(Grant.grantor_org_id == org, Grant.grantee_org_id == org))

    def get_grant(self, grant_id: str, actor: Actor, *, for_update: bool = False) -> Grant | None:
        found: Grant | None = one_or_none(self.session, self._grants(actor).where(
            Grant.id == grant_id), for_update=for_update)
        return found

    def grant_by_id(self, grant_id: str) -> Grant | None:
        return self.session.get(Grant, grant_id)

    def list_grants(self, actor: Actor, *, status: str | None, after: str | None,
                    limit: int) -> Page[Grant]:
        stmt = where_given(self._grants(actor), (Grant.status, status))
        return keyset_page(self.session, stmt, Grant.id, after=after, limit=limit)

    # -- disputes -----------------------------------------------------------------------

    def get_dispute(self, dispute_id: str, *, for_update: bool = False) -> ResourceDispute | None:
        found: ResourceDispute | None = one_or_none(
            self.session, select(ResourceDispute).where(ResourceDispute.id == dispute_id),
            for_update=for_update)
        return found

    def other_open_dispute(self, resource_id: str, besides: str) -> str | None:
        stmt = (select(ResourceDispute.id)
                .where(ResourceDispute.resource_id == resource_id,
                       ResourceDispute.status == "open", ResourceDispute.id != besides)
                .order_by(ResourceDispute.id).limit(1))
        return self.session.scalar(stmt)

    def disputes_of(self, resource_id: str, *, after: str | None,
                    limit: int) -> Page[ResourceDispute]:
        stmt = select(ResourceDispute).where(ResourceDispute.resource_id == resource_id)
        return keyset_page(self.session, stmt, ResourceDispute.id, after=after, limit=limit)

    # -- certificates -------------------------------------------------------------------

    def next_certificate_seq(self, year: int) -> int:
        """Take the next number of ``year``; the counter row serialises concurrent issuers."""
        bumped = self.session.execute(
            update(CertificateCounter).where(CertificateCounter.year == year)
            .values(last=CertificateCounter.last + 1).returning(CertificateCounter.last)
        ).scalar_one_or_none()
        if bumped is not None:
            return int(bumped)
        try:
            with self.session.begin_nested():
                self.session.add(CertificateCounter(year=year, last=1))
        except IntegrityError:  # another issuer opened the year first: take the next one
            return self.next_certificate_seq(year)
        return 1

    def certificate(self, number: str) -> Certificate | None:
        return self.session.get(Certificate, number)
