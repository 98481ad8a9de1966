"""The P1 state rate in Home Assistant: a stretch of p1-trace through the simulated meter.

No frozen clock: the loop and the meter run in real time, and the state rate's clock
(``p1.state_rate.clock``) is moved with each push to the trace's time, shifted to T0. The
boundary-guard timer is taken from ``async_track_point_in_utc_time`` and fired by the test at
the time it asked for: ``async_fire_time_changed`` to a time minutes or years ahead would also
run the stream's own loop timers (heartbeat, receive timeout) and drop the live connection.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
import json
import logging
import math
from pathlib import Path
import subprocess
import sys
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.metering.state_rate import (
    STATISTICS_PERIOD_S,
    StateRate,
    StateRatePolicy,
    ValueKind,
)
from custom_components.meterit.p1 import state_rate as state_rate_module
from custom_components.meterit.p1.sensor import P1_SENSORS
from custom_components.meterit.p1.state_rate import (
    OPTION_KEYS,
    policy_from_options,
    value_kind,
)
from simulator.p1_meter import DEFAULT_MEASUREMENT, FakeP1Meter

from .conftest import METER_SERIAL, p1_entry, wait_for

TOOL = Path(__file__).resolve().parents[3] / "shared" / "tools" / "p1-trace"
T0 = 1_899_999_900.0  # a 5-minute boundary in 2030: later than the real clock
TRACE_START = "2026-06-21T12:00:00Z"  # midday: solar export on L1, the counters move
PREFIX = "sensor.p1_meter_"
POWER = f"{PREFIX}power"
VOLTAGE = f"{PREFIX}voltage_phase_1"


class Timers:
    """The boundary-guard timers the state rate asked for: (when, action), the latest last."""

    def __init__(self) -> None:
        self.pending: list[tuple[datetime, Callable[[datetime], None]]] = []

    def __call__(
        self, _hass: HomeAssistant, action: Callable[[datetime], None], when: datetime
    ) -> Callable[[], None]:
        entry = (when, action)
        self.pending.append(entry)
        return lambda: self.pending.remove(entry) if entry in self.pending else None


class Clock:
    """The state rate's clock (UTC unix seconds), moved by the test."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    now = Clock(T0)
    monkeypatch.setattr(state_rate_module, "clock", now)
    return now


@pytest.fixture
def timers(monkeypatch: pytest.MonkeyPatch) -> Timers:
    taken = Timers()
    monkeypatch.setattr(state_rate_module, "async_track_point_in_utc_time", taken)
    return taken


