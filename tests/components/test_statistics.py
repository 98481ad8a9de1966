"""Hourly external statistics from stored windows: metadata, sums, idempotence, re-import."""

from __future__ import annotations

from collections.abc import AsyncIterator
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import (
    get_metadata,
    statistics_during_period,
    valid_statistic_id,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.meterit.long_term_statistics import (
    StatisticIds,
    StatisticsImporter,
    statistic_object_id,
)
from custom_components.meterit.metering import MeterStore, StoreUnavailableError, Window

H0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
SERIES = "p1:abc"


def window(k: int, imp_wh: int, exp_wh: int = 0, w_avg: float | None = None) -> Window:
    start = H0 + k * 300
    return Window(
        SERIES,
        300,
        start,
        start + 300,
        w_avg=(imp_wh - exp_wh) * 12.0 if w_avg is None else w_avg,
        w_max=500.0 + k,
        w_min=-100.0 - k,
        reading_count=0 if w_avg == -1 else 100,
        energy_import_kwh=imp_wh / 1000,
        energy_export_kwh=exp_wh / 1000,
    )


@pytest.fixture
async def store(hass: HomeAssistant, tmp_path: Path) -> AsyncIterator[MeterStore]:
    opened = await hass.async_add_executor_job(MeterStore, tmp_path / "s.db")
    yield opened
    await hass.async_add_executor_job(opened.close)


async def read(hass: HomeAssistant, ids: StatisticIds, hours: int = 4) -> dict[str, list[Any]]:
    await async_wait_recording_done(hass)
    return await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        datetime.fromtimestamp(H0 - 3600, UTC),
        datetime.fromtimestamp(H0 + hours * 3600, UTC),
        {ids.energy_import, ids.energy_export, ids.power},
        "hour",
        None,
        {"state", "sum", "mean", "min", "max"},
    )


def dirty(importer: StatisticsImporter) -> float | None:
    """The importer's first due hour (a call, so that type narrowing does not stick)."""
    return importer.dirty_from


def test_statistic_ids() -> None:
    assert statistic_object_id("5C:2F-AA bb") == "5c_2f_aa_bb"
    assert statistic_object_id("---") == "meter"
    # The recorder rejects IDs with "__" (and leading/trailing "_"): runs collapse to one "_".
    assert statistic_object_id("station_ 1") == "station_1"
    assert statistic_object_id("_a__b_") == "a_b"
    for raw in ("station_ 1", "_a__b_", "Ünïcode Meter", "x" * 3 + "__" + "y"):
        for statistic_id in dataclasses.astuple(StatisticIds.of(raw)):
            assert valid_statistic_id(statistic_id), statistic_id
    ids = StatisticIds.of("5c2f")
    assert (ids.energy_import, ids.energy_export, ids.power) == (
        "meterit:5c2f_energy_import",
        "meterit:5c2f_energy_export",
        "meterit:5c2f_power",
    )


async def test_import_metadata_sums_and_idempotence(hass: HomeAssistant, store: MeterStore) -> None:
    # hour 0: 12 windows of 10 Wh import; hour 1: 12 windows of 20 Wh import, 5 Wh export
    windows = [window(k, 10) for k in range(12)] + [window(k, 20, 5) for k in range(12, 24)]
    await hass.async_add_executor_job(store.write_windows, windows)
    importer = StatisticsImporter(hass, store, SERIES, "abc", "P1 Meter")
    assert dirty(importer) is None
    await importer.async_catch_up()  # nothing imported yet: from the first window
    assert dirty(importer) == H0
    assert not importer.due(H0 + 3000)
    assert await importer.async_import(H0 + 3000) == 0  # no complete hour yet
    assert await importer.async_import(H0 + 2 * 3600) == 2
    assert dirty(importer) is None
    stats = await read(hass, importer.ids)
    imp = stats[importer.ids.energy_import]
    assert [r["state"] for r in imp] == pytest.approx([0.120, 0.240])
    assert [r["sum"] for r in imp] == pytest.approx([0.120, 0.360])
    exp = stats[importer.ids.energy_export]
    assert [r["sum"] for r in exp] == pytest.approx([0.0, 0.060])
    power = stats[importer.ids.power]
    assert power[1]["mean"] == pytest.approx((20 - 5) * 12.0)
    assert (power[1]["min"], power[1]["max"]) == (-100.0 - 23, 500.0 + 23)

    meta = await get_instance(hass).async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={importer.ids.energy_import, importer.ids.power})
    )
    energy_meta = meta[importer.ids.energy_import][1]
    assert energy_meta["mean_type"] is StatisticMeanType.NONE
    assert energy_meta["has_sum"] is True
    assert energy_meta["unit_class"] == "energy"
    assert energy_meta["unit_of_measurement"] == "kWh"
    power_meta = meta[importer.ids.power][1]
    assert power_meta["mean_type"] is StatisticMeanType.ARITHMETIC
    assert power_meta["unit_class"] == "power"

    # importing the same hours again changes nothing (same start overwrites)
    importer.mark(H0)
    assert await importer.async_import(H0 + 2 * 3600) == 2
    assert await read(hass, importer.ids) == stats

    # after a restart the last imported hour is imported again
    fresh = StatisticsImporter(hass, store, SERIES, "abc", "P1 Meter")
    await fresh.async_catch_up()
    assert dirty(fresh) == H0 + 3600


