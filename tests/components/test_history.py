"""History in Home Assistant: windows from live pushes, restarts, outages, statistics, issues."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
import json
import logging
from pathlib import Path
from typing import Any

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.metering import MeterStore, StoreUnavailableError, Window
from custom_components.meterit.p1 import history as history_module
from custom_components.meterit.p1.history import MeterHistory
from custom_components.meterit.storage import async_get_store
from simulator.p1_meter import DEFAULT_MEASUREMENT, FakeP1Meter

from .conftest import METER_SERIAL, p1_entry, wait_for

SERIES = f"p1:{METER_SERIAL}"
IMPORT_ID = f"meterit:{METER_SERIAL}_energy_import"
EXPORT_ID = f"meterit:{METER_SERIAL}_energy_export"
POWER_ID = f"meterit:{METER_SERIAL}_power"
T0 = datetime(2026, 6, 21, 10, 0, 10, tzinfo=UTC).timestamp()  # 10 s into a 5-min window
IMPORT0 = float(DEFAULT_MEASUREMENT["energy_import_kwh"])  # type: ignore[arg-type]
EXPORT0 = float(DEFAULT_MEASUREMENT["energy_export_kwh"])  # type: ignore[arg-type]


def at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class Clock:
    """Home Assistant's clock as the history sees it (the loop keeps real time)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def move_to(self, when: datetime) -> None:
        self.t = when.timestamp()

    def __call__(self) -> float:
        return self.t


async def fire(hass: HomeAssistant, clock: Clock, t: float) -> None:
    """Move the history's clock to ``t`` and run the timers (tick, save, purge)."""
    clock.t = t
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=2))
    await hass.async_block_till_done()


def history_of(entry: MockConfigEntry) -> MeterHistory:
    history = entry.runtime_data.history
    assert isinstance(history, MeterHistory)
    return history


async def start(hass: HomeAssistant, entry: MockConfigEntry) -> MeterHistory:
    """Set the entry up (its REST reading is the first reading) and wait for the stream."""
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data
    await wait_for(lambda: coordinator.stream.connected and coordinator.pushes > 0)
    await hass.async_block_till_done()
    return history_of(entry)


async def stop(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED


async def push(
    hass: HomeAssistant,
    freezer: Clock,
    entry: MockConfigEntry,
    meter: FakeP1Meter,
    t: float,
    **changes: Any,
) -> None:
    """Push the meter's measurement (with changes) at time ``t``; wait until it is handled."""
    freezer.move_to(at(t))
    coordinator = entry.runtime_data
    before = coordinator.pushes
    await meter.push({**meter.measurement, **changes})
    await wait_for(lambda: coordinator.pushes > before)
    await hass.async_block_till_done()


async def stored(hass: HomeAssistant, res: int, start: float, end: float) -> list[Window]:
    store = await async_get_store(hass)
    return await hass.async_add_executor_job(store.query_windows, SERIES, res, start, end)


async def hour_stats(hass: HomeAssistant, start: float, end: float) -> dict[str, list[Any]]:
    await async_wait_recording_done(hass)
    return await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        at(start),
        at(end),
        {IMPORT_ID, EXPORT_ID, POWER_ID},
        "hour",
        None,
        {"state", "sum", "mean", "min", "max"},
    )


@pytest.fixture
def freezer(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(T0)
    monkeypatch.setattr(history_module, "clock", clock)
    return clock


@pytest.fixture
def entry(meter: FakeP1Meter, freezer: Clock) -> MockConfigEntry:
    return p1_entry(meter)


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


async def test_counter_reset_needs_confirmation_and_raises_an_issue(
    hass: HomeAssistant, meter: FakeP1Meter, freezer: Clock, entry: MockConfigEntry
) -> None:
    entry.add_to_hass(hass)
    await start(hass, entry)
    issues = ir.async_get(hass)
    issue_id = f"counter_reset_{entry.entry_id}"
    # one backwards glitch is dropped, then the counter is back: no issue, no energy invented
    await push(hass, freezer, entry, meter, T0 + 1, energy_import_kwh=IMPORT0 - 5)
    await push(hass, freezer, entry, meter, T0 + 2, energy_import_kwh=IMPORT0 + 0.001)
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    # a new meter: the counter stays low
    new = 12.5
    for k in range(10):
        await push(hass, freezer, entry, meter, T0 + 3 + k, energy_import_kwh=new + k / 1000)
        if k < 9:
            assert issues.async_get_issue(DOMAIN, issue_id) is None
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "counter_reset"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["before"] == f"{IMPORT0 + 0.001:.3f}"
    assert issue.translation_placeholders["after"] == f"{new + 0.009:.3f}"
    assert issue.translation_placeholders["counter"] == "import"
    # the import sensor follows the new meter again
    await wait_for(
        lambda: (
            (s := hass.states.get("sensor.p1_meter_energy_import")) is not None
            and s.state == f"{new + 0.009}"
        )
    )
    # closing the window: its energy is only what the counters really advanced (1 Wh, then 0)
    await push(hass, freezer, entry, meter, T0 + 300, energy_import_kwh=new + 0.009)
    window = (await stored(hass, 300, T0 - 10, T0 + 290))[0]
    assert window.energy_import_kwh == pytest.approx(0.001)


async def test_corrupt_store_raises_issue_and_sensors_keep_working(
    hass: HomeAssistant, meter: FakeP1Meter, freezer: Clock, entry: MockConfigEntry
) -> None:
    path = Path(hass.config.path("meterit.db"))
    garbage = b"this is not a database" * 100
    await hass.async_add_executor_job(path.write_bytes, garbage)
    entry.add_to_hass(hass)
    history = await start(hass, entry)
    assert history.store is None
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"store_unusable_{entry.entry_id}")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    await push(hass, freezer, entry, meter, T0 + 300, power_w=100)
    assert history.latest is not None
    assert history.latest.reading_count == 1
    state = hass.states.get("sensor.p1_meter_power_5_min_average")
    assert state is not None
    assert float(state.state) == 543
    assert await hass.async_add_executor_job(path.read_bytes) == garbage  # nothing destroyed


