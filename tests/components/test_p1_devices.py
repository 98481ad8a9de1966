"""Gas, water and heat meters on the P1 port: removed when long unreported, deletable when gone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
import json
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.p1.coordinator import P1Coordinator
from custom_components.meterit.p1.devices import STALE_AFTER
from simulator.p1_meter import DEFAULT_MEASUREMENT, FakeP1Meter

from .conftest import METER_SERIAL, p1_entry, wait_for

STORE_VERSION = 1


@pytest.fixture
def full(fixtures_dir: Path) -> dict[str, Any]:
    """A measurement that reports a gas and a water meter."""
    path = fixtures_dir / "homewizard-v2" / "measurement_3_phase_with_gas_with_watermeter.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.fixture
async def device_commands(hass: HomeAssistant) -> None:
    """The frontend's *Delete device* (websocket commands of the device registry)."""
    for component in ("websocket_api", "config"):
        assert await async_setup_component(hass, component, {})


def _ids(full: dict[str, Any]) -> tuple[str, str]:
    gas, water = full["external"]
    return gas["unique_id"], water["unique_id"]


def _only(full: dict[str, Any], *unique_ids: str) -> dict[str, Any]:
    """The measurement, its external list narrowed to ``unique_ids``."""
    return {**full, "external": [m for m in full["external"] if m["unique_id"] in unique_ids]}


def _coordinator(entry: MockConfigEntry) -> P1Coordinator:
    coordinator = entry.runtime_data
    assert isinstance(coordinator, P1Coordinator)
    return coordinator


def _device(hass: HomeAssistant, entry: MockConfigEntry, unique_id: str) -> dr.DeviceEntry | None:
    return dr.async_get(hass).async_get_device_by_identifier((DOMAIN, unique_id), entry.entry_id)


async def _report(
    hass: HomeAssistant, meter: FakeP1Meter, entry: MockConfigEntry, data: dict[str, Any]
) -> None:
    """Push ``data`` and wait until Home Assistant has it (devices and entities too)."""
    wanted = {m["unique_id"] for m in data.get("external", [])}
    await meter.push(data)
    coordinator = _coordinator(entry)
    await wait_for(lambda: coordinator.devices.reported == wanted)
    await hass.async_block_till_done()


def _storage_key(entry: MockConfigEntry) -> str:
    return f"{DOMAIN}.p1_devices.{entry.entry_id}"


async def test_meter_unreported_for_30_days_is_removed_and_comes_back_when_reported(
    hass: HomeAssistant, meter: FakeP1Meter, p1_setup: MockConfigEntry, full: dict[str, Any]
) -> None:
    """Not reported for STALE_AFTER: its device and entity go; reported ones and the meter stay."""
    gas_id, water_id = _ids(full)
    await _report(hass, meter, p1_setup, full)
    gas = _device(hass, p1_setup, gas_id)
    assert gas is not None
    (gas_entity,) = er.async_entries_for_device(er.async_get(hass), gas.id)
    await _report(hass, meter, p1_setup, _only(full, water_id))  # the gas meter was replaced
    devices = _coordinator(p1_setup).devices
    last = devices.last_seen[gas_id]
    assert devices.last_seen[water_id] > last

    devices.async_sweep(last + STALE_AFTER - timedelta(minutes=1))
    assert _device(hass, p1_setup, gas_id) is not None
    devices.async_sweep(last + STALE_AFTER)
    await hass.async_block_till_done()
    assert _device(hass, p1_setup, gas_id) is None
    assert er.async_get(hass).async_get(gas_entity.entity_id) is None
    assert hass.states.get(gas_entity.entity_id) is None
    assert gas_id not in devices.last_seen
    assert _device(hass, p1_setup, water_id) is not None  # reported now, whatever its age
    devices.async_sweep(last + 10 * STALE_AFTER)
    assert _device(hass, p1_setup, water_id) is not None
    assert _device(hass, p1_setup, METER_SERIAL) is not None

    await _report(hass, meter, p1_setup, full)  # reported again: a device anew, with its entity
    gas = _device(hass, p1_setup, gas_id)
    assert gas is not None
    (entity,) = er.async_entries_for_device(er.async_get(hass), gas.id)
    state = hass.states.get(entity.entity_id)
    assert state is not None
    assert float(state.state) == full["external"][0]["value"]


