"""History in Home Assistant: a corrupt or unwritable store raises an issue; the sensors go on."""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.metering import StoreUnavailableError
from simulator.p1_meter import FakeP1Meter

from . import history_common
from .history_common import (
    T0,
    Clock,
    fire,
    push,
    start,
    stored,
)

freezer = history_common.freezer  # fixtures: the history's clock, the meter's entry
entry = history_common.entry


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
