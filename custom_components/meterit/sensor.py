"""Sensors: thin descriptions of what each source measures."""

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
from homeassistant.const import (
    CURRENCY_EURO,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfVolume,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .cost_sensor import cost_sensors
from .entity import P1Entity
from .entry import MeteritConfigEntry
from .esios import DayPrices, PriceKind, PricePeriod
from .homewizard import ExternalMeter, Measurement
from .p1 import P1Coordinator
from .prices import PriceCoordinator, PriceData, PriceEntity
from .prices_tariff import TariffPeriodSensor
from .webhook.coordinator import WebhookCoordinator
from .webhook.sensor import async_setup_station_sensors

PARALLEL_UPDATES = 0  # push: nothing to poll

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


def _numeric(
    kind: str, key: str, translation_key: str, placeholder: tuple[str, str] | None = None
) -> P1SensorEntityDescription:
    """A numeric field; ``placeholder`` is ("phase" | "tariff", value) for per-phase/tariff."""
    unit, device_class, state_class, precision = _KINDS[kind]
    return P1SensorEntityDescription(
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


PHASES: Final = ("1", "2", "3")
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


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MeteritConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add sensors for the fields the meter sends; more join when new fields appear."""
    if isinstance(entry.runtime_data, WebhookCoordinator):
        async_setup_station_sensors(entry, entry.runtime_data, async_add_entities)
        return
    if isinstance(entry.runtime_data, PriceCoordinator):
        sensors = price_sensors(entry.runtime_data)
        _async_remove_gone_price_sensors(hass, entry, sensors)
        async_add_entities(sensors)
        return
    coordinator = entry.runtime_data
    known: set[str] = set()

    @callback
    def _async_add_new() -> None:
        measurement = coordinator.data.measurement
        new: list[SensorEntity] = []
        for description in P1_SENSORS:
            if description.key not in known and description.value(measurement) is not None:
                known.add(description.key)
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


class P1Sensor(P1Entity, SensorEntity):
    """A value the P1 meter pushes."""

    entity_description: P1SensorEntityDescription

    def __init__(self, coordinator: P1Coordinator, description: P1SensorEntityDescription) -> None:
        """Describe one measurement field."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> P1Value:
        """The field's value in the latest push."""
        return self.entity_description.value(self.coordinator.data.measurement)


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


# ------------------------------------------------------------ P1 history: latest closed window


@dataclass(frozen=True, kw_only=True)
class WindowSensorEntityDescription(SensorEntityDescription):
    """A value of the P1 meter's latest closed 5-minute window (``key``: the window field)."""

    field: str


def _window_power(
    field: str, translation_key: str, phase: str | None = None
) -> WindowSensorEntityDescription:
    return WindowSensorEntityDescription(
        key=f"window_{field}",
        field=field,
        translation_key=f"{translation_key}_phase" if phase else translation_key,
        translation_placeholders={"phase": phase} if phase else None,
        native_unit_of_measurement=UnitOfPower.WATT,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_registry_enabled_default=phase is None,
    )


WINDOW_SENSORS: Final[tuple[WindowSensorEntityDescription, ...]] = (
    _window_power("w_avg", "window_power_average"),
    _window_power("w_max", "window_power_maximum"),
    *(_window_power(f"l{p}_w_avg", "window_power_average", p) for p in PHASES),
    *(_window_power(f"l{p}_w_max", "window_power_maximum", p) for p in PHASES),
)


def window_sensors(coordinator: P1Coordinator) -> list[SensorEntity]:
    """The latest-window sensors of a P1 meter (phases disabled by default)."""
    return [P1WindowSensor(coordinator, description) for description in WINDOW_SENSORS]


class P1WindowSensor(P1Entity, SensorEntity):
    """A value of the latest closed 5-minute window; updated when a window closes."""

    entity_description: WindowSensorEntityDescription
    _unrecorded_attributes = frozenset({"window_start", "window_end", "synthetic"})

    def __init__(
        self, coordinator: P1Coordinator, description: WindowSensorEntityDescription
    ) -> None:
        """Describe one window value."""
        super().__init__(coordinator, description.key)
        self.entity_description = description
        self._written_available: bool | None = None

    async def async_added_to_hass(self) -> None:
        """Follow the meter's history (window closes) besides the coordinator (availability)."""
        await super().async_added_to_hass()
        self.async_on_remove(self.coordinator.history.async_add_listener(self._async_window))

    @callback
    def _async_window(self) -> None:
        self._written_available = self.available
        self.async_write_ha_state()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Pushes arrive every second; write only when availability changes."""
        if self.available != self._written_available:
            self._written_available = self.available
            self.async_write_ha_state()

    @property
    def native_value(self) -> float | None:
        """The field of the latest window (None before the first one closes)."""
        window = self.coordinator.history.latest
        if window is None:
            return None
        value: float | None = getattr(window, self.entity_description.field)
        return value

    @property
    def extra_state_attributes(self) -> dict[str, object] | None:
        """The window's start and end, and whether it was gap-filled."""
        window = self.coordinator.history.latest
        if window is None:
            return None
        return {
            "window_start": dt_util.utc_from_timestamp(window.start).isoformat(),
            "window_end": dt_util.utc_from_timestamp(window.end).isoformat(),
            "synthetic": window.synthetic,
        }


# ------------------------------------------------------------------------------- PVPC prices

PRICE_UNIT: Final = f"{CURRENCY_EURO}/{UnitOfEnergy.KILO_WATT_HOUR}"
PRICE_PRECISION: Final = 5

type PriceValue = float | datetime | None


@dataclass(frozen=True, kw_only=True)
class PriceSensorEntityDescription(SensorEntityDescription):
    """A price sensor: a value of the entry's prices at an instant (UTC)."""

    value_fn: Callable[[PriceData, datetime], PriceValue]
    kind: PriceKind = PriceKind.CONSUMER


def _price(period: PricePeriod | None) -> float | None:
    return None if period is None else period.price


def _extreme_start(data: PriceData, *, cheapest: bool) -> datetime | None:
    """Start of today's cheapest (or dearest) period; the earliest one on a tie."""
    if (today := data.day(data.today)) is None:
        return None
    sign = 1 if cheapest else -1
    return min(today.periods, key=lambda p: (sign * p.price, p.start)).start


def _money(
    key: str,
    kind: PriceKind = PriceKind.CONSUMER,
    *,
    upcoming: bool = False,
    state_class: SensorStateClass | None = None,
) -> PriceSensorEntityDescription:
    """A price in €/kWh: of the current period, or of the next one when ``upcoming``."""

    def value(data: PriceData, now: datetime) -> PriceValue:
        return _price(data.next_period(now, kind) if upcoming else data.period_at(now, kind))

    return PriceSensorEntityDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=PRICE_UNIT,
        suggested_display_precision=PRICE_PRECISION,
        state_class=state_class,
        value_fn=value,
        kind=kind,
    )


PRICE_SENSORS: Final[tuple[PriceSensorEntityDescription, ...]] = (
    _money("current_price", state_class=SensorStateClass.MEASUREMENT),
    _money("next_price", upcoming=True),
    PriceSensorEntityDescription(
        key="cheapest_period_start",
        translation_key="cheapest_period_start",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda data, _now: _extreme_start(data, cheapest=True),
    ),
    PriceSensorEntityDescription(
        key="dearest_period_start",
        translation_key="dearest_period_start",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda data, _now: _extreme_start(data, cheapest=False),
    ),
)
SURPLUS_SENSOR: Final = _money(
    "surplus_price", PriceKind.SURPLUS, state_class=SensorStateClass.MEASUREMENT
)


def price_sensors(coordinator: PriceCoordinator) -> list[SensorEntity]:
    """The sensors of a price entry (the surplus price only with an ESIOS token)."""
    sensors: list[SensorEntity] = [
        CurrentPriceSensor(coordinator, d)
        if d.key == "current_price"
        else PriceSensor(coordinator, d)
        for d in PRICE_SENSORS
    ]
    if PriceKind.SURPLUS in coordinator.kinds:
        sensors.append(PriceSensor(coordinator, SURPLUS_SENSOR))
    sensors.append(TariffPeriodSensor(coordinator))
    return sensors


@callback
def _async_remove_gone_price_sensors(
    hass: HomeAssistant, entry: MeteritConfigEntry, sensors: list[SensorEntity]
) -> None:
    """Drop the entry's registered sensors that it no longer has, rather than unavailable.

    (The surplus price once the token is removed: it comes back with a token.)
    """
    registry = er.async_get(hass)
    kept = {sensor.unique_id for sensor in sensors}
    for registered in er.async_entries_for_config_entry(registry, entry.entry_id):
        if registered.domain == "sensor" and registered.unique_id not in kept:
            registry.async_remove(registered.entity_id)


def _period_list(day: DayPrices | None) -> list[dict[str, str | float]]:
    if day is None:
        return []
    return [
        {
            "start": dt_util.as_local(p.start).isoformat(),
            "end": dt_util.as_local(p.end).isoformat(),
            "price": p.price,
        }
        for p in day.periods
    ]


class PriceSensor(PriceEntity, SensorEntity):
    """A value derived from the entry's prices; it changes exactly at period boundaries."""

    entity_description: PriceSensorEntityDescription

    def __init__(
        self, coordinator: PriceCoordinator, description: PriceSensorEntityDescription
    ) -> None:
        """Describe one price value."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """Available while the current period has a price."""
        now = dt_util.utcnow()
        return self.coordinator.data.period_at(now, self.entity_description.kind) is not None

    @property
    def native_value(self) -> PriceValue:
        """The value now."""
        return self.entity_description.value_fn(self.coordinator.data, dt_util.utcnow())


class CurrentPriceSensor(PriceSensor):
    """The price now (€/kWh), with today's and tomorrow's prices as attributes."""

    _unrecorded_attributes = frozenset({"today", "tomorrow", "tomorrow_valid"})

    @property
    def extra_state_attributes(self) -> dict[str, object]:
        """Today's and tomorrow's periods, today's statistics and where the current price sits."""
        data = self.coordinator.data
        today = data.day(data.today)
        tomorrow = data.day(data.tomorrow)
        attributes: dict[str, object] = {
            "today": _period_list(today),
            "tomorrow": _period_list(tomorrow),
            "tomorrow_valid": tomorrow is not None and tomorrow.complete,
        }
        if today is None:
            return attributes
        low, high = today.min, today.max
        attributes["min_price"] = low
        attributes["max_price"] = high
        attributes["average_price"] = round(today.average, 6)
        if (current := data.period_at(dt_util.utcnow())) is not None:
            attributes["rank"] = 1 + sum(p.price < current.price for p in today.periods)
            attributes["position_percent"] = (
                round((current.price - low) / (high - low) * 100, 1) if high > low else 0.0
            )
        return attributes
