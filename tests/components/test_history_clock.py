"""The live path (fake P1 meter) when time jumps: the clock either way, or a 100-day outage."""

from __future__ import annotations

from datetime import UTC, datetime

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.p1 import history as history_module
from simulator.p1_meter import FakeP1Meter

from .conftest import p1_entry
from .history_common import (
    EXPORT0,
    EXPORT_ID,
    IMPORT0,
    IMPORT_ID,
    Clock,
    fire,
    hour_stats,
    push,
    start,
    stop,
    stored,
    wh,
)

T0 = datetime(2026, 6, 21, 10, 0, 10, tzinfo=UTC).timestamp()
MINUTE = 60.0
HOUR = 3600.0
DAY = 86_400.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(T0)
    monkeypatch.setattr(history_module, "clock", c)
    return c


@pytest.fixture
def entry(meter: FakeP1Meter, clock: Clock) -> MockConfigEntry:
    return p1_entry(meter)


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
    clock: Clock,
    entry: MockConfigEntry,
    meter: FakeP1Meter,
    counters: Counters,
    times: list[float],
) -> None:
    for t in times:
        await push(hass, clock, entry, meter, t, **counters.step())


@pytest.mark.parametrize(
    ("jump", "before_step"),
    [(-61.0, 10.0), (-10 * MINUTE, 20.0), (-HOUR, 60.0), (-25 * HOUR, 900.0), (HOUR, 20.0)],
    ids=["back 61 s", "back 10 min", "back 1 h", "back 25 h", "forward 1 h"],
)
async def test_a_clock_jump_keeps_the_counters_energy_in_windows_and_statistics(
    hass: HomeAssistant,
    meter: FakeP1Meter,
    clock: Clock,
    entry: MockConfigEntry,
    jump: float,
    before_step: float,
) -> None:
    entry.add_to_hass(hass)
    start_t = T0 - max(-jump, 0.0) - 10 * MINUTE
    clock.t = start_t
    await start(hass, entry)  # the REST reading: the counters' starting point
    counters = Counters()
    span = max(-jump, 0.0) + 15 * MINUTE  # the stretch the clock goes back into, and more
    await pushes(
        hass,
        clock,
        entry,
        meter,
        counters,
        [start_t + 5 + k * before_step for k in range(int(span // before_step))],
    )
    last = clock.t
    await pushes(hass, clock, entry, meter, counters, [last + jump + 10 * k for k in range(60)])
    frontier = max(last, clock.t)
    # time passes until the clock is past everything stored: every hour is complete
    end = frontier + 2 * HOUR
    await pushes(hass, clock, entry, meter, counters, [end, end + 10])
    await fire(hass, clock, end + 400)

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
    clock: Clock,
    entry: MockConfigEntry,
) -> None:
    entry.add_to_hass(hass)
    await start(hass, entry)
    counters = Counters()
    await pushes(hass, clock, entry, meter, counters, [T0 + 10, T0 + 20])
    await stop(hass, entry)
    clock.t = T0 + 100 * DAY
    counters.imp += 960_000  # 9.6 kWh a day while Home Assistant was off
    meter.measurement = {**meter.measurement, **counters.step()}
    await start(hass, entry)  # its REST reading closes the gap
    end = clock.t + 600
    await pushes(hass, clock, entry, meter, counters, [clock.t + 10, end])
    await fire(hass, clock, end + 400)

    windows = await stored(hass, 300, T0 - HOUR, end + HOUR)
    assert len(windows) >= 100 * 288
    imported = counters.imp - round(IMPORT0 * 1000)
    assert sum(wh(w.energy_import_kwh or 0.0) for w in windows) == imported
    rows = (await hour_stats(hass, T0 - HOUR, end))[IMPORT_ID]
    assert len(rows) >= 100 * 24
    hour_end = rows[-1]["start"] + 3600
    later = sum(wh(w.energy_import_kwh or 0.0) for w in windows if w.start >= hour_end)
    assert round(rows[-1]["sum"] * 1000) + later == imported
