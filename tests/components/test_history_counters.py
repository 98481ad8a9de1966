"""History in Home Assistant: counters that misbehave: resets, tariffs only, jumps."""

from __future__ import annotations

from datetime import UTC, datetime
import json
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import DOMAIN
from simulator.p1_meter import FakeP1Meter

from . import history_common
from .conftest import wait_for
from .history_common import (
    EXPORT_ID,
    IMPORT0,
    IMPORT_ID,
    T0,
    Clock,
    at,
    hour_stats,
    push,
    start,
    stored,
    wh,
)

freezer = history_common.freezer  # fixtures: the history's clock, the meter's entry
entry = history_common.entry


async def _confirmed_reset(
    hass: HomeAssistant,
    freezer: Clock,
    entry: MockConfigEntry,
    meter: FakeP1Meter,
    first: float,
    new: float,
) -> ir.IssueEntry:
    """Ten pushes from ``first`` on, the import counter at ``new`` and 1 Wh up each time: no
    counter-reset issue until the tenth confirms it; that issue."""
    issues = ir.async_get(hass)
    issue_id = f"counter_reset_{entry.entry_id}"
    for k in range(10):
        await push(hass, freezer, entry, meter, first + k, energy_import_kwh=new + k / 1000)
        if k < 9:
            assert issues.async_get_issue(DOMAIN, issue_id) is None
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    return issue


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
    issue = await _confirmed_reset(hass, freezer, entry, meter, T0 + 3, new)
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
    # every counter change written (not only at 5-minute boundaries): the sensor is looked at
    hass.config_entries.async_update_entry(entry, options={"state_rate": {"counter_interval": 0}})
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
    await push(hass, freezer, entry, meter, T0 + 1, energy_import_kwh=IMPORT0 + 0.001)
    new = IMPORT0 + 5000.0
    issue = await _confirmed_reset(hass, freezer, entry, meter, T0 + 2, new)
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
