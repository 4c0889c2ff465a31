"""The worker's side: claim due deliveries, sign and POST each outside any transaction,
record the attempt, back off and retry within the window, and disable an endpoint that
keeps failing (its owner is told by an event of its own)."""

from __future__ import annotations

import json
import logging
import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.actor import system_actor
from market.kernel.clock import Clock
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.webhooks import repository
from market.webhooks.domain import (
    EXCERPT_BYTES,
    SIGNATURE_HEADER,
    DeliveryStatus,
    EndpointStatus,
    address_allowed,
    next_attempt,
    signature_header,
)
from market.webhooks.models import Attempt, Delivery, Endpoint, Event
from market.webhooks.services._common import WebhookPolicy

log = logging.getLogger(__name__)
USER_AGENT = "market-webhooks/1"
PARALLEL = 8


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery with everything needed to send it."""

    delivery_id: str
    endpoint_id: str
    url: str
    event_id: str
    event_type: str
    body: bytes
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """What one attempt got: a status (None when nothing came back) and the first KiB."""

    status_code: int | None
    excerpt: str
    latency_ms: int
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class SendResult:
    claimed: int
    succeeded: int
    retrying: int
    failed: int
    disabled: list[str]


def event_body(event: Event) -> bytes:
    """The JSON a receiver gets: the same bytes on every attempt and replay."""
    return json.dumps({"id": event.id, "type": event.type,
                       "created": event.created_at.isoformat().replace("+00:00", "Z"),
                       "data": event.data},
                      ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _resolves_publicly(url: str) -> str | None:
    """Why the URL's host may not be called now (it resolves to a private or local
    address, or not at all), or None."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        return f"cannot resolve {host}: {exc.strerror or exc}"
    bad = sorted({str(info[4][0]) for info in infos if not address_allowed(str(info[4][0]))})
    return f"{host} resolves to a private or local address ({bad[0]})" if bad else None


def http_client(policy: WebhookPolicy) -> httpx.Client:
    """The client of one sending pass, shared by its threads (connections are pooled):
    redirects are not followed (a 3xx is a failure) and no proxy settings are read."""
    return httpx.Client(timeout=policy.timeout_seconds, follow_redirects=False,
                        trust_env=False, limits=httpx.Limits(max_connections=PARALLEL))


def http_send(outgoing: Outgoing, headers: dict[str, str], policy: WebhookPolicy, *,
              client: httpx.Client) -> Answer:
    """POST the event on the pass's client."""
    started = time.monotonic()
    if not policy.allow_private:
        refused = _resolves_publicly(outgoing.url)
        if refused is not None:
            return Answer(None, "", 0, refused)
    try:
        with client.stream("POST", outgoing.url, content=outgoing.body,
                           headers=headers) as response:
            excerpt = b""
            for chunk in response.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
            latency = int((time.monotonic() - started) * 1000)
            return Answer(response.status_code,
                          excerpt[:EXCERPT_BYTES].decode("utf-8", "replace"), latency)
    except httpx.HTTPError as exc:
        latency = int((time.monotonic() - started) * 1000)
        return Answer(None, "", latency, f"{type(exc).__name__}: {exc}"[:500])


def _claim(sessions: sessionmaker[Session], clock: Clock, policy: WebhookPolicy,
           worker_id: str, limit: int, lease_seconds: int) -> list[Outgoing]:
    now = clock.now()
    due = (select(Delivery.id)
           .join(Endpoint, Endpoint.id == Delivery.endpoint_id)
           .where(Delivery.status == DeliveryStatus.PENDING.value,
                  Delivery.next_attempt_at <= now,
                  or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
                  Endpoint.status == EndpointStatus.ENABLED.value,
                  Endpoint.deleted_at.is_(None))
           .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)
           .with_for_update(of=Delivery, skip_locked=True))
    lease = now + timedelta(seconds=lease_seconds)
    with sessions() as session, session.begin():
        ids = list(session.scalars(due))
        if not ids:
            return []
        session.execute(update(Delivery).where(Delivery.id.in_(ids))
                        .values(lease_until=lease, claimed_by=worker_id,
                                attempts=Delivery.attempts + 1)
                        .execution_options(synchronize_session=False))
        rows = session.execute(
            select(Delivery, Endpoint, Event)
            .join(Endpoint, Endpoint.id == Delivery.endpoint_id)
            .join(Event, Event.id == Delivery.event_id)
            .where(Delivery.id.in_(ids)).order_by(Delivery.id)).all()
        found = []
        for delivery, endpoint, event in rows:
            secrets = tuple(policy.unseal(s.sealed) for s in
                            repository.live_secrets(session, endpoint.id, now))
            found.append(Outgoing(delivery.id, endpoint.id, endpoint.url, event.id,
                                  event.type, event_body(event), secrets))
        return found


