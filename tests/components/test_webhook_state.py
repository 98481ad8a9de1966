"""The live state across restarts and stops: saved, restored, refused when unreadable; diagnostics."""

from __future__ import annotations

import json
import time

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.diagnostics import async_get_config_entry_diagnostics
from custom_components.meterit.metering import JsonValue, MeterStore, StoreUnavailableError
from custom_components.meterit.powerhook import StationMeter
from custom_components.meterit.shared_store import async_get_store
from custom_components.meterit.webhook import setup as webhook_setup
from custom_components.meterit.webhook.const import STATION_MAX_HOLD
from custom_components.meterit.webhook.coordinator import WebhookCoordinator

from .conftest import WEBHOOK_ID, setup_loaded, setup_retrying, webhook_entry
from .webhook_common import URL, Client, client_entry_id, post_json, stored, tick, value

pytestmark = pytest.mark.usefixtures("instant_publish")


async def test_state_survives_a_restart(
    hass: HomeAssistant, hook: MockConfigEntry, client: Client
) -> None:
    now = time.time()
    for seconds, watts in ((-30, 3600), (-20, 3600), (-10, 0)):
        body = {"watts": watts, "station_id": "a", "time": now + seconds}
        assert (await post_json(client, body))[0] == 200
    old = {"watts": 1, "station_id": "old", "time": now - 3600}
    assert (await post_json(client, old))[0] == 200
    assert float(value(hass, "sensor.station_a_energy")) == pytest.approx(0.02)  # 3600 W x 20 s
    assert await hass.config_entries.async_unload(hook.entry_id)
    await hass.async_block_till_done()
    # gone with the entry: the webhook no longer stores anything
    response = await client.post(URL, json={"watts": 1, "station_id": "a"})
    assert response.status == 200
    assert len(await stored(hass)) == 4

    assert await hass.config_entries.async_setup(hook.entry_id)
    await hass.async_block_till_done()
    # the stations are back before their next reading, with their totals
    assert float(value(hass, "sensor.station_a_energy")) == pytest.approx(0.02)
    assert value(hass, "sensor.station_a_power") == "0.0"
    assert value(hass, "sensor.station_old_power") == STATE_UNAVAILABLE  # silent for an hour
    assert (await post_json(client, {"watts": 100, "station_id": "a"}))[0] == 200
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    assert coordinator.stations["a"].meter.readings == 4
    last = coordinator.stations["a"].aggregator.last_time
    assert last is not None
    assert last > now


