"""`een-sim`: run the simulated EEN cloud until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import ssl
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from exporter.simulator.churn import NOISE_SHARE
from exporter.simulator.cloud import SESSION_COOKIES
from exporter.simulator.longpoll import LONG_POLL_SECONDS
from exporter.simulator.readings import (
    SNAPSHOT_CHUNK,
    Activity,
    ForeignEsn,
    Readings,
    SessionLoss,
    Snapshot,
)
from exporter.simulator.server import DEMO_PASSWORD, DEMO_USERNAME, Simulator
from exporter.simulator.v3.readings import (
    BridgeIdReading,
    FilterTypeKey,
    MasterType,
    PortReading,
    SwitchBaseUrlReading,
    V3Readings,
)
from exporter.simulator.v3.tokens import V3Settings
from exporter.simulator.world import WorldSpec

DEFAULT_LISTEN = "127.0.0.1:9878"


def listen_address(value: str) -> tuple[str, int]:
    """Parse HOST:PORT (IPv6 as [::1]:PORT)."""
    host, colon, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port_text)


def non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def non_negative_float(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def share(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {value}")
    return number


def positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return number


_LOG_LEVELS = {
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "error": "ERROR",
}


def log_level(value: str) -> str:
    """A level name in any case, as the exporter takes it."""
    level = _LOG_LEVELS.get(value.strip().lower())
    if level is None:
        raise argparse.ArgumentTypeError(f"must be debug, info, warning or error, got {value!r}")
    return level


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="een-sim",
        description="A simulated Eagle Eye Networks cloud (v1 REST API and WebSocket poll "
        "stream; v3 OAuth, REST API and SSE event subscriptions) with a control API under "
        "/_sim/ for loopback clients.",
    )
    parser.add_argument(
        "--listen",
        type=listen_address,
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to serve on (default {DEFAULT_LISTEN}; port 0 picks a free one)",
    )
    parser.add_argument(
        "--accounts",
        type=non_negative_int,
        default=3,
        help="sub-accounts of the dealer account; 0 = a plain customer (default 3)",
    )
    parser.add_argument(
        "--bridges", type=non_negative_int, default=2, help="bridges per account (default 2)"
    )
    parser.add_argument(
        "--cameras", type=non_negative_int, default=10, help="cameras per account (default 10)"
    )
    parser.add_argument("--seed", type=int, default=1, help="world seed (default 1)")
    parser.add_argument(
        "--churn",
        type=non_negative_float,
        default=0.0,
        metavar="R",
        help="random status transitions per second (default 0)",
    )
    parser.add_argument(
        "--churn-noise",
        type=share,
        default=NOISE_SHARE,
        metavar="S",
        help="share of the churn's updates that are status 0 or invalid-bit words, which "
        f"clients must ignore (default {NOISE_SHARE:g})",
    )
    parser.add_argument(
        "--long-poll-seconds",
        type=positive_float,
        default=LONG_POLL_SECONDS,
        metavar="S",
        help=f"how long GET /poll waits for a change (default {LONG_POLL_SECONDS:g})",
    )
    parser.add_argument(
        "--thumbnail-seconds",
        type=non_negative_float,
        default=10.0,
        metavar="S",
        help="a thumbnail event (PRTH) from each streaming camera every S seconds; 0 = none "
        "(default 10)",
    )
    parser.add_argument(
        "--stream-stats-seconds",
        type=non_negative_float,
        default=60.0,
        metavar="S",
        help="stream statistics (CSSU) from each streaming camera every S seconds; 0 = none "
        "(default 60)",
    )
    parser.add_argument(
        "--bridge-boots-per-hour",
        type=non_negative_float,
        default=1.0,
        metavar="R",
        help="bridge boots or restarts (BBOO, ABRT) per hour across all bridges (default 1)",
    )
    parser.add_argument(
        "--lossy-cameras",
        type=share,
        default=0.05,
        metavar="F",
        help="share F of the cameras (seeded) whose streams lose 2-30 %% of their packets "
        "(default 0.05)",
    )
    parser.add_argument(
        "--username", default=DEMO_USERNAME, help="login e-mail (default demo@example.com)"
    )
    parser.add_argument("--password", default=DEMO_PASSWORD, help="login password (default demo)")
    parser.add_argument(
        "--session-seconds", type=float, default=8 * 3600.0, help="session lifetime (default 28800)"
    )
    parser.add_argument("--two-factor", action="store_true", help="make the user a two-factor user")
    parser.add_argument(
        "--api-key",
        metavar="K",
        help="require API key K on every v1 call (header Authentication or Authorization, "
        "with or without the trailing colon); a missing or wrong key gets 401. Default: any "
        "key or none is accepted",
    )
    parser.add_argument(
        "--latency",
        type=non_negative_float,
        default=0.0,
        help="seconds added to every v1 REST response (default 0)",
    )
    parser.add_argument(
        "--session-cookie",
        choices=tuple(SESSION_COOKIES),
        default="both",
        help="the session key's cookie on login: auth_key, the older videobank_sessionid, or "
        "both (default both, as the real cloud may); either is accepted on requests",
    )
    parser.add_argument(
        "--log-level",
        type=log_level,
        default="WARNING",
        metavar="LEVEL",
        help="debug, info, warning or error, in any case (default warning); debug logs each "
        "request's method, path and status",
    )
    _add_reading_arguments(parser)
    _add_v3_arguments(parser)
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.session_seconds <= 0:
        parser.error("--session-seconds must be > 0")
    if args.api_key == "":
        parser.error("--api-key must not be empty")
    return args


def _add_reading_arguments(parser: argparse.ArgumentParser) -> None:
    """Where EEN's docs are ambiguous, which reading to play (docs/simulator.md)."""
    defaults = Readings()
    group = parser.add_argument_group("readings of ambiguous docs (changeable via /_sim/readings)")
    group.add_argument(
        "--snapshot",
        choices=[m.value for m in Snapshot],
        default=defaults.snapshot.value,
        help="current values of new subscriptions: one message per camera, or batches of "
        f"{SNAPSHOT_CHUNK} (default {defaults.snapshot.value})",
    )
    group.add_argument(
        "--session-loss",
        choices=[m.value for m in SessionLoss],
        default=defaults.session_loss.value,
        help="what a stream without a valid session meets: an HTTP 401 refusing the upgrade "
        "(open streams: a 412 message and a close), a 401/412 stream message, or a bare close "
        f"frame (default {defaults.session_loss.value})",
    )
    group.add_argument(
        "--foreign-esn",
        choices=[m.value for m in ForeignEsn],
        default=defaults.foreign_esn.value,
        help='the answer to subscribing another account\'s camera: 404 "resolve invalid" or '
        f'401 "permission denied (invalid esn)" (default {defaults.foreign_esn.value})',
    )
    group.add_argument(
        "--inactive-timeout",
        type=non_negative_float,
        default=defaults.inactive_minutes,
        metavar="MINUTES",
        help="end sessions inactive this long (fractions allowed); 0 = never (default "
        f"{defaults.inactive_minutes:g}, the user object's inactive_session_timeout)",
    )
    group.add_argument(
        "--inactive-activity",
        choices=[m.value for m in Activity],
        default=defaults.activity.value,
        help="what counts as activity: authenticated requests only, or those and any open "
        f"stream on the session (default {defaults.activity.value})",
    )