async def test_unwritable_store_keeps_windows_and_recovers(
    hass: HomeAssistant,
    meter: FakeP1Meter,
    freezer: Clock,
    entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry.add_to_hass(hass)
    history = await start(hass, entry)
    store = history.store
    assert store is not None
    real_write = store.write_windows

    def broken(*args: object, **kwargs: object) -> int:
        raise StoreUnavailableError("disk full")

    monkeypatch.setattr(store, "write_windows", broken)
    await push(hass, freezer, entry, meter, T0 + 300, power_w=100)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"store_unwritable_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert "disk full" in issue.translation_placeholders["error"]
    assert history.latest is not None  # the sensors still get the window

    monkeypatch.setattr(store, "write_windows", real_write)
    await fire(hass, freezer, T0 + 370)
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"store_unwritable_{entry.entry_id}") is None
    assert len(await stored(hass, 300, T0 - 10, T0 + 290)) == 1
    thirty = await stored(hass, 30, T0 - 10, T0 + 290)
    # the first 30-s window, then the silence until 10:05 as synthetic 30-s windows
    assert [w.reading_count for w in thirty] == [1] + [0] * 9


# ---------------------------------------------------------------------- counters that misbehave


def wh(kwh: float | None) -> int:
    assert kwh is not None
    return round(kwh * 1000)


async def push_data(
    hass: HomeAssistant,
    freezer: Clock,
    entry: MockConfigEntry,
    meter: FakeP1Meter,
    t: float,
    data: dict[str, Any],
) -> None:
    """Push exactly ``data`` (fields may be missing) at time ``t``; wait until it is handled."""
    freezer.move_to(at(t))
    coordinator = entry.runtime_data
    before = coordinator.pushes
    await meter.push(data)
    await wait_for(lambda: coordinator.pushes > before)
    await hass.async_block_till_done()


