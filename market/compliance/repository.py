"""Compliance queries: declarations, decisions and filings scoped to what the acting
principal may see, the review queue, alerts, and the per-year filing numbers. Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from market.compliance.domain import DeclarationKind
from market.compliance.models import (
    OPEN_REVIEW,
    Alert,
    AlertNote,
    AssessmentReport,
    Decision,
    Declaration,
    DeclarationBreach,
    Filing,
    FilingCounter,
    ReviewItem,
)
from market.kernel.actor import Actor, Role
from market.kernel.pagination import where_given

STAFF = (Role.OPERATOR, Role.ASSESSOR, Role.REGULATOR)  # who sees every declaration and decision


def sees_everything(actor: Actor) -> bool:
    return actor.is_system or actor.has_role(*STAFF)


# -- declarations -------------------------------------------------------------------------


def visible_declarations(actor: Actor) -> Select[Any]:
    stmt = select(Declaration)
    if not sees_everything(actor):
        stmt = stmt.where(Declaration.org_id == actor.org_id)
    return stmt


def latest_declaration(session: Session, subject_type: str, subject_id: str
                       ) -> Declaration | None:
    return session.scalars(
        select(Declaration).where(Declaration.subject_type == subject_type,
                                  Declaration.subject_id == subject_id)
        .order_by(Declaration.id.desc())).first()


def latest_admission_commitment(session: Session, org_id: str) -> Declaration | None:
    return session.scalars(
        select(Declaration).where(Declaration.kind == DeclarationKind.ADMISSION.value,
                                  Declaration.org_id == org_id)
        .order_by(Declaration.id.desc())).first()


def breaches_of_declaration(session: Session, declaration_id: str) -> list[DeclarationBreach]:
    return list(session.scalars(
        select(DeclarationBreach).where(DeclarationBreach.declaration_id == declaration_id)
        .order_by(DeclarationBreach.id)))


def breaches_of_organisation(session: Session, org_id: str) -> list[DeclarationBreach]:
    return list(session.scalars(
        select(DeclarationBreach).where(DeclarationBreach.org_id == org_id)
        .order_by(DeclarationBreach.id)))


def breach_severities(session: Session, org_ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if not org_ids:
        return found
    rows = session.execute(select(DeclarationBreach.org_id, DeclarationBreach.severity)
                           .where(DeclarationBreach.org_id.in_(sorted(set(org_ids)))))
    for org, severity in rows:
        found.setdefault(org, []).append(severity)
    return found


# -- decisions ----------------------------------------------------------------------------


def visible_decisions(actor: Actor) -> Select[Any]:
    stmt = select(Decision)
    if not sees_everything(actor):
        stmt = stmt.where(or_(Decision.org_id == actor.org_id,
                              Decision.counterparty_org_id == actor.org_id))
    return stmt


def decision_ids(session: Session, subject_id: str) -> list[str]:
    return list(session.scalars(select(Decision.id).where(Decision.subject_id == subject_id)
                                .order_by(Decision.id)))


def latest_decision(session: Session, subject_id: str) -> Decision | None:
    return session.scalars(
        select(Decision).where(Decision.subject_id == subject_id)
        .order_by(Decision.id.desc())).first()


# -- filings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilingFilters:
    concluded_from: datetime | None = None
    concluded_to: datetime | None = None
    party: str | None = None
    product: str | None = None
    sector: str | None = None
    kind: str | None = None
    currency: str | None = None
    min_amount: int | None = None
    max_amount: int | None = None


def filtered_filings(stmt: Select[Any], f: FilingFilters) -> Select[Any]:
    if f.concluded_from is not None:
        stmt = stmt.where(Filing.concluded_at >= f.concluded_from)
    if f.concluded_to is not None:
        stmt = stmt.where(Filing.concluded_at < f.concluded_to)
    if f.party:
        stmt = stmt.where(or_(Filing.seller_org_id == f.party, Filing.buyer_org_id == f.party))
    stmt = where_given(stmt, (Filing.product_id, f.product), (Filing.sector, f.sector),
                 (Filing.kind, f.kind), (Filing.currency, f.currency))
    if f.min_amount is not None:
        stmt = stmt.where(Filing.amount >= f.min_amount)
    if f.max_amount is not None:
        stmt = stmt.where(Filing.amount <= f.max_amount)
    return stmt


def visible_filings(actor: Actor) -> Select[Any]:
    stmt = select(Filing)
    if not (actor.is_system or actor.has_role(Role.OPERATOR, Role.REGULATOR)):
        stmt = stmt.where(or_(Filing.seller_org_id == actor.org_id,
                              Filing.buyer_org_id == actor.org_id))
    return stmt


def filing_of_order(session: Session, order_id: str) -> Filing | None:
    return session.scalars(select(Filing).where(Filing.order_id == order_id)).one_or_none()


def filings_since(session: Session, since: datetime) -> list[Filing]:
    return list(session.scalars(select(Filing).where(Filing.filed_at >= since)
                                .order_by(Filing.id)))


def next_filing_number(session: Session, year: int) -> str:
    """Take the next number of ``year``; the counter row serialises concurrent filers."""
    bumped = session.execute(
        update(FilingCounter).where(FilingCounter.year == year)
        .values(last=FilingCounter.last + 1).returning(FilingCounter.last)
    ).scalar_one_or_none()
    if bumped is None:
        try:
            with session.begin_nested():
                session.add(FilingCounter(year=year, last=1))
            bumped = 1
        except IntegrityError:  # another filer opened the year first: take the next one
            return next_filing_number(session, year)
    return f"FL-{year}-{int(bumped):06d}"


def filing_totals(session: Session, filters: FilingFilters) -> dict[str, list[dict[str, Any]]]:
    """Count and volume of filed trades by day, sector, product type and listed version (per
    currency; a trade reported from off the exchange has no version: its key is None)."""
    if session.get_bind().dialect.name == "postgresql":  # the calendar day in UTC
        day: Any = func.to_char(func.timezone("UTC", Filing.concluded_at), "YYYY-MM-DD")
    else:  # stored as UTC text
        day = func.substr(Filing.concluded_at, 1, 10)
    out: dict[str, list[dict[str, Any]]] = {}
    for name, column in (("by_day", day), ("by_sector", Filing.sector),
                         ("by_product_type", Filing.product_type),
                         ("by_version", Filing.version_id)):
        stmt = filtered_filings(
            select(column.label("key"), Filing.currency, func.count(), func.sum(Filing.amount))
            .group_by(column, Filing.currency).order_by(column, Filing.currency), filters)
        out[name] = [{"key": None if key is None else str(key), "currency": currency,
                      "count": int(count), "amount": int(amount or 0)}
                     for key, currency, count, amount in session.execute(stmt)]
    return out


# -- alerts -------------------------------------------------------------------------------


def alert_for_update(session: Session, alert_id: str) -> Alert | None:
    return session.scalars(select(Alert).where(Alert.id == alert_id)
                           .with_for_update()).one_or_none()


def alert_of_rule_for_update(session: Session, rule: str, subject_id: str) -> Alert | None:
    return session.scalars(select(Alert).where(Alert.rule == rule,
                                               Alert.subject_id == subject_id)
                           .with_for_update()).one_or_none()


def alert_notes(session: Session, alert_id: str) -> list[AlertNote]:
    return list(session.scalars(select(AlertNote).where(AlertNote.alert_id == alert_id)
                                .order_by(AlertNote.id)))


# -- the review queue ---------------------------------------------------------------------


def open_review_item(session: Session, subject_id: str) -> ReviewItem | None:
    """The subject's item still in the queue, locked."""
    return session.scalars(
        select(ReviewItem).where(ReviewItem.subject_id == subject_id,
                                 ReviewItem.status.in_(OPEN_REVIEW))
        .order_by(ReviewItem.id.desc()).with_for_update()).first()


def assessment_reports(session: Session, subject_id: str) -> list[AssessmentReport]:
    return list(session.scalars(select(AssessmentReport)
                                .where(AssessmentReport.subject_id == subject_id)
                                .order_by(AssessmentReport.id)))