async def test_last_seen_survives_a_restart(
    hass: HomeAssistant,
    meter: FakeP1Meter,
    hass_storage: dict[str, Any],
    full: dict[str, Any],
) -> None:
    """A meter last seen 20 days before a restart goes 10 days after it, not 30."""
    gas_id, _ = _ids(full)
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, gas_id)}, name="Gas meter"
    )
    before = dt_util.utcnow() - timedelta(days=20)
    hass_storage[_storage_key(entry)] = {
        "version": STORE_VERSION,
        "data": {"last_seen": {gas_id: before.isoformat()}},
    }
    assert await hass.config_entries.async_setup(entry.entry_id)  # the meter reports no gas
    await hass.async_block_till_done()
    devices = _coordinator(entry).devices
    assert devices.last_seen[gas_id] == before
    devices.async_sweep(before + STALE_AFTER - timedelta(minutes=1))
    assert _device(hass, entry, gas_id) is not None
    devices.async_sweep(before + STALE_AFTER)
    assert _device(hass, entry, gas_id) is None


async def test_unloading_writes_last_seen_and_removing_the_entry_deletes_it(
    hass: HomeAssistant,
    meter: FakeP1Meter,
    p1_setup: MockConfigEntry,
    hass_storage: dict[str, Any],
    full: dict[str, Any],
) -> None:
    """Unload: the times of the meters reported are stored. Entry removed: so are they."""
    await _report(hass, meter, p1_setup, full)
    seen = _coordinator(p1_setup).devices.last_seen
    assert await hass.config_entries.async_unload(p1_setup.entry_id)
    stored = hass_storage[_storage_key(p1_setup)]["data"]["last_seen"]
    assert {key: datetime.fromisoformat(value) for key, value in stored.items()} == seen
    assert set(stored) == set(_ids(full))
    await hass.config_entries.async_remove(p1_setup.entry_id)
    assert _storage_key(p1_setup) not in hass_storage


async def test_devices_without_a_record_count_from_now_and_bad_records_are_ignored(
    hass: HomeAssistant, meter: FakeP1Meter, hass_storage: dict[str, Any]
) -> None:
    """Devices from before last-seen was kept, and unreadable records, get the full 30 days."""
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    registry = dr.async_get(hass)
    for unique_id in ("old-gas", "bad-date", "naive-date", "not-a-string"):
        registry.async_get_or_create(
            config_entry_id=entry.entry_id, identifiers={(DOMAIN, unique_id)}
        )
    hass_storage[_storage_key(entry)] = {
        "version": STORE_VERSION,
        "data": {
            "last_seen": {
                "bad-date": "yesterday",
                "naive-date": "2020-01-01T00:00:00",
                "not-a-string": 5,
            }
        },
    }
    start = dt_util.utcnow()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    devices = _coordinator(entry).devices
    assert set(devices.last_seen) == {"old-gas", "bad-date", "naive-date", "not-a-string"}
    assert min(devices.last_seen.values()) >= start
    devices.async_sweep(start + STALE_AFTER - timedelta(minutes=1))
    assert len(dr.async_entries_for_config_entry(registry, entry.entry_id)) == 5
    devices.async_sweep(dt_util.utcnow() + STALE_AFTER)
    (left,) = dr.async_entries_for_config_entry(registry, entry.entry_id)
    assert left.identifiers == {(DOMAIN, METER_SERIAL)}


