"""The live measurement stream of a HomeWizard device (API v2 WebSocket, push ~1/s).

``MeasurementStream.run()`` connects, authorizes, subscribes to ``measurement`` and hands
every push to a synchronous callback, forever: it reconnects with exponential backoff and
full jitter, and returns only when cancelled.

Token rejection (fatal, ``run()`` raises UnauthorizedError and does not retry) is detected
by either of these rules, which the simulator implements the same way:

1. an ``{"type": "error"}`` message whose message contains ``unauthorized``
   (e.g. ``user:unauthorized``), at any time (a revoked token closes a running stream);
2. the device closing the connection with code 1008 (policy violation) or 4001 after we
   sent ``authorization`` and before ``authorized`` arrived.

Any other failure (timeout, refused, TLS, closed mid-handshake, silence longer than
``receive_timeout``) is logged once and retried. A certificate failure is retried too,
since the meter may come back; ``last_error`` tells the caller what happened.

The WebSocket runs on the caller's ``aiohttp.ClientSession`` (Home Assistant's shared one) with
the device's own TLS context per connection, as the REST client does. No ping: the device pushes
every second (every 10 s on DSMR 4), so ``receive_timeout`` finds a dead link; aiohttp's
heartbeat also leaves a timer behind after close (aiohttp 3.14). The reconnect with backoff is
this module's.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
import json
import logging
import random
import ssl
import time
from typing import TYPE_CHECKING, Final

import aiohttp
from yarl import URL

from .client import certificate_error
from .errors import (
    ConnectionFailedError,
    HomeWizardError,
    InvalidResponseError,
    UnauthorizedError,
    UnsupportedDeviceError,
)
from .models import ParsedMeasurement, WsMessage, parse_measurement, parse_ws_message

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MeasurementStream"]

_LOGGER = logging.getLogger("custom_components.meterit.homewizard")

_MAX_MESSAGE: Final = 1 << 20
_STABLE_AFTER: Final = 60.0
_UNAUTHORIZED_CLOSE_CODES: Final = frozenset({1008, 4001})
_HTTP_UNAUTHORIZED: Final = 401
_HTTP_NOT_FOUND: Final = 404
_MAX_WARNED: Final = 256  # distinct warning keys remembered (device text can vary endlessly)
_ABNORMAL_CLOSURE: Final = 1006  # no close frame (RFC 6455)
_DATA: Final = frozenset({aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY})


class _ClosedError(Exception):
    """The WebSocket closed (a close frame, an abort or a protocol error); ``code`` as sent."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Phase(StrEnum):
    CONNECTING = "connecting"
    AWAITING_REQUEST = "waiting for authorization_requested"
    AUTH_SENT = "authorization sent"
    STREAMING = "streaming"