async def test_gap_fill_changes_are_reimported(hass: HomeAssistant, store: MeterStore) -> None:
    """Windows that change (a gap filled later) move the energy; later sums follow."""
    importer = StatisticsImporter(hass, store, SERIES, "abc", "P1 Meter")
    await hass.async_add_executor_job(store.write_windows, [window(k, 10) for k in range(12)])
    importer.mark(H0)
    await importer.async_import(H0 + 3600)
    # the outage: hour 1 was missing, hour 2 arrives with synthetic windows for hour 1
    later = [window(k, 30, w_avg=-1) for k in range(12, 24)] + [
        window(k, 10) for k in range(24, 36)
    ]
    await hass.async_add_executor_job(store.write_windows, later)
    importer.mark(H0 + 3600)
    assert importer.due(H0 + 3 * 3600)
    assert await importer.async_import(H0 + 3 * 3600) == 2
    imp = (await read(hass, importer.ids))[importer.ids.energy_import]
    assert [r["state"] for r in imp] == pytest.approx([0.120, 0.360, 0.120])
    assert [r["sum"] for r in imp] == pytest.approx([0.120, 0.480, 0.600])


async def test_store_error_keeps_hours_due(
    hass: HomeAssistant, store: MeterStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    importer = StatisticsImporter(hass, store, SERIES, "abc", "P1 Meter")
    importer.mark(H0 + 3600)

    def broken(*args: object) -> tuple[float, float]:
        raise StoreUnavailableError("gone")

    monkeypatch.setattr(store, "energy_before", broken)
    with pytest.raises(StoreUnavailableError):
        await importer.async_import(H0 + 3 * 3600)
    assert dirty(importer) == H0 + 3600
    monkeypatch.undo()
    assert await importer.async_import(H0 + 3 * 3600) == 0  # no windows: nothing to add
    assert dirty(importer) is None
    partial = StatisticsImporter(hass, store, SERIES, "abc", "P1 Meter")
    partial.mark(H0)
    await partial.async_import(H0 + 3600 + 600)  # the hour in progress stays due
    assert dirty(partial) == H0 + 3600


async def test_hours_without_counter_data_get_no_energy_rows(
    hass: HomeAssistant, store: MeterStore
) -> None:
    """An hour with power but no counter data is not imported as zero energy."""
    blind = [
        dataclasses.replace(window(k, 0), energy_import_kwh=None, energy_export_kwh=None)
        for k in range(12, 24)
    ]
    windows = [window(k, 10, 2) for k in range(12)] + blind + [window(k, 20) for k in range(24, 36)]
    await hass.async_add_executor_job(store.write_windows, windows)
    importer = StatisticsImporter(hass, store, SERIES, "abc", "P1 Meter")
    importer.mark(H0)
    assert await importer.async_import(H0 + 3 * 3600) == 3
    stats = await read(hass, importer.ids)
    imp = stats[importer.ids.energy_import]
    assert [r["start"] for r in imp] == [H0, H0 + 2 * 3600]
    assert [r["state"] for r in imp] == pytest.approx([0.120, 0.240])
    assert [r["sum"] for r in imp] == pytest.approx([0.120, 0.360])
    exp = stats[importer.ids.energy_export]
    assert [(r["start"], r["state"]) for r in exp] == [(H0, pytest.approx(0.024)), (H0 + 7200, 0)]
    # the power of the blind hour is known and imported
    assert [r["start"] for r in stats[importer.ids.power]] == [H0, H0 + 3600, H0 + 7200]
