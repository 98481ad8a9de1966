"""Requests refused: bad bodies, methods and networks, store failures, the station cap; never the ID."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import logging
from types import SimpleNamespace
from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.metering import StoreUnavailableError
from custom_components.meterit.powerhook import BodyError
from custom_components.meterit.webhook import handler as handler_module, http as http_module
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from custom_components.meterit.webhook.station import station_series

from .conftest import WEBHOOK_ID, setup_loaded, webhook_entry
from .webhook_common import (
    JSON_CT,
    URL,
    Client,
    client_entry_id,
    hour_ago,
    ours,
    post_json,
    refuse_readings,
    stored,
    tick,
)

pytestmark = pytest.mark.usefixtures("instant_publish")

REJECTED: list[tuple[str, bytes, dict[str, str], str]] = [
    (
        "octet-stream",
        b'{"watts": 1, "station_id": 1}',
        {"Content-Type": "application/octet-stream"},
        "content-type",
    ),
    (
        "form body",
        b"watts=1&station_id=1",
        {"Content-Type": "application/x-www-form-urlencoded"},
        "content-type",
    ),
    (
        "latin-1",
        b'{"watts": 1, "station_id": 1}',
        {"Content-Type": "application/json; charset=latin-1"},
        "content-type",
    ),
    ("empty", b"", JSON_CT, "body"),
    ("not json", b"watts: 1", JSON_CT, "body"),
    ("not utf-8", b'{"watts": 1, "station_id": "\xff"}', JSON_CT, "body"),
    ("NaN", b'{"watts": NaN, "station_id": 1}', JSON_CT, "body"),
    ("a list", b"[1, 2]", JSON_CT, "body"),
    ("deep", b"[" * 100_000, JSON_CT, "body"),
    ("too big", b'{"watts": 1, "station_id": 1, "x": "' + b"a" * 70_000 + b'"}', JSON_CT, "body"),
    ("unknown field", b'{"watts": 1, "station_id": 1, "volts": 230}', JSON_CT, "volts"),
    ("duplicate key", b'{"watts": 1, "watts": 2, "station_id": 1}', JSON_CT, "watts"),
    ("no watts", b'{"station_id": 1}', JSON_CT, "watts"),
    ("no station", b'{"watts": 1}', JSON_CT, "station_id"),
    ("watts text", b'{"watts": "12", "station_id": 1}', JSON_CT, "watts"),
    ("watts bool", b'{"watts": true, "station_id": 1}', JSON_CT, "watts"),
    ("watts huge", b'{"watts": 1e400, "station_id": 1}', JSON_CT, "watts"),
    ("watts absurd", b'{"watts": 250000, "station_id": 1}', JSON_CT, "watts"),
    ("station negative", b'{"watts": 1, "station_id": -1}', JSON_CT, "station_id"),
    ("station float", b'{"watts": 1, "station_id": 1.5}', JSON_CT, "station_id"),
    ("station long", b'{"watts": 1, "station_id": "' + b"a" * 33 + b'"}', JSON_CT, "station_id"),
    ("station chars", b'{"watts": 1, "station_id": "a b"}', JSON_CT, "station_id"),
    ("time text", b'{"watts": 1, "station_id": 1, "time": "yesterday"}', JSON_CT, "time"),
    (
        "time naive",
        b'{"watts": 1, "station_id": 1, "time": "2026-01-05T10:00:00"}',
        JSON_CT,
        "time",
    ),
    ("time old", b'{"watts": 1, "station_id": 1, "time": 1000}', JSON_CT, "time"),
    ("time future", b'{"watts": 1, "station_id": 1, "time": 4000000000}', JSON_CT, "time"),
    ("batch empty", b'{"readings": []}', JSON_CT, "readings"),
    ("batch not list", b'{"readings": {"watts": 1}}', JSON_CT, "readings"),
    ("batch extra", b'{"readings": [{"watts": 1, "station_id": 1}], "x": 1}', JSON_CT, "x"),
    (
        "batch one bad",
        b'{"readings": [{"watts": 1, "station_id": 1}, {"watts": "x", "station_id": 2}]}',
        JSON_CT,
        "readings[1].watts",
    ),
    ("batch item", b'{"readings": [{"watts": 1, "station_id": 1}, 5]}', JSON_CT, "readings[1]"),
    (
        "batch duplicate",
        b'{"readings": [{"watts": 1, "station_id": 1}, {"watts": 2, "station_id": "1"}]}',
        JSON_CT,
        "readings[1].time",
    ),
    (
        "batch too long",
        b'{"readings": [' + b",".join([b'{"watts":1,"station_id":1}'] * 1001) + b"]}",
        JSON_CT,
        "readings",
    ),
]


async def test_bad_requests_get_400_and_store_nothing(
    hass: HomeAssistant,
    client: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name, body, headers, field in REJECTED:
        response = await client.post(URL, data=body, headers=headers)
        assert response.status == 400, name
        answer = await response.json()
        assert answer["error"] == "invalid_request", name
        assert answer["field"] == field, (name, answer)
        assert answer["problem"], name
    assert await stored(hass) == []
    assert hass.states.async_entity_ids("sensor") == []
    assert WEBHOOK_ID not in ours(caplog)


async def test_oversized_body_without_length_is_refused(
    hass: HomeAssistant, client: Client
) -> None:
    """A chunked body (no Content-Length) is cut off at the limit."""

    async def chunks() -> Any:
        yield b'{"watts": 1, "station_id": 1, "pad": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    response = await client.post(URL, data=chunks(), headers=JSON_CT)
    assert response.status == 400
    assert (await response.json())["field"] == "body"
    bad_length = await client.post(
        URL, data=b"{}", headers={**JSON_CT, "Content-Length": "99999999"}
    )
    assert bad_length.status == 400
    assert await stored(hass) == []


async def test_store_failure_gives_503_and_changes_nothing(
    hass: HomeAssistant, client: Client
) -> None:
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    undo = refuse_readings(hass)
    status, answer = await post_json(client, {"watts": 5, "station_id": 1})
    assert status == 503
    assert answer["error"] == "store_unavailable"
    assert coordinator.stations == {}
    undo()
    status, _ = await post_json(client, {"watts": 5, "station_id": 1})
    assert status == 200
    assert len(await stored(hass)) == 1


async def test_windows_failure_keeps_readings_and_retries(
    hass: HomeAssistant,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = hour_ago()
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    store = coordinator.store
    original = store.write_windows
    calls: list[int] = []

    def broken(windows: object) -> None:
        calls.append(1)
        raise StoreUnavailableError("locked")

    monkeypatch.setattr(store, "write_windows", broken)
    for seconds in (0, 40, 80):
        body = {"watts": 100, "station_id": 1, "time": base + seconds}
        status, _ = await post_json(client, body)
        assert status == 200
    assert len(await stored(hass)) == 3
    assert calls
    assert "windows not stored" in caplog.text
    await tick(hass)  # the watchdog closes the last windows; they fail too
    monkeypatch.setattr(store, "write_windows", original)
    await tick(hass, 22)
    windows = await hass.async_add_executor_job(
        store.query_windows, station_series(client_entry_id(hass), "1"), 30, base, base + 400
    )
    assert [w.start - base for w in windows if w.reading_count] == [0, 30, 60]
    assert "windows stored again" in caplog.text


async def test_local_only(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request from outside the local network is ignored unless local-only is off."""
    monkeypatch.setattr("homeassistant.components.webhook.network_util.is_local", lambda _ip: False)
    await setup_loaded(hass, webhook_entry(), WebhookCoordinator)
    client = await hass_client_no_auth()
    response = await client.post(URL, json={"watts": 1, "station_id": 1})
    assert response.status == 200  # the webhook component never tells
    assert await stored(hass) == []

    other = "ab" * 32
    await setup_loaded(hass, webhook_entry(local_only=False, webhook_id=other), WebhookCoordinator)
    response = await client.post(f"/api/webhook/{other}", json={"watts": 1, "station_id": 1})
    assert response.status == 200
    assert (await response.json())["stored"] == 1
    assert len(await stored(hass)) == 1


