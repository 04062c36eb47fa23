"""`een-exporter report` without a Prometheus: the period, the outage search, the formats and
the one-line errors, against a fake HTTP API on 127.0.0.1 (and a port nobody listens on).
tests/availability/test_month.py runs it against a real Prometheus holding a backfilled month."""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from exporter import cli as exporter_cli
from exporter.report import cli
from exporter.report.availability import HOUR, MINUTE, Period, build
from exporter.report.prometheus import PrometheusAPI, ReportError

START = 1793491200  # 2026-11-01T00:00:00Z
NOW = 1796083200 + 5 * 86400  # well after the month
Answer = Callable[[str, dict[str, str]], tuple[int, Any]]


class FakePrometheus:
    """Answers /api/v1/* from `answer(path, params)`; records every query."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.queries: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fake.queries.append({"path": parts.path, **params})
                status, body = fake.answer(parts.path.removeprefix("/api/v1/"), params)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakePrometheus:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def success(data: Any) -> tuple[int, Any]:
    return 200, {"status": "success", "data": data}


def matrix(*series: tuple[dict[str, str], list[tuple[int, float]]]) -> tuple[int, Any]:
    return success(
        {
            "resultType": "matrix",
            "result": [
                {"metric": labels, "values": [[t, str(v)] for t, v in points]}
                for labels, points in series
            ],
        }
    )


ACME = {"job": "een", "account_id": "11111111"}
# Acme HQ, 2 hours of data: 2 cameras counted 120 minutes each; camera 100a0001 down
# 00:58-01:03 (6 minutes across the hour) and 01:30-01:31 (2 minutes), 100a0002 01:10-01:14.
DOWN = {
    "100a0001": {START + (58 + i) * MINUTE for i in range(6)}
    | {START + 90 * MINUTE, START + 91 * MINUTE},
    "100a0002": {START + (70 + i) * MINUTE for i in range(5)},
}


def month_answer(path: str, params: dict[str, str]) -> tuple[int, Any]:
    query = params.get("query", "")
    start, end = int(params.get("start", 0)), int(params.get("end", 0))
    hours = [t for t in (START + HOUR, START + 2 * HOUR) if start <= t <= end]
    if path == "query_range" and "counted_minutes_1h" in query:
        return matrix((ACME, [(t, 120.0) for t in hours]))
    if path == "query_range" and "available_minutes_1h" in query:
        return matrix((ACME, [(START + HOUR, 118.0), (START + 2 * HOUR, 109.0)]))
    if path == "query_range" and "objective" in query:
        return matrix((ACME, [(t, 0.99) for t in hours]))
    if path == "query_range" and "down_minutes_1h" in query:
        lobby = {**ACME, "instance": "a:9877", "camera_id": "100a0001"}
        yard = {**ACME, "instance": "a:9877", "camera_id": "100a0002"}
        return matrix(
            (lobby, [(START + HOUR, 2.0), (START + 2 * HOUR, 6.0)]),
            (yard, [(START + 2 * HOUR, 5.0)]),
        )
    if path == "query_range" and "camera:een_camera_status:available" in query:
        (camera,) = [c for c in DOWN if f'camera_id="{c}"' in query]
        points = [(t, 0.0 if t in DOWN[camera] else 1.0) for t in range(start, end + 1, MINUTE)]
        return matrix(({**ACME, "camera_id": camera}, points))
    if path == "series" and "een_account_info" in params["match[]"]:
        return success([{**ACME, "__name__": "een_account_info", "name": "Acme HQ"}])
    if path == "series" and "een_camera_info" in params["match[]"]:
        return success(
            [
                {**ACME, "camera_id": "100a0001", "name": "Lobby | East"},
                {**ACME, "camera_id": "100a0002", "name": "Yard"},
            ]
        )
    raise AssertionError(f"unexpected {path} {params}")


@pytest.fixture
def fake() -> Iterator[FakePrometheus]:
    with FakePrometheus(month_answer) as prometheus:
        yield prometheus


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv), now=NOW)
    out, err = capsys.readouterr()
    return code, out, err


def test_period_is_a_whole_month_or_up_to_the_last_whole_hour() -> None:
    assert Period.parse("2026-11", NOW) == Period("2026-11", START, START + 30 * 86400)
    assert Period.parse("2026-12", 1796083200 + 3 * HOUR + 59) == Period(
        "2026-12", 1796083200, 1796083200 + 3 * HOUR
    )
    for bad in ("2026-13", "2026/11", "Nov 2026", "2026-1"):
        with pytest.raises(ReportError, match="YYYY-MM"):
            Period.parse(bad, NOW)
    with pytest.raises(ReportError, match="no whole hour"):
        Period.parse("2027-01", NOW)


def test_accounts_and_outages_from_the_hourly_and_minute_series(fake: FakePrometheus) -> None:
    report = build(PrometheusAPI(fake.url), Period("2026-11", START, START + 2 * HOUR))
    (account,) = report.accounts
    assert (account.name, account.counted, account.down, account.objective) == (
        "Acme HQ",
        240.0,
        13.0,
        0.99,
    )
    assert account.budget_left == pytest.approx(1 - 13 / 2.4)
    found = [(o.camera_name, o.start - START, o.end - START, o.minutes) for o in account.outages]
    assert found == [
        ("Lobby | East", 58 * MINUTE, 64 * MINUTE, 6),
        ("Yard", 70 * MINUTE, 75 * MINUTE, 5),
        ("Lobby | East", 90 * MINUTE, 92 * MINUTE, 2),
    ]


def test_only_stretches_that_can_hold_a_longer_outage_are_read(fake: FakePrometheus) -> None:
    report = build(PrometheusAPI(fake.url), Period("2026-11", START, START + 2 * HOUR), outages=1)
    assert [o.minutes for o in report.accounts[0].outages] == [6]
    minute_queries = [
        q for q in fake.queries if "camera:een_camera_status:available" in q.get("query", "")
    ]
    assert len(minute_queries) == 1  # one stretch (two hours), read once


def test_formats(capsys: pytest.CaptureFixture[str], fake: FakePrometheus) -> None:
    code, out, err = run(capsys, "--prometheus", fake.url + "/", "--period", "2026-11")
    assert (code, err) == (0, "")
    assert "| Acme HQ (11111111) | 94.583 % | 99.000 % | -441.7 % | 13 | 240 |" in out
    lobby = "| Acme HQ (11111111) | Lobby \\| East (100a0001) |"
    assert f"{lobby} 2026-11-01 00:58 | 2026-11-01 01:04 | 6 |" in out
    code, out, _ = run(capsys, "--prometheus", fake.url, "--period", "2026-11", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["row"] for r in rows] == ["account", "outage", "outage", "outage"]
    assert (rows[0]["availability"], rows[0]["minutes_down"]) == ("0.945833", "13")
    assert (rows[1]["camera_name"], rows[1]["start"], rows[1]["end"]) == (
        "Lobby | East",
        "2026-11-01T00:58:00Z",
        "2026-11-01T01:04:00Z",
    )
    code, out, _ = run(capsys, "--prometheus", fake.url, "--period", "2026-11", "--format", "html")
    assert code == 0
    assert out.startswith("<!DOCTYPE html>")
    assert "<td>Lobby | East (100a0001)</td>" in out


def test_the_exporters_cli_runs_the_report(
    capsys: pytest.CaptureFixture[str], fake: FakePrometheus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("time.time", lambda: float(NOW))
    code = exporter_cli.main(["report", "--prometheus", fake.url, "--period", "2026-11"])
    assert code == 0
    assert "Acme HQ (11111111)" in capsys.readouterr().out


def one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err.startswith("een-exporter report: error: ")
    assert err.count("\n") == 1, err
    return err


def test_unreachable_prometheus(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago, nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    err = one_line_error(capsys, "--prometheus", f"http://127.0.0.1:{port}", "--period", "2026-11")
    assert f"cannot reach Prometheus at http://127.0.0.1:{port}" in err


def test_missing_rules_and_empty_period_are_told_apart(capsys: pytest.CaptureFixture[str]) -> None:
    loaded: list[str] = []

    def answer(path: str, params: dict[str, str]) -> tuple[int, Any]:
        if path == "rules":
            rules = [{"name": name, "type": "recording"} for name in loaded]
            return success({"groups": [{"name": "g", "rules": rules}]})
        return matrix()

    with FakePrometheus(answer) as prometheus:
        argv = ("--prometheus", prometheus.url, "--period", "2026-11")
        err = one_line_error(capsys, *argv)
        assert "no recording rule account:een_camera_status:counted_minutes_1h" in err
        assert "rules/availability.yml" in err
        loaded.append("account:een_camera_status:counted_minutes_1h")
        err = one_line_error(capsys, *argv)
        assert "no availability data in Prometheus" in err
        assert "2026-11 (2026-11-01 00:00 to 2026-12-01 00:00 UTC)" in err


def test_something_that_is_not_prometheus(capsys: pytest.CaptureFixture[str]) -> None:
    with FakePrometheus(lambda path, params: (404, b"<html>not here</html>")) as other:
        err = one_line_error(capsys, "--prometheus", other.url, "--period", "2026-11")
    assert "does not answer like Prometheus (HTTP 404" in err


def test_a_refused_query_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def answer(path: str, params: dict[str, str]) -> tuple[int, Any]:
        return 422, {"status": "error", "errorType": "execution", "error": "too many\\nsamples"}

    with FakePrometheus(answer) as prometheus:
        err = one_line_error(capsys, "--prometheus", prometheus.url, "--period", "2026-11")
    assert "refused a query: too many" in err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(capsys, "--prometheus", "127.0.0.1:9090", "--period", "2026-11")
    assert "must be an http or https URL" in err
    with pytest.raises(SystemExit) as raised:
        cli.main(["--period", "2026-11"])
    assert raised.value.code == 2