async def test_user_may_delete_an_external_meter_only_while_it_is_not_reported(
    hass: HomeAssistant,
    device_commands: None,
    meter: FakeP1Meter,
    p1_setup: MockConfigEntry,
    full: dict[str, Any],
    hass_ws_client: Callable[..., Awaitable[Any]],
) -> None:
    """Reported now: refused. Not reported: deleted with its entity. The meter: refused."""
    gas_id, water_id = _ids(full)
    await _report(hass, meter, p1_setup, full)
    ws = await hass_ws_client(hass)
    gas = _device(hass, p1_setup, gas_id)
    assert gas is not None
    (gas_entity,) = er.async_entries_for_device(er.async_get(hass), gas.id)
    answer = await ws.remove_device(gas.id)
    assert not answer["success"]
    assert _device(hass, p1_setup, gas_id) is not None

    await _report(hass, meter, p1_setup, _only(full, water_id))
    answer = await ws.remove_device(gas.id)
    assert answer["success"], answer
    await hass.async_block_till_done()
    assert _device(hass, p1_setup, gas_id) is None
    assert er.async_get(hass).async_get(gas_entity.entity_id) is None
    assert gas_id not in _coordinator(p1_setup).devices.last_seen

    water = _device(hass, p1_setup, water_id)
    p1 = _device(hass, p1_setup, METER_SERIAL)
    assert water is not None
    assert p1 is not None
    for device in (water, p1):
        assert not (await ws.remove_device(device.id))["success"]
        assert dr.async_get(hass).async_get(device.id) is not None

    await _report(hass, meter, p1_setup, full)
    assert _device(hass, p1_setup, gas_id) is not None


async def test_a_meter_not_loaded_refuses_deletion(
    hass: HomeAssistant,
    device_commands: None,
    meter: FakeP1Meter,
    p1_setup: MockConfigEntry,
    full: dict[str, Any],
    hass_ws_client: Callable[..., Awaitable[Any]],
) -> None:
    """Unloaded, what the meter reports is not known: its devices stay."""
    gas_id, _ = _ids(full)
    await _report(hass, meter, p1_setup, full)
    await _report(hass, meter, p1_setup, dict(DEFAULT_MEASUREMENT))
    assert await hass.config_entries.async_unload(p1_setup.entry_id)
    gas = _device(hass, p1_setup, gas_id)
    assert gas is not None
    assert not (await (await hass_ws_client(hass)).remove_device(gas.id))["success"]


async def test_the_sweep_runs_on_its_interval(
    hass: HomeAssistant, meter: FakeP1Meter, p1_setup: MockConfigEntry, full: dict[str, Any]
) -> None:
    """No call from outside: Home Assistant's timer sweeps every ``sweep_interval``."""
    gas_id, water_id = _ids(full)
    await _report(hass, meter, p1_setup, full)
    await _report(hass, meter, p1_setup, _only(full, water_id))
    devices = _coordinator(p1_setup).devices
    devices.stale_after = timedelta(0)  # (the timer passes Home Assistant's real clock)
    async_fire_time_changed(hass, dt_util.utcnow() + devices.sweep_interval / 2)
    await hass.async_block_till_done()
    assert _device(hass, p1_setup, gas_id) is not None
    async_fire_time_changed(hass, dt_util.utcnow() + devices.sweep_interval)
    await hass.async_block_till_done()
    assert _device(hass, p1_setup, gas_id) is None
    assert _device(hass, p1_setup, water_id) is not None


async def test_a_meter_without_a_device_is_forgotten_once_stale(
    hass: HomeAssistant, meter: FakeP1Meter, p1_setup: MockConfigEntry, full: dict[str, Any]
) -> None:
    """A reported meter in a unit Meterit has no sensor for leaves no record behind."""
    heat = {"unique_id": "heat-1", "type": "heat_meter", "value": 1.5, "unit": "kWh"}
    with_heat = {**full, "external": [*full["external"], heat]}
    await _report(hass, meter, p1_setup, with_heat)
    assert _device(hass, p1_setup, "heat-1") is None
    await _report(hass, meter, p1_setup, full)
    devices = _coordinator(p1_setup).devices
    last = devices.last_seen["heat-1"]
    devices.async_sweep(last + STALE_AFTER - timedelta(minutes=1))
    assert "heat-1" in devices.last_seen
    devices.async_sweep(last + STALE_AFTER)
    assert set(devices.last_seen) == set(_ids(full))
