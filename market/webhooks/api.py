"""Webhooks API: a participant's endpoints (the signing secret shown once, rotated with an
overlap), the events sent to it, each endpoint's delivery log, and replays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from market.kernel.web import (
    ApiBlueprint,
    PageQuery,
    page_args,
    page_body,
    page_of,
    state,
    unit_of_work,
)
from market.webhooks import services
from market.webhooks.domain import CATEGORIES
from market.webhooks.schemas import (
    WebhookDeliveryOut,
    WebhookDeliveryQuery,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookEndpointPatchIn,
    WebhookEndpointSecretOut,
    WebhookEventOut,
    WebhookEventQuery,
    WebhookEventTypesOut,
    WebhookReplayIn,
    WebhookReplayOut,
    WebhookRotationIn,
)

bp = ApiBlueprint("webhooks", __name__,
                  description="Signed webhooks: endpoints, events, deliveries and replays")


def policy() -> services.WebhookPolicy:
    return services.policy_of(state().settings)


def _issued(issued: services.IssuedSecret) -> dict[str, Any]:
    endpoint = issued.endpoint
    return {**{c.key: getattr(endpoint, c.key) for c in endpoint.__mapper__.column_attrs},
            "secret": issued.secret}


@bp.route("/webhooks/event-types", methods=["GET"])
@bp.access()
@bp.response(200, WebhookEventTypesOut)
def event_types() -> dict[str, Any]:
    """The event types an endpoint may choose, and their categories (`order.*`)."""
    return {"event_types": services.event_types(), "categories": list(CATEGORIES)}


@bp.route("/webhooks/endpoints", methods=["POST"])
@bp.access()
@bp.idempotent
@bp.arguments(WebhookEndpointIn)
@bp.response(201, WebhookEndpointSecretOut)
def create_endpoint(body: dict[str, Any]) -> tuple[Any, int]:
    """Register an endpoint for your organisation's events. The answer carries the signing
    secret, which is never shown again."""
    issued = services.create_endpoint(body["url"], body["event_types"], body["description"],
                                      policy=policy(), uow=unit_of_work())
    return _issued(issued), 201


@bp.route("/webhooks/endpoints", methods=["GET"])
@bp.access()
@bp.arguments(PageQuery, location="query")
@bp.response(200, page_of(WebhookEndpointOut))
def list_endpoints(query: dict[str, Any]) -> dict[str, Any]:
    """Your organisation's endpoints."""
    return page_body(services.list_endpoints(uow=unit_of_work(), **page_args(query)))


@bp.route("/webhooks/endpoints/<endpoint_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, WebhookEndpointOut)
def get_endpoint(endpoint_id: str) -> Any:
    return services.get_endpoint(endpoint_id, uow=unit_of_work())


@bp.route("/webhooks/endpoints/<endpoint_id>", methods=["PATCH"])
@bp.access(object_scoped=True)
@bp.arguments(WebhookEndpointPatchIn)
@bp.response(200, WebhookEndpointOut)
def update_endpoint(body: dict[str, Any], endpoint_id: str) -> Any:
    """Change the URL, the event types or the description, or enable a disabled endpoint
    again (its failure count starts over)."""
    return services.update_endpoint(endpoint_id, body, policy=policy(), uow=unit_of_work())


@bp.route("/webhooks/endpoints/<endpoint_id>", methods=["DELETE"])
@bp.access(object_scoped=True)
@bp.response(204)
def delete_endpoint(endpoint_id: str) -> tuple[str, int]:
    """Delete an endpoint; its pending deliveries end as failed."""
    services.delete_endpoint(endpoint_id, uow=unit_of_work())
    return "", 204


@bp.route("/webhooks/endpoints/<endpoint_id>/secret-rotations", methods=["POST"])
@bp.access(object_scoped=True)
@bp.idempotent
@bp.arguments(WebhookRotationIn)
@bp.response(201, WebhookEndpointSecretOut)
def rotate_secret(body: dict[str, Any], endpoint_id: str) -> tuple[Any, int]:
    """A new signing secret, shown once; the previous one keeps signing for the overlap
    (each delivery then carries both signatures)."""
    overlap = body["overlap_seconds"]
    issued = services.rotate_secret(
        endpoint_id, overlap=None if overlap is None else timedelta(seconds=overlap),
        policy=policy(), uow=unit_of_work())
    return _issued(issued), 201


@bp.route("/webhooks/endpoints/<endpoint_id>/deliveries", methods=["GET"])
@bp.access(object_scoped=True)
@bp.arguments(WebhookDeliveryQuery, location="query")
@bp.response(200, page_of(WebhookDeliveryOut))
def list_deliveries(query: dict[str, Any], endpoint_id: str) -> dict[str, Any]:
    """The endpoint's delivery log, each delivery with its attempts (time, latency, status
    code, the first KiB of the answer)."""
    page = services.list_deliveries(endpoint_id, uow=unit_of_work(), status=query["status"],
                                    event_id=query["event_id"], **page_args(query))
    return page_body(page.map(lambda v: {
        **{c.key: getattr(v.delivery, c.key) for c in v.delivery.__mapper__.column_attrs},
        "attempt_log": v.attempts}))


@bp.route("/webhooks/endpoints/<endpoint_id>/replays", methods=["POST"])
@bp.access(object_scoped=True)
@bp.idempotent
@bp.arguments(WebhookReplayIn)
@bp.response(202, WebhookReplayOut)
def replay(body: dict[str, Any], endpoint_id: str) -> tuple[dict[str, int], int]:
    """Send one event again (`event_id`), or every event of a time range (`since`,
    optional `until`) this endpoint subscribes to."""
    queued = services.replay(endpoint_id, event_id=body["event_id"], since=body["since"],
                             until=body["until"], policy=policy(), uow=unit_of_work())
    return {"queued": queued}, 202


@bp.route("/webhooks/events", methods=["GET"])
@bp.access()
@bp.arguments(WebhookEventQuery, location="query")
@bp.response(200, page_of(WebhookEventOut))
def list_events(query: dict[str, Any]) -> dict[str, Any]:
    """Events sent to your organisation, oldest first: your feed of notifications, whether
    or not an endpoint took them."""
    return page_body(services.list_events(uow=unit_of_work(), type=query["type"],
                                          since=query["since"], until=query["until"],
                                          **page_args(query)))


@bp.route("/webhooks/events/<event_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, WebhookEventOut)
def get_event(event_id: str) -> Any:
    return services.get_event(event_id, uow=unit_of_work())