async def test_bad_saved_state_is_skipped(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    entry = webhook_entry()
    store = await async_get_store(hass)
    good: dict[str, JsonValue] = {
        "station_id": "2",
        "energy_kwh": 1.5,
        "cost": 0.3,
        "last_time": None,
        "last_watts": None,
        "last_price": None,
        "readings": 9,
    }
    saved: dict[str, JsonValue] = {
        "version": 1,
        "stations": {
            "1": {"meter": {**good, "station_id": "1", "energy_kwh": "lots"}},
            "bad id!": {"meter": good},
            "3": {"meter": {**good, "station_id": "4"}},
            "5": "nonsense",
            "6": {"meter": None},
            "7": {"meter": {**good, "station_id": "7"}, "aggregator": {"version": 99}},
            "2": {"meter": good},
        },
    }
    await hass.async_add_executor_job(store.save_state, f"webhook_{entry.entry_id}", saved)
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    assert list(coordinator.stations) == ["2"]
    assert coordinator.stations["2"].meter.energy_kwh == 1.5
    assert value(hass, "sensor.station_2_energy") == STATE_UNAVAILABLE  # never seen: stale
    assert caplog.text.count("saved station skipped") == 6

    await hass.config_entries.async_unload(entry.entry_id)
    unknown: dict[str, JsonValue] = {"version": 0, "stations": []}
    await hass.async_add_executor_job(store.save_state, f"webhook_{entry.entry_id}", unknown)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert "unknown format" in caplog.text
    coordinator = entry.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    assert coordinator.stations == {}


async def test_unreadable_saved_state_retries_setup_and_keeps_the_totals(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starting afresh would save empty totals over the good ones a minute later."""
    store = await async_get_store(hass)
    entry = webhook_entry()
    meter = StationMeter("7", STATION_MAX_HOLD)
    meter.add(time.time() - 20, 500.0, None)
    meter.add(time.time() - 10, 500.0, None)
    saved_meter: dict[str, JsonValue] = dict(meter.to_json())
    saved: dict[str, JsonValue] = {"version": 1, "stations": {"7": {"meter": saved_meter}}}
    await hass.async_add_executor_job(store.save_state, f"webhook_{entry.entry_id}", saved)

    def broken(*_args: object) -> None:
        raise StoreUnavailableError("io error")

    with monkeypatch.context() as patch:
        patch.setattr(store, "load_state", broken)
        entry.add_to_hass(hass)
        assert not await hass.config_entries.async_setup(entry.entry_id)
        retrying = entry.state
    assert retrying is ConfigEntryState.SETUP_RETRY
    still = await hass.async_add_executor_job(store.load_state, f"webhook_{entry.entry_id}")
    assert still == saved

    # the store reads again: the retry starts from the saved totals
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    coordinator = entry.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    assert coordinator.stations["7"].meter.energy_kwh == pytest.approx(meter.energy_kwh)
    assert meter.energy_kwh > 0


async def test_failed_save_is_logged(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = await async_get_store(hass)

    def broken(*_args: object) -> None:
        raise StoreUnavailableError("io error")

    monkeypatch.setattr(store, "save_state", broken)
    entry = webhook_entry()
    await setup_loaded(hass, entry, WebhookCoordinator)
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert "state not saved" in caplog.text


async def test_store_unusable_means_not_ready(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_hass: HomeAssistant) -> MeterStore:
        raise StoreUnavailableError("read-only file system")

    monkeypatch.setattr(webhook_setup, "async_get_store", broken)
    entry = webhook_entry()
    await setup_retrying(hass, entry)


async def _saved_stations(hass: HomeAssistant, key: str) -> list[str]:
    """The station IDs in the state saved under ``key`` (which must be saved)."""
    store = await async_get_store(hass)
    saved = await hass.async_add_executor_job(store.load_state, key)
    assert saved is not None
    stations = saved["stations"]
    assert isinstance(stations, dict)
    return list(stations)


async def test_state_is_saved_every_minute(hass: HomeAssistant, client: Client) -> None:
    assert (await post_json(client, {"watts": 7, "station_id": "m"}))[0] == 200
    await tick(hass, 61)
    assert await _saved_stations(hass, f"webhook_{client_entry_id(hass)}") == ["m"]


async def test_home_assistant_stop_saves_the_live_state(
    hass: HomeAssistant, client: Client, hook: MockConfigEntry
) -> None:
    """Home Assistant does not unload entries when it stops: the state is saved then anyway."""
    assert (await post_json(client, {"watts": 7, "station_id": "s"}))[0] == 200
    store = await async_get_store(hass)
    key = f"webhook_{hook.entry_id}"
    assert await hass.async_add_executor_job(store.load_state, key) is None  # not yet
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert await _saved_stations(hass, key) == ["s"]


# ---------------------------------------------------------------------- clocks, stops, limits


async def test_diagnostics_hold_no_secret(
    hass: HomeAssistant, hook: MockConfigEntry, client: Client
) -> None:
    assert (await post_json(client, {"watts": 5, "station_id": 1}))[0] == 200
    result = await async_get_config_entry_diagnostics(hass, hook)
    text = json.dumps(result, default=str)
    assert WEBHOOK_ID not in text
    assert result["accepted_readings"] == 1
    assert result["stations"]["1"]["last_watts"] == 5