class MeasurementStream:
    """Keep a WebSocket to one device open and deliver its measurement pushes."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        token: str,
        *,
        identifier: str,
        ssl_context: ssl.SSLContext,
        on_measurement: Callable[[ParsedMeasurement, float], None],
        on_connection: Callable[[bool], None],
        port: int = 443,
        open_timeout: float = 10.0,
        receive_timeout: float = 60.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        """Prepare the stream; nothing happens until ``run()`` is awaited.

        The ``session`` belongs to the caller (Home Assistant's shared session).

        ``on_measurement(parsed, received_monotonic)`` is called synchronously for every
        valid ``measurement`` push; ``on_connection(True)`` once authorized and subscribed,
        ``on_connection(False)`` when an established stream drops (not on cancellation).
        """
        bare = host.strip("[]")
        self.host = bare
        self.identifier = identifier
        self._session = session
        self._uri = f"wss://{f'[{bare}]' if ':' in bare else bare}:{port}/api/ws"
        self._url = URL.build(scheme="wss", host=bare, port=port, path="/api/ws")
        self._token = token
        self._ssl = ssl_context
        self._on_measurement = on_measurement
        self._on_connection = on_connection
        self._open_timeout = open_timeout
        self._receive_timeout = receive_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._connected = False
        self._last_error: HomeWizardError | None = None
        self._phase = _Phase.CONNECTING
        self._delivered = False
        self._down_logged: str | None = None  # kind of the failure logged while down
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        """Describe the stream without its token."""
        return f"MeasurementStream(uri={self._uri!r}, identifier={self.identifier!r})"

    @property
    def connected(self) -> bool:
        """True while authorized and subscribed."""
        return self._connected

    @property
    def last_error(self) -> HomeWizardError | None:
        """The error that ended the last connection attempt, if any."""
        return self._last_error

    async def send_identify(self) -> None:
        """Ask the device to blink its LED over the open stream."""
        ws = self._ws
        if ws is None or not self._connected:
            raise ConnectionFailedError(f"{self.host}: the stream is not connected")
        try:
            await ws.send_str(json.dumps({"type": "identify"}))
        except (aiohttp.ClientError, ConnectionError) as err:
            raise ConnectionFailedError(f"{self.host}: the stream closed") from err

    async def run(self) -> None:
        """Stream until cancelled; raise UnauthorizedError if the token is rejected."""
        delay = self._backoff_initial
        while True:
            started = time.monotonic()
            self._delivered = False
            try:
                await self._connect_and_stream()
            except asyncio.CancelledError:
                self._connected = False
                raise
            except UnauthorizedError as err:
                self._went_down(err)
                raise
            except HomeWizardError as err:
                self._went_down(err)
            except Exception as err:  # a bug must not end the stream
                _LOGGER.exception("%s: unexpected error in the measurement stream", self.host)
                self._went_down(ConnectionFailedError(f"unexpected error: {err!r}"))
            if self._delivered or time.monotonic() - started > _STABLE_AFTER:
                delay = self._backoff_initial
            await asyncio.sleep(random.uniform(0, delay))  # noqa: S311 - jitter, not crypto
            delay = min(self._backoff_max, delay * 2)

    def _went_down(self, err: HomeWizardError) -> None:
        self._last_error = err
        kind = type(err).__name__
        if self._connected:
            self._connected = False
            _LOGGER.warning("%s: connection lost: %s", self.host, err)
            self._down_logged = kind
            self._notify_connection(False)
        elif self._down_logged != kind or isinstance(err, UnauthorizedError):
            _LOGGER.warning("%s: cannot connect (%s), will retry: %s", self.host, kind, err)
            self._down_logged = kind
        else:
            _LOGGER.debug("%s: still cannot connect: %s", self.host, err)

    def _notify_connection(self, connected: bool) -> None:
        try:
            self._on_connection(connected)
        except Exception:  # noqa: BLE001 - the callback's bug must not end the stream
            self._warn_once("on_connection", "%s: on_connection callback failed", exc=True)

    def _warn_once(self, key: str, msg: str, *args: object, exc: bool = False) -> None:
        """Log a warning the first time ``key`` happens, then only at debug level."""
        if key in self._warned or len(self._warned) >= _MAX_WARNED:
            _LOGGER.debug(msg, self.host, *args)
            return
        self._warned.add(key)
        _LOGGER.warning(msg, self.host, *args, exc_info=exc)

    async def _connect_and_stream(self) -> None:
        self._phase = _Phase.CONNECTING
        ws = await self._connect()
        self._ws = ws
        try:
            try:
                async with asyncio.timeout(self._open_timeout):
                    await self._handshake(ws)
            except TimeoutError as err:
                raise ConnectionFailedError(
                    f"no authorization within {self._open_timeout:g} s ({self._phase})"
                ) from err
            self._phase = _Phase.STREAMING
            self._connected = True
            if self._down_logged is not None:
                _LOGGER.warning("%s: reconnected", self.host)
                self._down_logged = None
            else:
                _LOGGER.debug("%s: connected", self.host)
            self._notify_connection(True)
            await self._receive_loop(ws)
        except _ClosedError as err:
            if self._phase is _Phase.AUTH_SENT and err.code in _UNAUTHORIZED_CLOSE_CODES:
                raise UnauthorizedError(
                    f"the device closed the WebSocket after authorization (code {err.code})"
                ) from err
            raise ConnectionFailedError(
                f"the device closed the WebSocket ({self._phase}, code {err.code})"
            ) from err
        finally:
            self._ws = None
            await ws.close()

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        """Open the WebSocket (TLS with the device's CA and identity); map failures to ours."""
        try:
            async with asyncio.timeout(self._open_timeout):
                return await self._session.ws_connect(
                    self._url,
                    ssl=self._ssl,
                    server_hostname=self.identifier,
                    timeout=aiohttp.ClientWSTimeout(ws_close=min(self._open_timeout, 5.0)),
                    max_msg_size=_MAX_MESSAGE,
                    autoclose=True,
                    autoping=True,
                )
        except TimeoutError as err:
            raise ConnectionFailedError(
                f"no WebSocket handshake within {self._open_timeout:g} s"
            ) from err
        except aiohttp.WSServerHandshakeError as err:
            if err.status == _HTTP_UNAUTHORIZED:
                raise UnauthorizedError("the device refused the WebSocket (HTTP 401)") from err
            if err.status == _HTTP_NOT_FOUND:
                raise UnsupportedDeviceError("the device has no /api/ws (HTTP 404)") from err
            raise ConnectionFailedError(f"WebSocket upgrade refused (HTTP {err.status})") from err
        except (aiohttp.ClientSSLError, ssl.SSLError) as err:
            raise certificate_error(err, self.host, self.identifier) from err
        except (aiohttp.ClientError, OSError) as err:
            raise ConnectionFailedError(f"{type(err).__name__}: {err}") from err

    @staticmethod
    async def _recv(ws: aiohttp.ClientWebSocketResponse) -> str | bytes:
        """The next data frame; raise _ClosedError when the connection ends instead."""
        message = await ws.receive()
        if message.type in _DATA:
            data: str | bytes = message.data
            return data
        if message.type is aiohttp.WSMsgType.CLOSE and isinstance(message.data, int):
            raise _ClosedError(message.data)
        raise _ClosedError(ws.close_code or _ABNORMAL_CLOSURE)

    async def _next(self, ws: aiohttp.ClientWebSocketResponse) -> WsMessage:
        """Receive the next well-formed message, skipping (and logging) malformed ones."""
        while True:
            raw = await self._recv(ws)
            try:
                return parse_ws_message(raw)
            except InvalidResponseError as err:
                self._warn_once("malformed", "%s: ignored a malformed message: %s", err)

    def _check_error(self, message: WsMessage) -> None:
        """Handle an ``error`` message; raise UnauthorizedError if it rejects the token."""
        data = message.data
        text = data.get("message") if isinstance(data, dict) else data
        text = str(text)
        if "unauthorized" in text.lower():
            raise UnauthorizedError(f"the device rejected the token ({text[:80]})")
        self._warn_once(f"error:{text[:80]}", "%s: the device reported an error: %s", text[:200])

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._phase = _Phase.AWAITING_REQUEST
        while (message := await self._next(ws)).type != "authorization_requested":
            if message.type == "error":
                self._check_error(message)
        await self._send(ws, {"type": "authorization", "data": self._token})
        self._phase = _Phase.AUTH_SENT
        while (message := await self._next(ws)).type != "authorized":
            if message.type == "error":
                self._check_error(message)
        await self._send(ws, {"type": "subscribe", "data": "measurement"})

    @staticmethod
    async def _send(ws: aiohttp.ClientWebSocketResponse, message: dict[str, str]) -> None:
        try:
            await ws.send_str(json.dumps(message))
        except (aiohttp.ClientError, ConnectionError) as err:
            raise _ClosedError(ws.close_code or _ABNORMAL_CLOSURE) from err

    async def _receive_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(None) as deadline:
                while True:
                    deadline.reschedule(loop.time() + self._receive_timeout)
                    raw = await self._recv(ws)
                    self._handle(raw, time.monotonic())
        except TimeoutError as err:
            raise ConnectionFailedError(
                f"no message for {self._receive_timeout:g} s, reconnecting"
            ) from err

    def _handle(self, raw: str | bytes, received: float) -> None:
        try:
            message = parse_ws_message(raw)
        except InvalidResponseError as err:
            self._warn_once("malformed", "%s: ignored a malformed message: %s", err)
            return
        if message.type == "error":
            self._check_error(message)
            return
        if message.type != "measurement":
            _LOGGER.debug("%s: ignored a message of type %r", self.host, message.type[:40])
            return
        try:
            parsed = parse_measurement(message.data)
        except InvalidResponseError as err:
            self._warn_once("measurement", "%s: ignored a measurement: %s", err)
            return
        for problem in parsed.problems:
            field = problem.partition(":")[0]
            self._warn_once(f"field:{field}", "%s: ignored a bad value: %s", problem)
        self._delivered = True
        try:
            self._on_measurement(parsed, received)
        except Exception:  # noqa: BLE001 - the callback's bug must not end the stream
            self._warn_once("on_measurement", "%s: on_measurement callback failed", exc=True)
