"""Requests as real ESP8266 / Arduino sketches send them, over a raw socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
import pytest

from custom_components.meterit.shared_store import async_get_store
from custom_components.meterit.webhook.coordinator import WebhookCoordinator

from .conftest import WEBHOOK_ID, setup_loaded, webhook_entry

type Client = TestClient[Any, Any]
URL = f"/api/webhook/{WEBHOOK_ID}"


async def raw_post(client: Client, body: bytes, extra_headers: str = "") -> tuple[int, Any]:
    """POST exactly as ESP8266HTTPClient's ``POST(payload)`` does without ``addHeader``."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        f"POST {URL} HTTP/1.1\r\n"
        f"Host: {client.server.host}:{client.server.port}\r\n"
        "User-Agent: ESP8266HTTPClient\r\n"
        "Connection: close\r\n"
        "Accept-Encoding: identity;q=1,chunked;q=0.1,*;q=0\r\n"
        f"{extra_headers}"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    async with asyncio.timeout(5):
        answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload) if payload else None


@pytest.fixture
async def client(hass: HomeAssistant, hass_client_no_auth: Any) -> Client:
    await setup_loaded(hass, webhook_entry(), WebhookCoordinator)
    return await hass_client_no_auth()  # type: ignore[no-any-return]


async def test_json_body_without_content_type_is_stored(
    hass: HomeAssistant, client: Client
) -> None:
    """Arduino's HTTPClient sends no Content-Type unless told: a JSON body is accepted."""
    status, answer = await raw_post(client, b'{"watts": 321.5, "station_id": "esp1"}')
    assert status == 200, answer
    assert "stored" in answer
    store = await async_get_store(hass)
    rows = await hass.async_add_executor_job(store.query_readings, None, 100, 0)
    assert [(r.station_id, r.watts) for r in rows] == [("esp1", 321.5)]


async def test_body_without_content_type_must_still_be_json(
    hass: HomeAssistant, client: Client
) -> None:
    status, answer = await raw_post(client, b"watts=1&station_id=1")
    assert status == 400
    assert answer["field"] == "body"
    assert "JSON" in answer["problem"]


async def test_other_content_types_are_still_refused_with_the_fix(
    hass: HomeAssistant, client: Client
) -> None:
    status, answer = await raw_post(
        client,
        b'{"watts": 1, "station_id": 1}',
        "Content-Type: application/x-www-form-urlencoded\r\n",
    )
    assert status == 400
    assert answer["field"] == "content-type"
    assert "application/json" in answer["problem"]


async def test_batch_of_one_station_without_times_names_the_fix(
    hass: HomeAssistant, client: Client
) -> None:
    """Several readings of a station without 'time' cannot be placed: the answer says so."""
    body = {"readings": [{"watts": 10, "station_id": 1}, {"watts": 20, "station_id": 1}]}
    status, answer = await raw_post(client, json.dumps(body).encode())
    assert status == 400
    assert answer["field"] == "readings[1].time"
    assert answer["problem"].startswith("missing")
    assert "'time'" in answer["problem"]
    store = await async_get_store(hass)
    assert await hass.async_add_executor_job(store.query_readings, None, 100, 0) == []


async def test_batch_without_times_of_different_stations_is_fine(
    hass: HomeAssistant, client: Client
) -> None:
    body = {"readings": [{"watts": 10, "station_id": 1}, {"watts": 20, "station_id": 2}]}
    status, answer = await raw_post(client, json.dumps(body).encode())
    assert status == 200, answer
