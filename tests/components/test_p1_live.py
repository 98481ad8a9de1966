"""The P1 meter's live stream in Home Assistant: entities, availability, bad input, faults."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
import logging
from pathlib import Path
from typing import Any

from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorDeviceClass, SensorStateClass
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    CONF_TOKEN,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.diagnostics import async_get_config_entry_diagnostics
from simulator.p1_meter import DEFAULT_MEASUREMENT, FakeP1Meter

from .conftest import METER_SERIAL, p1_entry, setup_connected, wait_for

POWER = "sensor.p1_meter_power"
IMPORT = "sensor.p1_meter_energy_import"


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _number(hass: HomeAssistant, entity_id: str) -> float | None:
    try:
        return float(_state(hass, entity_id))
    except ValueError:
        return None


async def _push_and_wait(
    hass: HomeAssistant, meter: FakeP1Meter, data: dict[str, Any], entity_id: str, expected: float
) -> None:
    await meter.push(data)
    await wait_for(lambda: _number(hass, entity_id) == expected)


COST_KEYS = {"energy_import_cost", "energy_export_compensation"}

# every changed value written, as before the state rate: these tests are about values, not rates
# (the rates: test_p1_state_rate.py)
EVERY_PUSH: dict[str, Any] = {"state_rate": {"interval": 0, "counter_interval": 0}}


@pytest.fixture
async def p1_setup(hass: HomeAssistant, meter: FakeP1Meter) -> MockConfigEntry:
    """The simulated meter set up with every push written, its stream connected."""
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options=EVERY_PUSH)
    return await setup_connected(hass, entry)


async def test_entities_from_fields_sent(hass: HomeAssistant, p1_setup: MockConfigEntry) -> None:
    """Only the fields the meter sends make entities; classes fit the energy dashboard."""
    registry = er.async_get(hass)
    entities = er.async_entries_for_config_entry(registry, p1_setup.entry_id)
    keys = {e.unique_id.removeprefix(f"{METER_SERIAL}_") for e in entities}
    # history sensors (test_history*) and cost sensors (test_cost*) do not depend on the fields
    keys = {k for k in keys if not k.startswith("window_")} - COST_KEYS
    sent = set(DEFAULT_MEASUREMENT) - {"timestamp"}
    assert keys == sent
    assert not any(k.startswith("current") or k == "frequency_hz" for k in keys)

    power = hass.states.get(POWER)
    assert power is not None
    assert float(power.state) == DEFAULT_MEASUREMENT["power_w"]
    assert power.attributes[ATTR_UNIT_OF_MEASUREMENT] == "W"
    assert power.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.POWER
    energy = hass.states.get(IMPORT)
    assert energy is not None
    assert float(energy.state) == DEFAULT_MEASUREMENT["energy_import_kwh"]
    assert energy.attributes[ATTR_STATE_CLASS] == SensorStateClass.TOTAL_INCREASING
    assert energy.attributes[ATTR_UNIT_OF_MEASUREMENT] == "kWh"
    assert hass.states.get("sensor.p1_meter_energy_import_tariff_1") is not None
    assert _state(hass, "sensor.p1_meter_tariff") == "2"

    diagnostic = registry.async_get_entity_id("sensor", DOMAIN, f"{METER_SERIAL}_meter_model")
    assert diagnostic is not None
    entry = registry.async_get(diagnostic)
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION

    (device,) = dr.async_get(hass).async_get_devices(
        identifiers={(DOMAIN, METER_SERIAL)}, config_entry_id=p1_setup.entry_id
    )
    assert device.manufacturer == "HomeWizard"
    assert device.model_id == "HWE-P1"


async def test_every_push_reaches_state(
    hass: HomeAssistant, meter: FakeP1Meter, p1_setup: MockConfigEntry
) -> None:
    """Pushes update states at once, without polling."""
    coordinator = p1_setup.runtime_data
    assert coordinator.update_interval is None
    before = coordinator.pushes
    for watts in (100, -250, 3400):
        await _push_and_wait(hass, meter, dict(DEFAULT_MEASUREMENT, power_w=watts), POWER, watts)
    assert coordinator.pushes - before == 3


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_new_fields_add_entities(
    hass: HomeAssistant, meter: FakeP1Meter, p1_setup: MockConfigEntry, fixtures_dir: Path
) -> None:
    """A field that appears later (gas meter online) adds its entity without a restart."""
    assert hass.states.get("sensor.p1_meter_average_demand_15_min") is None
    full = json.loads(
        (
            fixtures_dir / "homewizard-v2" / "measurement_3_phase_with_gas_with_watermeter.json"
        ).read_text()
    )
    await meter.push(full)
    await wait_for(lambda: hass.states.get("sensor.p1_meter_average_demand_15_min") is not None)
    await hass.async_block_till_done()
    assert float(_state(hass, "sensor.p1_meter_average_demand_15_min")) == 123.0
    assert float(_state(hass, "sensor.p1_meter_current_phase_1")) == -4.0
    (gas,) = dr.async_get(hass).async_get_devices(
        identifiers={(DOMAIN, "4E6576657220676F6E6E612072756E2061726F756E64")},
        config_entry_id=p1_setup.entry_id,
    )
    assert gas.via_device_id is not None
    gas_entities = er.async_entries_for_device(er.async_get(hass), gas.id)
    assert len(gas_entities) == 1
    gas_state = hass.states.get(gas_entities[0].entity_id)
    assert gas_state is not None
    assert float(gas_state.state) == 2569.646
    assert gas_state.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.GAS
    assert gas_state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "m³"
    peak = _state(hass, "sensor.p1_meter_peak_demand_this_month_at")
    expected = dt_util.as_utc(
        dt_util.parse_datetime("2024-06-04T10:11:22").replace(  # type: ignore[union-attr]
            tzinfo=dt_util.get_default_time_zone()
        )
    )
    assert dt_util.parse_datetime(peak) == expected


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"power_w": "abc"}, "power_w"),
        ({"power_w": float("nan")}, "power_w"),
        ({"energy_import_kwh": -5}, "energy_import_kwh"),
        ({"energy_import_kwh": 13000.0}, "energy_import_kwh"),  # backwards
        ({"power_w": True}, "power_w"),
    ],
)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_bad_values_are_dropped_once_logged(
    hass: HomeAssistant,
    meter: FakeP1Meter,
    p1_setup: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    bad: dict[str, Any],
    field: str,
) -> None:
    """A bad field shows unknown (never a wrong value), the rest of the push is kept."""
    caplog.set_level(logging.WARNING)
    data = dict(DEFAULT_MEASUREMENT, voltage_l1_v=222.2) | bad
    text = json.dumps({"type": "measurement", "data": data}).replace("NaN", "NaN")
    for _ in range(3):
        await meter.push_raw(text)
    await wait_for(lambda: _number(hass, "sensor.p1_meter_voltage_phase_1") == 222.2)
    entity = POWER if field == "power_w" else IMPORT
    await wait_for(lambda: _state(hass, entity) == STATE_UNKNOWN)
    assert (
        sum(field in r.getMessage() and r.levelno >= logging.WARNING for r in caplog.records) == 1
    )
    # the next good push heals the entity
    await _push_and_wait(hass, meter, dict(DEFAULT_MEASUREMENT, power_w=7), POWER, 7)
    assert float(_state(hass, IMPORT)) == DEFAULT_MEASUREMENT["energy_import_kwh"]


async def test_garbage_and_errors_do_not_break_stream(
    hass: HomeAssistant, meter: FakeP1Meter, p1_setup: MockConfigEntry
) -> None:
    """Malformed JSON, unknown types and error messages are logged; the stream goes on."""
    for raw in (
        "{not json",
        "[]",
        '{"type": "weird"}',
        '{"type": "error", "data": {"message": "x:y"}}',
    ):
        await meter.push_raw(raw)
    await _push_and_wait(hass, meter, dict(DEFAULT_MEASUREMENT, power_w=11), POWER, 11)
    assert p1_setup.runtime_data.live


async def test_flood_of_pushes(
    hass: HomeAssistant, meter: FakeP1Meter, p1_setup: MockConfigEntry
) -> None:
    """100 messages/s for 2 s: every one is taken, the last value is shown, nothing backs up."""
    coordinator = p1_setup.runtime_data
    before = coordinator.pushes
    source = [{"data": dict(DEFAULT_MEASUREMENT, power_w=1000 + i)} for i in range(200)]
    sent = await meter.play(source, rate_hz=100)
    assert sent == 200
    await wait_for(lambda: _number(hass, POWER) == 1199)
    assert coordinator.pushes - before == 200


async def test_unavailable_when_disconnected_and_back(
    hass: HomeAssistant,
    meter: FakeP1Meter,
    p1_setup: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The meter goes away: unavailable at once, logged once; it comes back: live again."""
    await meter.stop()
    await wait_for(lambda: _state(hass, POWER) == STATE_UNAVAILABLE)
    await asyncio.sleep(0.3)  # several failed reconnects meanwhile
    lost = [r for r in caplog.records if "unavailable until it is back" in r.getMessage()]
    assert len(lost) == 1
    await meter.start()
    await wait_for(lambda: meter.open_sockets == 1)
    await _push_and_wait(hass, meter, dict(DEFAULT_MEASUREMENT, power_w=42), POWER, 42)
    back = [r for r in caplog.records if "receiving data again" in r.getMessage()]
    assert len(back) == 1


