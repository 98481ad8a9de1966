"""The P1 meter's sensors: a description per field it pushes, and its gas, water and heat meters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfVolume,
)
from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from ..const import DOMAIN
from ..homewizard import ExternalMeter, Measurement
from ..metering.state_rate import ValueKind
from .coordinator import P1Coordinator
from .cost_sensor import cost_sensors
from .entity import PHASES, P1Entity
from .state_rate import value_kind
from .window_sensor import window_sensors

type P1Value = float | int | str | datetime | None


@dataclass(frozen=True, kw_only=True)
class P1SensorEntityDescription(SensorEntityDescription):
    """A P1 sensor; ``key`` is the measurement field it shows."""

    value_fn: Callable[[Measurement], P1Value] | None = None

    def value(self, measurement: Measurement) -> P1Value:
        """The state from a measurement (the field named by ``key`` unless value_fn says)."""
        if self.value_fn is not None:
            return self.value_fn(measurement)
        value: P1Value = getattr(measurement, self.key)
        return value


def _meter_time(text: str | None) -> datetime | None:
    """The meter's local clock (no zone) read in Home Assistant's time zone."""
    if text is None or (parsed := dt_util.parse_datetime(text)) is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt_util.get_default_time_zone())
    return parsed


# (unit, device class, state class, display precision) of each kind of numeric P1 field
_KINDS: Final[dict[str, tuple[str, SensorDeviceClass, SensorStateClass, int]]] = {
    "power": (UnitOfPower.WATT, SensorDeviceClass.POWER, SensorStateClass.MEASUREMENT, 0),
    "energy": (
        UnitOfEnergy.KILO_WATT_HOUR,
        SensorDeviceClass.ENERGY,
        SensorStateClass.TOTAL_INCREASING,
        3,
    ),
    "voltage": (
        UnitOfElectricPotential.VOLT,
        SensorDeviceClass.VOLTAGE,
        SensorStateClass.MEASUREMENT,
        1,
    ),
    "current": (
        UnitOfElectricCurrent.AMPERE,
        SensorDeviceClass.CURRENT,
        SensorStateClass.MEASUREMENT,
        2,
    ),
}


_DISABLED_KINDS: Final = frozenset({"voltage", "current"})


def _numeric(
    kind: str, key: str, translation_key: str, placeholder: tuple[str, str] | None = None
) -> P1SensorEntityDescription:
    """A numeric field; ``placeholder`` is ("phase" | "tariff", value) for per-phase/tariff.

    Voltages and currents are disabled by default, as in Home Assistant's own HomeWizard
    integration: few users chart them and a 1 Hz meter writes them often.
    """
    unit, device_class, state_class, precision = _KINDS[kind]
    return P1SensorEntityDescription(
        entity_registry_enabled_default=kind not in _DISABLED_KINDS,
        key=key,
        translation_key=translation_key,
        translation_placeholders=dict([placeholder]) if placeholder else None,
        native_unit_of_measurement=unit,
        device_class=device_class,
        state_class=state_class,
        suggested_display_precision=precision,
    )


def _counter(key: str, translation_key: str, phase: str | None = None) -> P1SensorEntityDescription:
    return P1SensorEntityDescription(
        key=key,
        translation_key=translation_key,
        translation_placeholders={"phase": phase} if phase else None,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        state_class=SensorStateClass.TOTAL_INCREASING,
    )


def _identity(key: str, translation_key: str) -> P1SensorEntityDescription:
    return P1SensorEntityDescription(
        key=key,
        translation_key=translation_key,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
    )


TARIFFS: Final = ("1", "2", "3", "4")

P1_SENSORS: Final[tuple[P1SensorEntityDescription, ...]] = (
    _numeric("power", "power_w", "power"),
    *(_numeric("power", f"power_l{p}_w", "power_phase", ("phase", p)) for p in PHASES),
    *(
        description
        for direction in ("import", "export")
        for description in (
            _numeric("energy", f"energy_{direction}_kwh", f"energy_{direction}"),
            *(
                _numeric(
                    "energy",
                    f"energy_{direction}_t{t}_kwh",
                    f"energy_{direction}_tariff",
                    ("tariff", t),
                )
                for t in TARIFFS
            ),
        )
    ),
    _numeric("voltage", "voltage_v", "voltage"),
    *(_numeric("voltage", f"voltage_l{p}_v", "voltage_phase", ("phase", p)) for p in PHASES),
    _numeric("current", "current_a", "current"),
    *(_numeric("current", f"current_l{p}_a", "current_phase", ("phase", p)) for p in PHASES),
    P1SensorEntityDescription(
        key="frequency_hz",
        translation_key="frequency",
        native_unit_of_measurement=UnitOfFrequency.HERTZ,
        device_class=SensorDeviceClass.FREQUENCY,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
    ),
    P1SensorEntityDescription(
        key="tariff",
        translation_key="tariff",
        device_class=SensorDeviceClass.ENUM,
        options=list(TARIFFS),
        value_fn=lambda m: None if m.tariff is None else str(m.tariff),
    ),
    _numeric("power", "average_power_15m_w", "average_power_15m"),
    _numeric("power", "monthly_power_peak_w", "monthly_power_peak"),
    P1SensorEntityDescription(
        key="monthly_power_peak_timestamp",
        translation_key="monthly_power_peak_timestamp",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda m: _meter_time(m.monthly_power_peak_timestamp),
    ),
    *(_counter(f"voltage_sag_l{p}_count", "voltage_sag_count", p) for p in PHASES),
    *(_counter(f"voltage_swell_l{p}_count", "voltage_swell_count", p) for p in PHASES),
    _counter("any_power_fail_count", "any_power_fail_count"),
    _counter("long_power_fail_count", "long_power_fail_count"),
    _identity("protocol_version", "protocol_version"),
    _identity("meter_model", "meter_model"),
    _identity("unique_id", "meter_unique_id"),
)

# External meters on the P1 port: (device class, unit) by the unit the meter reports.
EXTERNAL_UNITS: Final[dict[str, tuple[SensorDeviceClass, str]]] = {
    "m3": (SensorDeviceClass.VOLUME, UnitOfVolume.CUBIC_METERS),
    "GJ": (SensorDeviceClass.ENERGY, UnitOfEnergy.GIGA_JOULE),
}
EXTERNAL_CLASSES: Final[dict[str, SensorDeviceClass]] = {
    "gas_meter": SensorDeviceClass.GAS,
    "water_meter": SensorDeviceClass.WATER,
    "warm_water_meter": SensorDeviceClass.WATER,
}


class P1Sensor(P1Entity, SensorEntity):
    """A value the P1 meter pushes, written as a state when the state rate says (state_rate.py).

    Availability changes are written at once, and the first value after them; an unchanged
    value is never written again. Counters are also offered at the start of each boundary guard.
    """

    entity_description: P1SensorEntityDescription

    def __init__(self, coordinator: P1Coordinator, description: P1SensorEntityDescription) -> None:
        """Describe one measurement field."""
        super().__init__(coordinator, description.key)
        self.entity_description = description
        self._kind = value_kind(description)
        self._value: P1Value = None
        self._written_available: bool | None = None

    async def async_added_to_hass(self) -> None:
        """Start from the latest push (written now by Home Assistant); counters join the timer."""
        await super().async_added_to_hass()
        rate = self.coordinator.state_rate
        rate.forget(self.entity_description.key)
        self._take()
        if self._kind is ValueKind.COUNTER:
            self.async_on_remove(rate.async_add_offer(self._handle_coordinator_update))

    def _take(self) -> bool:
        """Take the latest push's value if it is due; True when there is a state to write."""
        value = self.entity_description.value(self.coordinator.data.measurement)
        key, rate = self.entity_description.key, self.coordinator.state_rate
        if (available := self.available) != self._written_available:
            self._written_available = available
            rate.forget(key)  # the first value after start or unavailability: at once
            if not available:
                return True
        if not available or not rate.due(key, self._kind, value):
            return False
        self._value = value
        return True

    @callback
    def _handle_coordinator_update(self) -> None:
        """A push (or a boundary offer, or an availability change): write it if it is due."""
        if self._take():
            self.async_write_ha_state()

    @property
    def native_value(self) -> P1Value:
        """The field's value in the latest push that was due to be written."""
        return self._value


