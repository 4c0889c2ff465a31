"""Endpoints of the caller's organisation: register (the signing secret shown once), change,
rotate the secret with an overlap, delete; its events, its delivery log and replays."""

from __future__ import annotations

import secrets as random_secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from market.kernel.db import present
from market.kernel.errors import InvalidInput, RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.webhooks import repository
from market.webhooks.domain import (
    SECRET_PREFIX,
    DeliveryStatus,
    EndpointStatus,
    selects,
    url_problem,
    valid_selector,
)
from market.webhooks.errors import (
    EndpointNotFound,
    EndpointUrlRefused,
    EventNotFound,
    ReplayTooLarge,
)
from market.webhooks.models import Attempt, Delivery, Endpoint, EndpointSecret, Event
from market.webhooks.services._common import WebhookPolicy
from market.webhooks.services.fanout import new_delivery

MAX_REPLAY = 1000
MAX_OVERLAP = timedelta(days=7)


@dataclass(frozen=True)
class IssuedSecret:
    """An endpoint with the secret it signs with, shown this once."""

    endpoint: Endpoint
    secret: str


@dataclass(frozen=True)
class DeliveryView:
    delivery: Delivery
    attempts: list[Attempt]


def _org(uow: UnitOfWork) -> str:
    if uow.actor.org_id is None:
        raise RoleNotAllowed()
    return uow.actor.org_id


def _checked(url: str, event_types: Sequence[str], policy: WebhookPolicy) -> list[str]:
    problem = url_problem(url, allow_private=policy.allow_private)
    if problem is not None:
        raise EndpointUrlRefused(reason=problem)
    unknown = [t for t in event_types if not valid_selector(t)]
    if unknown:
        raise InvalidInput(errors={"event_types": [
            "unknown event type or category: " + ", ".join(sorted(set(unknown)))]})
    if not event_types:
        raise InvalidInput(errors={"event_types": ["choose at least one"]})
    return sorted(set(event_types))


def _new_secret(uow: UnitOfWork, endpoint_id: str, policy: WebhookPolicy) -> str:
    secret = SECRET_PREFIX + random_secrets.token_urlsafe(32)
    uow.session.add(EndpointSecret(id=new_id("whs"), endpoint_id=endpoint_id,
                                   sealed=policy.seal(secret), created_at=uow.clock.now()))
    return secret


def _end_secrets(uow: UnitOfWork, endpoint_id: str, at: datetime) -> None:
    """The endpoint's secrets that would sign after ``at`` stop signing then."""
    uow.session.execute(
        update(EndpointSecret).where(EndpointSecret.endpoint_id == endpoint_id,
                                     (EndpointSecret.expires_at.is_(None))
                                     | (EndpointSecret.expires_at > at))
        .values(expires_at=at).execution_options(synchronize_session=False))


def create_endpoint(url: str, event_types: Sequence[str], description: str = "", *,
                    policy: WebhookPolicy, uow: UnitOfWork) -> IssuedSecret:
    """Register an endpoint for the caller's organisation; its signing secret is in the
    answer and never shown again.

    Raises:
        EndpointUrlRefused: not HTTPS, or a local or private address.
        InvalidInput: an unknown event type.
    """
    org_id = _org(uow)
    chosen = _checked(url, event_types, policy)
    with uow:
        now = uow.clock.now()
        endpoint = Endpoint(id=new_id("whe"), org_id=org_id, url=url, description=description,
                            event_types=chosen, status=EndpointStatus.ENABLED.value,
                            consecutive_failures=0, created_at=now, updated_at=now)
        uow.session.add(endpoint)
        uow.session.flush()
        secret = _new_secret(uow, endpoint.id, policy)
        uow.audit.record(uow.actor, "webhook_endpoint.created", "webhook_endpoint",
                         endpoint.id, endpoint.state())
        uow.commit()
        return IssuedSecret(endpoint, secret)


def get_endpoint(endpoint_id: str, *, uow: UnitOfWork) -> Endpoint:
    """Raises: EndpointNotFound: not an endpoint of the caller's organisation."""
    with uow:
        return present(repository.get_endpoint(uow.session, uow.actor, endpoint_id),
                       EndpointNotFound)


def list_endpoints(*, uow: UnitOfWork, after: str | None = None,
                   limit: int = 50) -> Page[Endpoint]:
    """The caller's organisation's endpoints."""
    with uow:
        return repository.list_endpoints(uow.session, uow.actor, after=after, limit=limit)


def update_endpoint(endpoint_id: str, changes: Mapping[str, Any], *, policy: WebhookPolicy,
                    uow: UnitOfWork) -> Endpoint:
    """Change an endpoint's URL, event types, description or status; enabling one that was
    disabled clears its failure count.

    Raises:
        EndpointNotFound, EndpointUrlRefused, InvalidInput.
    """
    with uow:
        endpoint = present(repository.get_endpoint(uow.session, uow.actor, endpoint_id,
                                             for_update=True), EndpointNotFound)
        chosen = _checked(changes.get("url", endpoint.url),
                          changes.get("event_types", endpoint.event_types), policy)
        endpoint.url = changes.get("url", endpoint.url)
        endpoint.event_types = chosen
        endpoint.description = changes.get("description", endpoint.description)
        status = changes.get("status")
        if status is not None and status != endpoint.status:
            endpoint.status = status
            if status == EndpointStatus.ENABLED.value:
                endpoint.disabled_reason = None
                endpoint.consecutive_failures = 0
                endpoint.failing_since = None
            else:
                endpoint.disabled_reason = "disabled by its owner"
        endpoint.updated_at = uow.clock.now()
        uow.session.flush()
        uow.audit.record(uow.actor, "webhook_endpoint.updated", "webhook_endpoint",
                         endpoint.id, endpoint.state())
        uow.commit()
        return endpoint