async def test_unavailable_when_silent(
    hass: HomeAssistant, meter: FakeP1Meter, p1_setup: MockConfigEntry
) -> None:
    """Connected but no push for longer than the limit: unavailable; the next push heals it."""
    coordinator = p1_setup.runtime_data
    coordinator.stale_after = timedelta(seconds=0.2)
    await asyncio.sleep(0.3)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=10))
    await hass.async_block_till_done()
    assert _state(hass, POWER) == STATE_UNAVAILABLE
    assert _state(hass, IMPORT) == STATE_UNAVAILABLE
    await _push_and_wait(hass, meter, dict(DEFAULT_MEASUREMENT, power_w=5), POWER, 5)


async def test_revoked_token_while_streaming_starts_reauth(
    hass: HomeAssistant, meter: FakeP1Meter, p1_setup: MockConfigEntry
) -> None:
    """The meter drops our token: entities unavailable and a reauth flow, no reconnect loop."""
    meter.revoke(p1_setup.data[CONF_TOKEN])
    await wait_for(lambda: bool(hass.config_entries.flow.async_progress_by_handler(DOMAIN)))
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    assert _state(hass, POWER) == STATE_UNAVAILABLE
    connections = meter.ws_connections_total
    await asyncio.sleep(0.3)
    assert meter.ws_connections_total == connections


