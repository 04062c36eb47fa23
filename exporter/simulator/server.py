"""The `Simulator`: one asyncio server on one port, on its own named thread.

Plain HTTP requests go to the v1 REST surface (`/g/...`), the v3 surface (`/oauth2/...`,
`/api/v3.0/...`, see `v3/`) or the control API (`/_sim/...`); `Upgrade: websocket` requests
become poll streams and requests for an event subscription's SSE URL become SSE streams.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import secrets
import ssl
import threading
import time
from types import TracebackType
from urllib.parse import unquote, urlsplit

from websockets.http11 import Request as HandshakeRequest

from exporter.simulator import api, control
from exporter.simulator.churn import NOISE_SHARE, Churn
from exporter.simulator.cloud import SESSION_COOKIES, Cloud, Credentials
from exporter.simulator.events import TICK
from exporter.simulator.http import SERVER_NAME, HttpError, Request, Response, read_request
from exporter.simulator.longpoll import LONG_POLL_SECONDS, POLL_PATH
from exporter.simulator.readings import Readings, SessionLoss
from exporter.simulator.sessions import TOKEN_SECONDS, Session, SessionStore
from exporter.simulator.stream import StreamConnection, new_protocol
from exporter.simulator.v3 import control as v3_control
from exporter.simulator.v3 import routes as v3_routes
from exporter.simulator.v3.cloud import V3Cloud
from exporter.simulator.v3.readings import V3Readings
from exporter.simulator.v3.tokens import V3Settings
from exporter.simulator.world import WorldSpec, build_world

log = logging.getLogger(__name__)

STREAM_PATH = re.compile(r"/api/v2/Device/(?P<account_id>[^/]+)/Events")
READ_LIMIT = 256 * 1024
START_TIMEOUT = 120.0
STOP_TIMEOUT = 2.0
CHURN_TICK = 0.1
INACTIVITY_TICK = 0.25  # how often idle sessions are looked for
DEMO_USERNAME = "demo@example.com"
DEMO_PASSWORD = "demo"  # noqa: S105 - the simulator's documented demo login


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class Simulator:
    """A simulated EEN cloud serving the v1 and v3 APIs, their streams and the control API."""

    def __init__(
        self,
        spec: WorldSpec | None = None,
        *,
        username: str = DEMO_USERNAME,
        password: str = DEMO_PASSWORD,
        host: str = "127.0.0.1",
        port: int = 0,
        churn: float = 0.0,
        churn_noise: float = NOISE_SHARE,
        long_poll_seconds: float = LONG_POLL_SECONDS,
        session_seconds: float = 8 * 3600,
        two_factor: bool = False,
        latency: float = 0.0,
        token_seconds: float = TOKEN_SECONDS,
        thumbnail_seconds: float = 0.0,
        stream_stats_seconds: float = 0.0,
        bridge_boots_per_hour: float = 0.0,
        lossy_cameras: float = 0.0,
        v3: V3Settings | None = None,
        tls: ssl.SSLContext | None = None,
        session_cookie: str = "both",
        api_key: str | None = None,
        readings: Readings | None = None,
        v3_readings: V3Readings | None = None,
    ) -> None:
        if churn < 0 or latency < 0 or session_seconds <= 0 or token_seconds <= 0:
            raise ValueError("churn and latency must be >= 0, lifetimes > 0")
        rates = (thumbnail_seconds, stream_stats_seconds, bridge_boots_per_hour)
        if min(rates) < 0 or not 0 <= lossy_cameras <= 1:
            raise ValueError("event periods and rates must be >= 0, lossy_cameras from 0 to 1")
        if not 0 <= churn_noise <= 1 or long_poll_seconds <= 0:
            raise ValueError("churn_noise must be from 0 to 1, long_poll_seconds > 0")
        if session_cookie not in SESSION_COOKIES:
            raise ValueError(f"session_cookie must be one of {', '.join(SESSION_COOKIES)}")
        self.spec = spec or WorldSpec()
        self.username = username
        self._password = password
        self.host = host
        self.port = port
        self.churn = churn
        self.churn_noise = churn_noise
        self.long_poll_seconds = long_poll_seconds
        self.session_seconds = session_seconds
        self.two_factor = two_factor
        self.latency = latency
        self.token_seconds = token_seconds
        self.thumbnail_seconds = thumbnail_seconds
        self.stream_stats_seconds = stream_stats_seconds
        self.bridge_boots_per_hour = bridge_boots_per_hour
        self.lossy_cameras = lossy_cameras
        self.v3_settings = v3 or V3Settings()
        self.tls = tls
        self.session_cookie = session_cookie
        self._api_key = api_key
        self.readings = readings
        self.v3_readings = v3_readings
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._cloud: Cloud | None = None
        self._v3: V3Cloud | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self._url_host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self._url_host}:{self.port}"

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def start(self) -> Simulator:
        """Build the world and listen; returns once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("the simulator was already started")
        self._thread = threading.Thread(target=self._run, name="een-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError("the simulator did not start in time")
        if self._startup_error is not None:
            self._thread.join(STOP_TIMEOUT)
            raise self._startup_error
        return self

    def stop(self) -> None:
        """Close every connection and join the loop thread; safe to call twice."""
        thread, loop, stop_requested = self._thread, self._loop, self._stop_requested
        if thread is None or not thread.is_alive():
            return
        if loop is not None and stop_requested is not None:
            loop.call_soon_threadsafe(stop_requested.set)
        thread.join(STOP_TIMEOUT + 1)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the loop thread ----------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        try:
            server = await self._listen()
        except Exception as exc:  # noqa: BLE001 - re-raised by start() in the caller's thread
            self._startup_error = exc
            self._ready.set()
            return
        self._stop_requested = asyncio.Event()
        self._ready.set()
        # Churn and events idle while their rates are 0, inactivity while its timeout is.
        tasks = [
            asyncio.create_task(self._churn()),
            asyncio.create_task(self._events()),
            asyncio.create_task(self._inactivity()),
        ]
        try:
            await self._stop_requested.wait()
        finally:
            await self._shutdown(server, tasks)

    async def _listen(self) -> asyncio.Server:
        world = build_world(self.spec, self.username)
        credentials = Credentials(self.username, self._password, self.two_factor, self._api_key)
        sessions = SessionStore(self.session_seconds, self.token_seconds)
        self._cloud = Cloud.create(world, credentials, sessions, self.spec.seed, self.readings)
        self._cloud.faults.latency = self.latency
        self._cloud.session_cookies = SESSION_COOKIES[self.session_cookie]
        self._cloud.churn_rate = self.churn
        self._cloud.churn_noise = self.churn_noise
        self._cloud.hub.polls.timeout_seconds = self.long_poll_seconds
        events = self._cloud.events
        events.thumbnail_seconds = self.thumbnail_seconds
        events.stream_stats_seconds = self.stream_stats_seconds
        events.bridge_boots_per_hour = self.bridge_boots_per_hour
        events.make_lossy(self.lossy_cameras)
        scheme = "https" if self.tls else "http"
        self._v3 = V3Cloud(
            self._cloud, self.v3_settings, scheme=scheme, host=self.host, port=self.port
        )
        if self.v3_readings is not None:
            self._v3.readings = self.v3_readings
        server = await asyncio.start_server(
            self._serve_connection,
            self.host,
            self.port,
            limit=READ_LIMIT,
            backlog=2048,
            ssl=self.tls,
        )
        self.port = self._v3.port = server.sockets[0].getsockname()[1]
        log.info("simulated EEN cloud listening on %s", self.url)
        return server

    async def _shutdown(self, server: asyncio.Server, tasks: list[asyncio.Task[None]]) -> None:
        server.close()
        for task in tasks:
            task.cancel()
        assert self._cloud is not None
        self._cloud.shutdown()  # close frames first, so clients see a clean close
        for task in self._connections:
            task.cancel()
        if self._connections:
            await asyncio.wait(set(self._connections), timeout=STOP_TIMEOUT)

    async def _churn(self) -> None:
        assert self._cloud is not None
        cloud = self._cloud
        churn = Churn(cloud.world, self.spec.seed)
        loop = asyncio.get_running_loop()
        last = loop.time()
        budget = 0.0
        while True:
            await asyncio.sleep(CHURN_TICK)
            now = loop.time()
            budget = budget + cloud.churn_rate * (now - last) if cloud.churn_rate else 0.0
            last = now
            while budget >= 1:
                budget -= 1
                if churn.is_noise(cloud.churn_noise):
                    noise = churn.next_noise()
                    if noise is not None:
                        # On the wire only: the device's real status stays what it was.
                        cloud.hub.publish_status(*noise)
                    continue
                transition = churn.next_transition()
                if transition is not None:
                    cloud.set_status(*transition)

    async def _inactivity(self) -> None:
        assert self._cloud is not None
        cloud = self._cloud
        while True:
            await asyncio.sleep(INACTIVITY_TICK)
            cloud.end_idle_sessions()

    async def _events(self) -> None:
        assert self._cloud is not None
        events = self._cloud.events
        while True:
            await asyncio.sleep(TICK)
            now = time.time()
            events.tick(now)
            self._cloud.hub.tick_media(now)

    # -- connections --------------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        peer_host = str(peer[0]) if peer else ""
        try:
            await self._serve_requests(reader, writer, peer_host)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("simulator connection from %s failed", peer_host)
        finally:
            writer.close()
            self._connections.discard(task)

    async def _serve_requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer_host: str
    ) -> None:
        while True:
            try:
                request = await read_request(reader, peer_host, writer.write)
            except HttpError as exc:
                writer.write(Response.error(exc.status, exc.message).serialize(keep_alive=False))
                return
            if request is None:
                return
            if request.is_websocket:
                await self._serve_stream(request, reader, writer)
                return
            assert self._v3 is not None
            if v3_routes.is_sse(request):
                log.debug("%s %s (event stream)", request.method, request.path)
                await v3_routes.serve_sse(request, reader, writer, self._v3)
                return
            response = await self._respond(request)
            # The path only: query strings and bodies may carry session keys or passwords.
            log.debug("%s %s -> %d", request.method, request.path, response.status)
            writer.write(response.serialize(request.keep_alive))
            await writer.drain()
            if not request.keep_alive:
                return

    async def _respond(self, request: Request) -> Response:
        assert self._cloud is not None
        assert self._v3 is not None
        path = request.path
        try:
            if path == "/_sim" or path.startswith("/_sim/"):
                if not is_loopback(request.peer_host):
                    return Response.error(403, "the control API answers loopback clients only")
                if v3_control.handles(path):
                    return v3_control.handle(request, self._v3)
                return control.handle(request, self._cloud)
            if path.startswith("/g/"):
                return await self._rest(request)
            if path.rstrip("/") == POLL_PATH:
                return await self._long_poll(request)
            if v3_routes.handles(path):
                return v3_routes.respond(request, self._v3)
        except HttpError as exc:
            return Response.error(exc.status, exc.message)
        except Exception:
            log.exception("simulator handler for %s %s failed", request.method, path)
            return Response.error(500)
        if stream_account(request) is not None:
            response = Response.error(426, "this endpoint only speaks WebSocket")
            response.headers.append(("Upgrade", "websocket"))
            return response
        return Response.error(404, "no such endpoint")

    async def _rest(self, request: Request) -> Response:
        assert self._cloud is not None
        if request.path.rstrip("/") not in api.LOGIN_PATHS:
            return await self._rest_answer(request)
        logins = self._cloud.logins
        logins.begin()
        try:
            return await self._rest_answer(request)
        finally:
            logins.end()

    async def _rest_answer(self, request: Request) -> Response:
        assert self._cloud is not None
        faults = self._cloud.faults
        status = faults.take_http_fault()
        if faults.latency:
            await asyncio.sleep(faults.latency)
        if status is not None:
            return Response.error(status)
        return api.handle(request, self._cloud)

    async def _long_poll(self, request: Request) -> Response:
        assert self._cloud is not None
        session = self._cloud.sessions.get(request.session_key())
        if session is None:
            return Response.error(401, "no valid session")
        polls = self._cloud.hub.polls
        return await polls.handle(request, session.key, session.active_account_id)

    async def _serve_stream(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        assert self._cloud is not None
        cloud = self._cloud
        refusal = self._refuse_stream(request)
        if refusal is not None:
            writer.write(refusal.serialize(keep_alive=False))
            return
        session = cloud.sessions.get(request.session_key())
        protocol = new_protocol()
        protocol.receive_data(request.raw_head)
        events = protocol.events_received()
        handshake = events[0] if events else None
        if not isinstance(handshake, HandshakeRequest):
            for data in protocol.data_to_send():
                writer.write(data)
            return
        response = protocol.accept(handshake)
        if response.status_code == 101:
            # What the real cloud's front end adds (een-api.md §4.2).
            response.headers["Server"] = SERVER_NAME
            response.headers["Set-Cookie"] = f"ee-ws-poll-ses={secrets.token_hex(12)}; Path=/"
            response.headers["x-een-lb-tried-proxies"] = f"{self.host}:{self.port}"
        protocol.send_response(response)
        key, account_id = _stream_owner(session, request)
        connection = StreamConnection(cloud.hub, protocol, writer, key, account_id)
        connection.flush()
        if response.status_code != 101:
            return
        cloud.hub.register(connection)
        if session is None:
            cloud.hub.refuse_session(connection)
        try:
            await connection.run(reader)
        finally:
            cloud.hub.unregister(connection)

    def _refuse_stream(self, request: Request) -> Response | None:
        """The HTTP answer for a handshake that must not become a stream, else None."""
        assert self._cloud is not None
        account_id = stream_account(request)
        if account_id is None:
            return Response.error(404, "no such endpoint")
        refusal = api.api_key_refusal(request, self._cloud)
        if refusal is not None:
            return refusal
        if (
            self._cloud.sessions.get(request.session_key()) is None
            and self._cloud.readings.session_loss is SessionLoss.HTTP
        ):
            return Response.error(401, "no valid session")
        if self._cloud.world.visible_account(account_id) is None:
            return Response.error(404, "unknown account")
        return None


def _stream_owner(session: Session | None, request: Request) -> tuple[str, str]:
    """The session key and account a stream is bound to; without a session (the message and
    close readings), the account of the path and no key."""
    if session is not None:
        return session.key, session.active_account_id
    account_id = stream_account(request)
    assert account_id is not None  # _refuse_stream checked it
    return "", account_id


def stream_account(request: Request) -> str | None:
    """The account of a poll-stream path, `/api/v2/Device/<account>/Events`, percent-decoded;
    None for any other path. Matched before decoding: the id may hold an encoded `/`.

    >>> stream_account(Request("GET", "/api/v2/Device/a%2Fb%3Fc%23d/Events", "", {}, b"", ""))
    'a/b?c#d'
    """
    match = STREAM_PATH.fullmatch(urlsplit(request.target).path)
    return None if match is None else unquote(match["account_id"])
