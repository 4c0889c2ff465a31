"""From an outbox message to events: who the object concerns (its parties, found through
the owning context's services), and what each of them sees of it (the API's own answer to
that participant, so an event never shows more than the participant could read)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select

from market.compliance import services as compliance
from market.kernel.actor import Actor, Role, system_actor
from market.kernel.errors import NotFound
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.matching import services as matching
from market.participants import services as participants
from market.rights import services as rights
from market.settlement import services as settlement
from market.trading import services as trading
from market.webhooks.domain import (
    DeliveryStatus,
    EndpointStatus,
    EventSpec,
    Subject,
    selects,
    specs_of,
)
from market.webhooks.models import Delivery, Endpoint, Event
from market.webhooks.services._common import WebhookPolicy

log = logging.getLogger(__name__)

# ``render(actor, path)``: the API's answer to ``GET path`` as ``actor`` (status, body).
Render = Callable[[Actor, str], tuple[int, Any]]
UowFactory = Callable[[], UnitOfWork]

PATHS: dict[Subject, str] = {
    Subject.ORDER: "/api/v1/orders/{id}",
    Subject.PRODUCT: "/api/v1/products/{id}",
    Subject.RIGHT: "/api/v1/rights/{id}",
    Subject.CERTIFICATE: "/api/v1/certificates/{id}",
    Subject.GRANT: "/api/v1/grants/{id}",
    Subject.FILING: "/api/v1/filings/{id}",
    Subject.ALERT: "/api/v1/alerts/{id}",
    Subject.PARTICIPANT: "/api/v1/participants/{id}",
    Subject.CREDIT: "/api/v1/participants/{id}/credit",
    Subject.CREDIT_MARK: "/api/v1/organisations/{id}/credit",
    Subject.DEMAND: "/api/v1/demands/{id}",
    Subject.SAVED_SEARCH: "/api/v1/catalog/{product_id}",
    Subject.NEGOTIATION: "/api/v1/negotiations/{id}",
    Subject.PAYOUT: "/api/v1/payouts/{id}",
    Subject.REFUND: "/api/v1/orders/{order_id}/refunds",
    Subject.SUBSCRIPTION: "/api/v1/subscriptions/{id}",
    Subject.PUBLIC_DATA: "/api/v1/public-data/authorisations/{id}",
    Subject.ENDPOINT: "/api/v1/webhooks/endpoints/{id}",
}


def _order_parties(order_id: str, uow: UnitOfWork) -> list[str]:
    order = trading.get_order(order_id, uow=uow).order
    return [order.buyer_org_id, order.seller_org_id]


def _watchers(roles: Iterable[Role], uow: UnitOfWork) -> list[str]:
    """Organisations of these roles with an endpoint: those an alert is for."""
    with uow:
        owners = list(uow.session.scalars(
            select(Endpoint.org_id).where(Endpoint.deleted_at.is_(None)).distinct()))
        facts = participants.organisation_facts(owners, uow=uow.joined())
    wanted = {r.value for r in roles}
    return [org for org, f in facts.items() if f.roles & wanted]


def recipients(spec: EventSpec, payload: dict[str, Any], uow: UnitOfWork) -> list[str]:
    """The organisations whose own object the event is about (parties, never onlookers:
    the operator and regulators read every order, but an order's events go to its
    buyer and seller; an alert, which is the regulators' and the operator's own work,
    goes to them)."""
    subject_id = str(payload[spec.key])
    found: list[str | None]
    match spec.subject:
        case Subject.ORDER:
            found = list(_order_parties(subject_id, uow))
        case Subject.REFUND | Subject.SUBSCRIPTION:
            found = [payload.get("buyer_org_id"), payload.get("seller_org_id")]
            if payload.get("order_id") and not any(found):
                found = list(_order_parties(str(payload["order_id"]), uow))
        case Subject.PAYOUT:
            found = [settlement.get_payout(subject_id, uow=uow).org_id]
        case Subject.RIGHT:
            found = [rights.get_right(subject_id, uow=uow)[0].holder_org_id]
        case Subject.CERTIFICATE:
            found = [rights.get_right(str(payload["right_id"]), uow=uow)[0].holder_org_id]
        case Subject.GRANT:
            grant = rights.get_grant(subject_id, uow=uow)[0]
            found = [grant.grantor_org_id, grant.grantee_org_id]
        case Subject.PRODUCT:
            found = [listing.get_product(subject_id, uow=uow).product.merchant_org_id]
        case Subject.FILING:
            filing = compliance.get_filing(subject_id, uow=uow)
            found = [filing["seller_org_id"], filing["buyer_org_id"]]
        case Subject.ALERT:
            found = list(_watchers((Role.REGULATOR, Role.OPERATOR), uow))
        case Subject.PARTICIPANT | Subject.CREDIT | Subject.CREDIT_MARK:
            found = [subject_id]
        case Subject.DEMAND:
            demand = matching.get_demand(subject_id, uow=uow).demand
            found = [demand.buyer_org_id, demand.posted_by_org_id]
        case Subject.SAVED_SEARCH | Subject.ENDPOINT | Subject.PUBLIC_DATA:
            found = [payload.get("org_id")]
        case Subject.NEGOTIATION:
            found = [payload.get("buyer_org_id"), payload.get("merchant_org_id"),
                     payload.get("broker_org_id")]
    return sorted({org for org in found if org})


def _path(spec: EventSpec, payload: dict[str, Any]) -> str:
    return PATHS[spec.subject].format(id=payload[spec.key], **{
        k: v for k, v in payload.items() if k in ("order_id", "product_id")})


def _data(spec: EventSpec, payload: dict[str, Any], status: int, body: Any) -> Any:
    """The object from the API's answer (a refund is picked from its order's list; a saved
    search's hit is the catalogue entry it matched)."""
    if status != 200:
        return None
    if spec.subject is Subject.REFUND:
        items = (body.get("items") or body.get("data") or []) if isinstance(body, dict) \
            else list(body or [])
        wanted = str(payload[spec.key])
        return next((item for item in items if item.get("id") == wanted), None)
    if spec.subject is Subject.SAVED_SEARCH:
        return {"saved_search_id": payload["saved_search_id"], "product": body}
    return body


