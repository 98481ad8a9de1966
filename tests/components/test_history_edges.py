"""MeterHistory without a meter: restore, bad input, store failures, timers, query edges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
import logging
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.history.hwlogger import async_import_hwlogger
from custom_components.meterit.history.query import (
    HistoryArgumentError,
    HistoryQuery,
    Resolution,
    async_query_history,
    parse_instant,
)
from custom_components.meterit.homewizard import Measurement
from custom_components.meterit.metering import (
    MeterStore,
    Reading,
    StoreCorruptError,
    StoreError,
    StoreUnavailableError,
    WindowAggregator,
)
from custom_components.meterit.p1 import history as history_module
from custom_components.meterit.p1.history import MeterHistory
from custom_components.meterit.shared_store import async_get_store

T0 = datetime(2026, 6, 21, 10, 0, 10, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(history_module, "clock", c)
    return c


@pytest.fixture
async def entry(hass: HomeAssistant) -> AsyncIterator[MockConfigEntry]:
    e = MockConfigEntry(domain=DOMAIN, title="Meter")
    e.add_to_hass(hass)
    yield e
    await e._async_process_on_unload(hass)
    await hass.async_block_till_done()


def reading(t: float, w: float = 100.0, imp: float = 10.0) -> Reading:
    return Reading(t, w=w, import_kwh=imp, export_kwh=1.0)


async def make(hass: HomeAssistant, entry: MockConfigEntry, **kw: Any) -> MeterHistory:
    history = MeterHistory(hass, entry, series="s", object_id="s", **kw)
    await history.async_start(None)
    await hass.async_block_till_done()
    return history


def test_default_clock_is_home_assistants() -> None:
    assert abs(history_module.clock() - dt_util.utcnow().timestamp()) < 5


async def test_restore_skips_unusable_snapshot(
    hass: HomeAssistant, entry: MockConfigEntry, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    store = await async_get_store(hass)
    await hass.async_add_executor_job(store.save_state, "history_s", {"version": 99})
    history = await make(hass, entry)
    assert "saved window state unusable" in caplog.text
    assert history.aggregator.last_time is None


async def test_snapshot_restores_counters_and_stop_event_saves(
    hass: HomeAssistant, entry: MockConfigEntry, clock: Clock
) -> None:
    history = await make(hass, entry)
    history.async_add(reading(T0, imp=10.0))
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    history.async_add(reading(T0 + 1, imp=10.5))  # after the stop: ignored
    await history.async_stop()  # twice: nothing more
    store = await async_get_store(hass)
    saved = await hass.async_add_executor_job(store.load_state, "history_s")
    assert saved is not None
    assert saved["counters"] == [10_000, None, None, 1_000]
    again = MeterHistory(hass, entry, series="s", object_id="s")
    await again.async_start(None)
    assert again.aggregator.last_time == T0
    # the restored counters guard against a backwards glitch right away
    again.async_add(reading(T0 + 2, imp=9.0))
    again.async_add(reading(T0 + 400, imp=10.002))
    await hass.async_block_till_done()
    assert again.latest is not None
    assert again.latest.energy_import_kwh == 0
    await again.async_stop()


async def test_tariff_sources_survive_a_restart(
    hass: HomeAssistant, entry: MockConfigEntry, clock: Clock
) -> None:
    """A tariff that appears while Home Assistant is down adds no energy to the gap."""
    t1, t2, t3 = 100.0, 50.0, 7.0
    history = await make(hass, entry)
    history.async_add_measurement(
        Measurement(power_w=10.0, energy_import_t1_kwh=t1, energy_import_t2_kwh=t2)
    )
    await history.async_stop()  # saves the snapshot (and where the counter comes from)
    clock.t = T0 + 3600
    again = MeterHistory(hass, entry, series="s", object_id="s")
    await again.async_start(
        Measurement(
            power_w=10.0,
            energy_import_t1_kwh=t1 + 1.0,  # 1 kWh in the hour
            energy_import_t2_kwh=t2,
            energy_import_t3_kwh=t3,  # new: its value is no consumption of the gap
        )
    )
    for k in range(1, 3):
        clock.t = T0 + 3600 + k
        again.async_add_measurement(
            Measurement(
                power_w=10.0,
                energy_import_t1_kwh=t1 + 1.0 + k / 1000,
                energy_import_t2_kwh=t2,
                energy_import_t3_kwh=t3,
            )
        )
    for t in (T0 + 4000, T0 + 4400):  # the second closes the first one's window
        clock.t = t
        again.async_add_measurement(
            Measurement(
                power_w=10.0,
                energy_import_t1_kwh=t1 + 1.005,
                energy_import_t2_kwh=t2,
                energy_import_t3_kwh=t3,
            )
        )
    await again.async_stop()
    store = await async_get_store(hass)
    windows = await hass.async_add_executor_job(store.query_windows, "s", 300, T0 - 10, T0 + 4400)
    energy = sum(round((w.energy_import_kwh or 0.0) * 1000) for w in windows)
    # counted: t1's steps once the new set of tariffs settled (from t1 + 1.001 on); the gap's
    # step is not known (the set changed across it) and t3's value is none of it
    assert energy == round((t1 + 1.005) * 1000) - round((t1 + 1.001) * 1000)


async def test_bad_measurement_is_logged_once(
    hass: HomeAssistant, entry: MockConfigEntry, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    history = await make(hass, entry)
    bad = Measurement(power_w=100.0, tariff=7)
    history.async_add_measurement(bad)
    history.async_add_measurement(bad)
    assert caplog.text.count("was not added to the history") == 1
    history.async_add_measurement(Measurement(power_w=5.0, energy_import_kwh=1.0))
    assert history.aggregator.last_time == T0
    await history.async_stop()


async def test_store_failures_keep_every_window_and_raise_issue(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history = await make(hass, entry)
    store = history.store
    assert store is not None

    def broken(*args: object, **kwargs: object) -> Any:
        raise StoreUnavailableError("read-only")

    monkeypatch.setattr(store, "write_windows", broken)
    monkeypatch.setattr(store, "purge", broken)
    history.async_add(reading(T0))
    history._async_save()
    await hass.async_block_till_done()
    assert (
        ir.async_get(hass).async_get_issue(DOMAIN, f"store_unwritable_{entry.entry_id}") is not None
    )
    assert history._save_requested  # the snapshot is retried
    await history._async_purge()
    history.async_add(reading(T0 + 3600))  # closes 1 + many synthetic windows: all kept
    history._async_save()
    await hass.async_block_till_done()
    expected = WindowAggregator("x", history_module.RESOLUTIONS, history_module.MAX_WEIGHT)
    expected.add(reading(T0))
    closed = expected.add(reading(T0 + 3600))
    assert len(history._pending) == len(closed) > 100
    monkeypatch.undo()
    history._async_save()
    await hass.async_block_till_done()
    assert len(history._pending) == 0
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"store_unwritable_{entry.entry_id}") is None
    stored = [
        w
        for res in history_module.RESOLUTIONS
        for w in await hass.async_add_executor_job(
            store.query_windows, history.series, res, T0 - 300, T0 + 3600
        )
    ]
    assert len(stored) == len(closed)
    await history.async_stop()
    history._async_save()  # stopped: nothing
    history._async_tick()
    assert history._writer is None


async def test_unreadable_state_and_statistics_failure(
    hass: HomeAssistant, entry: MockConfigEntry, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store: MeterStore = await async_get_store(hass)

    def broken(*args: object, **kwargs: object) -> Any:
        raise StoreCorruptError("damaged")

    monkeypatch.setattr(store, "load_state", broken)
    monkeypatch.setattr(store, "window_range", broken)
    monkeypatch.setattr(store, "energy_before", broken)
    history = await make(hass, entry)
    assert (
        ir.async_get(hass).async_get_issue(DOMAIN, f"store_unwritable_{entry.entry_id}") is not None
    )
    history.async_add(reading(T0))
    history.async_add(reading(T0 + 3 * 3600))  # gap: complete hours are due, import fails
    await hass.async_block_till_done()
    assert history.statistics is not None
    assert history.statistics.dirty_from is not None
    await history.async_stop()


async def test_query_edges(hass: HomeAssistant, entry: MockConfigEntry, clock: Clock) -> None:
    assert parse_instant("start", date(2026, 6, 21)) == dt_util.as_utc(
        datetime(2026, 6, 21, tzinfo=dt_util.get_default_time_zone())
    )
    moment = datetime(2026, 6, 21, 5, tzinfo=UTC)
    assert parse_instant("start", moment) == moment
    with pytest.raises(HistoryArgumentError, match="argument end"):
        parse_instant("end", 12)
    history = MeterHistory(hass, entry, series="s", object_id="s")  # not started: no store
    query = HistoryQuery(history, moment, moment.replace(hour=6), Resolution.MIN5)
    with pytest.raises(StoreError):
        await async_query_history(hass, query)
    with pytest.raises(StoreError):
        await async_import_hwlogger(hass, history, "meter_data.db")
    assert replace(query, resolution=Resolution.HOUR).resolution is Resolution.HOUR


async def test_unusable_store_file(
    hass: HomeAssistant, entry: MockConfigEntry, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    def path() -> None:
        with open(hass.config.path("meterit.db"), "wb") as fh:  # noqa: PTH123
            fh.write(b"x" * 4096)

    await hass.async_add_executor_job(path)
    caplog.set_level(logging.ERROR)
    history = await make(hass, entry)
    assert history.store is None
    history.async_add(reading(T0))
    history.async_add(reading(T0 + 400))
    assert history.latest is not None
    await history._async_purge()
    await history.async_stop()
