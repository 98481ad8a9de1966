"""History in Home Assistant: windows over restarts, outages, silence, a clock set back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
import logging

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.metering import MeterStore
from custom_components.meterit.shared_store import async_get_store
from simulator.p1_meter import FakeP1Meter

from . import history_common
from .conftest import METER_SERIAL
from .history_common import (
    EXPORT_ID,
    IMPORT0,
    IMPORT_ID,
    POWER_ID,
    SERIES,
    T0,
    Clock,
    at,
    fire,
    history_of,
    hour_stats,
    push,
    start,
    stop,
    stored,
    wh,
)

freezer = history_common.freezer  # fixtures: the history's clock, the meter's entry
entry = history_common.entry


async def test_restart_mid_window_and_three_hour_outage(
    hass: HomeAssistant, meter: FakeP1Meter, freezer: Clock, entry: MockConfigEntry
) -> None:
    """Nothing received is lost over a restart; an outage's energy lands in its own hours."""
    entry.add_to_hass(hass)
    await start(hass, entry)  # reading at 10:00:10: w 543, import IMPORT0
    await push(
        hass, freezer, entry, meter, T0 + 20, power_w=1000, energy_import_kwh=IMPORT0 + 0.005
    )
    await push(
        hass, freezer, entry, meter, T0 + 40, power_w=2000, energy_import_kwh=IMPORT0 + 0.012
    )
    freezer.move_to(at(T0 + 50))
    await stop(hass, entry)  # mid-window: the open window is in the saved snapshot
    store: MeterStore = await async_get_store(hass)
    snapshot = await hass.async_add_executor_job(store.load_state, f"history_{SERIES}")
    assert snapshot is not None
    assert snapshot["open"][1]["count"] == 3  # type: ignore[index,call-overload]

    freezer.move_to(at(T0 + 60))
    meter.measurement = {**meter.measurement, "power_w": 1500, "energy_import_kwh": IMPORT0 + 0.020}
    await start(hass, entry)  # REST reading at 10:01:10 continues the same window
    await push(hass, freezer, entry, meter, T0 + 80, power_w=500, energy_import_kwh=IMPORT0 + 0.024)
    await push(
        hass, freezer, entry, meter, T0 + 295, power_w=700, energy_import_kwh=IMPORT0 + 0.062
    )

    first = await stored(hass, 300, T0 - 10, T0 + 290)
    assert len(first) == 1
    window = first[0]
    # readings 543, 1000, 2000, 1500 W weigh 20 s each; 500 W at 10:01:30 is capped at 30 s
    assert window.reading_count == 5
    assert window.w_avg == pytest.approx((543 + 1000 + 2000 + 1500) * 20 / 110 + 500 * 30 / 110)
    assert (window.w_max, window.w_min) == (2000, 500)
    assert window.energy_import_kwh == pytest.approx(0.024)
    assert history_of(entry).latest == window

    # --- a 3-hour outage: Home Assistant is down from 10:05:10 until 13:07:20
    freezer.move_to(at(T0 + 300))
    await stop(hass, entry)
    outage_end = datetime(2026, 6, 21, 13, 7, 20, tzinfo=UTC).timestamp()
    gap_wh = 2345
    freezer.move_to(at(outage_end))
    meter.measurement = {
        **meter.measurement,
        "power_w": 900,
        "energy_import_kwh": round(IMPORT0 + 0.062 + gap_wh / 1000, 3),
    }
    await start(hass, entry)
    last_import = round(IMPORT0 + 0.062 + gap_wh / 1000 + 0.005, 3)
    close = datetime(2026, 6, 21, 13, 10, 5, tzinfo=UTC).timestamp()
    await push(hass, freezer, entry, meter, close, power_w=800, energy_import_kwh=last_import)

    windows = await stored(hass, 300, T0 - 10, close)
    starts = [w.start for w in windows]
    five = 300.0
    assert starts == [T0 - 10 + k * five for k in range(len(windows))]  # no hole
    synthetic = [w for w in windows if w.synthetic]
    gap_start = T0 - 10 + 2 * five  # 10:10
    assert [w.start for w in synthetic] == [gap_start + k * five for k in range(35)]
    # the gap's energy is spread by duration: 295 s tail, 35 x 300 s, 140 s head
    duration = outage_end - (T0 + 295)
    assert duration == 295 + 35 * 300 + 140
    for w in synthetic:
        share = w.energy_import_kwh
        assert share is not None
        assert abs(share * 1000 - gap_wh * 300 / duration) < 1
        assert w.w_avg == pytest.approx(share * 1000 * 12)  # 5 min: W = Wh * 12
        assert w.energy_export_kwh == 0
    # the invariant, against the meter's counters: everything from the first reading on
    total = sum(w.energy_import_kwh or 0 for w in windows)
    assert total == pytest.approx(round(last_import - 0.005 - IMPORT0, 3))

    # --- statistics: hours 10, 11, 12 are complete; their energy follows the counters
    hour10 = datetime(2026, 6, 21, 10, 0, tzinfo=UTC).timestamp()
    await hass.async_block_till_done()
    stats = await hour_stats(hass, hour10, hour10 + 3 * 3600)
    imports = stats[IMPORT_ID]
    assert [row["start"] for row in imports] == [hour10, hour10 + 3600, hour10 + 7200]
    for row in imports:
        expected = sum(
            w.energy_import_kwh or 0
            for w in windows
            if row["start"] <= w.start < row["start"] + 3600
        )
        assert row["state"] == pytest.approx(expected)
    # hour 11 lies wholly inside the outage: its share of the counter difference
    assert abs(imports[1]["state"] * 1000 - gap_wh * 3600 / duration) < 1
    assert imports[-1]["sum"] == pytest.approx(
        sum(w.energy_import_kwh or 0 for w in windows if w.start < hour10 + 3 * 3600)
    )
    assert [row["sum"] for row in stats[EXPORT_ID]] == [0, 0, 0]
    power = stats[POWER_ID]
    assert power[1]["mean"] == pytest.approx(imports[1]["state"] * 1000)  # W over one hour
    assert power[0]["max"] == 2000

    # a restart imports again from the last hour: same rows, no duplicates
    await stop(hass, entry)
    await start(hass, entry)
    again = await hour_stats(hass, hour10, hour10 + 3 * 3600)
    assert again[IMPORT_ID] == imports


