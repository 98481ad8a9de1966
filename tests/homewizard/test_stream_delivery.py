"""The live WebSocket stream against the fake meter: delivery, identify, bad messages, bugs."""

from __future__ import annotations

import json
import logging
import math
import ssl
import time

import aiohttp
import pytest

from custom_components.meterit.homewizard import ConnectionFailedError, MeasurementStream
from simulator.p1_meter import FakeP1Meter

from . import stream_common
from .stream_common import Recorder, make_stream, meter_stream, running, wait_until, warnings_of

stream_session = stream_common.stream_session  # autouse: a session for the test's streams


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
