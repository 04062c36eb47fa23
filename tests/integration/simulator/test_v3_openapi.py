"""Every answer the simulated v3 API host gives, checked against EEN's OpenAPI schemas
(een_v3_openapi.py, our own fixture of their facts) under every reading the simulator plays
where the files contradict themselves (exporter/simulator/v3/readings.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.cli import parse_args, v3_readings
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator import een_v3_openapi as oas
from tests.integration.simulator import v3client
from tests.integration.simulator.v3client import TIMEOUT

READINGS = [
    {"master_type": master, "bridge_id": bridge_id, "base_url_port": port}
    for master, bridge_id, port in (
        ("reseller", "null", "included"),
        ("reseller", "absent", "omitted"),
        ("distributor", "null", "omitted"),
        ("distributor", "absent", "included"),
    )
]


def _is_spec_contradiction(error: ValidationError) -> bool:
    """[DEV] ApiCameraMain requires `bridgeId`, a non-nullable string, while its own BridgeId
    description says a camera without a bridge does not report it: a bridgeless camera
    departs from one half or the other, whichever reading is played."""
    path = list(error.absolute_path)
    if error.validator == "type" and path[-1:] == ["bridgeId"] and error.instance is None:
        return True
    return error.validator == "required" and "'bridgeId'" in error.message


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
    ):
        assert response.status_code in (400, 401, 404)
        assert_conforms(oas.API_ERROR, response.json())


def test_the_readings_from_een_sims_flags(make_sim: MakeSimulator) -> None:
    flags = ["--v3-master-type", "distributor", "--v3-bridge-id", "absent",
             "--v3-base-url-port", "omitted"]  # fmt: skip
    chosen = v3_readings(parse_args(flags))
    simulator = make_sim(WorldSpec(accounts=1, bridges=1, cameras=1), v3_readings=chosen)
    assert v3client.control(simulator, "GET", "v3/readings") == {
        "master_type": "distributor",
        "bridge_id": "absent",
        "base_url_port": "omitted",
    }
    assert v3client.control(simulator, "GET", "v3/readings") == chosen.as_json()
    refused = requests.put(
        f"{simulator.url}/_sim/v3/readings", json={"bridge_id": "maybe"}, timeout=TIMEOUT
    )
    assert refused.status_code == 400
