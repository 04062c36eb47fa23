"""`een-exporter`: settings, logging, signals, and the optional in-process simulator (--demo)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from exporter import __version__
from exporter.app import Exporter
from exporter.config import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    ApiVersion,
    ConfigError,
    Settings,
    load_settings,
)
from exporter.logs import configure_logging, register_secret
from exporter.malloc import limit_arenas

if TYPE_CHECKING:
    from exporter.simulator import Simulator

log = logging.getLogger("exporter")

DEMO_CHURN = 0.5  # status changes per second, so demo dashboards move
STOP_TIMEOUT = 4.5  # seconds; SIGTERM to exit stays within 5 s
# How often the main thread wakes while serving. CPython runs a signal's Python handler only
# in the main thread, and only once that thread runs bytecode again; the kernel may deliver
# the process's SIGTERM to any thread, and then nothing else would wake a main thread blocked
# without a timeout: the signal would wait for ever (and Kubernetes would SIGKILL).
SIGNAL_CHECK_SECONDS = 0.25


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["login"]:
        from exporter.v3.login import main as login  # API v3's one-time consent

        return login(arguments[1:], os.environ)
    if arguments[:1] == ["report"]:
        from exporter.report.cli import main as report  # reads Prometheus, not EEN

        return report(arguments[1:])
    try:
        settings = load_settings(arguments, os.environ)
    except ConfigError as exc:
        print(f"een-exporter: error: {exc}", file=sys.stderr)
        return 2
    limit_arenas(os.environ)  # before any thread
    configure_logging(settings.log_level, settings.log_format)
    # The demo login is published, and "demo" is part of too many words to redact.
    if (settings.username, settings.password) != (DEMO_USERNAME, DEMO_PASSWORD):
        register_secret(settings.password)
    if settings.api_key:
        register_secret(settings.api_key)
    if settings.client_secret:
        register_secret(settings.client_secret)
    for notice in settings.notices:
        log.log(notice.level, notice.message)
    stopping = Stopping()
    _on_signals(stopping)
    simulator = None
    if settings.demo:
        from exporter.simulator import Simulator, WorldSpec  # only demo mode needs it

        simulator = Simulator(
            WorldSpec(),
            username=DEMO_USERNAME,
            password=DEMO_PASSWORD,
            churn=DEMO_CHURN,
            # Events as een-sim sends them by default: thumbnails and stream statistics of
            # streaming cameras, a bridge boot now and then, a few cameras losing packets.
            thumbnail_seconds=10.0,
            stream_stats_seconds=60.0,
            bridge_boots_per_hour=1.0,
            lossy_cameras=0.05,
        )
        simulator.start()
        settings = replace(
            settings, url=simulator.url, username=DEMO_USERNAME, password=DEMO_PASSWORD
        )
        log.info(
            "demo mode: using the simulated EEN cloud",
            extra={"url": simulator.url, "username": DEMO_USERNAME, "api": settings.api.value},
        )
    with tempfile.TemporaryDirectory(prefix="een-demo-") as directory:
        try:
            if simulator is not None and settings.api is ApiVersion.V3:
                settings = demo_v3_login(simulator, settings, Path(directory))
            return _serve(settings, stopping)
        finally:
            if simulator is not None:
                simulator.stop()


def demo_v3_login(simulator: Simulator, settings: Settings, directory: Path) -> Settings:
    """What `een-exporter login` does, with the simulator's control API standing in for the
    person at the browser: a code, exchanged for a token file in `directory`."""
    import requests  # only the v3 demo needs these here

    from exporter.v3.oauth import OAuthClient
    from exporter.v3.tokenfile import TokenFile
    from exporter.v3.tokens import first_token

    client_id = simulator.v3_settings.client_id
    client_secret = simulator.v3_settings.client_secret
    answer = requests.post(f"{simulator.url}/_sim/v3/code", json={}, timeout=10)
    answer.raise_for_status()
    oauth = OAuthClient(simulator.url, client_id, client_secret)
    tokens = oauth.exchange_code(str(answer.json()["code"]), "")
    token_file = directory / "token.json"
    TokenFile(token_file).save(first_token(client_id, tokens, time.time()))
    log.info("demo mode: logged in to API v3", extra={"token_file": str(token_file)})
    return replace(
        settings, client_id=client_id, client_secret=client_secret, token_file=token_file
    )


def _serve(settings: Settings, stopping: Stopping) -> int:
    try:
        exporter = Exporter(settings)
    except ConfigError as exc:  # the web config file
        print(f"een-exporter: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        address = f"{settings.listen_host}:{settings.listen_port}"
        log.error("cannot listen", extra={"address": address, "reason": exc.strerror or str(exc)})
        return 1
    exporter.start()
    log.info(
        "listening",
        extra={
            "address": exporter.listen_address,
            "url": exporter.url,
            "een_url": settings.url,
            "version": __version__,
            "shard": f"{settings.shard.index}/{settings.shard.total}",
            "tls": exporter.web.tls,
            "basic_auth": exporter.web.basic_auth,
        },
    )
    while not stopping.wait(SIGNAL_CHECK_SECONDS):
        pass
    log.info("signal received", extra={"signal": stopping.signal})
    log.info("stopping")
    stuck = exporter.stop(STOP_TIMEOUT)
    if stuck:
        log.warning("threads did not stop in time", extra={"threads": ",".join(stuck)})
    log.info("stopped")
    return 0


class Stopping(threading.Event):
    """Set by SIGTERM or SIGINT; `signal` names the first one received."""

    signal: str = ""


def _on_signals(stopping: Stopping) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        # No logging here: the handler runs between two bytecodes of the main thread, maybe
        # inside a log write of its own, and a second write to stderr then raises ("reentrant
        # call") before the event is set: the exporter would never stop. _serve logs it.
        stopping.signal = stopping.signal or signal.Signals(signum).name
        stopping.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
