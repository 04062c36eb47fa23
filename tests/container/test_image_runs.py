"""The image, built from the Dockerfile and run with podman: what Docker users get.

`een-exporter --demo` runs in it with a read-only root filesystem and its port published on
127.0.0.1; the host scrapes it. The same image runs `een-sim`, which the exporter of the test
process watches.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from bench.soak import IMAGE_GLIBC_TUNABLES
from exporter.app import Exporter, tuning_for
from exporter.config import Settings
from tests.container.podman import BUILD_SECONDS, LIMITS, RUNTIME, Container, checked, podman
from tests.support import parse_exposition, series, wait_for

pytestmark = pytest.mark.timeout(BUILD_SECONDS + 120)

UID = "10001"
READY_SECONDS = 30.0
STOP_SECONDS = 5
DEMO_ACCOUNTS = 3  # `--demo`'s simulated world (WorldSpec's defaults)


def run_detached(image: str, port: int, *command: str, entrypoint: str = "") -> Container:
    """Start `image` read-only with `port` published on 127.0.0.1; the caller removes it."""
    container = Container(f"een-test-{uuid.uuid4().hex[:12]}")
    options = ["--detach", "--name", container.name, *RUNTIME, *LIMITS, "--read-only"]
    options += ["--publish", f"127.0.0.1::{port}"]
    options += ["--entrypoint", entrypoint] if entrypoint else []
    checked("run", *options, image, *command)
    return container


def get(address: str, path: str) -> requests.Response:
    return requests.get(f"http://{address}{path}", timeout=5)


def ready(address: str) -> bool:
    try:
        return get(address, "/readyz").status_code == 200
    except requests.ConnectionError:
        return False


@pytest.fixture
def demo(image: str) -> Iterator[Container]:
    """`een-exporter --demo` in the image, ready, its port 9877 published on loopback."""
    container = run_detached(image, 9877, "--demo")
    try:
        address = container.published(9877)
        wait_for(lambda: ready(address), READY_SECONDS, 0.1, f"the exporter at {address}")
        yield container
    finally:
        container.remove()


def test_demo_is_scraped_from_the_host(demo: Container) -> None:
    address = demo.published(9877)
    assert address.startswith("127.0.0.1:")
    readiness = get(address, "/readyz")
    assert readiness.text == f"ready: {DEMO_ACCOUNTS} accounts\n"
    metrics = get(address, "/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = parse_exposition(metrics.text)
    accounts = [
        dict(labels)["account_id"] for name, labels in samples if name == "een_account_info"
    ]
    assert len(accounts) == DEMO_ACCOUNTS
    for account in accounts:
        assert series(samples, "een_stream_up", account_id=account) == 1


def test_exporter_runs_as_uid_10001_on_a_read_only_root(demo: Container) -> None:
    assert demo.inspect("{{.Config.User}}") == f"{UID}:{UID}", "the image's USER"
    assert f"GLIBC_TUNABLES={IMAGE_GLIBC_TUNABLES}" in demo.inspect("{{.Config.Env}}")
    status = demo.exec("cat", "/proc/1/status")
    assert status.returncode == 0, status.stderr
    uids = next(line.split()[1:] for line in status.stdout.splitlines() if line.startswith("Uid:"))
    assert uids == [UID] * 4, "the exporter (PID 1) runs as 10001 only"
    assert demo.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"
    write = demo.exec("touch", "/usr/local/written")
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr


def test_healthcheck_passes(demo: Container) -> None:
    result = podman("healthcheck", "run", demo.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert demo.inspect("{{.State.Health.Status}}") == "healthy"


def test_sigterm_stops_the_exporter_within_5_seconds(demo: Container) -> None:
    started = time.monotonic()
    checked("stop", "--time", str(STOP_SECONDS), demo.name, timeout=STOP_SECONDS + 30)
    took = time.monotonic() - started
    # Exit code 0, not 137: it stopped on SIGTERM itself, before podman's SIGKILL.
    assert demo.inspect("{{.State.ExitCode}}") == "0", demo.logs()
    assert took < STOP_SECONDS, f"podman stop took {took:.1f} s"
    assert "signal=SIGTERM" in demo.logs()


@pytest.fixture
def sim_container(image: str) -> Iterator[Container]:
    world = ["--accounts=2", "--bridges=1", "--cameras=3"]
    container = run_detached(image, 9878, "--listen=0.0.0.0:9878", *world, entrypoint="een-sim")
    try:
        yield container
    finally:
        container.remove()


def test_een_sim_runs_from_the_same_image(sim_container: Container) -> None:
    # The image's entrypoint is replaced, as the compose file's simulator service does.
    url = f"http://{sim_container.published(9878)}"
    settings = Settings(
        username="demo@example.com",
        password="demo",
        url=url,
        listen_host="127.0.0.1",
        listen_port=0,
        backoff_max_seconds=1.0,
    )
    exporter = Exporter(settings, tuning_for(settings, backoff_base=0.05, start_jitter=0.0))
    exporter.start()
    try:
        address = exporter.url.removeprefix("http://")
        wait_for(lambda: ready(address), READY_SECONDS, 0.1, f"the exporter watching {url}")
        samples = parse_exposition(requests.get(f"{exporter.url}/metrics", timeout=5).text)
        cameras = [key for key in samples if key[0] == "een_camera_info"]
        assert len(cameras) == 2 * 3, "the world of een-sim's command line"
    finally:
        exporter.stop()