def _record_all(sessions: sessionmaker[Session], clock: Clock, policy: WebhookPolicy,
                worker_id: str, answered: list[tuple[Outgoing, Answer, datetime]],
                rng: random.Random) -> tuple[list[str], list[str]]:
    """Keep a pass's attempts and move their deliveries and endpoints on, in one
    transaction (deliveries, then endpoints, each locked in id order); returns each
    delivery's new status (``lost`` if the lease ran out and another worker has it) and the
    endpoints this pass disabled."""
    uow = UnitOfWork(sessions, clock, system_actor("webhooks"))
    with uow:
        session = uow.session
        deliveries = {d.id: d for d in session.scalars(
            select(Delivery).where(Delivery.id.in_([o.delivery_id for o, _, _ in answered]),
                                   Delivery.claimed_by == worker_id)
            .order_by(Delivery.id).with_for_update())}
        endpoints = {e.id: e for e in session.scalars(
            select(Endpoint).where(Endpoint.id.in_({d.endpoint_id
                                                    for d in deliveries.values()}))
            .order_by(Endpoint.id).with_for_update())}
        now = clock.now()
        statuses: list[str] = []
        failing: list[Endpoint] = []
        for outgoing, answer, attempted_at in sorted(answered,
                                                     key=lambda a: a[0].delivery_id):
            delivery = deliveries.get(outgoing.delivery_id)
            if delivery is None or delivery.status != DeliveryStatus.PENDING.value:
                statuses.append("lost")
                continue
            endpoint = endpoints[delivery.endpoint_id]
            session.add(Attempt(id=new_id("wha"), delivery_id=delivery.id,
                                attempted_at=attempted_at, succeeded=answer.succeeded,
                                status_code=answer.status_code,
                                latency_ms=answer.latency_ms,
                                response_excerpt=answer.excerpt, error=answer.error))
            _answered(delivery, endpoint, answer, attempted_at, now, policy, rng)
            if endpoint in failing:  # disabled by an earlier answer of this pass
                delivery.status = DeliveryStatus.FAILED.value
                delivery.completed_at = now
                delivery.last_error = "endpoint disabled"
            elif endpoint.status == EndpointStatus.ENABLED.value and not answer.succeeded \
                    and endpoint.failing_since is not None and (
                        endpoint.consecutive_failures >= policy.disable_after
                        or now - endpoint.failing_since >= policy.retry_window):
                failing.append(endpoint)
            statuses.append(delivery.status)
        session.flush()
        for endpoint in failing:
            _disable(uow, endpoint, now)
        session.flush()
        uow.commit()
        return statuses, [e.id for e in failing]


def _answered(delivery: Delivery, endpoint: Endpoint, answer: Answer, attempted_at: datetime,
              now: datetime, policy: WebhookPolicy, rng: random.Random) -> None:
    """A delivery and its endpoint after one answer: done, or tried again after a backoff
    unless its window has ended."""
    delivery.last_status_code = answer.status_code
    delivery.last_error = answer.error
    delivery.lease_until = None
    if answer.succeeded:
        delivery.status = DeliveryStatus.SUCCEEDED.value
        delivery.completed_at = now
        endpoint.consecutive_failures = 0
        endpoint.failing_since = None
        endpoint.last_success_at = now
        return
    retry_at = next_attempt(delivery.attempts, now, base=policy.backoff_base, rng=rng)
    if retry_at > delivery.deadline_at:
        delivery.status = DeliveryStatus.FAILED.value
        delivery.completed_at = now
    else:
        delivery.next_attempt_at = retry_at
    endpoint.consecutive_failures += 1
    endpoint.failing_since = endpoint.failing_since or attempted_at


def _disable(uow: UnitOfWork, endpoint: Endpoint, now: datetime) -> None:
    """Stop sending to an endpoint that keeps failing; its pending deliveries end as failed
    (replay them once it is fixed and enabled again) and its owner is told."""
    endpoint.status = EndpointStatus.DISABLED.value
    endpoint.disabled_reason = (f"{endpoint.consecutive_failures} failed attempts in a row "
                                f"since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC")
    endpoint.updated_at = now
    uow.session.execute(
        update(Delivery).where(Delivery.endpoint_id == endpoint.id,
                               Delivery.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.FAILED.value, completed_at=now, lease_until=None,
                last_error="endpoint disabled")
        .execution_options(synchronize_session=False))
    uow.audit.record(uow.actor, "webhook_endpoint.disabled", "webhook_endpoint", endpoint.id,
                     endpoint.state())
    uow.outbox.enqueue("webhook_endpoint.disabled", {
        "endpoint_id": endpoint.id, "org_id": endpoint.org_id,
        "reason": endpoint.disabled_reason})


def deliver_due(sessions: sessionmaker[Session], clock: Clock, policy: WebhookPolicy, *,
                worker_id: str, limit: int = 100, lease_seconds: int = 120,
                rng: random.Random | None = None) -> SendResult:
    """One pass: claim up to ``limit`` due deliveries, send them (several at once, on one
    pooled client, none inside a transaction) and record each answer."""
    rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
    claimed = _claim(sessions, clock, policy, worker_id, limit, lease_seconds)
    if not claimed:
        return SendResult(0, 0, 0, 0, [])
    with http_client(policy) as client:
        return _send_all(sessions, clock, policy, worker_id, claimed, rng, client)


def _send_all(sessions: sessionmaker[Session], clock: Clock, policy: WebhookPolicy,
              worker_id: str, claimed: list[Outgoing], rng: random.Random,
              client: httpx.Client) -> SendResult:

    def attempt(outgoing: Outgoing) -> tuple[Outgoing, Answer, datetime]:
        at = clock.now()
        stamp = int(at.timestamp())
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   SIGNATURE_HEADER: signature_header(outgoing.secrets, stamp, outgoing.body),
                   "Market-Event-Id": outgoing.event_id,
                   "Market-Event-Type": outgoing.event_type,
                   "Market-Delivery-Id": outgoing.delivery_id}
        return outgoing, http_send(outgoing, headers, policy, client=client), at

    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(claimed))) as pool:
        answered = list(pool.map(attempt, claimed))
    statuses, disabled = _record_all(sessions, clock, policy, worker_id, answered, rng)
    return SendResult(len(claimed), statuses.count(DeliveryStatus.SUCCEEDED.value),
                      statuses.count(DeliveryStatus.PENDING.value),
                      statuses.count(DeliveryStatus.FAILED.value), disabled)

