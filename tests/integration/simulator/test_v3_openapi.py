"""Every answer the simulated v3 API host gives, checked against EEN's OpenAPI schemas
(een_v3_openapi.py, our own fixture of their facts) under every reading the simulator plays
where the files contradict themselves (exporter/simulator/v3/readings.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.cli import parse_args, v3_readings
from exporter.simulator.v3 import routes
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator import een_v3_openapi as oas
from tests.integration.simulator import v3client
from tests.integration.simulator.v3client import (
    CLIENT,
    REDIRECT_URI,
    STATUS_EVENT,
    TIMEOUT,
    SseReader,
)
from tests.support import wait_for

READING_NAMES = ("master_type", "bridge_id", "base_url_port", "switch_base_url", "filter_type_key")
READINGS = [
    dict(zip(READING_NAMES, values, strict=True))
    for values in (
        ("reseller", "null", "included", "included", "id"),
        ("reseller", "absent", "omitted", "omitted", "type"),
        ("distributor", "null", "omitted", "included", "type"),
        ("distributor", "absent", "included", "omitted", "id"),
    )
]


def _is_spec_contradiction(error: ValidationError) -> bool:
    """Where EEN's files contradict themselves, an answer departs from one side or the other,
    whichever reading is played (exporter/simulator/v3/readings.py):
    - [DEV] ApiCameraMain requires `bridgeId`, a non-nullable string, while its BridgeId
      description says a camera without a bridge does not report it;
    - [RES] AccessToken requires `httpBaseUrl`, a property it does not define (`httpsBaseUrl`);
    - [RES] ApiHttpsBaseUrl requires `port`, [CS]'s does not;
    - [EV] EventTypeFilter requires `type` but defines only `id`."""
    path = list(error.absolute_path)
    if error.validator == "type" and path[-1:] == ["bridgeId"] and error.instance is None:
        return True
    if error.validator != "required":
        return False
    if "'bridgeId'" in error.message or "'httpBaseUrl'" in error.message:
        return True
    if path[-1:] == ["httpsBaseUrl"] and "'port'" in error.message:
        return True
    return "types" in path[:-1] and "'type'" in error.message


def violations(schema: oas.Schema, instance: Any) -> tuple[list[str], int]:
    """(departures beyond the spec's own contradictions, how many contradictions were met)."""
    errors = list(Draft202012Validator(schema).iter_errors(instance))
    known = [e for e in errors if _is_spec_contradiction(e)]
    others = [f"{list(e.absolute_path)}: {e.message}" for e in errors if e not in known]
    return others, len(known)


def assert_conforms(schema: oas.Schema, instance: Any) -> int:
    others, known = violations(schema, instance)
    assert others == [], "\n".join(others)
    return known


@pytest.fixture(params=READINGS, ids=lambda r: "-".join(r.values()))
def reading(request: pytest.FixtureRequest) -> dict[str, str]:
    return dict(request.param)


@pytest.fixture
def sim(make_sim: MakeSimulator, reading: dict[str, str]) -> Simulator:
    simulator = make_sim(WorldSpec(accounts=2, bridges=1, cameras=3, seed=5))
    assert v3client.control(simulator, "PUT", "v3/readings", reading) == {
        **v3client.control(simulator, "GET", "v3/readings"),
        **reading,
    }
    state = requests.get(f"{simulator.url}/_sim/state", timeout=TIMEOUT).json()
    # One camera with no bridge in every sub-account (a direct-to-cloud camera).
    for account in state["accounts"][1:]:
        response = requests.post(
            f"{simulator.url}/_sim/devices",
            json={"account_id": account["id"], "type": "camera", "name": "Direct Camera"},
            timeout=TIMEOUT,
        )
        assert response.status_code == 201, response.text
    return simulator


def test_client_settings(sim: Simulator, reading: dict[str, str]) -> None:
    token = v3client.login(sim)["access_token"]
    body = v3client.get(sim, token, "clientSettings").json()
    assert_conforms(oas.CLIENT_SETTINGS, body)
    assert ("port" in body["httpsBaseUrl"]) is (reading["base_url_port"] == "included")


def test_the_current_user_with_every_include(sim: Simulator) -> None:
    token = v3client.login(sim)["access_token"]
    plain = v3client.get(sim, token, "users/self").json()
    assert_conforms(oas.USER, plain)
    full = v3client.get(sim, token, "users/self", include=",".join(oas.USER_INCLUDES)).json()
    assert_conforms(oas.USER, full)
    # What EEN's PyPI client EagleEyev3 reads at every login and reseller switch.
    assert full["timeZone"]["timeZone"]
    assert "timeZone" not in plain
    bad = v3client.get(sim, token, "users/self", include="nonsense")
    assert bad.status_code == 400
    assert_conforms(oas.API_ERROR, bad.json())


def test_accounts_with_every_include(sim: Simulator, reading: dict[str, str]) -> None:
    token = v3client.login(sim)["access_token"]
    listing = v3client.get(sim, token, "accounts", include=",".join(oas.ACCOUNT_INCLUDES))
    assert_conforms(oas.paginated(oas.ACCOUNT), listing.json())
    types = [a["type"] for a in listing.json()["results"]]
    assert types[0] == reading["master_type"]
    assert set(types[1:]) == {"endUserAccount"}
    for sort in ("+name", "-name"):
        assert v3client.get(sim, token, "accounts", sort=sort).status_code == 200
    refused = v3client.get(sim, token, "accounts", sort="+name,-name")
    assert refused.status_code == 400
    assert_conforms(oas.API_ERROR, refused.json())


def _device_answers(sim: Simulator, token: str) -> Iterator[tuple[oas.Schema, Any]]:
    cameras = v3client.get(
        sim, token, "cameras", include=",".join(oas.CAMERA_INCLUDES_LIST), q="a", pageSize=2
    )
    assert cameras.status_code == 200, cameras.text
    yield oas.paginated(oas.CAMERA), cameras.json()
    bridges = v3client.get(
        sim, token, "bridges", include=",".join(oas.BRIDGE_INCLUDES_LIST), q="bridge"
    )
    assert bridges.status_code == 200, bridges.text
    yield oas.paginated(oas.BRIDGE), bridges.json()
    for camera in v3client.all_pages(sim, token, "cameras"):
        single = v3client.get(
            sim, token, f"cameras/{camera['id']}", include=",".join(oas.CAMERA_INCLUDES_SINGLE)
        )
        assert single.status_code == 200, single.text
        yield oas.CAMERA, single.json()
    for bridge in v3client.all_pages(sim, token, "bridges"):
        single = v3client.get(
            sim, token, f"bridges/{bridge['id']}", include=",".join(oas.BRIDGE_INCLUDES_SINGLE)
        )
        yield oas.BRIDGE, single.json()


def test_cameras_and_bridges_with_every_include(sim: Simulator, reading: dict[str, str]) -> None:
    _account_id, token = v3client.sub_account_token(sim)
    contradictions = sum(
        assert_conforms(schema, body) for schema, body in _device_answers(sim, token)
    )
    # The one direct camera meets the bridgeId contradiction once per answer showing it.
    assert contradictions >= 1
    direct = list(v3client.all_pages(sim, token, "cameras", **{"deviceInfo.directToCloud": "true"}))
    assert len(direct) == 1
    assert ("bridgeId" in direct[0]) is (reading["bridge_id"] == "null")


def _sample(name: str) -> str:
    """A value of the documented type for each list parameter."""
    booleans = ("shareDetails.shared", "shareDetails.firstResponder", "deviceInfo.directToCloud")
    samples = {"pageSize": "5", "qRelevance__gte": "0.5", "sort": "+name", "include": "status",
               "status__in": "online", "status__ne": "off", "multiCameraId": "null"}  # fmt: skip
    if name in booleans:
        return "false"
    return samples.get(name, "x")


@pytest.mark.parametrize("kind", ["cameras", "bridges"])
def test_every_documented_list_parameter_is_taken(sim: Simulator, kind: str) -> None:
    _, token = v3client.sub_account_token(sim)
    names = oas.CAMERA_LIST_PARAMS if kind == "cameras" else oas.BRIDGE_LIST_PARAMS
    for name in names:
        if name == "pageToken":
            continue  # only the server's own tokens are valid
        response = v3client.get(sim, token, kind, **{name: _sample(name)})
        assert response.status_code == 200, f"{name}: {response.text}"
        assert_conforms(oas.paginated(oas.CAMERA if kind == "cameras" else oas.BRIDGE),
                        response.json())  # fmt: skip
    sorts = oas.CAMERA_SORTS if kind == "cameras" else oas.BRIDGE_SORTS
    for field in sorts:
        for sign in "+-":
            extra = {"q": "a"} if field == "qRelevance" else {}
            response = v3client.get(sim, token, kind, sort=f"{sign}{field}", **extra)
            assert response.status_code == 200, f"{sign}{field}: {response.text}"
    unknown = v3client.get(sim, token, kind, nonsense="1")
    assert unknown.status_code == 400
    assert unknown.json()["details"][0]["reason"] == "unexpectedArgument"


def test_the_sort_example_of_the_spec_and_its_refusals(sim: Simulator) -> None:
    _, token = v3client.sub_account_token(sim)
    # [DEV] the `sort` parameter's own example for cameras.
    example = v3client.all_pages(sim, token, "cameras", sort="+name,-locationSummary.name")
    names = [c["name"].casefold() for c in example]
    assert names == sorted(names)
    paged = v3client.all_pages(sim, token, "cameras", sort="-name", pageSize=1)
    assert [c["name"].casefold() for c in paged] == sorted(names, reverse=True)
    by_bridge = v3client.all_pages(sim, token, "cameras", sort="-bridgeSummary.name,+name")
    assert {c["id"] for c in by_bridge} == {c["id"] for c in example}
    for refused in ("", "+name,+name", "-name,+name", "+name,+bridgeSummary.name,-qRelevance,+x",
                    "+qRelevance", "name"):  # fmt: skip
        response = v3client.get(sim, token, "cameras", sort=refused)
        assert response.status_code == 400, refused
        assert_conforms(oas.API_ERROR, response.json())


def test_errors_are_api_v3_errors(sim: Simulator) -> None:
    token = v3client.login(sim)["access_token"]
    for response in (
        v3client.get(sim, "not-a-token", "cameras"),
        v3client.get(sim, token, "cameras/ffffffff"),
        v3client.get(sim, token, "nowhere"),
        v3client.get(sim, token, "cameras", status__in="sleeping"),
        v3client.get(sim, token, "cameras", **{"deviceInfo.directToCloud": "maybe"}),
        v3client.get(sim, token, "events:listFieldValues"),
        v3client.get(sim, token, "events:listFieldValues", actor="camera:ffffffff"),
        v3client.get(sim, token, "eventTypes", sort="+name"),
    ):
        assert response.status_code in (400, 401, 404)
        assert_conforms(oas.API_ERROR, response.json())


def test_the_readings_from_een_sims_flags(make_sim: MakeSimulator) -> None:
    flags = ["--v3-master-type", "distributor", "--v3-bridge-id", "absent",
             "--v3-base-url-port", "omitted", "--v3-switch-base-url", "omitted",
             "--v3-filter-type-key", "type"]  # fmt: skip
    chosen = v3_readings(parse_args(flags))
    simulator = make_sim(WorldSpec(accounts=1, bridges=1, cameras=1), v3_readings=chosen)
    assert v3client.control(simulator, "GET", "v3/readings") == {
        "master_type": "distributor",
        "bridge_id": "absent",
        "base_url_port": "omitted",
        "switch_base_url": "omitted",
        "filter_type_key": "type",
    }
    assert v3client.control(simulator, "GET", "v3/readings") == chosen.as_json()
    refused = requests.put(
        f"{simulator.url}/_sim/v3/readings", json={"bridge_id": "maybe"}, timeout=TIMEOUT
    )
    assert refused.status_code == 400


# -- every served route against its schema ------------------------------------------------------


def test_every_served_route_has_a_schema_check() -> None:
    """A route een-sim serves (routes.served()) without an entry in the fixture's OPERATIONS,
    or without a call below, fails here; so does an entry no route serves."""
    served = routes.served()
    unchecked = []
    for method, pattern in served:
        matching = [
            op
            for op in oas.OPERATIONS
            if op.method == method and re.fullmatch(pattern, op.example_path)
        ]
        if len(matching) != 1:
            unchecked.append(f"{method} {pattern}: {len(matching)} schema entries")
    assert unchecked == []
    stale = [
        f"{op.method} {op.path}"
        for op in oas.OPERATIONS
        if not any(m == op.method and re.fullmatch(p, op.example_path) for m, p in served)
    ]
    assert stale == []
    assert {(op.method, op.path) for op in oas.OPERATIONS} == set(CALLS)
    assert len(served) == len(oas.OPERATIONS)


@dataclass
class Walk:
    """What the calls share, in the order CALLS runs them."""

    sim: Simulator
    reading: dict[str, str]
    reseller_token: str = ""
    account_id: str = ""
    token: str = ""  # the end-user account's
    camera: str = ""
    bridge: str = ""
    subscription: dict[str, Any] = dataclass_field(default_factory=dict)
    filter_id: str = ""

    def get(self, path: str, **params: Any) -> requests.Response:
        return v3client.get(self.sim, self.token, path, **params)

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        return requests.request(
            method,
            f"{self.sim.url}/api/v3.0/{path}",
            headers=v3client.bearer(self.token),
            json=body,
            timeout=TIMEOUT,
        )

    @property
    def sub_path(self) -> str:
        return f"eventSubscriptions/{self.subscription['id']}"


def _consent_page(w: Walk) -> requests.Response:
    params = {"client_id": CLIENT[0], "redirect_uri": REDIRECT_URI, "response_type": "code",
              "scope": "vms.all"}  # fmt: skip
    return requests.get(f"{w.sim.url}/oauth2/authorize", params=params, timeout=TIMEOUT)


def _consent(w: Walk) -> requests.Response:
    form = {"client_id": CLIENT[0], "redirect_uri": REDIRECT_URI, "response_type": "code",
            "scope": "vms.all", "state": "s1", "username": "demo@example.com",
            "password": "demo", "decision": "allow"}  # fmt: skip
    return requests.post(
        f"{w.sim.url}/oauth2/authorize", data=form, allow_redirects=False, timeout=TIMEOUT
    )


def _token(w: Walk) -> requests.Response:
    location = _consent(w).headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    answer = v3client.token_request(w.sim, grant_type="authorization_code", scope="vms.all",
                                    code=code, redirect_uri=REDIRECT_URI)  # fmt: skip
    w.reseller_token = answer.json()["access_token"]
    return answer


def _revoke(w: Walk) -> requests.Response:
    """With the client's credentials in the body, as EEN's eensdk-python sends them."""
    spare = v3client.login(w.sim)["refresh_token"]
    form = {"client_id": CLIENT[0], "client_secret": CLIENT[1], "token": spare}
    answer = requests.post(f"{w.sim.url}/oauth2/revoke", data=form, timeout=TIMEOUT)
    assert v3client.refresh(w.sim, spare).status_code == 401  # the grant is gone
    return answer


def _event_types(w: Walk) -> requests.Response:
    answer = w.get("eventTypes", pageSize=2, language="en-US")
    rest = w.get("eventTypes", pageToken=answer.json()["nextPageToken"]).json()
    types = [t["type"] for t in answer.json()["results"] + rest["results"]]
    assert len(answer.json()["results"]) == 2
    assert STATUS_EVENT in types
    assert len(types) == len(set(types)) == answer.json()["totalSize"]
    return answer


def _filters(w: Walk) -> requests.Response:
    answer = w.get(f"{w.sub_path}/filters", pageSize=1)
    rest = w.get(f"{w.sub_path}/filters", pageToken=answer.json()["nextPageToken"]).json()
    ids = [f["id"] for f in answer.json()["results"] + rest["results"]]
    assert ids == ["1", w.filter_id]
    return answer


def _field_values(w: Walk) -> requests.Response:
    answer = w.get("events:listFieldValues", actor=f"camera:{w.camera}")
    assert answer.json() == {"type": [STATUS_EVENT]}
    return answer


def _switch(w: Walk) -> requests.Response:
    accounts = v3client.get(w.sim, w.reseller_token, "accounts").json()["results"]
    w.account_id = accounts[1]["id"]
    answer = requests.post(
        f"{w.sim.url}/api/v3.0/authorizationTokens",
        headers=v3client.bearer(w.reseller_token),
        json={"type": "reseller", "targetType": "account", "targetId": w.account_id,
              "scopes": ["vms.all"]},
        timeout=TIMEOUT,
    )  # fmt: skip
    w.token = answer.json()["accessToken"]
    assert ("httpsBaseUrl" in answer.json()) is (w.reading["switch_base_url"] == "included")
    return answer


def _cameras(w: Walk) -> requests.Response:
    answer = w.get("cameras", include="status")
    w.camera = next(c["id"] for c in answer.json()["results"] if c.get("bridgeId"))
    return answer


def _bridges(w: Walk) -> requests.Response:
    answer = w.get("bridges")
    w.bridge = answer.json()["results"][0]["id"]
    return answer


def _events(w: Walk) -> requests.Response:
    return w.get("events", actor=f"camera:{w.camera}", type__in=STATUS_EVENT,
                 startTimestamp__gte="2000-01-01T00:00:00.000+00:00",
                 include="data.een.deviceCloudStatusUpdate.v1")  # fmt: skip


def _create_subscription(w: Walk) -> requests.Response:
    key = w.reading["filter_type_key"]
    wanted = {"actors": [f"camera:{w.camera}"], "types": [{key: STATUS_EVENT}]}
    body = {"deliveryConfig": {"type": "serverSentEvents.v1"}, "filters": [wanted]}
    answer = w.send("POST", "eventSubscriptions", body)
    w.subscription = answer.json()
    return answer


def _create_filter(w: Walk) -> requests.Response:
    body = {"actors": [f"bridge:{w.bridge}"], "types": [{"id": STATUS_EVENT}]}
    answer = w.send("POST", f"{w.sub_path}/filters", body)
    w.filter_id = answer.json()["id"]
    assert list(answer.json()["types"][0]) == [w.reading["filter_type_key"]]
    return answer


def _stream(w: Walk) -> list[dict[str, Any]]:
    """The events the subscription's SSE URL delivers for one status change."""
    reader = SseReader(w.subscription["deliveryConfig"]["sseUrl"], w.token)
    try:
        assert reader.response.status_code == 200, reader.response.text
        wait_for(lambda: v3client.v3_state(w.sim)["sse_streams"], message="the stream")
        v3client.control(w.sim, "PUT", f"v3/devices/{w.camera}/status",
                         {"connectionStatus": "deviceOffline"})  # fmt: skip
        wait_for(lambda: len(reader.events()) >= 2, message="the span events")
        return reader.events()
    finally:
        reader.close()


Call = Callable[[Walk], "requests.Response | list[dict[str, Any]]"]
SUB = "/api/v3.0/eventSubscriptions/{eventSubscriptionId}"
CALLS: dict[tuple[str, str], Call] = {
    ("GET", "/oauth2/authorize"): _consent_page,
    ("POST", "/oauth2/authorize"): _consent,
    ("POST", "/oauth2/token"): _token,
    ("POST", "/oauth2/revoke"): _revoke,
    ("POST", "/api/v3.0/authorizationTokens"): _switch,
    ("GET", "/api/v3.0/clientSettings"): lambda w: w.get("clientSettings"),
    ("GET", "/api/v3.0/accounts"): lambda w: v3client.get(w.sim, w.reseller_token, "accounts"),
    ("GET", "/api/v3.0/users/self"): lambda w: w.get("users/self"),
    ("GET", "/api/v3.0/cameras"): _cameras,
    ("GET", "/api/v3.0/cameras/{cameraId}"): lambda w: w.get(f"cameras/{w.camera}"),
    ("GET", "/api/v3.0/bridges"): _bridges,
    ("GET", "/api/v3.0/bridges/{bridgeId}"): lambda w: w.get(f"bridges/{w.bridge}"),
    ("GET", "/api/v3.0/events"): _events,
    ("GET", "/api/v3.0/events:listFieldValues"): _field_values,
    ("GET", "/api/v3.0/eventTypes"): _event_types,
    ("POST", "/api/v3.0/eventSubscriptions"): _create_subscription,
    ("GET", "/api/v3.0/eventSubscriptions"): lambda w: w.get("eventSubscriptions"),
    ("GET", SUB): lambda w: w.get(w.sub_path),
    ("POST", f"{SUB}/filters"): _create_filter,
    ("GET", f"{SUB}/filters"): _filters,
    ("GET", f"{SUB}/filters/{{filterId}}"): lambda w: w.get(f"{w.sub_path}/filters/{w.filter_id}"),
    ("GET", "/sse/v3.0/eventSubscriptions/{eventSubscriptionId}"): _stream,
    ("DELETE", f"{SUB}/filters/{{filterId}}"): lambda w: w.send(
        "DELETE", f"{w.sub_path}/filters/{w.filter_id}"
    ),
    ("DELETE", SUB): lambda w: w.send("DELETE", w.sub_path),
}


def _check(op: oas.Operation, answer: requests.Response | list[dict[str, Any]]) -> int:
    """Asserts `answer` is `op`'s success answer and meets its schema; the contradictions met."""
    if isinstance(answer, list):  # the SSE stream's events
        assert op.kind == "sse"
        assert op.schema is not None
        assert answer
        return sum(assert_conforms(op.schema, event) for event in answer)
    assert answer.status_code == op.status, f"{op.method} {op.path}: {answer.text}"
    if op.kind == "empty":
        assert answer.content == b""
        return 0
    if op.kind == "page":
        assert answer.headers["Content-Type"].startswith("text/html")
        return 0
    assert op.schema is not None
    if op.kind == "redirect":
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        return assert_conforms(op.schema, {name: values[0] for name, values in query.items()})
    assert answer.headers["Content-Type"].startswith("application/json")
    return assert_conforms(op.schema, answer.json())


def test_every_served_route_answers_its_schema(sim: Simulator, reading: dict[str, str]) -> None:
    walk = Walk(sim, reading)
    operations = {(op.method, op.path): op for op in oas.OPERATIONS}
    met = {call: _check(operations[call], run(walk)) for call, run in CALLS.items()}
    # The filter a reading keys by `id` meets [EV]'s `required: [type]`, once per filter shown.
    filter_answers = [k for k in CALLS if "filters" in k[1] and k[0] != "DELETE"]
    expected = 1 if reading["filter_type_key"] == "id" else 0
    assert all(met[k] >= expected for k in filter_answers)
    # [RES]'s `httpBaseUrl` is always missing; its `port` too under base_url_port=omitted.
    switch = met[("POST", "/api/v3.0/authorizationTokens")]
    shown = reading["switch_base_url"] == "included"
    assert switch == 1 + (shown and reading["base_url_port"] == "omitted")
