"""A power webhook entry after an unclean stop: the readings stored after its last save count.

The state is saved every minute; a crash or a power cut loses what came after, but every reading
was stored (in the meterlog) before it was answered. Such a stop is played here by unloading the
entry without its final flush (no window written, no state saved); Home Assistant then sets the
entry up again on the same store. Expected values are the live ones from before the stop, or
computed here from the posted readings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from itertools import pairwise
import json
import sqlite3
import threading
import time
from typing import Any, NoReturn

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.meterit import async_remove_config_entry_device
from custom_components.meterit.const import DOMAIN
from custom_components.meterit.metering import (
    JsonValue,
    MeterlogRow,
    Reading,
    StoreUnavailableError,
    WindowAggregator,
)
from custom_components.meterit.powerhook import StationMeter
from custom_components.meterit.shared_store import STORE_FILENAME, async_get_store
from custom_components.meterit.webhook import (
    coordinator as coordinator_module,
    writer as writer_module,
)
from custom_components.meterit.webhook.const import STATION_MAX_HOLD
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from custom_components.meterit.webhook.station import Station, station_series

from .conftest import WEBHOOK_ID, setup_loaded, state_of, travel, wait_for, webhook_entry

URL = f"/api/webhook/{WEBHOOK_ID}"

type Client = TestClient[Any, Any]


@pytest.fixture(autouse=True)
def instant_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entities update on every reading; rounds start at once."""
    monkeypatch.setattr(coordinator_module, "PUBLISH_INTERVAL", 0.0)
    monkeypatch.setattr(writer_module, "ROUND_INTERVAL", 0.0)


