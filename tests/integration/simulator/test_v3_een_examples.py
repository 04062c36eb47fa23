"""EEN's published v3 examples against the simulator over HTTPS, with only the host changed:
the Python functions of `een_v3_examples.py` and the `curl` request of the event
subscriptions guide (developer.eagleeyenetworks.com/docs/event-subscriptions, Step 2)."""

from __future__ import annotations

import json
import shlex
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from exporter.simulator import Simulator, WorldSpec
from tests.integration.simulator import een_v3_examples as een
from tests.integration.simulator import v3client
from tests.integration.simulator.v3client import REDIRECT_URI, SseReader
from tests.support import require_binary

CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-secret"
# The guide's request, verbatim; <base-URL>, <access token> and <camera ID> are its placeholders.
GUIDE_CURL = """curl --location '<base-URL>/api/v3.0/eventSubscriptions' \\
--header 'Content-Type: application/json' \\
--header 'Accept: application/json' \\
--header 'Authorization: Bearer <access token>' \\
--data '{
  "deliveryConfig": {
    "type": "serverSentEvents.v1"
  },
  "filters": [
    {
      "actors": [
        "camera:<camera ID>"
      ],
      "types": [
        {
          "id": "een.motionDetectionEvent.v1"
        }
      ]
    },
    {
      "actors": [
        "camera:<camera ID>"
      ],
      "types": [
        {
          "id": "een.lprPlateReadEvent.v1"
        }
      ]
    }
  ]
}'"""


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throw-away self-signed certificate for 127.0.0.1."""
    openssl = require_binary("openssl", "install the openssl package")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_sim(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    # Trust the simulator's certificate the ordinary way: verification stays on.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(cert))
    with Simulator(WorldSpec(accounts=2, bridges=1, cameras=7), tls=context) as sim:
        monkeypatch.setattr(een, "EEN_AUTH_HOST", f"127.0.0.1:{sim.port}")
        yield sim


def test_authenticate_refresh_and_list_cameras_as_published(tls_sim: Simulator) -> None:
    assert tls_sim.url.startswith("https://")
    tokens = een.authenticate(CLIENT_ID, CLIENT_SECRET, v3client.code(tls_sim), REDIRECT_URI)
    host = tokens["httpsBaseUrl"]
    base_url = f"{host['hostname']}:{host['port']}"
    assert list(een.list_cameras(tokens["access_token"], base_url)) == []  # a reseller's own

    accounts = v3client.get(tls_sim, tokens["access_token"], "accounts").json()["results"]
    account_id = accounts[1]["id"]
    end_user = v3client.end_user_token(tls_sim, tokens["access_token"], account_id)
    cameras = list(een.list_cameras(end_user, base_url, page_size=3, include="status"))
    state = requests.get(f"{tls_sim.url}/_sim/state", timeout=10).json()
    truth = next(a for a in state["accounts"] if a["id"] == account_id)["devices"]
    expected = sorted(d["id"] for d in truth if d["type"] == "camera")
    assert sorted(c["id"] for c in cameras) == expected
    # The guide's "With filters" call.
    online = list(een.list_cameras(end_user, base_url, status__in="online", include="status"))
    assert online
    assert {c["status"]["connectionStatus"] for c in online} == {"online"}

    rotated = een.refresh_access_token(CLIENT_ID, CLIENT_SECRET, tokens["refresh_token"])
    assert rotated["refresh_token"] != tokens["refresh_token"]
    with pytest.raises(requests.HTTPError) as dead:
        een.refresh_access_token(CLIENT_ID, CLIENT_SECRET, tokens["refresh_token"])
    assert dead.value.response.status_code == 401


def test_the_guides_curl_request_creates_an_sse_subscription(tls_sim: Simulator) -> None:
    curl = require_binary("curl", "install the curl package")
    account_id, token = v3client.sub_account_token(tls_sim)
    state = requests.get(f"{tls_sim.url}/_sim/state", timeout=10).json()
    devices = next(a for a in state["accounts"] if a["id"] == account_id)["devices"]
    camera = next(d["id"] for d in devices if d["type"] == "camera")
    command = (
        GUIDE_CURL.replace("<base-URL>", tls_sim.url)
        .replace("<access token>", token)
        .replace("<camera ID>", camera)
    )
    argv = shlex.split(command.replace("\\\n", " "))  # the shell's line continuations
    argv[0] = curl
    result = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30)
    subscription = json.loads(result.stdout)
    assert subscription["deliveryConfig"]["type"] == "serverSentEvents.v1"
    assert subscription["subscriptionConfig"]["lifeCycle"] == "temporary"
    sse_url = subscription["deliveryConfig"]["sseUrl"]
    assert sse_url.startswith(f"{tls_sim.url}/sse/v3.0/eventSubscriptions/")
    reader = SseReader(sse_url, token)
    try:
        assert reader.response.status_code == 200
        assert reader.response.headers["Content-Type"].startswith("text/event-stream")
    finally:
        reader.close()


def test_the_published_python_subscription_is_not_the_openapi_shape(tls_sim: Simulator) -> None:
    # 06-event-lifecycle.md's function asks for a webhook with resourceType/resourceIds
    # filters, which EEN's OpenAPI file does not have (een-api-v3.md §5.2): refused.
    _, token = v3client.sub_account_token(tls_sim)
    with pytest.raises(requests.HTTPError) as refused:
        een.subscribe_to_events(
            token,
            f"127.0.0.1:{tls_sim.port}",
            "https://example.com/een-webhook",
            "secret",
            ["10000000"],
            ["een.motionDetectionEvent.v1"],
        )
    assert refused.value.response.status_code == 400
    assert "webhook.v1" in refused.value.response.json()["message"]
