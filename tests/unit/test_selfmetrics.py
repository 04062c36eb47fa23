from exporter.state.selfmetrics import Endpoint, SelfMetrics
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