def as_participant(org_id: str, uow: UnitOfWork) -> Actor | None:
    """The principal an organisation's read-only key would be, or None if it is gone."""
    with uow:
        facts = participants.organisation_facts([org_id], uow=uow.joined()).get(org_id)
    if facts is None:
        return None
    return Actor(kind="user", label="webhooks", org_id=org_id, roles=facts.roles,
                 org_status=facts.status, scopes=frozenset({"read"}))


def fan_out(message_id: str, topic: str, payload: dict[str, Any], *, render: Render,
            policy: WebhookPolicy, uows: UowFactory) -> list[str]:
    """Make the events an outbox message means, one per recipient and type, each with its
    object as the API shows it to that recipient, and queue their deliveries to the
    recipient's enabled endpoints that chose the type. Handling a message again adds
    nothing. Returns the new events' ids."""
    planned: list[tuple[EventSpec, str, Any]] = []
    for spec in specs_of(topic, payload):
        try:
            orgs = recipients(spec, payload, uows())
        except NotFound:  # the object is gone (a rolled-back test, a purged record)
            log.info("webhooks: %s %s concerns nobody now", topic, payload.get(spec.key))
            continue
        for org_id in orgs:
            actor = as_participant(org_id, uows())
            if actor is None:
                continue
            data = _data(spec, payload, *render(actor, _path(spec, payload)))
            if data is not None:  # what the participant cannot read it is not told of
                planned.append((spec, org_id, data))
    if not planned:
        return []
    uow = uows()
    made: list[str] = []
    deliveries: list[Delivery] = []
    with uow:
        now = uow.clock.now()
        taken = set(uow.session.execute(
            select(Event.org_id, Event.type).where(Event.message_id == message_id)).all())
        owners = {org for _, org, _ in planned}
        endpoints = list(uow.session.scalars(select(Endpoint).where(
            Endpoint.org_id.in_(owners), Endpoint.status == EndpointStatus.ENABLED.value,
            Endpoint.deleted_at.is_(None)).order_by(Endpoint.id)))
        for spec, org_id, data in planned:
            if (org_id, spec.type) in taken:
                continue
            event = Event(id=new_id("evt"), org_id=org_id, type=spec.type,
                          subject_type=spec.subject.value,
                          subject_id=str(payload[spec.key]), message_id=message_id,
                          data=data, created_at=now)
            uow.session.add(event)
            made.append(event.id)
            deliveries += [new_delivery(event.id, endpoint.id, now, policy)
                           for endpoint in endpoints if endpoint.org_id == org_id
                           and selects(endpoint.event_types, spec.type)]
        uow.session.flush()  # the events before the deliveries that refer to them
        uow.session.add_all(deliveries)
        uow.session.flush()
        uow.commit()
    return made


def new_delivery(event_id: str, endpoint_id: str, now: Any, policy: WebhookPolicy, *,
                 replay: bool = False) -> Delivery:
    return Delivery(id=new_id("whd"), event_id=event_id, endpoint_id=endpoint_id,
                    status=DeliveryStatus.PENDING.value, replay=replay, attempts=0,
                    next_attempt_at=now, deadline_at=now + policy.retry_window,
                    created_at=now)


def system_uows(sessions: Any, clock: Any) -> UowFactory:
    """Units of work of the webhook worker (it reads every context as the system)."""
    return lambda: UnitOfWork(sessions, clock, system_actor("webhooks"))