def readings(args: argparse.Namespace) -> Readings:
    return Readings(
        snapshot=Snapshot(args.snapshot),
        session_loss=SessionLoss(args.session_loss),
        foreign_esn=ForeignEsn(args.foreign_esn),
        inactive_minutes=args.inactive_timeout,
        activity=Activity(args.inactive_activity),
    )


def _add_v3_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = V3Settings()
    v3 = parser.add_argument_group("API v3")
    v3.add_argument("--v3-client-id", default=defaults.client_id, help="the one registered "
                    f"OAuth client (default {defaults.client_id})")  # fmt: skip
    v3.add_argument("--v3-client-secret", default=defaults.client_secret,
                    help=f"its secret (default {defaults.client_secret})")  # fmt: skip
    lifetimes = (
        ("access-token", defaults.access_token_seconds, "access token lifetime"),
        ("refresh-idle", defaults.refresh_idle_seconds, "refresh token lifetime after last use"),
        ("refresh-max", defaults.refresh_max_seconds, "grant lifetime after the consent"),
        ("code", defaults.code_seconds, "authorization code lifetime"),
        ("sse-ttl", defaults.sse_ttl_seconds, "a subscription's life without a client"),
    )
    for name, default, what in lifetimes:
        v3.add_argument(f"--v3-{name}-seconds", type=positive_float, default=default,
                        metavar="S", help=f"{what} (default {default:g})")  # fmt: skip
    v3.add_argument("--v3-sse-keepalive-seconds", type=non_negative_float,
                    default=defaults.sse_keepalive_seconds, metavar="S",
                    help="seconds between SSE keep-alive comments; 0 = none (default "
                    f"{defaults.sse_keepalive_seconds:g})")  # fmt: skip
    current = V3Readings()
    readings: tuple[tuple[str, list[str], str, str], ...] = (
        ("master-type", [m.value for m in MasterType], current.master_type.value,
         "the type /accounts gives a dealer"),
        ("bridge-id", [m.value for m in BridgeIdReading], current.bridge_id.value,
         "bridgeId of a camera with no bridge"),
        ("base-url-port", [m.value for m in PortReading], current.base_url_port.value,
         "port in httpsBaseUrl"),
        ("switch-base-url", [m.value for m in SwitchBaseUrlReading],
         current.switch_base_url.value, "httpsBaseUrl in the /authorizationTokens answer"),
        ("filter-type-key", [m.value for m in FilterTypeKey], current.filter_type_key.value,
         "the key of a subscription filter's types"),
    )  # fmt: skip
    for option, values, chosen, meaning in readings:
        v3.add_argument(f"--v3-{option}", choices=values, default=chosen,
                        help=f"reading: {meaning} (default {chosen})")  # fmt: skip
    parser.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", metavar="PEM", help="and this private key")


