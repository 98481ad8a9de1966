"""The WebSocket stream against scripted servers: behaviours the meter itself does not show."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import json
import ssl

from aiohttp import web
import pytest

from custom_components.meterit.homewizard import (
    ConnectionFailedError,
    MeasurementStream,
    UnauthorizedError,
    UnsupportedDeviceError,
)
from simulator.certs import TestCA

from . import stream_common
from .stream_common import Recorder, make_stream, running, wait_until

stream_session = stream_common.stream_session  # autouse: a session for the test's streams


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