class P1ExternalSensor(P1Entity, SensorEntity):
    """A gas, water or heat meter connected to the P1 meter: its own device."""

    _attr_state_class = SensorStateClass.TOTAL_INCREASING
    _attr_name = None

    def __init__(
        self, coordinator: P1Coordinator, meter: ExternalMeter, on_remove: Callable[[str], None]
    ) -> None:
        """Describe the external meter from its first report."""
        self._key = f"external_{meter.unique_id}"
        self._forget = on_remove
        super().__init__(coordinator, self._key)
        self._meter_id = meter.unique_id
        self._shown: tuple[bool, float | None] | None = None
        unit_class, unit = EXTERNAL_UNITS[meter.unit or ""]
        self._attr_device_class = EXTERNAL_CLASSES.get(meter.type, unit_class)
        self._attr_native_unit_of_measurement = unit
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, meter.unique_id)},
            translation_key=meter.type,
            via_device_id=dr.async_get_device_id_by_identifier(
                coordinator.hass,
                (DOMAIN, coordinator.device.serial),
                config_entry_id=coordinator.config_entry.entry_id,
            ),
            serial_number=meter.unique_id,
        )

    @callback
    def _handle_coordinator_update(self) -> None:
        """Written only when its reading or availability changed (it changes every few minutes)."""
        shown = (self.available, self.native_value)
        if shown != self._shown:
            self._shown = shown
            self.async_write_ha_state()

    async def async_will_remove_from_hass(self) -> None:
        """Its device was removed (or the entry unloads): a new report adds it again."""
        self._forget(self._key)
        await super().async_will_remove_from_hass()

    @property
    def native_value(self) -> float | None:
        """The meter's latest reading as relayed by the P1 meter."""
        for meter in self.coordinator.data.measurement.external:
            if meter.unique_id == self._meter_id:
                return meter.value
        return None


@callback
def async_setup_p1_sensors(
    entry: ConfigEntry,
    coordinator: P1Coordinator,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add sensors for the fields the meter sends; more join when new fields appear."""
    known: set[str] = set()
    missing = list(P1_SENSORS)  # the fields not seen yet (a push checks only these)

    @callback
    def _async_add_new() -> None:
        measurement = coordinator.data.measurement
        new: list[SensorEntity] = []
        for description in list(missing):
            if description.value(measurement) is not None:
                missing.remove(description)
                new.append(P1Sensor(coordinator, description))
        for meter in measurement.external:
            key = f"external_{meter.unique_id}"
            if key not in known and meter.unit in EXTERNAL_UNITS:
                known.add(key)
                new.append(P1ExternalSensor(coordinator, meter, known.discard))
        if new:
            async_add_entities(new)

    _async_add_new()
    entry.async_on_unload(coordinator.async_add_listener(_async_add_new))
    async_add_entities(window_sensors(coordinator))
    async_add_entities(cost_sensors(coordinator))
