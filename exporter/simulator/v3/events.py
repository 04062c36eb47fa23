"""The v3 event REST resources (een-api-v3.md §5): event history (status events only), event
types, event subscriptions and their filters. The subscriptions themselves and their SSE
streams are `sse.py`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from exporter.simulator.http import Request, Response
from exporter.simulator.v3.cloud import V3Cloud
from exporter.simulator.v3.sse import (
    STATUS_DATA,
    STATUS_EVENT,
    Filter,
    Subscription,
    sse_path,
    status_event,
)
from exporter.simulator.v3.tokens import AccessToken
from exporter.simulator.v3.wire import ApiError, bad_argument, descending, paginate
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


# -- GET /events (OAS-EV listEvents): the status spans of one actor ----------------------------

EVENT_PARAMS = frozenset({
    "pageToken", "pageSize", "include", "startTimestamp__lte", "startTimestamp__gte",
    "endTimestamp__lte", "endTimestamp__gte", "actor", "type__in", "sort",
})  # fmt: skip
_BOUNDS = ("startTimestamp__gte", "startTimestamp__lte", "endTimestamp__gte", "endTimestamp__lte")
REQUIRED_EVENT_PARAMS = ("actor", "type__in", "startTimestamp__gte")
# include names a data schema, `data.`-prefixed as OAS-EV writes it; EagleEyev3 sends it bare.
STATUS_INCLUDES = frozenset({f"data.{STATUS_DATA}", STATUS_DATA})


def list_events(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
    params = request.query
    unexpected = sorted(set(params) - EVENT_PARAMS)
    if unexpected:
        raise ApiError(400, "unexpectedArgument", f"Unexpected argument: {unexpected[0]}")
    missing = [name for name in REQUIRED_EVENT_PARAMS if not params.get(name)]
    if missing:
        raise ApiError(
            400, "missingRequiredArgument", f"Missing required arguments: {', '.join(missing)}"
        )
    actor = params["actor"]
    _check_actors(v3, token.account_id, [actor])
    types = {name for name in params["type__in"].split(",") if name}
    bounds = {name: _instant(params, name) for name in _BOUNDS}
    sort = params.get("sort", "-startTimestamp").replace(" ", "+")
    if sort not in ("+startTimestamp", "-startTimestamp"):
        raise bad_argument('sort: "+startTimestamp" or "-startTimestamp"')
    includes = {name for name in params.get("include", "").split(",") if name}
    device = v3.cloud.world.devices[actor.partition(":")[2]]
    events: list[dict[str, Any]] = []
    if STATUS_EVENT in types:
        hub = v3.events
        span_id, start = hub.open_span(device.esn)
        spans = [*hub.history.get(device.esn, []), (span_id, start, None, hub.status_of(device))]
        events = [
            status_event(device, event_id, begin, end, status)
            for event_id, begin, end, status in spans
            if _within(begin, end, bounds)
        ]
    if not includes & STATUS_INCLUDES:
        for event in events:
            event["data"] = []
    down = sort.startswith("-")

    def key(event: dict[str, Any]) -> tuple[Any, ...]:
        stamp = str(event["startTimestamp"])
        return (descending(stamp) if down else stamp, str(event["id"]))

    page, next_token, prev_token = paginate(events, params, key, sort)
    return Response.json(
        {
            "results": page,
            "nextPageToken": next_token,
            "prevPageToken": prev_token,
            "totalSize": len(events),
        }
    )


def _instant(params: dict[str, str], name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace(" ", "+"))
    except ValueError:
        raise bad_argument(f"{name} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise bad_argument(f"{name} needs a time zone offset")
    return moment


def _within(start: str, end: str | None, bounds: dict[str, datetime | None]) -> bool:
    begin = datetime.fromisoformat(start)
    finish = datetime.fromisoformat(end) if end is not None else None
    low, high = bounds["startTimestamp__gte"], bounds["startTimestamp__lte"]
    if (low is not None and begin < low) or (high is not None and begin > high):
        return False
    low, high = bounds["endTimestamp__gte"], bounds["endTimestamp__lte"]
    if high is not None and (finish is None or finish > high):
        return False  # an open span has not ended yet
    return not (low is not None and finish is not None and finish < low)


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
    # EventTypeFilter defines `id` but requires `type` (readings.FilterTypeKey): either is taken.
    type_ids = [(t.get("id") or t.get("type")) if isinstance(t, dict) else None for t in types]
    for type_id in type_ids:
        if not isinstance(type_id, str) or not EVENT_TYPE.fullmatch(type_id):
            raise ApiError(400, "wrongArgumentValue", f"not an event type id: {type_id!r}")
    _check_actors(v3, account_id, actors)
    return list(actors), [str(t) for t in type_ids]


def _check_actors(v3: V3Cloud, account_id: str, actors: list[str]) -> None:
    """400 for an actor type other than camera or bridge, 404 for one not in the account."""
    world = v3.cloud.world
    for actor in actors:
        kind, _, device_id = actor.partition(":")
        device_type = ACTOR_TYPES.get(kind)
        if device_type is None:
            raise ApiError(400, "wrongArgumentValue", f"unsupported actor type in {actor!r}")
        device = world.devices.get(device_id)
        if device is None or device.type is not device_type or device.account_id != account_id:
            raise ApiError(404, "resourceNotFound", f"actor {actor} was not found")


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


def _filter_json(v3: V3Cloud, found: Filter) -> dict[str, Any]:
    return found.as_json(v3.readings.filter_type_key.value)


T = TypeVar("T")
PAGING = frozenset({"pageToken", "pageSize"})


def _page_of(
    request: Request,
    items: list[T],
    key: Callable[[T], tuple[Any, ...]],
    render: Callable[[T], dict[str, Any]],
    allowed: frozenset[str] = PAGING,
) -> Response:
    """A PaginatedResponseWithSize of `items` in `key` order, paged by pageSize/pageToken (OAS
    `pageToken`, `pageSize`); a query parameter outside `allowed` is a 400."""
    unexpected = sorted(set(request.query) - allowed)
    if unexpected:
        raise ApiError(400, "unexpectedArgument", f"Unexpected argument: {unexpected[0]}")
    page, next_token, prev_token = paginate(items, request.query, key)
    return Response.json(
        {
            "results": [render(item) for item in page],
            "nextPageToken": next_token,
            "prevPageToken": prev_token,
            "totalSize": len(items),
        }
    )


def list_filters(request: Request, v3: V3Cloud, token: AccessToken, sub_id: str) -> Response:
    subscription = v3.events.owned(sub_id, token.account_id)
    return _page_of(
        request,
        subscription.filters,
        lambda f: (int(f.id),),
        lambda f: _filter_json(v3, f),
    )


def create_filter(request: Request, v3: V3Cloud, token: AccessToken, sub_id: str) -> Response:
    subscription = v3.events.owned(sub_id, token.account_id)
    actors, types = _parse_filter(request.json_body, v3, token.account_id)
    return Response.json(_filter_json(v3, subscription.add_filter(actors, types)), 201)


def _owned_filter(subscription: Subscription, filter_id: str) -> Filter:
    for candidate in subscription.filters:
        if candidate.id == filter_id:
            return candidate
    raise ApiError(404, "resourceNotFound", "The resource was not found")


def get_filter(
    request: Request, v3: V3Cloud, token: AccessToken, sub_id: str, filter_id: str
) -> Response:
    subscription = v3.events.owned(sub_id, token.account_id)
    return Response.json(_filter_json(v3, _owned_filter(subscription, filter_id)))


def delete_filter(
    request: Request, v3: V3Cloud, token: AccessToken, sub_id: str, filter_id: str
) -> Response:
    subscription = v3.events.owned(sub_id, token.account_id)
    subscription.filters.remove(_owned_filter(subscription, filter_id))
    return Response(204)


def event_types(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
    """OAS-EV listEventTypes: paged, in the listing's own order; `language` (and the
    Accept-Language header) is taken, and the texts stay English as EEN's say they are."""
    return _page_of(
        request,
        list(enumerate(EVENT_TYPES)),
        lambda item: (item[0],),
        lambda item: dict(zip(("type", "name", "description"), item[1], strict=True)),
        PAGING | {"language"},
    )


def list_field_values(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
    """OAS-EV listEventsFieldValues: the `type` values events of one actor may have. The
    simulator keeps the status history only, so that is the one type a device has."""
    unexpected = sorted(set(request.query) - {"actor"})
    if unexpected:
        raise ApiError(400, "unexpectedArgument", f"Unexpected argument: {unexpected[0]}")
    actor = request.query.get("actor")
    if not actor:
        raise ApiError(400, "missingRequiredArgument", "Missing required arguments: actor")
    _check_actors(v3, token.account_id, [actor])
    return Response.json({"type": [STATUS_EVENT]})