async def test_setup_retries_when_unreachable(hass: HomeAssistant, meter: FakeP1Meter) -> None:
    """Meter down at startup: setup is retried later, nothing is created."""
    entry = p1_entry(meter)
    await meter.stop()
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    await meter.start()


async def test_setup_retries_on_wrong_certificate(hass: HomeAssistant, meter: FakeP1Meter) -> None:
    """The configured identity does not match the certificate: not ready, never connected."""
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "identifier": "appliance/p1dongle/000000000000"}
    )
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "certificate" in str(entry.reason)


async def test_unload_closes_stream(
    hass: HomeAssistant, meter: FakeP1Meter, p1_setup: MockConfigEntry
) -> None:
    """Unloading the entry closes the WebSocket."""
    assert await hass.config_entries.async_unload(p1_setup.entry_id)
    await wait_for(lambda: meter.open_sockets == 0)
    assert p1_setup.state is ConfigEntryState.NOT_LOADED


async def test_diagnostics_redacted(
    hass: HomeAssistant, meter: FakeP1Meter, p1_setup: MockConfigEntry, fixtures_dir: Path
) -> None:
    """Tokens, hosts, serials and identifiers never appear in diagnostics."""
    full = json.loads(
        (
            fixtures_dir / "homewizard-v2" / "measurement_3_phase_with_gas_with_watermeter.json"
        ).read_text()
    )
    await meter.push(full)
    await wait_for(lambda: p1_setup.runtime_data.data.measurement.external != ())
    diag = await async_get_config_entry_diagnostics(hass, p1_setup)
    text = json.dumps(diag)
    for secret in (
        p1_setup.data[CONF_TOKEN],
        f"127.0.0.1:{meter.port}",
        METER_SERIAL,
        meter.identifier,
        full["unique_id"],
        full["external"][0]["unique_id"],
    ):
        assert secret not in text
    assert diag["measurement"]["power_w"] == full["power_w"]
    assert diag["live"] is True


