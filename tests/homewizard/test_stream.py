"""The live WebSocket stream against the fake meter (and a few scripted servers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import json
import logging
import math
import ssl
import time

import aiohttp
from aiohttp import web
import pytest

from custom_components.meterit.homewizard import (
    CertificateError,
    ConnectionFailedError,
    MeasurementStream,
    ParsedMeasurement,
    UnauthorizedError,
    UnsupportedDeviceError,
    create_ssl_context,
)
from simulator.certs import TestCA, make_test_ca
from simulator.p1_meter import FakeP1Meter

LOGGER_NAME = "custom_components.meterit.homewizard"


@dataclass
class Recorder:
    """Collects what the stream hands to its callbacks."""

    items: list[tuple[ParsedMeasurement, float]] = field(default_factory=list)
    states: list[bool] = field(default_factory=list)
    fail_measurement: bool = False

    def on_measurement(self, parsed: ParsedMeasurement, received: float) -> None:
        self.items.append((parsed, received))
        if self.fail_measurement:
            raise RuntimeError("callback bug")

    def on_connection(self, connected: bool) -> None:
        self.states.append(connected)

    @property
    def powers(self) -> list[float | None]:
        return [parsed.measurement.power_w for parsed, _ in self.items]


# The session of the running test (``stream_session``): streams run on a caller's session.
_SESSIONS: list[aiohttp.ClientSession] = []


@pytest.fixture(autouse=True)
async def stream_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for the test's streams, like Home Assistant's shared one."""
    async with aiohttp.ClientSession() as http:
        _SESSIONS.append(http)
        yield http
        _SESSIONS.remove(http)


async def wait_until(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    async with asyncio.timeout(limit):
        while not predicate():
            await asyncio.sleep(0.005)


def make_stream(
    host: str,
    port: int,
    token: str,
    identifier: str,
    ctx: ssl.SSLContext,
    recorder: Recorder,
    **kwargs: float,
) -> MeasurementStream:
    options: dict[str, float] = {
        "open_timeout": 1.0,
        "receive_timeout": 5.0,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
    }
    options.update(kwargs)
    return MeasurementStream(
        _SESSIONS[-1],
        host,
        token,
        port=port,
        identifier=identifier,
        ssl_context=ctx,
        on_measurement=recorder.on_measurement,
        on_connection=recorder.on_connection,
        **options,
    )


@contextlib.asynccontextmanager
async def running(stream: MeasurementStream) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(stream.run())
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert not stream.connected


def meter_stream(
    meter: FakeP1Meter, token: str, ctx: ssl.SSLContext, recorder: Recorder, **kwargs: float
) -> MeasurementStream:
    return make_stream(meter.host, meter.port, token, meter.identifier, ctx, recorder, **kwargs)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER_NAME and r.levelno >= logging.WARNING
    ]