def _trace(minutes: int) -> list[tuple[float, dict[str, Any]]]:
    """``minutes`` of 1 Hz p1-trace pushes from TRACE_START, times shifted to start at T0."""
    if not TOOL.exists():
        pytest.skip("../shared/tools/p1-trace not found")
    out = subprocess.run(  # noqa: S603 - our own interpreter and the shared tool
        [sys.executable, str(TOOL), "--start", TRACE_START, "--hours", str(minutes / 60)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pushes = [json.loads(line) for line in out.splitlines()]
    start = math.floor(pushes[0]["t"])
    return [(T0 + p["t"] - start, p["data"]) for p in pushes]


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


async def _setup(
    hass: HomeAssistant, meter: FakeP1Meter, options: dict[str, Any] | None = None
) -> MockConfigEntry:
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    if options is not None:
        hass.config_entries.async_update_entry(entry, options=options)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data
    await wait_for(lambda: coordinator.stream.connected and coordinator.pushes > 0)
    await hass.async_block_till_done()
    return entry


async def _push(
    hass: HomeAssistant, entry: MockConfigEntry, meter: FakeP1Meter, data: dict[str, Any]
) -> None:
    coordinator = entry.runtime_data
    before = coordinator.pushes
    await meter.push(data)
    await wait_for(lambda: coordinator.pushes > before)
    await hass.async_block_till_done()


async def _offer(hass: HomeAssistant, timers: Timers, clock: Clock) -> None:
    """Fire the boundary-guard timer at its time (it schedules the next one)."""
    ((when, action),) = timers.pending
    timers.pending.clear()
    clock.t = when.timestamp()
    action(when)
    await hass.async_block_till_done()


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _expected_rows(
    pushes: list[tuple[float, dict[str, Any]]], first: dict[str, Any], policy: StateRatePolicy
) -> dict[str, int]:
    """What the policy promises per field: the model the bench uses, push by push."""
    rate = StateRate(policy)
    rows: Counter[str] = Counter()
    kinds = {d.key: value_kind(d) for d in P1_SENSORS if d.key in first}
    for key, kind in kinds.items():
        rate.due(key, kind, _value(key, first), T0 - 1)  # the state written at setup
    latest = first
    flush = rate.next_flush(pushes[0][0])
    for t, data in pushes:
        while flush <= t:
            for key, kind in kinds.items():
                if kind is ValueKind.COUNTER:
                    rows[key] += rate.due(key, kind, _value(key, latest), flush)
            flush = rate.next_flush(flush)
        latest = data
        for key, kind in kinds.items():
            rows[key] += rate.due(key, kind, _value(key, data), t)
    return dict(rows)


def _value(key: str, data: dict[str, Any]) -> Any:
    value = data.get(key)
    return str(value) if key == "tariff" and value is not None else value


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_a_trace_stretch_writes_what_the_policy_promises(
    hass: HomeAssistant, meter: FakeP1Meter, clock: Clock, timers: Timers
) -> None:
    """12 minutes of 1 Hz pushes: power on each change, the rest throttled, counters exact."""
    pushes = _trace(12)
    policy = StateRatePolicy()
    first = pushes[0][1]
    meter.measurement = first
    clock.t = T0 - 1
    entry = await _setup(hass, meter)
    registry = er.async_get(hass)
    entity_of = {
        registry.async_get_entity_id("sensor", DOMAIN, f"{METER_SERIAL}_{d.key}"): d.key
        for d in P1_SENSORS
        if d.key in first
    }
    written: dict[str, list[tuple[float, str]]] = defaultdict(list)

    @callback
    def _changed(event: Event[EventStateChangedData]) -> None:
        if (key := entity_of.get(event.data["entity_id"])) and event.data["new_state"]:
            written[key].append((clock.t, event.data["new_state"].state))

    entry.async_on_unload(hass.bus.async_listen(EVENT_STATE_CHANGED, _changed))
    rate = entry.runtime_data.state_rate
    assert rate.next_offer == T0 + STATISTICS_PERIOD_S - policy.counter_guard
    assert [when for when, _ in timers.pending] == [_at(rate.next_offer)]
    offers = 0
    for t, data in pushes:
        while rate.next_offer <= t:
            await _offer(hass, timers, clock)
            offers += 1
        clock.t = t
        await _push(hass, entry, meter, data)

    assert offers == 2  # the guards before T0+300 and T0+600 (the pushes end at T0+720)
    assert [when for when, _ in timers.pending] == [_at(T0 + 895)]
    rows = {key: len(written[key]) for key in entity_of.values()}
    assert rows == _expected_rows(pushes, first, policy)
    # power: every change; the measurements: about once a minute (12 min, few deadband moves)
    assert rows["power_w"] == sum(
        1
        for k in range(len(pushes))
        if pushes[k][1]["power_w"] != (first if k == 0 else pushes[k - 1][1])["power_w"]
    )
    assert rows["power_w"] > 600
    for key in ("power_l1_w", "voltage_l1_v", "current_l1_a"):
        assert 10 <= rows[key] <= 2.5 * 12, key  # vs 144 polls of core in 12 min
    assert rows["voltage_sag_l1_count"] == 0  # never changed: never written again
    # the energy dashboard: the last state before each 5-minute boundary is the counter then
    for key in ("energy_import_kwh", "energy_export_kwh", "energy_export_t2_kwh"):
        assert rows[key] <= 3 * 6, key  # only in the three guards (<= 5 pushes + the offer)
        for boundary in (T0 + 300, T0 + 600):
            before = [first[key]] + [float(v) for t, v in written[key] if t < boundary]
            last_push = [d[key] for t, d in pushes if t < boundary][-1]
            assert before[-1] == last_push, (key, boundary)
    assert float(_state(hass, POWER)) == pushes[-1][1]["power_w"]


async def test_availability_is_written_at_once_and_the_first_value_after_it(
    hass: HomeAssistant, meter: FakeP1Meter, clock: Clock
) -> None:
    """Silent meter: unavailable at once; back: its first value at once, whatever the interval."""
    entry = await _setup(hass, meter, {"state_rate": {"interval": 3600, "voltage_deadband": 5}})
    registry = er.async_get(hass)
    assert registry.async_get(VOLTAGE) is not None
    registry.async_update_entity(VOLTAGE, disabled_by=None)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data
    await wait_for(lambda: coordinator.stream.connected and coordinator.pushes > 0)
    start = float(_state(hass, VOLTAGE))
    clock.t += 10
    await _push(
        hass, entry, meter, {**DEFAULT_MEASUREMENT, "voltage_l1_v": start + 1, "power_w": 7}
    )
    assert float(_state(hass, VOLTAGE)) == start  # within the deadband, before the interval
    assert float(_state(hass, POWER)) == 7  # live

    coordinator.stale_after = timedelta(seconds=0.2)
    await asyncio.sleep(0.3)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=10))
    await hass.async_block_till_done()
    assert _state(hass, VOLTAGE) == STATE_UNAVAILABLE
    coordinator.stale_after = timedelta(minutes=5)
    clock.t += 1
    await _push(hass, entry, meter, {**DEFAULT_MEASUREMENT, "voltage_l1_v": start + 2})
    assert float(_state(hass, VOLTAGE)) == start + 2


