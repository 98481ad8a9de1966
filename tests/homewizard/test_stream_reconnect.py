"""The live WebSocket stream against the fake meter: drops, timeouts, reconnects, fatal errors."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from custom_components.meterit.homewizard import (
    CertificateError,
    ConnectionFailedError,
    UnauthorizedError,
    create_ssl_context,
)
from simulator.certs import TestCA, make_test_ca
from simulator.p1_meter import FakeP1Meter

from . import stream_common
from .stream_common import Recorder, meter_stream, running, wait_until, warnings_of

stream_session = stream_common.stream_session  # autouse: a session for the test's streams


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
