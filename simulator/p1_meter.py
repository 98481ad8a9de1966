"""A fake HomeWizard P1 meter speaking the local API v2 over TLS on loopback.

Used by the tests, the benchmark and ``scripts/develop``. It implements what the real
meter does (see ``shared/protocols/homewizard-v2.md``): ``GET /api``,
``GET /api/measurement``, ``GET /api/system``, ``PUT /api/system/identify``,
``POST``/``DELETE /api/user`` with the button-press registration, bearer tokens, and the
``/api/ws`` WebSocket (``authorization_requested`` -> ``authorization`` -> ``authorized``
-> ``subscribe`` -> ``measurement`` pushes). Its certificate is issued by a throw-away CA
(``simulator.certs``) with the identity ``appliance/p1dongle/<serial>`` in the CN only.

Token rejection on the WebSocket follows the rule the client documents: an ``error``
message ``user:unauthorized`` then a close with code 1008.

Fault modes: ``silent`` (accepts TCP, never answers TLS), ``close_mid_handshake`` (drops
the connection when the client sends its token), ``certificate_cn`` (present a
certificate for another identity), ``revoke(token)``, ``drop_connections()``,
``push_raw(text)``.

Command line (runs in the foreground until Ctrl-C)::

    python -m simulator.p1_meter --port 8443 [--host 127.0.0.1] [--trace FILE] [--rate 1]
                                 [--auto-press 5] [--cert-dir DIR] [--serial 5c2fafaabbcc]

It writes ``ca.pem`` into ``--cert-dir`` (trust it in the dev Home Assistant), prints the
URL and identifier, then pushes the trace (``shared/tools/p1-trace`` output) or a built-in
synthetic household at ``--rate`` messages per second. Press Enter, or
``kill -USR1 <pid>``, to "press the button" on the meter; ``--auto-press N`` presses it
N seconds after the first registration attempt.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable, Iterator, Mapping
import contextlib
from dataclasses import dataclass, field
import json
import math
import os
from pathlib import Path
import random
import re
import secrets
import signal
import sys
import time
from typing import TYPE_CHECKING, Final, Self

from aiohttp import WSMsgType, web

from .certs import TestCA, make_test_ca

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "FakeP1Meter",
    "load_trace",
    "main",
    "serve",
    "synthetic_measurements",
]

API_VERSION: Final = "2.0.0"
TOPICS: Final = frozenset({"*", "device", "user", "measurement", "system", "batteries"})
_NAME_CHARS: Final = re.compile(r"^[a-zA-Z0-9\-_/\\# ]+$")
_LEGACY_TYPES: Final = {"HWE-P1": "p1dongle", "HWE-SKT": "energysocket", "HWE-KWH3": "energymeter"}
_UNAUTHORIZED: Final = {"error": "user:unauthorized"}
_CLOSE_POLICY: Final = 1008

DEFAULT_MEASUREMENT: Final[dict[str, object]] = {
    "protocol_version": 50,
    "meter_model": "ISKRA  2M550T-101",
    "unique_id": "4E6576657220476F6E6E61204C657420596F7520446F776E",
    "timestamp": "2026-06-21T12:00:00",
    "tariff": 2,
    "energy_import_kwh": 13779.338,
    "energy_import_t1_kwh": 10830.511,
    "energy_import_t2_kwh": 2948.827,
    "energy_export_kwh": 4162.461,
    "energy_export_t1_kwh": 1285.951,
    "energy_export_t2_kwh": 2876.51,
    "power_w": 543,
    "power_l1_w": 410,
    "power_l2_w": 133,
    "power_l3_w": 0,
    "voltage_l1_v": 230.1,
    "voltage_l2_v": 229.8,
    "voltage_l3_v": 231.0,
}


@dataclass(slots=True, eq=False)
class _Socket:
    """One open WebSocket and its session state."""

    ws: web.WebSocketResponse
    request: web.Request
    token: str | None = None
    topics: set[str] = field(default_factory=set)

    def wants(self, topic: str) -> bool:
        return self.token is not None and (topic in self.topics or "*" in self.topics)


def _error(code: str, status: int) -> web.Response:
    return web.json_response({"error": code}, status=status)


class FakeP1Meter:
    """A HomeWizard P1 meter (API v2) on ``127.0.0.1`` over real TLS.

    ``port=0`` picks a free port at the first ``start()``; later restarts reuse it, so a
    client can see the meter go away and come back.
    """

    def __init__(
        self,
        *,
        serial: str = "5c2fafaabbcc",
        product_type: str = "HWE-P1",
        product_name: str = "P1 Meter",
        firmware_version: str = "6.00",
        api_version: str = API_VERSION,
        host: str = "127.0.0.1",
        port: int = 0,
        ca: TestCA | None = None,
        certificate_cn: str | None = None,
        api_requires_token: bool = True,
        auto_press_after: float | None = None,
        press_window: float = 30.0,
        auth_timeout: float = 40.0,
        silent: bool = False,
        close_mid_handshake: bool = False,
        measurement: Mapping[str, object] | None = None,
    ) -> None:
        """Configure the meter; the CA and certificate are created now (blocking, fast)."""
        self.host = host
        self._port = port
        self.serial = serial
        self.product_type = product_type
        self.identifier = (
            f"appliance/{_LEGACY_TYPES.get(product_type, product_type.lower())}/{serial}"
        )
        self.device_info: dict[str, object] = {
            "product_name": product_name,
            "product_type": product_type,
            "serial": serial,
            "firmware_version": firmware_version,
            "api_version": api_version,
        }
        self.system_info: dict[str, object] = {
            "wifi_ssid": "My Wi-Fi",
            "wifi_rssi_db": -77,
            "cloud_enabled": False,
            "uptime_s": 356,
            "status_led_brightness_pct": 100,
            "api_v1_enabled": False,
        }
        self.ca = ca or make_test_ca()
        self._server_ssl = self.ca.server_ssl_context(certificate_cn or self.identifier)
        self.api_requires_token = api_requires_token
        self.auto_press_after = auto_press_after
        self.press_window = press_window
        self.auth_timeout = auth_timeout
        self.close_mid_handshake = close_mid_handshake
        self._silent = silent
        self._measurement: dict[str, object] = dict(measurement or DEFAULT_MEASUREMENT)
        self._users: dict[str, str] = {}  # name -> token
        self._pressed_at: float | None = None
        self._first_post_at: float | None = None
        self._sockets: set[_Socket] = set()
        self._runner: web.AppRunner | None = None
        self._raw_server: asyncio.Server | None = None
        self._held: set[asyncio.StreamWriter] = set()
        self._rejecting: set[asyncio.Task[None]] = set()  # keep references until done
        self.identify_count = 0
        self.ws_connections_total = 0
        self.tcp_connections_total = 0
        self.authorized_total = 0

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port (known after the first ``start()``)."""
        return self._port

    @property
    def cadata(self) -> str:
        """PEM of the CA that signed this meter's certificate (what a client must trust)."""
        return self.ca.cadata

    @property
    def url(self) -> str:
        """The meter's base URL."""
        return f"https://{self.host}:{self._port}"

    @property
    def running(self) -> bool:
        """True while listening."""
        return self._runner is not None or self._raw_server is not None

    @property
    def silent(self) -> bool:
        """True if the meter accepts TCP connections and never says anything."""
        return self._silent

    async def set_silent(self, silent: bool) -> None:
        """Switch the silent fault mode, restarting the listener on the same port."""
        was_running = self.running
        if was_running:
            await self.stop()
        self._silent = silent
        if was_running:
            await self.start()

    async def start(self) -> None:
        """Start listening."""
        if self.running:
            return
        if self._silent:
            self._raw_server = await asyncio.start_server(self._hold, self.host, self._port)
            self._port = self._raw_server.sockets[0].getsockname()[1]
            return
        app = web.Application()
        app.router.add_get("/api", self._get_device)
        app.router.add_get("/api/measurement", self._get_measurement)
        app.router.add_get("/api/system", self._get_system)
        app.router.add_put("/api/system/identify", self._put_identify)
        app.router.add_post("/api/user", self._post_user)
        app.router.add_delete("/api/user", self._delete_user)
        app.router.add_get("/api/ws", self._ws_handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(
            runner, self.host, self._port, ssl_context=self._server_ssl, reuse_address=True
        )
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Close every connection and stop listening (``start()`` may be called again)."""
        await self.drop_connections(code=1001)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._raw_server is not None:
            server, self._raw_server = self._raw_server, None
            server.close()
            for writer in list(self._held):
                writer.close()
            await server.wait_closed()

    async def __aenter__(self) -> Self:
        """Start the meter."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the meter."""
        await self.stop()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Silent mode: accept the connection, read and ignore everything, never answer."""
        self.tcp_connections_total += 1
        self._held.add(writer)
        try:
            while await reader.read(4096):
                pass
        except ConnectionError:
            pass
        finally:
            self._held.discard(writer)
            writer.close()

    # -- state ---------------------------------------------------------------------------

    @property
    def measurement(self) -> dict[str, object]:
        """The current measurement (what ``GET /api/measurement`` returns)."""
        return self._measurement

    @measurement.setter
    def measurement(self, data: Mapping[str, object]) -> None:
        self._measurement = dict(data)

    @property
    def tokens(self) -> frozenset[str]:
        """Every token the meter currently accepts."""
        return frozenset(self._users.values())

    @property
    def users(self) -> dict[str, str]:
        """Registered users: ``local/<name>`` -> token (a copy)."""
        return dict(self._users)

    @property
    def open_sockets(self) -> int:
        """Number of open WebSocket connections."""
        return len(self._sockets)

    def subscribers(self, topic: str = "measurement") -> int:
        """Number of authorized sockets subscribed to ``topic`` (directly or through ``*``)."""
        return sum(conn.wants(topic) for conn in self._sockets)

    def press_button(self) -> None:
        """Press the meter's button: registration is allowed for ``press_window`` seconds."""
        self._pressed_at = time.monotonic()

    def issue_token(self, name: str = "meterit") -> str:
        """Register ``name`` without a button press (for tests); return its token."""
        return self._create_user(name if name.startswith("local/") else f"local/{name}")

    def _create_user(self, name: str) -> str:
        old = self._users.get(name)
        if old is not None:
            self._revoke_sockets(old)
        token = secrets.token_hex(16).upper()
        self._users[name] = token
        return token

    def revoke(self, token: str) -> None:
        """Forget ``token``; its open WebSockets get ``user:unauthorized`` and are closed."""
        self._users = {name: tok for name, tok in self._users.items() if tok != token}
        self._revoke_sockets(token)

    def _revoke_sockets(self, token: str) -> None:
        for conn in list(self._sockets):
            if conn.token == token:
                conn.token = None
                task = asyncio.get_running_loop().create_task(self._reject(conn))
                self._rejecting.add(task)
                task.add_done_callback(self._rejecting.discard)

    async def _reject(self, conn: _Socket) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.send_json({"type": "error", "data": {"message": "user:unauthorized"}})
        await conn.ws.close(code=_CLOSE_POLICY, message=b"unauthorized")

    def _registration_open(self) -> bool:
        now = time.monotonic()
        if self.auto_press_after is not None:
            if self._first_post_at is None:
                self._first_post_at = now
            auto_at = self._first_post_at + self.auto_press_after
            if now >= auto_at and (self._pressed_at is None or self._pressed_at < auto_at):
                self._pressed_at = auto_at
        return self._pressed_at is not None and now - self._pressed_at <= self.press_window

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and token in self.tokens

    # -- REST ----------------------------------------------------------------------------

    async def _get_device(self, request: web.Request) -> web.Response:
        if self.api_requires_token and not self._authorized(request):
            return web.json_response(_UNAUTHORIZED, status=401)
        return web.json_response(self.device_info)

    async def _get_measurement(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response(_UNAUTHORIZED, status=401)
        return web.json_response(self._measurement)

    async def _get_system(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response(_UNAUTHORIZED, status=401)
        return web.json_response(self.system_info)

    async def _put_identify(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response(_UNAUTHORIZED, status=401)
        self.identify_count += 1
        return web.Response(status=204)

    @staticmethod
    async def _user_name(request: web.Request) -> str | web.Response:
        """Validate the ``{"name": "local/<name>"}`` body like the device does."""
        try:
            body: object = await request.json()
        except ValueError:
            return _error("request:invalid-json", 400)
        if not isinstance(body, dict) or "name" not in body:
            return _error("json:parameter-missing:name", 400)
        name = body["name"]
        if not isinstance(name, str):
            return _error("json:parameter-invalid-type:name", 400)
        if not name.startswith("local/"):
            return _error("user:invalid-prefix", 400)
        rest = name.removeprefix("local/")
        if not rest:
            return _error("user:name-empty", 400)
        if len(rest) > 40:
            return _error("user:name-too-long", 400)
        if not _NAME_CHARS.fullmatch(rest):
            return _error("user:name-invalid", 400)
        return name

    async def _post_user(self, request: web.Request) -> web.Response:
        name = await self._user_name(request)
        if isinstance(name, web.Response):
            return name
        if not self._registration_open():
            return _error("user:creation-not-enabled", 403)
        self._first_post_at = None
        token = self._create_user(name)
        return web.json_response({"token": token, "name": name})

    async def _delete_user(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response(_UNAUTHORIZED, status=401)
        name = await self._user_name(request)
        if isinstance(name, web.Response):
            return name
        token = self._users.get(name)
        if token is None:
            return _error("user:not-found", 404)
        self.revoke(token)
        return web.Response(status=204)

    # -- WebSocket -----------------------------------------------------------------------

    async def _ws_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = _Socket(ws, request)
        self._sockets.add(conn)
        self.ws_connections_total += 1
        try:
            await ws.send_json(
                {"type": "authorization_requested", "data": {"api_version": API_VERSION}}
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.auth_timeout
            try:
                while conn.token is None and not ws.closed:
                    msg = await ws.receive(timeout=max(0.0, deadline - loop.time()))
                    if msg.type is not WSMsgType.TEXT:  # binary, or the client closed
                        await ws.close(code=1003, message=b"text frames only")
                        break
                    await self._on_text(conn, msg.data)
            except TimeoutError:
                await ws.close(code=_CLOSE_POLICY, message=b"authorization timeout")
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_text(conn, msg.data)
        except ConnectionError:
            pass
        finally:
            self._sockets.discard(conn)
            if not ws.closed:
                await ws.close()
        return ws

    async def _on_text(self, conn: _Socket, text: str) -> None:
        ws = conn.ws
        try:
            message: object = json.loads(text)
        except ValueError:
            await self._send_error(ws, "request:invalid-json")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._send_error(ws, "json:parameter-missing:type")
            return
        kind, data = message["type"], message.get("data")
        if kind == "authorization":
            if self.close_mid_handshake:
                transport = conn.request.transport
                if transport is not None:
                    transport.abort()
                return
            if not isinstance(data, str) or data not in self.tokens:
                await self._send_error(ws, "user:unauthorized")
                await ws.close(code=_CLOSE_POLICY, message=b"unauthorized")
                return
            conn.token = data
            self.authorized_total += 1
            await ws.send_json({"type": "authorized"})
        elif conn.token is None:
            await self._send_error(ws, "user:unauthorized")
        elif kind in {"subscribe", "unsubscribe"}:
            if not isinstance(data, str) or data not in TOPICS:
                await self._send_error(ws, "request:unknown-subscription")
            elif kind == "unsubscribe":
                conn.topics.discard(data)
            else:
                conn.topics.add(data)
                if conn.wants("measurement") and self._measurement:
                    await ws.send_json({"type": "measurement", "data": self._measurement})
        elif kind == "identify":
            self.identify_count += 1
        else:
            await self._send_error(ws, "request:unknown-type")

    @staticmethod
    async def _send_error(ws: web.WebSocketResponse, message: str) -> None:
        await ws.send_json({"type": "error", "data": {"message": message}})

    async def push(self, data: Mapping[str, object]) -> float:
        """Make ``data`` the current measurement and push it to every subscribed socket.

        Returns the wall-clock time (``time.time()``) just before sending.
        """
        self._measurement = dict(data)
        text = json.dumps({"type": "measurement", "data": self._measurement})
        sent = time.time()
        await self._broadcast(text, "measurement")
        return sent

    async def push_raw(self, text: str) -> None:
        """Send an arbitrary text frame to every authorized socket (bad-input tests)."""
        await self._broadcast(text, None)

    async def _broadcast(self, text: str, topic: str | None) -> None:
        for conn in list(self._sockets):
            wanted = conn.token is not None if topic is None else conn.wants(topic)
            if wanted and not conn.ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await conn.ws.send_str(text)

    async def drop_connections(self, *, code: int = 1011, abort: bool = False) -> None:
        """Close every open WebSocket (with ``code``, or abort the TCP connection)."""
        for conn in list(self._sockets):
            transport = conn.request.transport
            if abort and transport is not None:
                transport.abort()
            else:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await conn.ws.close(code=code, message=b"dropped")

    async def play(
        self,
        source: Iterable[Mapping[str, object]] | None = None,
        rate_hz: float = 1.0,
        *,
        limit: int | None = None,
    ) -> int:
        """Push each item's ``data`` (p1-trace lines) at ``rate_hz``; return how many.

        Items whose ``type`` is not ``measurement`` are skipped. Without a ``source`` the
        built-in synthetic household is played (endless: pass ``limit``).
        """
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz!r}")
        items = synthetic_measurements() if source is None else source
        loop = asyncio.get_running_loop()
        start = loop.time()
        count = 0
        for item in items:
            if limit is not None and count >= limit:
                break
            data = item.get("data")
            if item.get("type", "measurement") != "measurement" or not isinstance(data, dict):
                continue
            delay = start + count / rate_hz - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.push(data)
            count += 1
        return count


def synthetic_measurements(
    *, seed: int = 1, step_s: float = 1.0, start: float = 1782000000.0
) -> Iterator[dict[str, object]]:
    """Yield an endless, deterministic household as p1-trace items ``{"t","type","data"}``.

    Three phases with a base load, a fridge cycle, solar on L1 and noise; the counters
    integrate the power exactly (``power_w * step_s / 3.6e6`` kWh per message).
    """
    rnd = random.Random(seed)
    imp_t1, imp_t2, exp_t1, exp_t2 = 10830.511, 2948.827, 1285.951, 2876.51
    i = 0
    while True:
        t = start + i * step_s
        tariff = 1 if (int(t // 3600) % 24) < 7 else 2
        base = 180 + 40 * math.sin(i / 900.0)
        fridge = 95 if (i // 1200) % 3 == 0 else 0
        solar = 700 * max(0.0, math.sin(i / 1800.0))  # on L1, exports at its peak
        phases = [base * 0.5 + fridge - solar, base * 0.3, base * 0.2]
        watts = [round(p + rnd.gauss(0, 3)) for p in phases]
        power = sum(watts)
        kwh = power * step_s / 3_600_000.0
        if kwh >= 0:
            imp_t1, imp_t2 = (imp_t1 + kwh, imp_t2) if tariff == 1 else (imp_t1, imp_t2 + kwh)
        else:
            exp_t1, exp_t2 = (exp_t1 - kwh, exp_t2) if tariff == 1 else (exp_t1, exp_t2 - kwh)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
        data: dict[str, object] = {
            "protocol_version": 50,
            "meter_model": "ISKRA  2M550T-101",
            "unique_id": "4E6576657220476F6E6E61204C657420596F7520446F776E",
            "timestamp": stamp,
            "tariff": tariff,
            "energy_import_kwh": round(imp_t1 + imp_t2, 3),
            "energy_import_t1_kwh": round(imp_t1, 3),
            "energy_import_t2_kwh": round(imp_t2, 3),
            "energy_export_kwh": round(exp_t1 + exp_t2, 3),
            "energy_export_t1_kwh": round(exp_t1, 3),
            "energy_export_t2_kwh": round(exp_t2, 3),
            "power_w": power,
            "power_l1_w": watts[0],
            "power_l2_w": watts[1],
            "power_l3_w": watts[2],
            "voltage_l1_v": round(230 + rnd.gauss(0, 1.5), 1),
            "voltage_l2_v": round(230 + rnd.gauss(0, 1.5), 1),
            "voltage_l3_v": round(230 + rnd.gauss(0, 1.5), 1),
        }
        yield {"t": t, "type": "measurement", "data": data}
        i += 1


def load_trace(path: Path) -> Iterator[dict[str, object]]:
    """Read a p1-trace file (one JSON object per line); skip blank and malformed lines."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                item: object = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                yield item


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.p1_meter",
        description="Run a fake HomeWizard P1 meter (API v2, TLS) in the foreground.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--trace", type=Path, help="p1-trace JSON lines to play")
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second")
    parser.add_argument("--auto-press", type=float, help="press the button N s after a POST")
    parser.add_argument("--cert-dir", type=Path, help="write ca.pem here")
    parser.add_argument("--serial", default="5c2fafaabbcc")
    return parser


async def serve(argv: list[str] | None = None, *, started: asyncio.Event | None = None) -> None:
    """Run the command line simulator until cancelled (``started`` is set once listening)."""
    args = _parser().parse_args(argv)
    meter = FakeP1Meter(
        host=args.host, port=args.port, serial=args.serial, auto_press_after=args.auto_press
    )
    loop = asyncio.get_running_loop()
    async with meter:
        if args.cert_dir is not None:
            path = await loop.run_in_executor(None, meter.ca.write_ca, args.cert_dir)
            print(f"CA certificate: {path}", flush=True)
        print(f"P1 meter at {meter.url}  identifier {meter.identifier}", flush=True)
        print(f"Press Enter (or kill -USR1 {os.getpid()}) to press the button.", flush=True)
        loop.add_signal_handler(signal.SIGUSR1, meter.press_button)
        stdin = _watch_stdin(loop, meter)
        try:
            if started is not None:
                started.set()
            source = load_trace(args.trace) if args.trace is not None else None
            await meter.play(source, args.rate)
            await asyncio.Event().wait()  # the trace ended: keep serving its last values
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)
            if stdin is not None:
                loop.remove_reader(stdin)


def _watch_stdin(loop: asyncio.AbstractEventLoop, meter: FakeP1Meter) -> int | None:
    """Press the button on every line typed on stdin; return the watched fd, if any."""
    try:
        fd = sys.stdin.fileno()
    except AttributeError, OSError, ValueError:
        return None

    def on_line() -> None:
        if os.read(fd, 1024):
            meter.press_button()
            print("Button pressed: registration open for 30 s.", flush=True)
        else:  # end of input
            loop.remove_reader(fd)

    try:
        loop.add_reader(fd, on_line)
    except OSError, ValueError, NotImplementedError:
        return None
    return fd


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m simulator.p1_meter``."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(argv))


if __name__ == "__main__":
    main()