async def test_handshake_and_delivery(
    meter: FakeP1Meter,
    token: str,
    client_ssl: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder()
    meter.measurement = {"power_w": 100, "energy_import_kwh": 1.5}
    stream = meter_stream(meter, token, client_ssl, rec)
    async with running(stream):
        await wait_until(lambda: len(rec.items) == 1)
        assert rec.states == [True]
        assert stream.connected
        assert rec.items[0][0].measurement.power_w == 100.0  # the latest values at once
        before = time.monotonic()
        await meter.push({"power_w": -250, "energy_import_kwh": 1.6})
        await wait_until(lambda: len(rec.items) == 2)
        parsed, received = rec.items[1]
        assert before <= received <= time.monotonic()
        assert parsed.measurement.power_w == -250.0
        assert parsed.measurement.energy_import_kwh == 1.6
        assert parsed.problems == ()
        await stream.send_identify()
        await wait_until(lambda: meter.identify_count == 1)
    assert meter.authorized_total == 1
    assert rec.states == [True]  # cancellation is not a drop
    assert token not in caplog.text
    assert token not in repr(stream)
    assert warnings_of(caplog) == []


async def test_identify_when_not_connected(client_ssl: ssl.SSLContext) -> None:
    stream = make_stream("::1", 1, "T", "appliance/p1dongle/x", client_ssl, Recorder())
    assert "[::1]:1" in repr(stream)
    with pytest.raises(ConnectionFailedError, match="not connected"):
        await stream.send_identify()
    assert stream.last_error is None


async def test_reconnect_after_drop_and_restart(
    meter: FakeP1Meter,
    token: str,
    client_ssl: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec = Recorder()
    stream = meter_stream(meter, token, client_ssl, rec)
    async with running(stream):
        await wait_until(lambda: rec.states == [True])
        await meter.drop_connections()
        await wait_until(lambda: rec.states == [True, False, True])
        assert meter.ws_connections_total == 2
        # the meter goes away for a while (several failed attempts), then comes back
        await meter.stop()
        await wait_until(lambda: rec.states == [True, False, True, False])
        await asyncio.sleep(0.3)
        assert isinstance(stream.last_error, ConnectionFailedError)
        await meter.start()
        await wait_until(lambda: rec.states == [True, False, True, False, True])
        await meter.push({"power_w": 7})
        await wait_until(lambda: 7.0 in rec.powers)
    logged = warnings_of(caplog)
    assert sum("connection lost" in m for m in logged) == 2
    assert sum("reconnected" in m for m in logged) == 2
    assert len(logged) == 4, logged  # nothing for each failed retry


async def test_abort_mid_stream_reconnects(
    meter: FakeP1Meter, token: str, client_ssl: ssl.SSLContext
) -> None:
    rec = Recorder()
    async with running(meter_stream(meter, token, client_ssl, rec)):
        await wait_until(lambda: rec.states == [True])
        await meter.drop_connections(abort=True)
        await wait_until(lambda: rec.states == [True, False, True])


async def test_bad_messages_do_not_break_the_stream(
    meter: FakeP1Meter,
    token: str,
    client_ssl: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder()
    meter.measurement = {}
    stream = meter_stream(meter, token, client_ssl, rec)
    async with running(stream):
        await wait_until(lambda: rec.states == [True])
        # the client reports "connected" once it sent subscribe: wait for the meter to see it
        await wait_until(lambda: meter.subscribers("measurement") == 1)
        for _ in range(2):  # every kind twice: logged once
            await meter.push_raw("{not json")
            await meter.push_raw('["a list"]')
            await meter.push_raw('{"type": "device", "data": {}}')
            await meter.push_raw('{"type": "error", "data": {"message": "request:unknown-type"}}')
            await meter.push_raw('{"type": "measurement", "data": "text"}')
            await meter.push({"power_w": "abc", "voltage_l1_v": math.nan, "tariff": 2})
            await meter.push({"energy_import_kwh": -5, "power_w": 12})
        await meter.push({"power_w": 42, "energy_import_kwh": 3})
        await wait_until(lambda: 42.0 in rec.powers)
        assert stream.connected
    assert meter.ws_connections_total == 1
    assert rec.states == [True]
    # the two bad-field pushes were delivered (good fields kept), the bad fields dropped
    first_bad, second_bad = rec.items[0][0], rec.items[1][0]
    assert first_bad.measurement.power_w is None
    assert first_bad.measurement.voltage_l1_v is None
    assert first_bad.measurement.tariff == 2
    assert first_bad.problems == (
        "power_w: not a number ('abc')",
        "voltage_l1_v: not finite (nan)",
    )
    assert second_bad.measurement.energy_import_kwh is None
    assert second_bad.measurement.power_w == 12.0
    assert second_bad.problems == ("energy_import_kwh: negative counter (-5.0)",)
    assert len(rec.items) == 5
    logged = warnings_of(caplog)
    assert sum("malformed" in m for m in logged) == 1
    assert sum("request:unknown-type" in m for m in logged) == 1
    assert sum("ignored a measurement" in m for m in logged) == 1
    assert sum(m.endswith("power_w: not a number ('abc')") for m in logged) == 1
    assert sum("voltage_l1_v" in m for m in logged) == 1
    assert sum("energy_import_kwh" in m for m in logged) == 1
    assert not any("'device'" in m for m in logged)  # unknown types: debug only
    assert "'device'" in caplog.text
    assert len(logged) == 6, logged


async def test_callback_errors_are_contained(
    meter: FakeP1Meter,
    token: str,
    client_ssl: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec = Recorder(fail_measurement=True)
    async with running(meter_stream(meter, token, client_ssl, rec)):
        await wait_until(lambda: len(rec.items) == 1)
        await meter.push({"power_w": 1})
        await wait_until(lambda: len(rec.items) == 2)
    assert meter.ws_connections_total == 1
    assert sum("callback failed" in m for m in warnings_of(caplog)) == 1


async def test_revoked_token_is_fatal(
    meter: FakeP1Meter,
    token: str,
    client_ssl: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec = Recorder()
    stream = meter_stream(meter, token, client_ssl, rec)
    async with running(stream) as task:
        await wait_until(lambda: rec.states == [True])
        meter.revoke(token)
        with pytest.raises(UnauthorizedError, match="rejected the token"):
            await asyncio.wait_for(task, 5)
    assert rec.states == [True, False]
    assert isinstance(stream.last_error, UnauthorizedError)
    assert meter.ws_connections_total == 1  # no retry
    assert token not in caplog.text


async def test_unknown_token_is_fatal(meter: FakeP1Meter, client_ssl: ssl.SSLContext) -> None:
    rec = Recorder()
    stream = meter_stream(meter, "0" * 32, client_ssl, rec)
    async with running(stream) as task:
        with pytest.raises(UnauthorizedError):
            await asyncio.wait_for(task, 5)
    assert rec.states == []
    assert meter.ws_connections_total == 1


@pytest.mark.parametrize(
    ("cadata", "cn", "match"),
    [
        ("other", None, "not signed by the trusted"),
        ("same", "appliance/p1dongle/000000000000", "not for the expected device"),
    ],
    ids=["wrong-ca", "wrong-cn"],
)
async def test_certificate_errors_keep_retrying(
    *,
    socket_enabled: None,
    test_ca: TestCA,
    caplog: pytest.LogCaptureFixture,
    cadata: str,
    cn: str | None,
    match: str,
) -> None:
    ctx = create_ssl_context(make_test_ca().cadata if cadata == "other" else test_ca.cadata)
    rec = Recorder()
    async with FakeP1Meter(ca=test_ca, certificate_cn=cn) as meter:
        tok = meter.issue_token("x")
        stream = meter_stream(meter, tok, ctx, rec)
        async with running(stream) as task:
            await wait_until(lambda: stream.last_error is not None)
            await asyncio.sleep(0.2)  # several attempts
            assert not task.done()
            assert isinstance(stream.last_error, CertificateError)
            assert match in str(stream.last_error)
    assert meter.ws_connections_total == 0
    assert rec.states == []
    logged = warnings_of(caplog)
    assert len(logged) == 1, logged
    assert match in logged[0]


async def test_silent_server_times_out_and_retries(
    socket_enabled: None, test_ca: TestCA, client_ssl: ssl.SSLContext
) -> None:
    rec = Recorder()
    async with FakeP1Meter(ca=test_ca, silent=True) as meter:
        tok = meter.issue_token("x")
        stream = meter_stream(meter, tok, client_ssl, rec, open_timeout=0.15)
        async with running(stream):
            await wait_until(lambda: meter.tcp_connections_total >= 2)
            assert isinstance(stream.last_error, ConnectionFailedError)
            assert "0.15 s" in str(stream.last_error)
            await meter.set_silent(False)
            assert not meter.silent
            await wait_until(lambda: rec.states == [True])


async def test_close_mid_handshake(
    meter: FakeP1Meter, token: str, client_ssl: ssl.SSLContext
) -> None:
    rec = Recorder()
    meter.close_mid_handshake = True
    stream = meter_stream(meter, token, client_ssl, rec)
    async with running(stream):
        await wait_until(lambda: meter.ws_connections_total >= 2)
        error = stream.last_error
        assert isinstance(error, ConnectionFailedError)
        assert not isinstance(error, UnauthorizedError)
        assert "authorization sent" in str(error)
        meter.close_mid_handshake = False
        await wait_until(lambda: rec.states == [True])


async def test_silence_after_connect_reconnects(
    meter: FakeP1Meter, token: str, client_ssl: ssl.SSLContext
) -> None:
    rec = Recorder()
    stream = meter_stream(meter, token, client_ssl, rec, receive_timeout=0.2)
    async with running(stream):
        await wait_until(lambda: rec.states == [True, False, True])
        assert "no message for 0.2 s" in str(stream.last_error)


async def test_flood_is_delivered_in_order(
    meter: FakeP1Meter, token: str, client_ssl: ssl.SSLContext
) -> None:
    rec = Recorder()
    meter.measurement = {}
    async with running(meter_stream(meter, token, client_ssl, rec)):
        await wait_until(lambda: rec.states == [True])
        await wait_until(lambda: meter.subscribers("measurement") == 1)
        items = [{"type": "measurement", "data": {"power_w": i}} for i in range(200)]
        started = time.monotonic()
        sent = await meter.play(items, rate_hz=100)
        elapsed = time.monotonic() - started
        await wait_until(lambda: len(rec.items) == 200)
    assert sent == 200
    assert 1.9 <= elapsed < 3.0
    assert rec.powers == [float(i) for i in range(200)]
    stamps = [received for _, received in rec.items]
    assert stamps == sorted(stamps)
    # delivered as they came: the last one arrived shortly after it was sent
    assert stamps[-1] - stamps[0] > 1.9


# -- scripted servers: behaviours the meter itself does not show ----------------------

type Script = Callable[[web.WebSocketResponse], Awaitable[None]]
_CN = "appliance/p1dongle/scripted"


@contextlib.asynccontextmanager
async def scripted(
    test_ca: TestCA, script: Script | None = None, status: int = 200
) -> AsyncIterator[int]:
    async def handler(request: web.Request) -> web.StreamResponse:
        if script is None:
            return web.Response(status=status)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await script(ws)
        return ws

    app = web.Application()
    app.router.add_get("/api/ws", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=test_ca.server_ssl_context(_CN))
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def scripted_stream(port: int, ctx: ssl.SSLContext, rec: Recorder) -> MeasurementStream:
    return make_stream("127.0.0.1", port, "TOKEN", _CN, ctx, rec)


async def test_close_code_after_authorization_is_fatal(
    socket_enabled: None, test_ca: TestCA, client_ssl: ssl.SSLContext
) -> None:
    seen: list[object] = []

    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_json({"type": "authorization_requested", "data": {"api_version": "2.0.0"}})
        seen.append(json.loads((await ws.receive()).data))
        await ws.close(code=4001)

    rec = Recorder()
    async with scripted(test_ca, script) as port:
        stream = scripted_stream(port, client_ssl, rec)
        async with running(stream) as task:
            with pytest.raises(UnauthorizedError, match="code 4001"):
                await asyncio.wait_for(task, 5)
    assert seen == [{"type": "authorization", "data": "TOKEN"}]


async def test_handshake_tolerates_noise(
    socket_enabled: None, test_ca: TestCA, client_ssl: ssl.SSLContext
) -> None:
    received: list[object] = []

    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str("garbage")
        await ws.send_json({"type": "error", "data": "system:busy"})
        await ws.send_json({"type": "device", "data": {}})
        await ws.send_json({"type": "authorization_requested"})
        received.append(json.loads((await ws.receive()).data))
        await ws.send_json({"type": "error", "data": {"message": "system:slow"}})
        await ws.send_json({"type": "authorized"})
        received.append(json.loads((await ws.receive()).data))
        await ws.send_json({"type": "measurement", "data": {"power_w": 5}})
        await ws.receive()  # until the client goes away

    rec = Recorder()
    async with scripted(test_ca, script) as port:
        stream = scripted_stream(port, client_ssl, rec)
        async with running(stream):
            await wait_until(lambda: rec.powers == [5.0])
    assert received == [
        {"type": "authorization", "data": "TOKEN"},
        {"type": "subscribe", "data": "measurement"},
    ]


async def test_no_authorization_request_times_out(
    socket_enabled: None, test_ca: TestCA, client_ssl: ssl.SSLContext
) -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.receive()

    rec = Recorder()
    async with scripted(test_ca, script) as port:
        stream = make_stream("127.0.0.1", port, "T", _CN, client_ssl, rec, open_timeout=0.1)
        async with running(stream):
            await wait_until(lambda: stream.last_error is not None)
            assert "no authorization within 0.1 s" in str(stream.last_error)


@pytest.mark.parametrize(
    ("status", "error", "fatal"),
    [
        (401, UnauthorizedError, True),
        (404, UnsupportedDeviceError, False),
        (500, ConnectionFailedError, False),
    ],
)
async def test_upgrade_refused(
    *,
    socket_enabled: None,
    test_ca: TestCA,
    client_ssl: ssl.SSLContext,
    status: int,
    error: type[Exception],
    fatal: bool,
) -> None:
    rec = Recorder()
    async with scripted(test_ca, status=status) as port:
        stream = scripted_stream(port, client_ssl, rec)
        async with running(stream) as task:
            await wait_until(lambda: stream.last_error is not None)
            assert isinstance(stream.last_error, error)
            if fatal:
                with pytest.raises(UnauthorizedError):
                    await asyncio.wait_for(task, 5)
            else:
                await asyncio.sleep(0.05)
                assert not task.done()


async def test_internal_errors_are_contained(
    meter: FakeP1Meter,
    token: str,
    client_ssl: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in a callback or in the stream itself is logged; the stream goes on."""
    states: list[bool] = []

    def on_connection(connected: bool) -> None:
        states.append(connected)
        raise RuntimeError("callback bug")

    rec = Recorder()
    stream = meter_stream(meter, token, client_ssl, rec)
    stream._on_connection = on_connection
    calls = 0
    original = stream._handle

    def flaky(raw: str | bytes, received: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("stream bug")
        original(raw, received)

    monkeypatch.setattr(stream, "_handle", flaky)
    async with running(stream):
        await wait_until(lambda: len(rec.items) == 1)  # after the reconnect
    assert states == [True, False, True]
    assert meter.ws_connections_total == 2
    logged = warnings_of(caplog)
    assert sum("on_connection callback failed" in m for m in logged) == 1
    assert any("unexpected error" in r.getMessage() for r in caplog.records)


async def test_send_identify_on_a_closed_socket(
    meter: FakeP1Meter,
    token: str,
    client_ssl: ssl.SSLContext,
    stream_session: aiohttp.ClientSession,
) -> None:
    """A socket that closed before the stream noticed: identify is a clear error."""
    stream = meter_stream(meter, token, client_ssl, Recorder())
    ws = await stream_session.ws_connect(
        f"wss://{meter.host}:{meter.port}/api/ws",
        ssl=client_ssl,
        server_hostname=meter.identifier,
    )
    await ws.close()
    stream._ws = ws
    stream._connected = True
    with pytest.raises(ConnectionFailedError, match="closed"):
        await stream.send_identify()


async def test_distinct_warnings_are_bounded(
    meter: FakeP1Meter,
    token: str,
    client_ssl: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A device inventing new error texts forever cannot grow the stream's memory."""
    rec = Recorder()
    meter.measurement = {}
    async with running(meter_stream(meter, token, client_ssl, rec)):
        await wait_until(lambda: meter.subscribers("measurement") == 1)
        for i in range(300):
            await meter.push_raw(json.dumps({"type": "error", "data": {"message": f"e:{i}"}}))
        await meter.push({"power_w": 1})
        await wait_until(lambda: rec.powers == [1.0])
    reported = [m for m in warnings_of(caplog) if "reported an error" in m]
    assert len(reported) == 256  # the first 256 distinct texts; the rest at debug level
    assert reported[-1].endswith("e:255")


async def test_the_stream_runs_on_the_callers_session(
    meter: FakeP1Meter, token: str, client_ssl: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """The upgrade goes through the session handed in (Home Assistant's shared one); the
    token appears in no log line, at any level, of any library."""
    caplog.set_level(logging.DEBUG)
    upgrades: list[str] = []

    async def on_request_start(
        session: aiohttp.ClientSession, context: object, params: aiohttp.TraceRequestStartParams
    ) -> None:
        upgrades.append(f"{params.method} {params.url}")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    rec = Recorder()
    async with aiohttp.ClientSession(trace_configs=[trace]) as http:
        stream = MeasurementStream(
            http,
            meter.host,
            token,
            port=meter.port,
            identifier=meter.identifier,
            ssl_context=client_ssl,
            on_measurement=rec.on_measurement,
            on_connection=rec.on_connection,
        )
        async with running(stream):
            await wait_until(lambda: rec.states == [True])
            await meter.push({"power_w": 7})
            await wait_until(lambda: 7.0 in rec.powers)
    assert upgrades == [f"GET wss://{meter.host}:{meter.port}/api/ws"]
    assert token not in caplog.text