async def test_update_entity_on_a_push_sensor(
    hass: HomeAssistant, p1_setup: MockConfigEntry
) -> None:
    """``homeassistant.update_entity`` has nothing to poll: no error, the entity stays live."""
    assert await async_setup_component(hass, "homeassistant", {})
    await hass.services.async_call(
        "homeassistant", "update_entity", {"entity_id": POWER}, blocking=True
    )
    await hass.async_block_till_done()
    assert p1_setup.runtime_data.last_update_success
    assert _state(hass, POWER) != STATE_UNAVAILABLE


async def test_replaced_gas_meter_and_tariff_counter_recover(
    hass: HomeAssistant, meter: FakeP1Meter, fixtures_dir: Path
) -> None:
    """A counter that stays lower (a replaced gas meter, a reset tariff) is taken after a while."""
    fixtures = fixtures_dir / "homewizard-v2"
    full = json.loads((fixtures / "measurement_3_phase_with_gas_with_watermeter.json").read_text())
    gas_id = full["external"][0]["unique_id"]
    meter.measurement = full  # from the start: the electricity counters stay as they are
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options=EVERY_PUSH)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: entry.runtime_data.stream.connected)
    gas = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, gas_id), entry.entry_id)
    assert gas is not None
    (gas_entity,) = er.async_entries_for_device(er.async_get(hass), gas.id)
    assert _number(hass, gas_entity.entity_id) == full["external"][0]["value"]
    one_glitch = {**full, "external": [{**full["external"][0], "value": 1.0}]}
    await meter.push(one_glitch)
    await _push_and_wait(hass, meter, dict(full, power_w=1), POWER, 1)
    assert _number(hass, gas_entity.entity_id) == full["external"][0]["value"]
    new_gas = 0.0
    for k in range(30):
        new_gas = round(1.0 + k / 1000, 3)
        data = {**full, "power_w": 100 + k}
        data["external"] = [{**full["external"][0], "value": new_gas}, full["external"][1]]
        await _push_and_wait(hass, meter, data, POWER, 100 + k)
    assert _number(hass, gas_entity.entity_id) == new_gas

    one_phase = json.loads((fixtures / "measurement_1_phase_no_gas.json").read_text())
    tariff_1 = "sensor.p1_meter_energy_import_tariff_1"
    await _push_and_wait(hass, meter, one_phase, tariff_1, float(one_phase["energy_import_t1_kwh"]))
    new_t1 = 0.0
    for k in range(30):
        new_t1 = round(5.0 + k / 1000, 3)
        await _push_and_wait(
            hass, meter, dict(one_phase, energy_import_t1_kwh=new_t1, power_w=k), POWER, k
        )
    assert _number(hass, tariff_1) == new_t1
