"""The v3 event REST resources (een-api-v3.md §5): event types, event subscriptions and their
filters. The subscriptions themselves and their SSE streams are `sse.py`."""

from __future__ import annotations

import re
from typing import Any

from exporter.simulator.http import Request, Response
from exporter.simulator.v3.cloud import V3Cloud
from exporter.simulator.v3.sse import STATUS_EVENT, Filter, Subscription, sse_path
from exporter.simulator.v3.tokens import AccessToken
from exporter.simulator.v3.wire import ApiError, paginate
from exporter.simulator.world import DeviceType

SSE = "serverSentEvents.v1"
EVENT_TYPE = re.compile(r"[a-z][a-zA-Z0-9]*\.[a-zA-Z0-9.]+\.v[0-9]+")
ACTOR_TYPES = {"camera": DeviceType.CAMERA, "bridge": DeviceType.BRIDGE}
# Event types the simulator lists; it only ever emits the status one.
EVENT_TYPES = (
    (STATUS_EVENT, "Device status", "A device's status changed, from the viewpoint of the cloud."),
    ("een.motionDetectionEvent.v1", "Motion Detection", "Motion in front of a camera."),
    ("een.lprPlateReadEvent.v1", "License plate recognition", "A license plate was read."),
)


def subscription_json(v3: V3Cloud, request: Request, subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "subscriptionConfig": {
            "lifeCycle": "temporary",
            "timeToLiveSeconds": round(v3.settings.sse_ttl_seconds),
        },
        "deliveryConfig": {"type": SSE, "sseUrl": v3.public_url(request) + sse_path(subscription)},
    }


def create_subscription(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
    body = request.json_body
    delivery = body.get("deliveryConfig")
    if not isinstance(delivery, dict):
        raise ApiError(400, "missingRequiredArgument", "Missing required arguments: deliveryConfig")
    if delivery.get("type") == "webhook.v1":
        message = f"webhook.v1 delivery is not simulated; use {SSE}"
        raise ApiError(400, "wrongArgumentValue", message)
    if delivery.get("type") != SSE:
        raise ApiError(400, "wrongArgumentValue", f"deliveryConfig.type must be {SSE}")
    raw_filters = body.get("filters", [])
    if not isinstance(raw_filters, list):
        raise ApiError(400, "wrongArgumentValue", "filters must be a list")
    parsed = [_parse_filter(raw, v3, token.account_id) for raw in raw_filters]
    subscription = v3.events.create(token.account_id)
    for actors, types in parsed:
        subscription.add_filter(actors, types)
    return Response.json(subscription_json(v3, request, subscription), 201)


def _parse_filter(raw: object, v3: V3Cloud, account_id: str) -> tuple[list[str], list[str]]:
    if not isinstance(raw, dict) or "actors" not in raw or "types" not in raw:
        raise ApiError(400, "missingRequiredArgument", "Missing required arguments: actors, types")
    actors, types = raw["actors"], raw["types"]
    if not isinstance(actors, list) or not actors or not all(isinstance(a, str) for a in actors):
        raise ApiError(400, "wrongArgumentValue", 'actors must be a non-empty list of "type:id"')
    if not isinstance(types, list) or not types:
        raise ApiError(400, "wrongArgumentValue", 'types must be a non-empty list of {"id": …}')
    type_ids = [t.get("id") if isinstance(t, dict) else None for t in types]
    for type_id in type_ids:
        if not isinstance(type_id, str) or not EVENT_TYPE.fullmatch(type_id):
            raise ApiError(400, "wrongArgumentValue", f"not an event type id: {type_id!r}")
    world = v3.cloud.world
    for actor in actors:
        kind, _, device_id = actor.partition(":")
        device_type = ACTOR_TYPES.get(kind)
        if device_type is None:
            raise ApiError(400, "wrongArgumentValue", f"unsupported actor type in {actor!r}")
        device = world.devices.get(device_id)
        if device is None or device.type is not device_type or device.account_id != account_id:
            raise ApiError(404, "resourceNotFound", f"actor {actor} was not found")
    return list(actors), [str(t) for t in type_ids]


def list_subscriptions(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
    mine = v3.events.of_account(token.account_id)
    page, next_token, prev_token = paginate(
        mine, {k: v for k, v in request.query.items() if k != "sort"}, lambda s: (s.id,)
    )
    return Response.json(
        {
            "results": [subscription_json(v3, request, s) for s in page],
            "nextPageToken": next_token,
            "prevPageToken": prev_token,
            "totalSize": len(mine),
        }
    )


def get_subscription(request: Request, v3: V3Cloud, token: AccessToken, sub_id: str) -> Response:
    subscription = v3.events.owned(sub_id, token.account_id)
    return Response.json(subscription_json(v3, request, subscription))


def delete_subscription(request: Request, v3: V3Cloud, token: AccessToken, sub_id: str) -> Response:
    v3.events.delete(v3.events.owned(sub_id, token.account_id))
    return Response(204)


def list_filters(request: Request, v3: V3Cloud, token: AccessToken, sub_id: str) -> Response:
    subscription = v3.events.owned(sub_id, token.account_id)
    results = [f.as_json() for f in subscription.filters]
    return Response.json(
        {"results": results, "nextPageToken": "", "prevPageToken": "", "totalSize": len(results)}
    )


def create_filter(request: Request, v3: V3Cloud, token: AccessToken, sub_id: str) -> Response:
    subscription = v3.events.owned(sub_id, token.account_id)
    actors, types = _parse_filter(request.json_body, v3, token.account_id)
    return Response.json(subscription.add_filter(actors, types).as_json(), 201)


def _owned_filter(subscription: Subscription, filter_id: str) -> Filter:
    for candidate in subscription.filters:
        if candidate.id == filter_id:
            return candidate
    raise ApiError(404, "resourceNotFound", "The resource was not found")


def get_filter(
    request: Request, v3: V3Cloud, token: AccessToken, sub_id: str, filter_id: str
) -> Response:
    subscription = v3.events.owned(sub_id, token.account_id)
    return Response.json(_owned_filter(subscription, filter_id).as_json())


def delete_filter(
    request: Request, v3: V3Cloud, token: AccessToken, sub_id: str, filter_id: str
) -> Response:
    subscription = v3.events.owned(sub_id, token.account_id)
    subscription.filters.remove(_owned_filter(subscription, filter_id))
    return Response(204)


def event_types(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
    results = [{"type": t, "name": n, "description": d} for t, n, d in EVENT_TYPES]
    return Response.json(
        {"results": results, "nextPageToken": "", "prevPageToken": "", "totalSize": len(results)}
    )
