"""v3 event subscriptions and their SSE streams over real sockets: status events follow the
world, lifetime, one client, and the SSE faults (een-api-v3.md §5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.v3.tokens import V3Settings
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator import v3client
from tests.integration.simulator.v3client import STATUS_EVENT, TIMEOUT, SseReader
from tests.support import wait_for

FAST = V3Settings(sse_keepalive_seconds=0.2, sse_ttl_seconds=30)


@pytest.fixture
def fast_sim(make_sim: MakeSimulator) -> Simulator:
    return make_sim(WorldSpec(accounts=2, bridges=1, cameras=4), v3=FAST)


@pytest.fixture
def readers() -> Iterator[list[SseReader]]:
    opened: list[SseReader] = []
    yield opened
    for reader in opened:
        reader.close()


def devices(sim: Simulator, account_id: str, kind: str) -> list[str]:
    state = requests.get(f"{sim.url}/_sim/state", timeout=TIMEOUT).json()
    account = next(a for a in state["accounts"] if a["id"] == account_id)
    return [d["id"] for d in account["devices"] if d["type"] == kind]


def set_v3(sim: Simulator, esn: str, value: str) -> None:
    v3client.control(sim, "PUT", f"v3/devices/{esn}/status", {"connectionStatus": value})


def open_stream(
    sim: Simulator, readers: list[SseReader], token: str, actors: list[str]
) -> tuple[dict[str, Any], SseReader]:
    subscription = v3client.subscribe(sim, token, actors)
    reader = SseReader(subscription["deliveryConfig"]["sseUrl"], token)
    readers.append(reader)
    assert reader.response.status_code == 200
    assert reader.response.headers["Content-Type"].startswith("text/event-stream")
    wait_for(lambda: v3client.v3_state(sim)["sse_streams"], message="the stream to register")
    return subscription, reader


def test_a_subscription_answers_as_the_openapi_file_says(fast_sim: Simulator) -> None:
    account_id, token = v3client.sub_account_token(fast_sim)
    camera = devices(fast_sim, account_id, "camera")[0]
    subscription = v3client.subscribe(fast_sim, token, [f"camera:{camera}"])
    assert subscription["subscriptionConfig"] == {"lifeCycle": "temporary", "timeToLiveSeconds": 30}
    assert subscription["deliveryConfig"]["type"] == "serverSentEvents.v1"
    assert subscription["deliveryConfig"]["sseUrl"] == (
        f"{fast_sim.url}/sse/v3.0/eventSubscriptions/{subscription['id']}"
    )
    path = f"eventSubscriptions/{subscription['id']}"
    assert v3client.get(fast_sim, token, path).json() == subscription
    listing = v3client.get(fast_sim, token, "eventSubscriptions").json()
    assert [s["id"] for s in listing["results"]] == [subscription["id"]]
    filters = v3client.get(fast_sim, token, f"{path}/filters").json()["results"]
    assert filters == [{"id": "1", "actors": [f"camera:{camera}"], "types": [{"id": STATUS_EVENT}]}]
    deleted = requests.delete(
        f"{fast_sim.url}/api/v3.0/{path}", headers=v3client.bearer(token), timeout=TIMEOUT
    )
    assert deleted.status_code == 204
    assert v3client.get(fast_sim, token, path).status_code == 404


def test_status_changes_reach_the_stream_as_span_events(
    fast_sim: Simulator, readers: list[SseReader]
) -> None:
    account_id, token = v3client.sub_account_token(fast_sim)
    camera, quiet = devices(fast_sim, account_id, "camera")[:2]
    bridge = devices(fast_sim, account_id, "bridge")[0]
    set_v3(fast_sim, camera, "online")
    set_v3(fast_sim, bridge, "online")
    _, reader = open_stream(fast_sim, readers, token, [f"camera:{camera}", f"bridge:{bridge}"])
    set_v3(fast_sim, quiet, "off")  # not subscribed: nothing arrives for it
    set_v3(fast_sim, camera, "bridgeOffline")
    set_v3(fast_sim, bridge, "deviceOffline")
    wait_for(lambda: len(reader.events()) >= 4, timeout=5)
    events = reader.events()
    assert {e["actorId"] for e in events} == {camera, bridge}
    ended, started = events[0], events[1]
    assert ended["actorId"] == started["actorId"] == camera
    assert ended["endTimestamp"] == started["startTimestamp"]
    assert ended["data"][0]["newStatus"] == {"connectionStatus": "online"}
    assert started["endTimestamp"] is None
    assert started["data"][0]["newStatus"] == {"connectionStatus": "bridgeOffline"}
    assert started["type"] == STATUS_EVENT
    assert started["dataSchemas"] == ["een.deviceCloudStatusUpdate.v1"]
    assert started["actorType"] == "camera"
    assert started["accountId"] == started["actorAccountId"] == account_id
    assert events[3]["actorType"] == "bridge"
    assert events[3]["data"][0]["newStatus"]["connectionStatus"] == "deviceOffline"
    # The next change closes the span the last one opened.
    set_v3(fast_sim, camera, "online")
    wait_for(lambda: len(reader.events()) >= 6, timeout=5)
    later = reader.events()
    assert later[4]["id"] == started["id"]
    assert later[4]["startTimestamp"] == started["startTimestamp"]


def test_v1_changes_and_churn_reach_v3_streams_only_when_v3_sees_a_change(
    fast_sim: Simulator, readers: list[SseReader]
) -> None:
    account_id, token = v3client.sub_account_token(fast_sim)
    camera = devices(fast_sim, account_id, "camera")[0]
    v3client.control(fast_sim, "PUT", f"devices/{camera}/status", {"status": 0x1E0037})
    _, reader = open_stream(fast_sim, readers, token, [f"camera:{camera}"])
    # Recording -> online-not-recording: v1 bits change, v3 stays "online": no event.
    v3client.control(fast_sim, "PUT", f"devices/{camera}/status", {"status": 0x160037})
    v3client.control(fast_sim, "PUT", f"devices/{camera}/status", {"status": 0x120125})
    events = wait_for(lambda: reader.events(), timeout=5)
    assert [e["data"][0]["newStatus"]["connectionStatus"] for e in events] == [
        "online",
        "invalidCredentials",
    ]
    all_cameras = [f"camera:{c}" for c in devices(fast_sim, account_id, "camera")]
    _, churned = open_stream(fast_sim, readers, token, all_cameras)
    v3client.control(fast_sim, "PUT", "churn", {"rate": 400})
    wait_for(lambda: len(churned.events()) >= 2, timeout=10, message="churn events")
    v3client.control(fast_sim, "PUT", "churn", {"rate": 0})


def test_keepalives_and_one_client_per_subscription(
    fast_sim: Simulator, readers: list[SseReader]
) -> None:
    account_id, token = v3client.sub_account_token(fast_sim)
    camera = devices(fast_sim, account_id, "camera")[0]
    subscription, reader = open_stream(fast_sim, readers, token, [f"camera:{camera}"])
    wait_for(lambda: len(reader.comments()) >= 2, timeout=5, message="keep-alive comments")
    second = requests.get(
        subscription["deliveryConfig"]["sseUrl"], headers=v3client.bearer(token), timeout=TIMEOUT
    )
    assert second.status_code == 409
    reader.close()
    wait_for(lambda: not v3client.v3_state(fast_sim)["sse_streams"], message="the stream to end")
    again = SseReader(subscription["deliveryConfig"]["sseUrl"], token)
    readers.append(again)
    assert again.response.status_code == 200


def test_the_stream_needs_the_subscribers_token(
    fast_sim: Simulator, readers: list[SseReader]
) -> None:
    account_id, token = v3client.sub_account_token(fast_sim, 1)
    _, other = v3client.sub_account_token(fast_sim, 2)
    camera = devices(fast_sim, account_id, "camera")[0]
    url = v3client.subscribe(fast_sim, token, [f"camera:{camera}"])["deliveryConfig"]["sseUrl"]
    assert requests.get(url, timeout=TIMEOUT).status_code == 401
    assert requests.get(url, headers=v3client.bearer(other), timeout=TIMEOUT).status_code == 404
    missing = url.rsplit("/", 1)[0] + "/0123456789abcdef"
    assert requests.get(missing, headers=v3client.bearer(token), timeout=TIMEOUT).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"filters": []}, 400),  # no deliveryConfig
        ({"deliveryConfig": {"type": "webhook.v1", "webhookUrl": "https://example.com"}}, 400),
        ({"deliveryConfig": {"type": "serverSentEvents.v1"},
          "filters": [{"resourceType": "camera", "resourceIds": ["10000000"],
                       "types": [STATUS_EVENT]}]}, 400),  # AS6's shape, not the OAS one
        ({"deliveryConfig": {"type": "serverSentEvents.v1"},
          "filters": [{"actors": [], "types": [{"id": STATUS_EVENT}]}]}, 400),
        ({"deliveryConfig": {"type": "serverSentEvents.v1"},
          "filters": [{"actors": ["camera:ffffffff"], "types": [{"id": STATUS_EVENT}]}]}, 404),
        ({"deliveryConfig": {"type": "serverSentEvents.v1"},
          "filters": [{"actors": ["layout:1"], "types": [{"id": STATUS_EVENT}]}]}, 400),
        ({"deliveryConfig": {"type": "serverSentEvents.v1"},
          "filters": [{"actors": ["camera:1"], "types": [{"id": "motion"}]}]}, 400),
    ],
)  # fmt: skip
def test_subscription_requests_are_validated(
    fast_sim: Simulator, body: dict[str, Any], status: int
) -> None:
    _, token = v3client.sub_account_token(fast_sim)
    answer = requests.post(
        f"{fast_sim.url}/api/v3.0/eventSubscriptions",
        headers=v3client.bearer(token),
        json=body,
        timeout=TIMEOUT,
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == status


def test_filters_can_be_added_and_removed_later(
    fast_sim: Simulator, readers: list[SseReader]
) -> None:
    account_id, token = v3client.sub_account_token(fast_sim)
    first, second = devices(fast_sim, account_id, "camera")[:2]
    set_v3(fast_sim, second, "online")
    subscription, reader = open_stream(fast_sim, readers, token, [f"camera:{first}"])
    path = f"{fast_sim.url}/api/v3.0/eventSubscriptions/{subscription['id']}/filters"
    added = requests.post(
        path,
        headers=v3client.bearer(token),
        json={"actors": [f"camera:{second}"], "types": [{"id": STATUS_EVENT}]},
        timeout=TIMEOUT,
    )
    assert added.status_code == 201
    set_v3(fast_sim, second, "off")
    wait_for(lambda: len(reader.events()) == 2, timeout=5)
    removed = requests.delete(
        f"{path}/{added.json()['id']}", headers=v3client.bearer(token), timeout=TIMEOUT
    )
    assert removed.status_code == 204
    set_v3(fast_sim, second, "online")  # no longer subscribed
    set_v3(fast_sim, first, "off")
    set_v3(fast_sim, first, "online")
    wait_for(lambda: len(reader.events()) >= 6, timeout=5)
    assert {e["actorId"] for e in reader.events()[2:]} == {first}


def test_a_subscription_without_a_client_expires(make_sim: MakeSimulator) -> None:
    settings = V3Settings(sse_ttl_seconds=0.3, sse_keepalive_seconds=0.2)
    sim = make_sim(WorldSpec(accounts=1, bridges=1, cameras=2), v3=settings)
    account_id, token = v3client.sub_account_token(sim)
    camera = devices(sim, account_id, "camera")[0]
    subscription = v3client.subscribe(sim, token, [f"camera:{camera}"])
    reader = SseReader(subscription["deliveryConfig"]["sseUrl"], token)
    try:
        # Connected for several times its time to live, it stays.
        wait_for(lambda: len(reader.comments()) >= 3, timeout=5, message="0.6 s of keep-alives")
        assert v3client.v3_state(sim)["subscriptions"] == 1
    finally:
        reader.close()
    # ...and goes once nobody is connected for timeToLiveSeconds.
    wait_for(lambda: v3client.v3_state(sim)["subscriptions"] == 0, timeout=5)
    path = f"eventSubscriptions/{subscription['id']}"
    assert v3client.get(sim, token, path).status_code == 404


def test_drop_cuts_the_stream_mid_chunk_stream(
    fast_sim: Simulator, readers: list[SseReader]
) -> None:
    account_id, token = v3client.sub_account_token(fast_sim)
    camera = devices(fast_sim, account_id, "camera")[0]
    subscription, reader = open_stream(fast_sim, readers, token, [f"camera:{camera}"])
    assert v3client.control(fast_sim, "POST", "faults/v3/drop-sse") == {"dropped": 1}
    assert reader.finished.wait(5)
    assert reader.error is not None  # no last chunk: an incomplete read, not a clean end
    # The subscription survives a dropped client; a reconnect works.
    again = SseReader(subscription["deliveryConfig"]["sseUrl"], token)
    readers.append(again)
    assert again.response.status_code == 200


def test_stall_silences_the_stream_until_reset(
    fast_sim: Simulator, readers: list[SseReader]
) -> None:
    account_id, token = v3client.sub_account_token(fast_sim)
    camera = devices(fast_sim, account_id, "camera")[0]
    set_v3(fast_sim, camera, "online")
    _, reader = open_stream(fast_sim, readers, token, [f"camera:{camera}"])
    wait_for(lambda: reader.comments(), timeout=5)
    assert v3client.control(fast_sim, "POST", "faults/v3/stall-sse") == {"stalled": 1}
    before = len(reader.frames)
    set_v3(fast_sim, camera, "off")  # lost: a stalled stream sends nothing
    wait_for(lambda: v3client.v3_state(fast_sim)["stalled_sse_streams"] == 1)
    assert not reader.finished.wait(0.6)  # still connected...
    assert len(reader.frames) <= before + 1  # ...and silent (one frame may have been in flight)
    v3client.control(fast_sim, "POST", "faults/reset")
    wait_for(lambda: len(reader.comments()) > 0 and len(reader.frames) > before + 1, timeout=5)
    assert all(e["data"][0]["newStatus"]["connectionStatus"] != "off" for e in reader.events())


def test_an_account_stall_holds_even_new_streams(fast_sim: Simulator) -> None:
    account_id, token = v3client.sub_account_token(fast_sim)
    camera = devices(fast_sim, account_id, "camera")[0]
    subscription = v3client.subscribe(fast_sim, token, [f"camera:{camera}"])
    v3client.control(fast_sim, "POST", "faults/v3/stall-sse", {"account_id": account_id})
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(
            subscription["deliveryConfig"]["sseUrl"],
            headers=v3client.bearer(token),
            stream=True,
            timeout=(TIMEOUT, 1.0),
        )


def test_expired_tokens_end_streams_and_a_refreshed_token_reconnects(
    fast_sim: Simulator, readers: list[SseReader]
) -> None:
    tokens = v3client.login(fast_sim)
    owner = v3client.get(fast_sim, tokens["access_token"], "accounts").json()["results"]
    account_id = owner[1]["id"]
    token = v3client.end_user_token(fast_sim, tokens["access_token"], account_id)
    camera = devices(fast_sim, account_id, "camera")[0]
    subscription, reader = open_stream(fast_sim, readers, token, [f"camera:{camera}"])
    v3client.control(fast_sim, "POST", "faults/v3/expire-tokens")
    assert reader.finished.wait(5)
    assert reader.error is None  # a clean end (the last chunk), not a cut
    url = subscription["deliveryConfig"]["sseUrl"]
    assert requests.get(url, headers=v3client.bearer(token), timeout=TIMEOUT).status_code == 401
    reseller = v3client.refresh(fast_sim, tokens["refresh_token"]).json()["access_token"]
    fresh = v3client.end_user_token(fast_sim, reseller, account_id)
    again = SseReader(url, fresh)
    readers.append(again)
    assert again.response.status_code == 200


def test_a_rotated_away_token_ends_its_stream(
    make_sim: MakeSimulator, readers: list[SseReader]
) -> None:
    sim = make_sim(WorldSpec(accounts=0, bridges=1, cameras=2), v3=FAST)
    tokens = v3client.login(sim)  # a plain customer: the grant's own token sees the devices
    camera = devices(sim, v3client.get(sim, tokens["access_token"], "accounts").json()
                     ["results"][0]["id"], "camera")[0]  # fmt: skip
    _, reader = open_stream(sim, readers, tokens["access_token"], [f"camera:{camera}"])
    v3client.refresh(sim, tokens["refresh_token"])
    assert reader.finished.wait(5)
    assert reader.error is None


def test_deleting_the_account_ends_its_streams_and_subscriptions(
    fast_sim: Simulator, readers: list[SseReader]
) -> None:
    account_id, token = v3client.sub_account_token(fast_sim)
    camera = devices(fast_sim, account_id, "camera")[0]
    _, reader = open_stream(fast_sim, readers, token, [f"camera:{camera}"])
    v3client.control(fast_sim, "DELETE", f"accounts/{account_id}")
    assert reader.finished.wait(5)
    assert v3client.v3_state(fast_sim)["subscriptions"] == 0
    assert v3client.get(fast_sim, token, "cameras").status_code == 401


def test_event_types_list_the_status_event(fast_sim: Simulator) -> None:
    _, token = v3client.sub_account_token(fast_sim)
    types = v3client.get(fast_sim, token, "eventTypes").json()["results"]
    assert STATUS_EVENT in {t["type"] for t in types}