def delete_endpoint(endpoint_id: str, *, uow: UnitOfWork) -> None:
    """Delete an endpoint: nothing more is sent to it, and its pending deliveries end as
    failed. Its delivery log stays.

    Raises:
        EndpointNotFound.
    """
    with uow:
        endpoint = present(repository.get_endpoint(uow.session, uow.actor, endpoint_id,
                                             for_update=True), EndpointNotFound)
        now = uow.clock.now()
        endpoint.deleted_at = now
        endpoint.updated_at = now
        uow.session.execute(
            update(Delivery).where(Delivery.endpoint_id == endpoint.id,
                                   Delivery.status == DeliveryStatus.PENDING.value)
            .values(status=DeliveryStatus.FAILED.value, completed_at=now,
                    last_error="endpoint deleted")
            .execution_options(synchronize_session=False))
        _end_secrets(uow, endpoint.id, now)
        uow.session.flush()
        uow.audit.record(uow.actor, "webhook_endpoint.deleted", "webhook_endpoint",
                         endpoint.id, endpoint.state())
        uow.commit()


def rotate_secret(endpoint_id: str, *, overlap: timedelta | None = None,
                  policy: WebhookPolicy, uow: UnitOfWork) -> IssuedSecret:
    """A new signing secret, shown once. The secrets live until now keep signing for the
    overlap (the policy's by default; zero ends them at once), so a receiver can switch
    without losing an event: until then every delivery carries one ``v1`` per secret.

    Raises:
        EndpointNotFound, InvalidInput (an overlap longer than seven days).
    """
    overlap = policy.secret_overlap if overlap is None else overlap
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise InvalidInput(errors={"overlap_seconds": ["must be between 0 and 604800"]})
    with uow:
        endpoint = present(repository.get_endpoint(uow.session, uow.actor, endpoint_id,
                                             for_update=True), EndpointNotFound)
        now = uow.clock.now()
        ends = now + overlap
        _end_secrets(uow, endpoint.id, ends)
        secret = _new_secret(uow, endpoint.id, policy)
        endpoint.updated_at = now
        uow.session.flush()
        uow.audit.record(uow.actor, "webhook_endpoint.secret_rotated", "webhook_endpoint",
                         endpoint.id, {**endpoint.state(), "previous_secrets_end": ends})
        uow.commit()
        return IssuedSecret(endpoint, secret)


def list_events(*, uow: UnitOfWork, type: str | None = None, since: datetime | None = None,
                until: datetime | None = None, after: str | None = None,
                limit: int = 50) -> Page[Event]:
    """Events sent to the caller's organisation, oldest first."""
    with uow:
        return repository.list_events(uow.session, uow.actor, type=type, since=since,
                                      until=until, after=after, limit=limit)


def get_event(event_id: str, *, uow: UnitOfWork) -> Event:
    """Raises: EventNotFound: not an event sent to the caller's organisation."""
    with uow:
        return present(repository.get_event(uow.session, uow.actor, event_id), EventNotFound)


def list_deliveries(endpoint_id: str, *, uow: UnitOfWork, status: str | None = None,
                    event_id: str | None = None, after: str | None = None,
                    limit: int = 50) -> Page[DeliveryView]:
    """An endpoint's delivery log: each delivery with its attempts (time, latency, the
    answer's status and first KiB).

    Raises:
        EndpointNotFound.
    """
    with uow:
        present(repository.get_endpoint(uow.session, uow.actor, endpoint_id), EndpointNotFound)
        page = repository.list_deliveries(uow.session, endpoint_id, status=status,
                                          event_id=event_id, after=after, limit=limit)
        attempts = repository.attempts_of(uow.session, [d.id for d in page.items])
        return page.map(lambda d: DeliveryView(d, attempts[d.id]))


def replay(endpoint_id: str, *, event_id: str | None = None, since: datetime | None = None,
           until: datetime | None = None, policy: WebhookPolicy, uow: UnitOfWork) -> int:
    """Send again one event, or every event of a time range the endpoint subscribes to, as
    new deliveries (the same event id and body, so receivers deduplicate). Returns how many
    were queued.

    Raises:
        EndpointNotFound, EventNotFound, InvalidInput (neither or both of an event and a
        range), ReplayTooLarge (more than 1,000 events in the range).
    """
    if (event_id is None) == (since is None):
        raise InvalidInput(errors={"event_id": ["give an event id or a range (since, until)"]})
    with uow:
        endpoint = present(repository.get_endpoint(uow.session, uow.actor, endpoint_id),
                           EndpointNotFound)
        if event_id is not None:
            events = [present(repository.get_event(uow.session, uow.actor, event_id),
                              EventNotFound)]
        else:
            stmt = repository.events_query(uow.actor, type=None, since=since, until=until)

            total = uow.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
            if total > MAX_REPLAY * 10:
                raise ReplayTooLarge(limit=MAX_REPLAY)
            found: list[Event] = list(uow.session.scalars(stmt.order_by(Event.id)))
            events = [e for e in found
                      if selects(endpoint.event_types, e.type)]
            if len(events) > MAX_REPLAY:
                raise ReplayTooLarge(limit=MAX_REPLAY)
        now = uow.clock.now()
        for event in events:
            uow.session.add(new_delivery(event.id, endpoint.id, now, policy, replay=True))
        uow.session.flush()
        uow.audit.record(uow.actor, "webhook_endpoint.replayed", "webhook_endpoint",
                         endpoint.id, {"events": [e.id for e in events]})
        uow.commit()
        return len(events)