async def test_local_check_parses_each_address_once(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local-network check of a remote address is made once and kept (a bounded cache):
    a sensor posting every few seconds from one address does not pay for it again."""
    coordinator = await setup_loaded(hass, webhook_entry(), WebhookCoordinator)
    asked: list[str] = []

    def is_local(address: Any) -> bool:
        asked.append(str(address))
        return str(address).startswith("192.168.")

    monkeypatch.setattr("homeassistant.util.network.is_local", is_local)
    remotes = ["192.168.1.20", "192.168.1.20", "8.8.8.8", "8.8.8.8", "not an address", None]
    results = [coordinator.handler._is_local(SimpleNamespace(remote=r)) for r in remotes]  # type: ignore[arg-type]
    assert results == [True, True, False, False, False, False]
    assert asked == ["192.168.1.20", "8.8.8.8"]
    # full: emptied, so any number of addresses takes bounded memory
    for index in range(handler_module.MAX_CACHED_REMOTES + 1):
        coordinator.handler._is_local(SimpleNamespace(remote=f"10.0.{index // 256}.{index % 256}"))  # type: ignore[arg-type]
    assert len(coordinator.handler._local_remotes) <= handler_module.MAX_CACHED_REMOTES
    asked.clear()
    assert coordinator.handler._is_local(SimpleNamespace(remote="192.168.1.20"))  # type: ignore[arg-type]
    assert asked == ["192.168.1.20"]  # forgotten with the rest


async def test_unexpected_error_is_a_500_without_the_secret(
    hass: HomeAssistant,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(handler_module, "parse_body", boom)
    with caplog.at_level(logging.DEBUG):
        response = await client.post(URL, json={"watts": 1, "station_id": 1})
    assert response.status == 500
    assert (await response.json())["error"] == "internal_error"
    assert "unexpected error" in caplog.text
    assert WEBHOOK_ID not in ours(caplog)


async def test_declared_length_must_be_a_number() -> None:
    assert http_module.declared_length(None) is None
    assert http_module.declared_length(" 12 ") == 12
    # ASCII digits only: str.isdigit() alone takes superscripts and other scripts' digits
    for text in ("12abc", "²", "١٢", "1²"):
        with pytest.raises(BodyError, match="content-length"):
            http_module.declared_length(text)
    # more digits than int() reads (4,300) is simply over the limit
    with pytest.raises(BodyError) as caught:
        http_module.declared_length("9" * 5_000)
    assert caught.value.field == "body"


async def test_body_cut_short_by_the_client(
    hass: HomeAssistant, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that declares more bytes than it sends, then hangs up: nothing stored, no error,
    no handler left waiting."""
    body = b'{"watts": 5, "station_id": 1}'
    _reader, writer = await _start_post(client, body, declared=len(body) + 20)
    writer.close()
    await writer.wait_closed()
    async with asyncio.timeout(5):  # the handler of that request ends, it does not hang
        while any("_handle_request" in repr(t.get_coro()) for t in asyncio.all_tasks()):
            await asyncio.sleep(0.01)
    assert (await post_json(client, {"watts": 6, "station_id": 1}))[0] == 200
    assert [r.watts for r in await stored(hass)] == [6.0]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert WEBHOOK_ID not in ours(caplog)


async def test_body_arriving_after_the_headers(hass: HomeAssistant, client: Client) -> None:
    """A body still on its way when the handler starts is waited for, then stored whole."""
    body = b'{"watts": 7.5, "station_id": "slow"}'
    reader, writer = await _start_post(client, body[:10], declared=len(body))
    writer.write(body[10:])
    await writer.drain()
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    await writer.wait_closed()
    assert head.startswith(b"HTTP/1.1 200")
    assert [(r.station_id, r.watts) for r in await stored(hass)] == [("slow", 7.5)]


async def _start_post(
    client: Client, sent: bytes, declared: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send the headers of a POST declaring ``declared`` body bytes and only ``sent`` of them;
    return once the server handles it (waiting for the rest of the body)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        f"POST {URL} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n".encode()
        + sent
    )
    await writer.drain()
    async with asyncio.timeout(5):
        while not any("_handle_request" in repr(t.get_coro()) for t in asyncio.all_tasks()):
            await asyncio.sleep(0.01)
    return reader, writer


async def test_the_webhook_id_is_in_no_warning_whatever_the_request(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every record of every logger is captured, DEBUG included. The ID may appear below
    WARNING only in Home Assistant's own records (the webhook component's "Handling webhook"
    at DEBUG, aiohttp's access log at INFO, which Home Assistant keeps at WARNING): in no record
    at WARNING or above, and in none of Meterit's at any level. The method and local-network
    checks are Meterit's own: GET gets a 405, HEAD a 200, a remote request the empty 200 the
    webhook component answers (once logged at WARNING, later at DEBUG)."""
    caplog.set_level(logging.DEBUG)
    coordinator = await setup_loaded(hass, webhook_entry(), WebhookCoordinator)
    client = await hass_client_no_auth()
    get = await client.get(URL)
    head = await client.head(URL)
    put = await client.put(URL, json={"watts": 1, "station_id": 1})
    monkeypatch.setattr("homeassistant.util.network.is_local", lambda _ip: False)
    coordinator.handler._local_remotes.clear()  # kept per address: here the address "moves" network
    remote = [await client.post(URL, json={"watts": 2, "station_id": 1}) for _ in range(2)]
    leaks = [
        (r.name, r.levelname)
        for r in caplog.records
        if r.levelno >= logging.WARNING and WEBHOOK_ID in r.getMessage() + (r.exc_text or "")
    ]
    assert leaks == []
    assert WEBHOOK_ID not in ours(caplog)

    assert get.status == 405
    assert get.headers["Allow"] == "POST, PUT"
    assert (await get.json())["error"] == "method_not_allowed"
    assert head.status == 200
    assert put.status == 200
    assert (await put.json())["stored"] == 1
    for response in remote:
        assert response.status == 200
        assert await response.read() == b""
    assert [r.watts for r in await stored(hass)] == [1.0]
    refused = [r.levelno for r in caplog.records if "not from the local network" in r.getMessage()]
    assert refused == [logging.WARNING, logging.DEBUG]
