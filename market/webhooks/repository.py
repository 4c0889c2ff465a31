"""Webhook queries, always scoped to the caller's organisation (an endpoint, an event, a
delivery belongs to exactly one). Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from market.kernel.actor import Actor
from market.kernel.pagination import Page, keyset_page, where_given
from market.webhooks.models import Attempt, Delivery, Endpoint, EndpointSecret, Event


def _own(actor: Actor) -> str:
    return actor.org_id or ""


def get_endpoint(session: Session, actor: Actor, endpoint_id: str, *,
                 for_update: bool = False) -> Endpoint | None:
    stmt = select(Endpoint).where(Endpoint.id == endpoint_id, Endpoint.org_id == _own(actor),
                                  Endpoint.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    found: Endpoint | None = session.scalars(stmt).one_or_none()
    return found


def list_endpoints(session: Session, actor: Actor, *, after: str | None,
                   limit: int) -> Page[Endpoint]:
    stmt = select(Endpoint).where(Endpoint.org_id == _own(actor),
                                  Endpoint.deleted_at.is_(None))
    return keyset_page(session, stmt, Endpoint.id, after=after, limit=limit)


def live_secrets(session: Session, endpoint_id: str, now: datetime) -> Sequence[EndpointSecret]:
    """The secrets that sign now, newest first."""
    return session.scalars(
        select(EndpointSecret).where(
            EndpointSecret.endpoint_id == endpoint_id,
            (EndpointSecret.expires_at.is_(None)) | (EndpointSecret.expires_at > now))
        .order_by(EndpointSecret.created_at.desc(), EndpointSecret.id.desc())).all()


def get_event(session: Session, actor: Actor, event_id: str) -> Event | None:
    found: Event | None = session.scalars(select(Event).where(
        Event.id == event_id, Event.org_id == _own(actor))).one_or_none()
    return found


def events_query(actor: Actor, *, type: str | None, since: datetime | None,
                 until: datetime | None) -> Select[Any]:
    stmt = where_given(select(Event).where(Event.org_id == _own(actor)), (Event.type, type))
    if since is not None:
        stmt = stmt.where(Event.created_at >= since)
    if until is not None:
        stmt = stmt.where(Event.created_at < until)
    return stmt


def list_events(session: Session, actor: Actor, *, type: str | None, since: datetime | None,
                until: datetime | None, after: str | None, limit: int) -> Page[Event]:
    return keyset_page(session, events_query(actor, type=type, since=since, until=until),
                       Event.id, after=after, limit=limit)


def list_deliveries(session: Session, endpoint_id: str, *, status: str | None,
                    event_id: str | None, after: str | None, limit: int) -> Page[Delivery]:
    stmt = where_given(select(Delivery).where(Delivery.endpoint_id == endpoint_id),
                       (Delivery.status, status), (Delivery.event_id, event_id))
    return keyset_page(session, stmt, Delivery.id, after=after, limit=limit)


def attempts_of(session: Session, delivery_ids: Sequence[str]) -> dict[str, list[Attempt]]:
    found: dict[str, list[Attempt]] = {d: [] for d in delivery_ids}
    if delivery_ids:
        for attempt in session.scalars(select(Attempt).where(
                Attempt.delivery_id.in_(delivery_ids)).order_by(Attempt.id)):
            found[attempt.delivery_id].append(attempt)
    return found