async def test_window_sensors_update_when_a_window_closes(
    hass: HomeAssistant, meter: FakeP1Meter, freezer: Clock, entry: MockConfigEntry
) -> None:
    entry.add_to_hass(hass)
    await start(hass, entry)
    registry = er.async_get(hass)
    average = registry.async_get_entity_id("sensor", DOMAIN, f"{METER_SERIAL}_window_w_avg")
    maximum = registry.async_get_entity_id("sensor", DOMAIN, f"{METER_SERIAL}_window_w_max")
    phase = registry.async_get_entity_id("sensor", DOMAIN, f"{METER_SERIAL}_window_l1_w_avg")
    assert average
    assert maximum
    assert phase
    entity = registry.async_get(phase)
    assert entity is not None
    assert entity.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    state = hass.states.get(average)
    assert state is not None
    assert state.state == "unknown"

    await push(hass, freezer, entry, meter, T0 + 100, power_w=1200)
    state = hass.states.get(average)
    assert state is not None
    assert state.state == "unknown"
    await push(hass, freezer, entry, meter, T0 + 300, power_w=100)
    state = hass.states.get(average)
    assert state is not None
    # 543 W from 10:00:10 for 30 s (capped), 1200 W from 10:01:50 for 30 s
    assert float(state.state) == pytest.approx((543 + 1200) / 2)
    assert state.attributes["synthetic"] is False
    state = hass.states.get(maximum)
    assert state is not None
    assert float(state.state) == 1200


async def test_silence_closes_windows_and_purge_keeps_five_minutes(
    hass: HomeAssistant, meter: FakeP1Meter, freezer: Clock, entry: MockConfigEntry
) -> None:
    entry.add_to_hass(hass)
    history = await start(hass, entry)
    await fire(hass, freezer, T0 + 400)
    assert history.latest is not None
    assert history.latest.start == T0 - 10
    thirty = await stored(hass, 30, T0 - 100, T0 + 400)
    assert [w.start for w in thirty] == [T0 - 10]

    # a day later the hourly purge removes 30-s windows, 5-min ones stay
    await fire(hass, freezer, T0 + 86_400 + 3600)
    async with asyncio.timeout(5):  # the purge runs as a background task of the timer
        while await stored(hass, 30, T0 - 100, T0 + 400):
            await asyncio.sleep(0.01)
    assert len(await stored(hass, 300, T0 - 100, T0 + 400)) == 1


async def test_clock_set_back_restarts_the_windows(
    hass: HomeAssistant,
    meter: FakeP1Meter,
    freezer: Clock,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """NTP corrects a clock that was a day ahead: the history goes on at the right time."""
    caplog.set_level(logging.WARNING)
    ahead = T0 + 86_400
    freezer.t = ahead
    entry.add_to_hass(hass)
    history = await start(hass, entry)  # the first reading, a day ahead
    await push(hass, freezer, entry, meter, ahead + 20, energy_import_kwh=IMPORT0 + 0.005)
    await push(hass, freezer, entry, meter, T0 + 30, energy_import_kwh=IMPORT0 + 0.010)
    await push(hass, freezer, entry, meter, T0 + 60, energy_import_kwh=IMPORT0 + 0.015)
    await push(hass, freezer, entry, meter, T0 + 300, energy_import_kwh=IMPORT0 + 0.020)
    await push(hass, freezer, entry, meter, T0 + 40_000, energy_import_kwh=IMPORT0 + 0.020)
    warnings = [r for r in caplog.records if "clock went back" in r.getMessage()]
    assert len(warnings) == 1

    [window] = await stored(hass, 300, T0 - 10, T0 + 290)
    assert window.reading_count == 2
    # the counter went on across the jump: 5 Wh since the last reading ahead, then 5 Wh
    assert wh(window.energy_import_kwh) == 10
    assert history.latest is not None
    assert history.latest.start >= window.start
    assert history.latest.start < ahead - 10
    [early] = await stored(hass, 300, ahead - 10, ahead + 290)
    assert early.reading_count == 2
    everything = await stored(hass, 300, T0 - 10, ahead + 290)
    assert sum(wh(w.energy_import_kwh) for w in everything) == wh(IMPORT0 + 0.020) - wh(IMPORT0)

    await fire(hass, freezer, T0 + 40_100)  # saves the snapshot: no time from the future in it
    store: MeterStore = await async_get_store(hass)
    snapshot = await hass.async_add_executor_job(store.load_state, f"history_{SERIES}")
    assert snapshot is not None
    assert snapshot["prev"]["t"] == T0 + 40_000  # type: ignore[index,call-overload]
    assert (snapshot["watermark"] or 0) <= T0 + 40_100  # type: ignore[operator]
