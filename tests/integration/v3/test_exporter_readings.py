"""The exporter in v3 mode against each reading of EEN's OpenAPI files that matters to it
(issue 22): the account types a grant may see, cameras without a bridge (bridgeId null or
absent), httpsBaseUrl without a port and an /authorizationTokens answer without httpsBaseUrl;
each run ends with /metrics equal to the world.

Which accounts are watched with which token is `exporter.v3.access.watch_plan`: the grant's
own account (GET /users/self accountId) with the grant's token when it is an end user's or
holds devices, every other visible account with a token from /authorizationTokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.v3.tokens import V3Settings
from exporter.v3.access import Via, watch_plan
from exporter.v3.api import V3Client
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator import v3client
from tests.integration.v3.conftest import KEEPALIVE, StartExporter, wait_matching, wait_ready

TIMEOUT = 10


@dataclass(frozen=True)
class Case:
    name: str
    spec: WorldSpec
    readings: dict[str, str] = field(default_factory=dict)
    direct_cameras: int = 0  # added to every sub-account (or the one account), with no bridge
    pending: str = ""  # why the exporter does not pass yet: an xfail(strict) until it does


RESELLER_WORLD = WorldSpec(accounts=2, bridges=1, cameras=3, seed=11)
CASES = [
    Case("reseller-with-endUserAccounts", RESELLER_WORLD),
    Case("distributor-with-endUserAccounts", RESELLER_WORLD, {"master_type": "distributor"}),
    Case("own-endUserAccount", WorldSpec(accounts=0, bridges=1, cameras=3, seed=11)),
    Case("bridgeId-null", RESELLER_WORLD, {"bridge_id": "null"}, direct_cameras=2),
    Case("bridgeId-absent", RESELLER_WORLD, {"bridge_id": "absent"}, direct_cameras=2),
    Case(
        "only-direct-cameras-bridgeId-absent",
        WorldSpec(accounts=0, bridges=0, cameras=3, seed=11),
        {"bridge_id": "absent"},
    ),
    Case("httpsBaseUrl-without-port", RESELLER_WORLD, {"base_url_port": "omitted"}),
    Case("switch-without-httpsBaseUrl", RESELLER_WORLD, {"switch_base_url": "omitted"}),
]


def control(sim: Simulator, method: str, path: str, body: dict[str, Any]) -> Any:
    response = requests.request(method, f"{sim.url}{path}", json=body, timeout=TIMEOUT)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


@pytest.fixture(params=CASES, ids=lambda case: case.name)
def case(request: pytest.FixtureRequest) -> Case:
    case: Case = request.param
    return case


@pytest.fixture
def sim(make_sim: MakeSimulator, case: Case) -> Simulator:
    simulator = make_sim(case.spec, v3=V3Settings(sse_keepalive_seconds=KEEPALIVE))
    if case.readings:
        control(simulator, "PUT", "/_sim/v3/readings", case.readings)
    state = requests.get(f"{simulator.url}/_sim/state", timeout=TIMEOUT).json()
    accounts = state["accounts"][1:] or state["accounts"]
    for account in accounts:
        for index in range(case.direct_cameras):
            body = {"account_id": account["id"], "type": "camera", "name": f"Direct {index}"}
            control(simulator, "POST", "/_sim/devices", body)
    return simulator


def test_metrics_equal_the_world(
    sim: Simulator, case: Case, start_exporter: StartExporter, request: pytest.FixtureRequest
) -> None:
    if case.pending:
        request.applymarker(pytest.mark.xfail(reason=case.pending, strict=True))
    exporter = start_exporter()
    wait_ready(exporter)
    wait_matching(exporter, sim)


def test_the_watch_plan_of_each_account_type(sim: Simulator, case: Case) -> None:
    """watch_plan on the simulator's answers: the same plan whatever the own account's type."""
    token = v3client.login(sim)["access_token"]
    client = V3Client()
    base = f"{sim.url}/api/v3.0"
    visible = client.accounts(base, token)
    own = client.own_account_id(base, token)
    plan = watch_plan(visible, own, bool(client.devices(base, token)))
    state = requests.get(f"{sim.url}/_sim/state", timeout=TIMEOUT).json()
    owner, *subs = [a["id"] for a in state["accounts"]]
    assert own == owner
    if subs:
        assert visible[0].type == case.readings.get("master_type", "reseller")
        assert plan == dict.fromkeys(subs, Via.SWITCH)
    else:
        assert visible[0].type == "endUserAccount"
        assert plan == {owner: Via.GRANT}


def test_client_settings_without_port_mean_443(make_sim: MakeSimulator) -> None:
    sim = make_sim(WorldSpec(accounts=0, bridges=1, cameras=1))
    control(sim, "PUT", "/_sim/v3/readings", {"base_url_port": "omitted"})
    token = v3client.login(sim)["access_token"]
    assert V3Client().client_settings(token, sim.url) == ("127.0.0.1", 443)


def test_a_switch_without_a_base_url_leaves_the_host_open(make_sim: MakeSimulator) -> None:
    """The reseller guide's answer has no httpsBaseUrl: the end-user token's host is then left
    empty, and Hosts.api asks clientSettings for it (or uses the fixed EEN_URL)."""
    sim = make_sim(WorldSpec(accounts=1, bridges=1, cameras=1))
    control(sim, "PUT", "/_sim/v3/readings", {"switch_base_url": "omitted"})
    token = v3client.login(sim)["access_token"]
    account = V3Client().accounts(f"{sim.url}/api/v3.0", token)[1].id
    switched = V3Client().end_user_token(sim.url, token, account)
    assert (switched.api_hostname, switched.api_port) == ("", 443)
    assert switched.value
