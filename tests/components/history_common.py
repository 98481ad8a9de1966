"""Shared by the history tests: the fake meter's pushes, the history's clock, what is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.meterit.metering import Window
from custom_components.meterit.p1 import history as history_module
from custom_components.meterit.p1.history import MeterHistory
from custom_components.meterit.shared_store import async_get_store
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


def wh(kwh: float | None) -> int:
    assert kwh is not None
    return round(kwh * 1000)
