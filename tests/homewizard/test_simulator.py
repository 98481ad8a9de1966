"""The fake P1 meter itself: protocol details the client does not exercise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import io
import json
import os
from pathlib import Path
import signal
import ssl
import subprocess
import sys

import aiohttp
import pytest

from custom_components.meterit.homewizard import HomeWizardClient, create_ssl_context
from simulator import p1_meter
from simulator.certs import TestCA
from simulator.p1_meter import FakeP1Meter, load_trace, synthetic_measurements


def _url(meter: FakeP1Meter, path: str) -> str:
    return f"{meter.url}{path}"


async def _post(
    session: aiohttp.ClientSession, meter: FakeP1Meter, ctx: ssl.SSLContext, body: bytes
) -> tuple[int, object]:
    async with session.post(
        _url(meter, "/api/user"), data=body, ssl=ctx, server_hostname=meter.identifier
    ) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", "request:invalid-json"),
        (b"[]", "json:parameter-missing:name"),
        (b'{"name": 5}', "json:parameter-invalid-type:name"),
        (b'{"name": "remote/x"}', "user:invalid-prefix"),
        (b'{"name": "local/"}', "user:name-empty"),
        (json.dumps({"name": "local/" + "x" * 41}).encode(), "user:name-too-long"),
        (b'{"name": "local/a;b"}', "user:name-invalid"),
    ],
    ids=["json", "missing", "type", "prefix", "empty", "long", "chars"],
)
async def test_registration_name_errors(
    meter: FakeP1Meter,
    session: aiohttp.ClientSession,
    client_ssl: ssl.SSLContext,
    body: bytes,
    code: str,
) -> None:
    meter.press_button()
    assert await _post(session, meter, client_ssl, body) == (400, {"error": code})
    assert meter.users == {}


async def test_delete_user_errors(
    meter: FakeP1Meter, session: aiohttp.ClientSession, client_ssl: ssl.SSLContext, token: str
) -> None:
    url = _url(meter, "/api/user")
    ident = meter.identifier
    async with session.delete(
        url, json={"name": "local/tests"}, ssl=client_ssl, server_hostname=ident
    ) as resp:
        assert resp.status == 401
    auth = {"Authorization": f"Bearer {token}"}
    for name, status, body in [
        ("local/nobody", 404, {"error": "user:not-found"}),
        ("bad", 400, {"error": "user:invalid-prefix"}),
    ]:
        async with session.delete(
            url, json={"name": name}, headers=auth, ssl=client_ssl, server_hostname=ident
        ) as resp:
            assert (resp.status, await resp.json()) == (status, body)
    for path in ("/api/system", "/api/system/identify"):
        method = "GET" if path == "/api/system" else "PUT"
        async with session.request(
            method, _url(meter, path), ssl=client_ssl, server_hostname=ident
        ) as resp:
            assert (resp.status, await resp.json()) == (401, {"error": "user:unauthorized"})
    assert meter.users == {"local/tests": token}
    assert meter.tokens == {token}


@contextlib.asynccontextmanager
async def ws_session(
    meter: FakeP1Meter, session: aiohttp.ClientSession, ctx: ssl.SSLContext
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with session.ws_connect(
        _url(meter, "/api/ws").replace("https", "wss"), ssl=ctx, server_hostname=meter.identifier
    ) as ws:
        hello = await ws.receive_json()
        assert hello == {"type": "authorization_requested", "data": {"api_version": "2.0.0"}}
        yield ws


async def _error(ws: aiohttp.ClientWebSocketResponse) -> object:
    message = await ws.receive_json(timeout=2)
    assert message["type"] == "error"
    return message["data"]["message"]


async def test_websocket_protocol(
    meter: FakeP1Meter, session: aiohttp.ClientSession, client_ssl: ssl.SSLContext, token: str
) -> None:
    async with ws_session(meter, session, client_ssl) as ws:
        await ws.send_json({"type": "subscribe", "data": "measurement"})
        assert await _error(ws) == "user:unauthorized"  # not authorized yet
        await ws.send_str("{")
        assert await _error(ws) == "request:invalid-json"
        await ws.send_str("[]")
        assert await _error(ws) == "json:parameter-missing:type"
        await ws.send_json({"type": "authorization", "data": token})
        assert await ws.receive_json() == {"type": "authorized"}
        await ws.send_json({"type": "frobnicate"})
        assert await _error(ws) == "request:unknown-type"
        await ws.send_json({"type": "subscribe", "data": "weather"})
        assert await _error(ws) == "request:unknown-subscription"
        await ws.send_json({"type": "subscribe", "data": "*"})
        first = await ws.receive_json()
        assert first == {"type": "measurement", "data": meter.measurement}
        await ws.send_json({"type": "unsubscribe", "data": "*"})
        await ws.send_json({"type": "identify"})
        await asyncio.sleep(0.05)
        assert meter.identify_count == 1
        await meter.push({"power_w": 1})  # not subscribed any more: not received
        await meter.push_raw('{"type": "device"}')  # raw frames go to every authorized socket
        assert await ws.receive_json(timeout=2) == {"type": "device"}
        assert meter.open_sockets == 1


async def test_websocket_bad_token_closes_with_1008(
    meter: FakeP1Meter, session: aiohttp.ClientSession, client_ssl: ssl.SSLContext
) -> None:
    async with ws_session(meter, session, client_ssl) as ws:
        await ws.send_json({"type": "authorization", "data": 123})
        assert await _error(ws) == "user:unauthorized"
        closing = await ws.receive(timeout=2)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1008


async def test_websocket_authorization_timeout(
    meter: FakeP1Meter, session: aiohttp.ClientSession, client_ssl: ssl.SSLContext
) -> None:
    meter.auth_timeout = 0.1
    async with ws_session(meter, session, client_ssl) as ws:
        closing = await ws.receive(timeout=2)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1008
    async with ws_session(meter, session, client_ssl) as ws:
        await ws.send_bytes(b"binary")  # the meter only speaks text: it hangs up
        assert (await ws.receive(timeout=2)).type is aiohttp.WSMsgType.CLOSE


async def test_reused_name_drops_old_socket(
    meter: FakeP1Meter, session: aiohttp.ClientSession, client_ssl: ssl.SSLContext, token: str
) -> None:
    async with ws_session(meter, session, client_ssl) as ws:
        await ws.send_json({"type": "authorization", "data": token})
        assert await ws.receive_json() == {"type": "authorized"}
        new = meter.issue_token("local/tests")
        assert new != token
        assert await _error(ws) == "user:unauthorized"
        assert (await ws.receive(timeout=2)).type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1008
    assert meter.tokens == {new}


def _is_running(meter: FakeP1Meter) -> bool:
    return meter.running


async def test_start_is_idempotent_and_port_is_kept(socket_enabled: None, test_ca: TestCA) -> None:
    meter = FakeP1Meter(ca=test_ca)
    assert not _is_running(meter)
    await meter.start()
    port = meter.port
    await meter.start()
    assert meter.port == port
    await meter.set_silent(True)
    assert meter.port == port
    assert _is_running(meter)
    await meter.stop()
    await meter.set_silent(False)  # while stopped: just the flag
    assert not _is_running(meter)
    assert not meter.silent
    assert meter.cadata == test_ca.cadata


async def test_start_failure_cleans_up(socket_enabled: None, test_ca: TestCA) -> None:
    async with FakeP1Meter(ca=test_ca) as first:
        second = FakeP1Meter(ca=test_ca, port=first.port)
        second._server_ssl = first._server_ssl
        with pytest.raises(OSError, match=r"(?i)address already in use"):
            await second.start()
        assert not second.running


async def test_play_trace(meter: FakeP1Meter, tmp_path: Path, fixtures_dir: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    tool = fixtures_dir.parent / "tools" / "p1-trace"
    result = subprocess.run(  # noqa: ASYNC221, S603 - a short, local generator
        [sys.executable, str(tool), "--hours", "0.002"],
        capture_output=True,
        check=True,
        text=True,
    )
    lines = result.stdout.splitlines()
    trace.write_text(
        "\n".join([lines[0], "", "{broken", "[1]", '{"type": "device", "data": {}}', *lines[1:]])
    )
    items = list(load_trace(trace))
    assert len(items) == len(lines) + 1  # the list and the broken line are skipped
    count = await meter.play(items, rate_hz=1000)
    assert count == len(lines)
    assert meter.measurement == json.loads(lines[-1])["data"]
    with pytest.raises(ValueError, match="rate_hz"):
        await meter.play(items, rate_hz=0)


async def test_play_synthetic(meter: FakeP1Meter) -> None:
    assert await meter.play(rate_hz=1000, limit=3) == 3
    expected = [item["data"] for _, item in zip(range(3), synthetic_measurements(), strict=False)]
    assert meter.measurement == expected[-1]


def _num(data: object, key: str) -> float:
    assert isinstance(data, dict)
    value = data[key]
    assert isinstance(value, int | float)
    return float(value)


def test_synthetic_counters_integrate_power() -> None:
    items = [item["data"] for _, item in zip(range(6000), synthetic_measurements(), strict=False)]
    again = [item["data"] for _, item in zip(range(50), synthetic_measurements(), strict=False)]
    assert items[:50] == again  # deterministic
    # each message's energy is power * 1 s; the first message's counters are the start
    imported = sum(max(0.0, _num(d, "power_w")) for d in items[1:]) / 3.6e6
    exported = sum(max(0.0, -_num(d, "power_w")) for d in items[1:]) / 3.6e6
    assert exported > 0.01, "the synthetic household should export sometimes"
    first, last = items[0], items[-1]
    import_delta = _num(last, "energy_import_kwh") - _num(first, "energy_import_kwh")
    export_delta = _num(last, "energy_export_kwh") - _num(first, "energy_export_kwh")
    assert import_delta == pytest.approx(imported, abs=0.002)
    assert export_delta == pytest.approx(exported, abs=0.002)


async def test_cli_serve(
    socket_enabled: None,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = asyncio.Event()
    trace = tmp_path / "trace.jsonl"
    items = [item for _, item in zip(range(3), synthetic_measurements(), strict=False)]
    await asyncio.to_thread(trace.write_text, "\n".join(json.dumps(i) for i in items))
    argv = ["--port", "0", "--cert-dir", str(tmp_path), "--rate", "50", "--trace", str(trace)]
    task = asyncio.create_task(p1_meter.serve(argv, started=started))
    try:
        await asyncio.wait_for(started.wait(), 5)
        out = capsys.readouterr().out
        url = next(w for w in out.split() if w.startswith("https://"))
        host, port = url.removeprefix("https://").split(":")
        ca_text = await asyncio.to_thread((tmp_path / "ca.pem").read_text)
        ctx = await asyncio.to_thread(create_ssl_context, ca_text)
        client = HomeWizardClient(
            session,
            host,
            port=int(port),
            identifier="appliance/p1dongle/5c2fafaabbcc",
            ssl_context=ctx,
        )
        os.kill(os.getpid(), signal.SIGUSR1)  # press the button
        await asyncio.sleep(0.05)
        await client.register("cli")
        await asyncio.sleep(0.1)  # the 3-item trace has been played
        measured = (await client.measurement()).measurement
        assert measured.power_w == items[-1]["data"]["power_w"]  # type: ignore[index]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_stdin_presses_the_button(
    monkeypatch: pytest.MonkeyPatch, test_ca: TestCA, capsys: pytest.CaptureFixture[str]
) -> None:
    meter = FakeP1Meter(ca=test_ca)
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb") as reader:
        monkeypatch.setattr(sys, "stdin", reader)
        fd = p1_meter._watch_stdin(loop, meter)
        assert fd == read_fd
        os.write(write_fd, b"\n")
        await asyncio.sleep(0.05)
        assert meter._pressed_at is not None
        assert "Button pressed" in capsys.readouterr().out
        os.close(write_fd)
        await asyncio.sleep(0.05)
        assert not loop.remove_reader(read_fd)  # removed itself at end of input
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert p1_meter._watch_stdin(loop, meter) is None


def test_main_runs_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str] | None] = []

    async def fake_serve(argv: list[str] | None = None) -> None:
        seen.append(argv)
        raise KeyboardInterrupt

    monkeypatch.setattr(p1_meter, "serve", fake_serve)
    p1_meter.main(["--port", "1"])
    assert seen == [["--port", "1"]]
