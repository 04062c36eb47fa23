from exporter.state.model import AccountInfo
from exporter.state.selfmetrics import Endpoint, Objectives, SelfMetrics
from exporter.state.sharding import Shard
from tests.support import parse_exposition, series


def test_counters_are_fresh_on_every_render_and_exist_from_the_start() -> None:
    metrics = SelfMetrics()
    first = parse_exposition(metrics.render().decode())
    for endpoint in Endpoint:
        assert series(first, "een_api_requests_total", endpoint=endpoint.value) == 0
        assert series(first, "een_api_request_failures_total", endpoint=endpoint.value) == 0
    assert series(first, "een_login_failures_total") == 0
    assert series(first, "een_credentials_refused") == 0
    for thread in ("discovery", "stream"):
        assert series(first, "een_exporter_unexpected_errors_total", thread=thread) == 0
    assert series(first, "process_open_fds") is not None
    metrics.api_requests.labels(Endpoint.DEVICE_LIST.value).inc()
    metrics.login_failures.inc()
    second = parse_exposition(metrics.render().decode())  # within the process metrics' TTL
    assert series(second, "een_api_requests_total", endpoint="device_list") == 1
    assert series(second, "een_login_failures_total") == 1
    assert series(second, "process_open_fds") == series(first, "process_open_fds")


def test_each_monitored_account_has_its_availability_objective() -> None:
    """Only the accounts this shard monitors: the rules join the objective on the instance."""
    shard = Shard(0, 2)
    accounts = [AccountInfo(f"{n:08d}", f"Account {n}") for n in range(1, 9)]
    mine = [a.id for a in accounts if shard.owner(a.id) == 0]
    assert 0 < len(mine) < len(accounts)
    metrics = SelfMetrics(shard, objectives=Objectives(0.995, {mine[0]: 0.999}))
    before = parse_exposition(metrics.render().decode())
    assert not [key for key in before if key[0] == "een_account_availability_objective"]
    metrics.accounts_discovered(accounts)
    found = {
        dict(labels)["account_id"]: value
        for (name, labels), value in parse_exposition(metrics.render().decode()).items()
        if name == "een_account_availability_objective"
    }
    assert found == dict.fromkeys(mine, 0.995) | {mine[0]: 0.999}