async def test_tariff_only_meter_gets_energy_and_statistics(
    hass: HomeAssistant,
    meter: FakeP1Meter,
    freezer: Clock,
    entry: MockConfigEntry,
    fixtures_dir: Path,
) -> None:
    """A meter without total counters: its counter is the sum of the tariffs it sends."""
    one_phase: dict[str, Any] = json.loads(
        (fixtures_dir / "homewizard-v2" / "measurement_1_phase_no_gas.json").read_text()
    )
    assert "energy_import_kwh" not in one_phase
    assert "energy_export_kwh" not in one_phase
    meter.measurement = one_phase
    entry.add_to_hass(hass)
    await start(hass, entry)  # the first reading at 10:00:10
    t1 = float(one_phase["energy_import_t1_kwh"])
    t2 = float(one_phase["energy_import_t2_kwh"])
    step = 0.1
    for k in range(1, 16):  # t1 +0.1 kWh every 5 minutes
        await push(hass, freezer, entry, meter, T0 + k * 300, energy_import_t1_kwh=t1 + k * step)
    windows = await stored(hass, 300, T0 - 10, T0 + 15 * 300)
    assert [w.start for w in windows] == [T0 - 10 + k * 300 for k in range(15)]
    assert wh(windows[0].energy_import_kwh) == 0  # the first reading starts the counter
    assert [wh(w.energy_import_kwh) for w in windows[1:]] == [round(step * 1000)] * 14
    assert all(wh(w.energy_export_kwh) == 0 for w in windows)
    assert windows[-1].import_kwh == pytest.approx(t1 + 14 * step + t2)

    hour10 = datetime(2026, 6, 21, 10, 0, tzinfo=UTC).timestamp()
    stats = await hour_stats(hass, hour10, hour10 + 3600)
    [hour] = stats[IMPORT_ID]
    expected = sum(wh(w.energy_import_kwh) for w in windows if w.start < hour10 + 3600) / 1000
    assert expected > 0
    assert hour["state"] == pytest.approx(expected)
    assert hour["sum"] == pytest.approx(expected)
    assert [row["state"] for row in stats[EXPORT_ID]] == [0]

    # a push without tariff 2 (a bad value) and a tariff 3 that shows up: no energy invented,
    # none lost
    last = t1 + 15 * step
    now = T0 + 15 * 300
    without_t2 = {k: v for k, v in one_phase.items() if k != "energy_import_t2_kwh"}
    await push_data(
        hass, freezer, entry, meter, now + 10, {**without_t2, "energy_import_t1_kwh": last + 0.01}
    )
    meter.measurement = one_phase  # tariff 2 is back from the next push on
    await push(hass, freezer, entry, meter, now + 20, energy_import_t1_kwh=last + 0.02)
    await push(hass, freezer, entry, meter, now + 30, energy_import_t1_kwh=last + 0.03)
    t3 = 5000.0  # counted before, somewhere: not consumption in this window
    for dt, t1_now in ((40, last + 0.03), (50, last + 0.03), (60, last + 0.05), (300, last + 0.05)):
        await push(
            hass,
            freezer,
            entry,
            meter,
            now + dt,
            energy_import_t1_kwh=t1_now,
            energy_import_t3_kwh=t3,
        )
    [window] = await stored(hass, 300, now - 10, now + 290)
    # the window's reading at `now` was +0.1 on its own; then +0.05 from t1, nothing from t3
    assert wh(window.energy_import_kwh) == round((step + 0.05) * 1000)
    assert window.import_kwh == pytest.approx(last + 0.05 + t2 + t3)
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"counter_reset_{entry.entry_id}") is None


async def test_absurd_counter_jump_is_dropped(
    hass: HomeAssistant, meter: FakeP1Meter, freezer: Clock, entry: MockConfigEntry
) -> None:
    """One push with an absurd counter: no energy invented, no reset issue, sensor unharmed."""
    entry.add_to_hass(hass)
    await start(hass, entry)
    await push(hass, freezer, entry, meter, T0 + 1, energy_import_kwh=IMPORT0 + 0.001)
    await push(hass, freezer, entry, meter, T0 + 2, energy_import_kwh=99999.0)
    state = hass.states.get("sensor.p1_meter_energy_import")
    assert state is not None
    assert state.state != "99999.0"
    last = IMPORT0
    for k in range(12):
        last = round(IMPORT0 + 0.002 + k / 1000, 3)
        await push(hass, freezer, entry, meter, T0 + 3 + k, energy_import_kwh=last)
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"counter_reset_{entry.entry_id}") is None
    state = hass.states.get("sensor.p1_meter_energy_import")
    assert state is not None
    assert float(state.state) == last
    await push(hass, freezer, entry, meter, T0 + 300, energy_import_kwh=last)
    [window] = await stored(hass, 300, T0 - 10, T0 + 290)
    assert wh(window.energy_import_kwh) == wh(last) - wh(IMPORT0)


async def test_meter_replaced_with_a_higher_counter(
    hass: HomeAssistant, meter: FakeP1Meter, freezer: Clock, entry: MockConfigEntry
) -> None:
    """A jump that stays is a new meter: confirmed, an issue, and the jump is not energy."""
    entry.add_to_hass(hass)
    await start(hass, entry)
    issues = ir.async_get(hass)
    issue_id = f"counter_reset_{entry.entry_id}"
    await push(hass, freezer, entry, meter, T0 + 1, energy_import_kwh=IMPORT0 + 0.001)
    new = IMPORT0 + 5000.0
    for k in range(10):
        await push(hass, freezer, entry, meter, T0 + 2 + k, energy_import_kwh=new + k / 1000)
        if k < 9:
            assert issues.async_get_issue(DOMAIN, issue_id) is None
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["before"] == f"{IMPORT0 + 0.001:.3f}"
    assert issue.translation_placeholders["after"] == f"{new + 0.009:.3f}"
    await wait_for(
        lambda: (
            (s := hass.states.get("sensor.p1_meter_energy_import")) is not None
            and float(s.state) == round(new + 0.009, 3)
        )
    )
    await push(hass, freezer, entry, meter, T0 + 20, energy_import_kwh=new + 0.012)
    await push(hass, freezer, entry, meter, T0 + 300, energy_import_kwh=new + 0.012)
    [window] = await stored(hass, 300, T0 - 10, T0 + 290)
    # 1 Wh on the old meter, then what the new one counted after its confirmation
    assert wh(window.energy_import_kwh) == 1 + wh(new + 0.012) - wh(new + 0.009)


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
