"""The live path (fake P1 meter) when time jumps: the clock either way, or a 100-day outage."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulator.p1_meter import FakeP1Meter

from . import history_common
from .history_common import (
    EXPORT0,
    EXPORT_ID,
    IMPORT0,
    IMPORT_ID,
    T0,
    Clock,
    fire,
    hour_stats,
    push,
    start,
    stop,
    stored,
    wh,
)

MINUTE = 60.0
HOUR = 3600.0
DAY = 86_400.0


freezer = history_common.freezer  # fixtures: the history's clock, the meter's entry
entry = history_common.entry


class Counters:
    """The meter's counters in Wh, advanced push by push (the truth the windows must keep)."""

    def __init__(self) -> None:
        self.imp = round(IMPORT0 * 1000)
        self.exp = round(EXPORT0 * 1000)
        self.k = 0

    def step(self) -> dict[str, float]:
        self.k += 1
        self.imp += 3 + self.k % 7
        self.exp += 1 if self.k % 3 == 0 else 0
        return {
            "energy_import_kwh": self.imp / 1000,
            "energy_export_kwh": self.exp / 1000,
            "power_w": 400.0 + (self.k * 131) % 2500,
        }


async def pushes(
    hass: HomeAssistant,
    freezer: Clock,
    entry: MockConfigEntry,
    meter: FakeP1Meter,
    counters: Counters,
    times: list[float],
) -> None:
    for t in times:
        await push(hass, freezer, entry, meter, t, **counters.step())


@pytest.mark.parametrize(
    ("jump", "before_step"),
    [(-61.0, 10.0), (-10 * MINUTE, 20.0), (-HOUR, 60.0), (-25 * HOUR, 900.0), (HOUR, 20.0)],
    ids=["back 61 s", "back 10 min", "back 1 h", "back 25 h", "forward 1 h"],
)
async def test_a_clock_jump_keeps_the_counters_energy_in_windows_and_statistics(
    hass: HomeAssistant,
    meter: FakeP1Meter,
    freezer: Clock,
    entry: MockConfigEntry,
    jump: float,
    before_step: float,
) -> None:
    entry.add_to_hass(hass)
    start_t = T0 - max(-jump, 0.0) - 10 * MINUTE
    freezer.t = start_t
    await start(hass, entry)  # the REST reading: the counters' starting point
    counters = Counters()
    span = max(-jump, 0.0) + 15 * MINUTE  # the stretch the clock goes back into, and more
    await pushes(
        hass,
        freezer,
        entry,
        meter,
        counters,
        [start_t + 5 + k * before_step for k in range(int(span // before_step))],
    )
    last = freezer.t
    await pushes(hass, freezer, entry, meter, counters, [last + jump + 10 * k for k in range(60)])
    frontier = max(last, freezer.t)
    # time passes until the clock is past everything stored: every hour is complete
    end = frontier + 2 * HOUR
    await pushes(hass, freezer, entry, meter, counters, [end, end + 10])
    await fire(hass, freezer, end + 400)

    windows = await stored(hass, 300, start_t - HOUR, end + HOUR)
    imported = counters.imp - round(IMPORT0 * 1000)
    exported = counters.exp - round(EXPORT0 * 1000)
    assert sum(wh(w.energy_import_kwh or 0.0) for w in windows) == imported
    assert sum(wh(w.energy_export_kwh or 0.0) for w in windows) == exported
    stats = await hour_stats(hass, start_t - HOUR, end - 3600)
    for statistic, total in ((IMPORT_ID, imported), (EXPORT_ID, exported)):
        rows = stats[statistic]
        # each hour holds its windows' energy, and the running sum ends at the counters' step
        for row in rows:
            expected = sum(
                wh(w.energy_import_kwh if statistic == IMPORT_ID else w.energy_export_kwh)
                for w in windows
                if row["start"] <= w.start < row["start"] + 3600
            )
            assert round(row["state"] * 1000) == expected
        hour_end = rows[-1]["start"] + 3600
        later = sum(
            wh(w.energy_import_kwh if statistic == IMPORT_ID else w.energy_export_kwh)
            for w in windows
            if w.start >= hour_end
        )
        assert round(rows[-1]["sum"] * 1000) + later == total


async def test_a_hundred_day_outage_keeps_every_watt_hour(
    hass: HomeAssistant,
    meter: FakeP1Meter,
    freezer: Clock,
    entry: MockConfigEntry,
) -> None:
    entry.add_to_hass(hass)
    await start(hass, entry)
    counters = Counters()
    await pushes(hass, freezer, entry, meter, counters, [T0 + 10, T0 + 20])
    await stop(hass, entry)
    freezer.t = T0 + 100 * DAY
    counters.imp += 960_000  # 9.6 kWh a day while Home Assistant was off
    meter.measurement = {**meter.measurement, **counters.step()}
    await start(hass, entry)  # its REST reading closes the gap
    end = freezer.t + 600
    await pushes(hass, freezer, entry, meter, counters, [freezer.t + 10, end])
    await fire(hass, freezer, end + 400)

    windows = await stored(hass, 300, T0 - HOUR, end + HOUR)
    assert len(windows) >= 100 * 288
    imported = counters.imp - round(IMPORT0 * 1000)
    assert sum(wh(w.energy_import_kwh or 0.0) for w in windows) == imported
    rows = (await hour_stats(hass, T0 - HOUR, end))[IMPORT_ID]
    assert len(rows) >= 100 * 24
    hour_end = rows[-1]["start"] + 3600
    later = sum(wh(w.energy_import_kwh or 0.0) for w in windows if w.start >= hour_end)
    assert round(rows[-1]["sum"] * 1000) + later == imported
