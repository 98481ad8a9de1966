"""Deleting devices: a station's device goes (and comes back when it posts); a P1 meter's and PVPC's stay."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import DOMAIN, MAX_STATIONS
from custom_components.meterit.prices.coordinator import PriceCoordinator
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from simulator.esios import FakeEsios

from .conftest import METER_SERIAL, prices_entry, setup_loaded
from .webhook_common import Client, HeldPrices, post_json, stored, value

pytestmark = pytest.mark.usefixtures("instant_publish")


@pytest.fixture
async def device_commands(hass: HomeAssistant) -> None:
    """The device registry's commands (the frontend's *Delete device*), and Meterit: set up
    before any HTTP client freezes Home Assistant's routes, so request it first."""
    for component in ("websocket_api", "config", DOMAIN):
        assert await async_setup_component(hass, component, {})


async def test_a_station_device_can_be_deleted_and_comes_back_when_it_posts(
    hass: HomeAssistant,
    device_commands: None,
    hook: MockConfigEntry,
    client: Client,
    hass_ws_client: Callable[..., Awaitable[Any]],
    entity_registry_enabled_by_default: None,  # "Last seen" is off by default
) -> None:
    """Deleting a station's device drops the station from the live and the saved state and
    its entities with the device; its stored readings stay; its next reading makes it anew."""
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    for station in (1, 2):
        assert (await post_json(client, {"watts": 10 * station, "station_id": station}))[0] == 200
    devices = dr.async_get(hass)
    entities = er.async_get(hass)
    identifier = (DOMAIN, f"{hook.entry_id}_station_1")
    device = devices.async_get_device_by_identifier(identifier, hook.entry_id)
    assert device is not None
    owned = [e.entity_id for e in er.async_entries_for_device(entities, device.id)]
    assert len(owned) == 4
    ws = await hass_ws_client(hass)
    answer = await ws.remove_device(device.id)
    assert answer["success"], answer
    await hass.async_block_till_done(wait_background_tasks=True)
    assert list(coordinator.stations) == ["2"]
    assert devices.async_get(device.id) is None
    for entity_id in owned:
        assert entities.async_get(entity_id) is None
        assert hass.states.get(entity_id) is None
    saved = await hass.async_add_executor_job(coordinator.store.load_state, coordinator.state_key)
    assert saved is not None
    stations = saved["stations"]
    assert isinstance(stations, dict)
    assert list(stations) == ["2"]
    assert value(hass, "sensor.station_2_power") == "20.0"
    assert sorted(r.station_id for r in await stored(hass)) == ["1", "2"]

    assert (await post_json(client, {"watts": 30, "station_id": 1}))[0] == 200
    await hass.async_block_till_done()
    assert devices.async_get_device_by_identifier(identifier, hook.entry_id) is not None
    assert value(hass, "sensor.station_1_power") == "30.0"
    assert coordinator.stations["1"].meter.readings == 1  # a new station: totals afresh


async def removal_refused(ws: Any, device_id: str) -> str:
    """Ask to delete a device that must stay; the error message."""
    answer = await ws.remove_device(device_id)
    assert not answer["success"], answer
    return str(answer["error"]["message"])


async def test_p1_meter_device_cannot_be_deleted(
    hass: HomeAssistant,
    device_commands: None,
    p1_setup: MockConfigEntry,
    hass_ws_client: Callable[..., Awaitable[Any]],
) -> None:
    """Meterit is asked, and refuses: the meter's entry provides its device while set up."""
    devices = dr.async_get(hass)
    device = devices.async_get_device_by_identifier((DOMAIN, METER_SERIAL), p1_setup.entry_id)
    assert device is not None
    message = await removal_refused(await hass_ws_client(hass), device.id)
    assert "rejected by integration" in message
    assert devices.async_get(device.id) is not None


async def test_pvpc_device_cannot_be_deleted(
    hass: HomeAssistant,
    device_commands: None,
    madrid: None,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    hass_ws_client: Callable[..., Awaitable[Any]],
) -> None:
    """Meterit is asked, and refuses: the PVPC entry provides its device while set up."""
    ws = await hass_ws_client(hass)  # (authenticated before the clock moves to the fixtures' day)
    freezer.move_to(datetime(2024, 3, 9, 9, 30, tzinfo=UTC))
    prices = prices_entry()
    await setup_loaded(hass, prices, PriceCoordinator)
    devices = dr.async_get(hass)
    (device,) = dr.async_entries_for_config_entry(devices, prices.entry_id)
    message = await removal_refused(ws, device.id)
    assert "rejected by integration" in message
    assert devices.async_get(device.id) is not None


async def test_stations_per_webhook_are_capped(
    hass: HomeAssistant,
    device_commands: None,
    hook: MockConfigEntry,
    client: Client,
    hass_ws_client: Callable[..., Awaitable[Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reading of a new station beyond MAX_STATIONS is a 400 naming station_id and the
    limit, and nothing of its request is stored; existing stations go on; deleting a station's
    device makes room; requests under way count, so two at once cannot both pass."""
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    full = {"readings": [{"watts": 1, "station_id": f"s{i}"} for i in range(MAX_STATIONS)]}
    status, answer = await post_json(client, full)
    assert (status, answer.get("stored")) == (200, MAX_STATIONS)
    rows = len(await stored(hass))
    for body, field in (
        (
            {"readings": [{"watts": 2, "station_id": "s0"}, {"watts": 2, "station_id": "new"}]},
            "readings[1].station_id",
        ),
        ({"watts": 2, "station_id": "new"}, "station_id"),
    ):
        status, answer = await post_json(client, body)
        assert (status, answer["error"], answer["field"]) == (400, "invalid_request", field)
        assert "'new'" in answer["problem"]
        assert f"limit of {MAX_STATIONS} stations" in answer["problem"]
    assert len(await stored(hass)) == rows  # nothing of the refused requests
    assert "new" not in coordinator.stations
    assert (await post_json(client, {"watts": 3, "station_id": "s5"}))[0] == 200  # existing
    limit_logs = [r.levelno for r in caplog.records if "limit of" in r.getMessage()]
    assert limit_logs == [logging.WARNING, logging.DEBUG]  # logged once, then at debug level

    # one station's device deleted: room for exactly one new station, even when two new ones
    # are under way at the same time (the first is not applied yet when the second comes)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{hook.entry_id}_station_s0"), hook.entry_id
    )
    assert device is not None
    assert (await (await hass_ws_client(hass)).remove_device(device.id))["success"]
    prices = HeldPrices()
    prices.release.clear()
    coordinator.price_source = prices
    first = asyncio.ensure_future(post_json(client, {"watts": 4, "station_id": "x"}))
    async with asyncio.timeout(5):
        await prices.asking.wait()
        status, answer = await post_json(client, {"watts": 4, "station_id": "y"})
    assert (status, answer["field"]) == (400, "station_id")
    prices.release.set()
    assert (await first)[0] == 200
    assert len(coordinator.stations) == MAX_STATIONS
    assert "x" in coordinator.stations
    assert "y" not in coordinator.stations
    assert coordinator.handler._incoming == {}