def v3_readings(args: argparse.Namespace) -> V3Readings:
    return V3Readings(
        master_type=MasterType(args.v3_master_type),
        bridge_id=BridgeIdReading(args.v3_bridge_id),
        base_url_port=PortReading(args.v3_base_url_port),
        switch_base_url=SwitchBaseUrlReading(args.v3_switch_base_url),
        filter_type_key=FilterTypeKey(args.v3_filter_type_key),
    )


def v3_settings(args: argparse.Namespace) -> V3Settings:
    return V3Settings(
        client_id=args.v3_client_id,
        client_secret=args.v3_client_secret,
        access_token_seconds=args.v3_access_token_seconds,
        refresh_idle_seconds=args.v3_refresh_idle_seconds,
        refresh_max_seconds=args.v3_refresh_max_seconds,
        code_seconds=args.v3_code_seconds,
        sse_ttl_seconds=args.v3_sse_ttl_seconds,
        sse_keepalive_seconds=args.v3_sse_keepalive_seconds,
    )


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None or key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    host, port = args.listen
    spec = WorldSpec(args.accounts, args.bridges, args.cameras, args.seed)
    try:
        settings = v3_settings(args)
        tls = tls_context(args.tls_cert, args.tls_key)
    except (ValueError, OSError) as exc:
        print(f"een-sim: {exc}", file=sys.stderr)
        return 2
    simulator = Simulator(
        spec,
        username=args.username,
        password=args.password,
        host=host,
        port=port,
        churn=args.churn,
        churn_noise=args.churn_noise,
        long_poll_seconds=args.long_poll_seconds,
        session_seconds=args.session_seconds,
        two_factor=args.two_factor,
        latency=args.latency,
        thumbnail_seconds=args.thumbnail_seconds,
        stream_stats_seconds=args.stream_stats_seconds,
        bridge_boots_per_hour=args.bridge_boots_per_hour,
        lossy_cameras=args.lossy_cameras,
        v3=settings,
        tls=tls,
        session_cookie=args.session_cookie,
        api_key=args.api_key,
        readings=readings(args),
        v3_readings=v3_readings(args),
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        simulator.start()
    except OSError as exc:
        print(f"een-sim: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    world = (
        f"{spec.accounts} sub-accounts of a dealer account"
        if spec.accounts
        else "one customer account"
    )
    print(f"een-sim listening on {simulator.url}", flush=True)
    print(
        f"  world:       {world}, {spec.bridges} bridges and {spec.cameras} cameras each "
        f"(seed {spec.seed}, churn {args.churn:g}/s, {args.churn_noise:g} of it noise)\n"
        f"  events:      a thumbnail every {args.thumbnail_seconds:g} s and stream statistics "
        f"every {args.stream_stats_seconds:g} s per streaming camera (0 = none), "
        f"{args.bridge_boots_per_hour:g} bridge boots per hour\n"
        f"  readings:    snapshot {args.snapshot}, session loss {args.session_loss}, foreign "
        f"ESN {args.foreign_esn}, inactive timeout {args.inactive_timeout:g} min "
        f"({args.inactive_activity}; 0 = none)\n"
        f"  username:    {args.username}\n"
        f"  password:    {args.password}\n"
        f"  API key:     {'the one given by --api-key' if args.api_key else 'any or none'}\n"
        f"  poll stream: {simulator.ws_url}/api/v2/Device/<account_id>/Events\n"
        f"  long poll:   {simulator.url}/poll (POST to start, GET to wait)\n"
        f"  v3 client:   {settings.client_id} / {settings.client_secret}\n"
        f"  v3 consent:  {simulator.url}/oauth2/authorize?scope=vms.all&client_id="
        f"{settings.client_id}&response_type=code&redirect_uri=<your redirect URI>\n"
        f"  v3 API:      {simulator.url}/api/v3.0/ (a code without a browser: POST "
        f"{simulator.url}/_sim/v3/code)\n"
        f"  control API: {simulator.url}/_sim/state (loopback clients only)",
        flush=True,
    )
    # Event.wait with a timeout keeps the main thread responsive to signals.
    while not stop.wait(1.0):
        pass
    simulator.stop()
    print("een-sim stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