async def test_voltages_currents_and_frequency_are_disabled_by_default(
    hass: HomeAssistant, meter: FakeP1Meter, clock: Clock
) -> None:
    """As core's HomeWizard; a voltage a user had enabled stays enabled."""
    registry = er.async_get(hass)
    kept = registry.async_get_or_create(
        "sensor", DOMAIN, f"{METER_SERIAL}_voltage_l2_v", suggested_object_id="p1_meter_kept"
    )
    meter.measurement = {**DEFAULT_MEASUREMENT, "current_l1_a": 1.5, "frequency_hz": 50.0}
    entry = await _setup(hass, meter)
    by_key = {
        e.unique_id.removeprefix(f"{METER_SERIAL}_"): e
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    }
    for key in ("voltage_l1_v", "voltage_l3_v", "current_l1_a", "frequency_hz"):
        assert by_key[key].disabled_by is er.RegistryEntryDisabler.INTEGRATION, key
    for key in ("power_w", "power_l1_w", "energy_import_kwh", "tariff"):
        assert by_key[key].disabled_by is None, key
    assert by_key["voltage_l2_v"].disabled_by is None
    assert _state(hass, kept.entity_id) == str(DEFAULT_MEASUREMENT["voltage_l2_v"])


async def test_options_keep_the_price_source_and_add_the_rate_section(
    hass: HomeAssistant, meter: FakeP1Meter, clock: Clock
) -> None:
    """The P1 form: price source as before, then the state rate; saved, it applies at once."""
    entry = await _setup(hass, meter)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "p1"
    schema = result["data_schema"].schema  # type: ignore[union-attr]
    assert {str(key) for key in schema} == {"price_source", "state_rate"}
    section = schema["state_rate"]
    defaults = {str(key): key.default() for key in section.schema.schema}
    assert defaults == {key: getattr(StateRatePolicy(), key) for key in OPTION_KEYS}
    rates = {**defaults, "interval": 0, "voltage_deadband": 2}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"price_source": "none", "state_rate": rates}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"price_source": "none", "state_rate": rates}
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    coordinator = entry.runtime_data
    assert coordinator.state_rate.policy == StateRatePolicy(**rates)
    await wait_for(lambda: coordinator.stream.connected)

    import0 = float(DEFAULT_MEASUREMENT["energy_import_kwh"])  # type: ignore[arg-type]
    for k in range(1, 4):  # interval 0: every change, as before the state rate
        kwh = round(import0 + k / 1000, 3)
        clock.t += 1
        await _push(
            hass, entry, meter, {**DEFAULT_MEASUREMENT, "energy_import_kwh": kwh, "power_l1_w": k}
        )
        assert float(_state(hass, f"{PREFIX}power_phase_1")) == k

    again = await hass.config_entries.options.async_init(entry.entry_id)
    section = again["data_schema"].schema["state_rate"]  # type: ignore[union-attr]
    assert {str(key): key.default() for key in section.schema.schema}["voltage_deadband"] == 2


async def test_another_price_source_reloads_the_entry(
    hass: HomeAssistant, meter: FakeP1Meter, clock: Clock
) -> None:
    """The state rate applies in place; a new price source restarts the entry to price with it."""
    entry = await _setup(hass, meter)
    first = entry.runtime_data
    hass.config_entries.async_update_entry(entry, options={"state_rate": {"interval": 5}})
    await hass.async_block_till_done()
    assert entry.runtime_data is first
    hass.config_entries.async_update_entry(
        entry, options={"price_source": "entry:gone", "state_rate": {"interval": 5}}
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not first
    assert entry.runtime_data.price_entry is None  # that PVPC entry does not exist


@pytest.mark.parametrize(
    ("saved", "expected"),
    [
        ({}, StateRatePolicy()),
        ({"state_rate": "garbage"}, StateRatePolicy()),
        ({"state_rate": {"interval": 10, "unknown": 1}}, StateRatePolicy(interval=10)),
        ({"state_rate": {"interval": -5}}, StateRatePolicy()),
    ],
)
def test_saved_options_are_read_safely(
    saved: dict[str, Any], expected: StateRatePolicy, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert policy_from_options(saved) == expected
    assert ("interval must be" in caplog.text) == (saved == {"state_rate": {"interval": -5}})
