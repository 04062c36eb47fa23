"""GET /api/v3.0/events for een.deviceCloudStatusUpdateEvent.v1: one actor's status spans with
the documented filters, sort, include and paging (OAS-EV listEvents; een-api-v3.md §5.1)."""

from __future__ import annotations

from typing import Any

import requests

from exporter.simulator import Simulator
from tests.integration.simulator import een_v3_openapi as oas
from tests.integration.simulator import v3client
from tests.integration.simulator.test_v3_openapi import assert_conforms
from tests.integration.simulator.v3client import TIMEOUT

STATUS_EVENT = "een.deviceCloudStatusUpdateEvent.v1"
SINCE = "2020-01-01T00:00:00.000+00:00"


def set_status(sim: Simulator, esn: str, status: str) -> None:
    response = requests.put(
        f"{sim.url}/_sim/v3/devices/{esn}/status",
        json={"connectionStatus": status},
        timeout=TIMEOUT,
    )
    assert response.status_code == 204, response.text


def history(sim: Simulator, token: str, camera: str, **params: Any) -> requests.Response:
    query = {"actor": f"camera:{camera}", "type__in": STATUS_EVENT, "startTimestamp__gte": SINCE}
    return v3client.get(sim, token, "events", **{**query, **params})


def test_a_cameras_status_spans(sim: Simulator) -> None:
    _, token = v3client.sub_account_token(sim)
    camera = v3client.all_pages(sim, token, "cameras", include="status")[0]
    first = camera["status"]["connectionStatus"]
    second = "off" if first != "off" else "online"
    set_status(sim, camera["id"], second)
    set_status(sim, camera["id"], first)

    answer = history(sim, token, camera["id"], include="data.een.deviceCloudStatusUpdate.v1")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert_conforms(oas.paginated(oas.STATUS_EVENT), body)
    events = body["results"]
    # Newest first (the default -startTimestamp); the open span has no end.
    assert [e["data"][0]["newStatus"]["connectionStatus"] for e in events] == [first, second, first]
    assert events[0]["endTimestamp"] is None
    assert events[1]["endTimestamp"] == events[0]["startTimestamp"]
    assert body["totalSize"] == 3

    # Without include, the general event information only; EagleEyev3's bare include works.
    assert all(e["data"] == [] for e in history(sim, token, camera["id"]).json()["results"])
    bare = history(sim, token, camera["id"], include="een.deviceCloudStatusUpdate.v1").json()
    assert bare["results"][0]["data"][0]["newStatus"]["connectionStatus"] == first

    oldest_first = history(sim, token, camera["id"], sort="+startTimestamp").json()["results"]
    assert [e["id"] for e in oldest_first] == [e["id"] for e in reversed(events)]
    paged = v3client.all_pages(
        sim, token, "events", actor=f"camera:{camera['id']}", type__in=STATUS_EVENT,
        startTimestamp__gte=SINCE, pageSize=1,
    )  # fmt: skip
    assert [e["id"] for e in paged] == [e["id"] for e in events]

    ended = history(sim, token, camera["id"], endTimestamp__lte="2100-01-01T00:00:00+00:00")
    assert len(ended.json()["results"]) == 2  # the open span has not ended
    later = history(sim, token, camera["id"], startTimestamp__gte="2100-01-01T00:00:00+00:00")
    assert later.json()["results"] == []
    other_type = history(sim, token, camera["id"], type__in="een.motionDetectionEvent.v1")
    assert other_type.json()["results"] == []


def test_refusals(sim: Simulator) -> None:
    _, token = v3client.sub_account_token(sim)
    camera = v3client.all_pages(sim, token, "cameras")[0]["id"]
    missing = v3client.get(sim, token, "events", actor=f"camera:{camera}")
    assert missing.status_code == 400
    assert missing.json()["details"][0]["reason"] == "missingRequiredArgument"
    for params, status in (
        ({"nonsense": "1"}, 400),
        ({"startTimestamp__gte": "yesterday"}, 400),
        ({"sort": "+name"}, 400),
        ({"actor": "camera:ffffffff"}, 404),
        ({"actor": "user:1"}, 400),
    ):
        answer = history(sim, token, camera, **params)
        assert answer.status_code == status, params
        assert_conforms(oas.API_ERROR, answer.json())
    for name in oas.EVENT_LIST_PARAMS:
        if name in ("pageToken", "actor", "type__in", "startTimestamp__gte"):
            continue
        value = {"pageSize": "5", "include": "data.een.deviceCloudStatusUpdate.v1",
                 "sort": "-startTimestamp"}.get(name, SINCE)  # fmt: skip
        assert history(sim, token, camera, **{name: value}).status_code == 200, name