async def post(client: Client, station: str, readings: Sequence[tuple[float, float]]) -> None:
    body = {"readings": [{"watts": w, "station_id": station, "time": t} for t, w in readings]}
    response = await client.post(
        URL, data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["stored"] == len(readings)


async def save(coordinator: WebhookCoordinator) -> None:
    """The minute's save, as its timer makes it (without the watchdog beside it).

    (The watchdog closes windows ``STATION_MAX_HOLD`` behind the clock; the readings posted
    here carry past times, which a window closed that way no longer takes: readings sent live
    never arrive behind it.)
    """
    await coordinator.saved.async_save_timer(dt_util.utcnow())


async def tick(hass: HomeAssistant, seconds: float) -> None:
    """Fire the timers due ``seconds`` from now (the watchdog and the minute's save)."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    await hass.async_block_till_done(wait_background_tasks=True)
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        if isinstance(entry.runtime_data, WebhookCoordinator):
            await entry.runtime_data.writer.async_wait_drained()


async def stop_uncleanly(
    hass: HomeAssistant, entry: MockConfigEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop the entry as a crash would: nothing written or saved on the way out."""

    async def nothing(_self: WebhookCoordinator) -> None:
        return None

    with monkeypatch.context() as patch:
        patch.setattr(WebhookCoordinator, "_async_flush", nothing)
        assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def start_again(hass: HomeAssistant, entry: MockConfigEntry) -> WebhookCoordinator:
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    return coordinator


def live(station: Station) -> tuple[dict[str, Any], dict[str, JsonValue]]:
    """Everything a station carries on with: its meter and its aggregator."""
    return dict(station.meter.to_json()), station.aggregator.snapshot()


async def saved_state(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, JsonValue] | None:
    store = await async_get_store(hass)
    return await hass.async_add_executor_job(store.load_state, f"webhook_{entry.entry_id}")


async def saved_station(
    hass: HomeAssistant, entry: MockConfigEntry, station_id: str
) -> dict[str, JsonValue]:
    """The saved state of ``station_id`` (the entry's state must be saved, with it in)."""
    saved = await saved_state(hass, entry)
    assert saved is not None
    stations = saved["stations"]
    assert isinstance(stations, dict)
    station = stations[station_id]
    assert isinstance(station, dict)
    return station


def windows_30s(readings: Sequence[tuple[float, float]]) -> dict[float, tuple[int, float]]:
    """(reading count, W*s) by 30-s window start: each reading weighs the time to the next one
    (at most STATION_MAX_HOLD, the last one that much) in its own window."""
    out: dict[float, tuple[int, float]] = {}
    for index, (t, watts) in enumerate(readings):
        following = readings[index + 1][0] if index + 1 < len(readings) else t + STATION_MAX_HOLD
        start = t - t % 30
        count, ws = out.get(start, (0, 0.0))
        out[start] = (count + 1, ws + watts * min(following - t, STATION_MAX_HOLD))
    return out


async def test_an_unclean_stop_loses_no_energy_cost_or_window(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch, the minute's save, then 300 s at 1000 W and a crash: after the restart the
    station's energy and cost are exactly what was shown (never less: a total_increasing
    sensor that drops reads as a meter reset), and its windows are all written."""
    now = time.time()
    base = now - 1045  # the last reading 95 s ago: the station is still available
    unit = {ATTR_UNIT_OF_MEASUREMENT: "€/kWh"}
    hass.states.async_set("sensor.tariff", "0.25", unit, timestamp=base - 60)
    entry = webhook_entry(price_source="sensor.tariff")
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    client = await hass_client_no_auth()
    first = [(base + s, 400.0 + (s * 37) % 900) for s in range(0, 600, 10)]
    await post(client, "1", first)
    await save(coordinator)
    saved_meter = (await saved_station(hass, entry, "1"))["meter"]
    assert isinstance(saved_meter, dict)

    # another price for the second batch: each reading keeps the price it was stored with
    hass.states.async_set("sensor.tariff", "0.4", unit, timestamp=base + 660)
    second = [(base + 660 + s, 1000.0) for s in range(0, 300, 10)]
    await post(client, "1", second)
    shown = {
        key: state_of(hass, f"sensor.station_1_{key}").state for key in ("energy", "cost", "power")
    }
    before = live(coordinator.stations["1"])
    assert before[0]["energy_kwh"] > saved_meter["energy_kwh"]  # (not in the saved state)
    assert before[0]["last_price"] == 0.4

    await stop_uncleanly(hass, entry, monkeypatch)
    coordinator = await start_again(hass, entry)
    assert live(coordinator.stations["1"]) == before  # to the last bit, windows open included
    for key, state in shown.items():
        assert state_of(hass, f"sensor.station_1_{key}").state == state, key

    # the windows the crash never wrote are written after the restart
    await tick(hass, 11)
    store = await async_get_store(hass)
    windows = await hass.async_add_executor_job(
        store.query_windows, station_series(entry.entry_id, "1"), 30, base - 30, now
    )
    expected = windows_30s(first + second)
    got = {w.start: (w.reading_count, w.energy_kwh) for w in windows if w.reading_count}
    assert sorted(got) == sorted(expected)
    last = max(expected)  # (closed by the watchdog: its last reading weighs until then)
    for start, (count, ws) in expected.items():
        assert got[start][0] == count, start
        if start != last:
            assert got[start][1] == pytest.approx(ws / 3.6e6), start


async def test_a_new_station_comes_back_and_a_deleted_one_does_not(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Replayed are the readings stored after the save: a station first seen after it is
    restored too; one deleted before it stays deleted (its readings are still stored)."""
    entry = webhook_entry()
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    client = await hass_client_no_auth()
    base = time.time() - 300
    await post(client, "a", [(base + s, 50.0 + s) for s in range(0, 60, 5)])
    await post(client, "gone", [(base + s, 70.0) for s in range(0, 60, 5)])
    devices = dr.async_get(hass)
    device = devices.async_get_device_by_identifier(
        (DOMAIN, f"{entry.entry_id}_station_gone"), entry.entry_id
    )
    assert device is not None
    assert await async_remove_config_entry_device(hass, entry, device)
    devices.async_remove_device(device.id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await save(coordinator)  # without "gone"
    await post(client, "a", [(base + s, 200.0) for s in range(60, 120, 5)])
    await post(client, "new", [(base + s, 300.0 + s) for s in range(30, 120, 5)])
    before = {station_id: live(station) for station_id, station in coordinator.stations.items()}
    assert sorted(before) == ["a", "new"]

    await stop_uncleanly(hass, entry, monkeypatch)
    coordinator = await start_again(hass, entry)
    after = {station_id: live(station) for station_id, station in coordinator.stations.items()}
    assert after == before


async def test_a_crash_before_the_first_save(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing saved yet: the readings of the last day are replayed; a station silent for
    longer than STATION_STALE_AFTER comes back unavailable, with its totals."""
    entry = webhook_entry()
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    client = await hass_client_no_auth()
    base = time.time() - 3600
    await post(client, "x", [(base + s, 800.0 + s % 7) for s in range(0, 900, 15)])
    before = live(coordinator.stations["x"])
    assert await saved_state(hass, entry) is None

    await stop_uncleanly(hass, entry, monkeypatch)
    coordinator = await start_again(hass, entry)
    assert live(coordinator.stations["x"]) == before
    assert not coordinator.stations["x"].available
    assert state_of(hass, "sensor.station_x_energy").state == STATE_UNAVAILABLE


async def test_an_idle_entry_is_saved_hourly(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Without readings the state is saved once, then hourly: how far back a restart looks
    for readings stored after the last save is bounded by that save's time."""
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    freezer.move_to(start)
    entry = webhook_entry()
    await setup_loaded(hass, entry, WebhookCoordinator)
    assert await saved_state(hass, entry) is None
    times: list[float] = []
    for minutes in range(1, 63):
        await travel(hass, freezer, start + timedelta(minutes=minutes, seconds=1))
        await hass.async_block_till_done(wait_background_tasks=True)  # (the save's task)
        saved = await saved_state(hass, entry)
        assert saved is not None
        saved_at = saved["saved_at"]
        assert isinstance(saved_at, float)
        times.append(saved_at)
    assert sorted(set(times)) == [
        (start + timedelta(minutes=1, seconds=1)).timestamp(),
        (start + timedelta(minutes=61, seconds=1)).timestamp(),
    ]


async def test_unusable_readings_are_skipped_and_an_unreadable_meterlog_is_logged(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Stored readings are input too: one that is not a reading (a damaged or edited file) is
    left out of the replay, the others count; a meterlog that cannot be read leaves the saved
    state as it is, with a warning."""
    entry = webhook_entry()
    store = await async_get_store(hass)
    base = time.time() - 100
    good = [(base, "ok", 600.0, 0.2), (base + 30, "ok", 1200.0, 0.2), (base + 40, "ok", 0.0, None)]
    rows = [MeterlogRow(t, s, w, p, entry=entry.entry_id) for t, s, w, p in good]
    rows.insert(1, MeterlogRow(base + 10, "bad id!", 5.0, entry=entry.entry_id))
    rows.append(MeterlogRow(base + 50, "ok", 9.0, entry="01SOMEOTHERENTRY"))
    await hass.async_add_executor_job(store.add_readings, rows)
    with closing(sqlite3.connect(hass.config.path(STORE_FILENAME), isolation_level=None)) as db:
        db.execute(
            "INSERT INTO meterlog (time, station_id, watts, price, entry) VALUES (?, ?, ?, ?, ?)",
            (base + 20, "ok", "lots", None, entry.entry_id),
        )
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    assert list(coordinator.stations) == ["ok"]
    meter = coordinator.stations["ok"].meter
    assert (meter.readings, meter.last_time, meter.last_watts) == (3, base + 40, 0.0)
    expected_kwh = (600.0 * 30 + 1200.0 * 10) / 3.6e6
    assert meter.energy_kwh == pytest.approx(expected_kwh)
    assert meter.cost == pytest.approx(expected_kwh * 0.2)
    assert "2 stored reading(s) not replayed" in caplog.text
    assert coordinator.stations["ok"].available

    assert await hass.config_entries.async_unload(entry.entry_id)

    def unreadable(*_args: object) -> NoReturn:
        raise StoreUnavailableError("disk I/O error")

    monkeypatch.setattr(store, "entry_readings_after", unreadable)
    coordinator = await start_again(hass, entry)
    assert coordinator.stations["ok"].meter.energy_kwh == pytest.approx(expected_kwh)
    assert "cannot be read, totals may miss them: disk I/O error" in caplog.text


async def test_a_snapshot_saved_before_series_were_per_entry_continues(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
) -> None:
    """A station saved with its windows under the old series name (``station:<id>``) keeps
    its totals and its open window, which closes under the entry's series."""
    entry = webhook_entry()
    store = await async_get_store(hass)
    base = (time.time() - 600) // 30 * 30
    meter = StationMeter("7", STATION_MAX_HOLD)
    old = WindowAggregator("station:7", max_weight=STATION_MAX_HOLD)
    for t, watts in ((base, 100.0), (base + 10, 300.0)):
        meter.add(t, watts, None)
        old.add(Reading(t, watts))
    saved: dict[str, JsonValue] = {
        "version": 1,
        "stations": {"7": {"meter": dict(meter.to_json()), "aggregator": old.snapshot()}},
    }
    await hass.async_add_executor_job(store.save_state, f"webhook_{entry.entry_id}", saved)
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    station = coordinator.stations["7"]
    assert station.meter.to_json() == meter.to_json()
    assert station.aggregator.series == station_series(entry.entry_id, "7")
    client = await hass_client_no_auth()
    body = {"readings": [{"watts": 0, "station_id": 7, "time": base + 40}]}
    assert (await client.post(URL, json=body)).status == 200
    await tick(hass, 11)
    windows = await hass.async_add_executor_job(
        store.query_windows, station_series(entry.entry_id, "7"), 30, base, base + 30
    )
    # each reading weighs the time to the next one (in its own window): 10 s and 30 s
    assert [(w.reading_count, w.w_avg) for w in windows] == [(2, (100.0 * 10 + 300.0 * 30) / 40)]


def energy_kwh(readings: Sequence[tuple[float, float]]) -> float:
    """A station's energy from its readings, in time order: each reading's power (> 0) holds
    until the next one, for at most STATION_MAX_HOLD."""
    ordered = sorted(readings)
    return (
        sum(
            max(watts, 0.0) * min(following - t, STATION_MAX_HOLD)
            for (t, watts), (following, _) in pairwise(ordered)
        )
        / 3.6e6
    )


async def test_a_batch_not_in_time_order_is_replayed_as_it_was_applied(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch may come in any order (a ring buffer sent from its oldest slot on): live, all of
    it counts. After a crash, its replay must count all of it too, not only what is later than
    the first reading stored: the energy sensor would go down."""
    entry = webhook_entry()
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    client = await hass_client_no_auth()
    base = time.time() - 600
    first = [(base + s, 500.0) for s in range(0, 60, 10)]
    await post(client, "r", first)
    await save(coordinator)
    later = [(base + 60 + s, 1000.0 + s) for s in range(0, 300, 10)]
    await post(client, "r", later[20:] + later[:20])  # the newest third first
    before = live(coordinator.stations["r"])
    assert before[0]["energy_kwh"] == pytest.approx(energy_kwh(first + later))
    assert before[0]["readings"] == len(first + later)

    await stop_uncleanly(hass, entry, monkeypatch)
    coordinator = await start_again(hass, entry)
    assert live(coordinator.stations["r"]) == before


def dirty(coordinator: WebhookCoordinator) -> bool:
    """Whether the live state waits for a save."""
    return coordinator.saved.dirty


async def test_saves_are_written_one_after_the_other(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A save that started earlier (a slow disk) never lands over a later one (the later one
    waits), and readings applied while a save is written leave the state to be saved again."""
    entry = webhook_entry()
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    client = await hass_client_no_auth()
    base = time.time() - 100
    await post(client, "1", [(base, 100.0), (base + 10, 200.0)])
    store = await async_get_store(hass)
    real = store.save_state
    gates: list[threading.Event] = []

    def slow(key: str, value: dict[str, JsonValue]) -> None:
        gate = threading.Event()
        gates.append(gate)
        assert gate.wait(10)
        real(key, value)

    monkeypatch.setattr(store, "save_state", slow)

    # a reading applied while a save is written: still to be saved afterwards
    first = hass.async_create_task(coordinator.saved.async_save())
    await wait_for(lambda: len(gates) == 1)
    await post(client, "1", [(base + 20, 300.0)])
    gates[0].set()
    await first
    assert dirty(coordinator)

    # a save started while another is written waits for it
    first = hass.async_create_task(coordinator.saved.async_save())
    await wait_for(lambda: len(gates) == 2)
    await post(client, "1", [(base + 30, 400.0)])
    second = hass.async_create_task(coordinator.saved.async_save())
    for _ in range(20):  # time enough for a save run beside the first one to start
        await asyncio.sleep(0.01)
    assert len(gates) == 2
    gates[1].set()
    await wait_for(lambda: len(gates) == 3)
    gates[2].set()
    await first
    await second
    assert not dirty(coordinator)
    now = live(coordinator.stations["1"])[0]
    assert now["last_watts"] == 400.0
    assert (await saved_station(hass, entry, "1"))["meter"] == now
