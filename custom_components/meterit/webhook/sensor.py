"""The sensors of a power webhook station: power, energy, cost and last seen."""

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
from homeassistant.const import CURRENCY_EURO, EntityCategory, UnitOfEnergy, UnitOfPower
from homeassistant.core import callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from ..entry import MeteritConfigEntry
from ..powerhook import StationMeter
from .coordinator import WebhookCoordinator
from .entity import StationEntity

type StationValue = float | datetime | None


@dataclass(frozen=True, kw_only=True)
class StationSensorEntityDescription(SensorEntityDescription):
    """A sensor of a webhook station."""

    value_fn: Callable[[StationMeter], StationValue]
    always_available: bool = False
    priced: bool = False
    """A cost: unknown (not 0) while the webhook has no price source and none was counted."""


def _station_last_seen(meter: StationMeter) -> datetime | None:
    return None if meter.last_time is None else dt_util.utc_from_timestamp(meter.last_time)


STATION_SENSORS: Final[tuple[StationSensorEntityDescription, ...]] = (
    StationSensorEntityDescription(
        key="power",
        translation_key="station_power",
        native_unit_of_measurement=UnitOfPower.WATT,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda m: m.last_watts,
    ),
    StationSensorEntityDescription(
        key="energy",
        translation_key="station_energy",
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=lambda m: m.energy_kwh,
    ),
    StationSensorEntityDescription(
        key="cost",
        translation_key="station_cost",
        native_unit_of_measurement=CURRENCY_EURO,
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=4,
        value_fn=lambda m: m.cost,
        priced=True,
    ),
    StationSensorEntityDescription(
        key="last_seen",
        translation_key="station_last_seen",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        # it changes with every reading, and a timestamp sensor is not "continuous" for the
        # logbook: enabled, it writes an Activity entry per reading (core's last-seen sensors,
        # zwave_js for one, are disabled by default for the same reason)
        entity_registry_enabled_default=False,
        value_fn=_station_last_seen,
        always_available=True,
    ),
)


@callback
def async_setup_station_sensors(
    entry: MeteritConfigEntry,
    coordinator: WebhookCoordinator,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of known stations; a new station's join on its first reading."""
    known: set[str] = set()

    @callback
    def _async_add_new() -> None:
        # a deleted station (its device removed by the user) comes back if it posts again
        known.intersection_update(coordinator.stations)
        new = [
            StationSensor(coordinator, station_id, description)
            for station_id in coordinator.stations
            if station_id not in known
            for description in STATION_SENSORS
        ]
        known.update(coordinator.stations)
        if new:
            async_add_entities(new)

    _async_add_new()
    entry.async_on_unload(coordinator.async_add_listener(_async_add_new))


class StationSensor(StationEntity, SensorEntity):
    """Power, energy, cost or last seen of one station."""

    entity_description: StationSensorEntityDescription

    def __init__(
        self,
        coordinator: WebhookCoordinator,
        station_id: str,
        description: StationSensorEntityDescription,
    ) -> None:
        """Describe one value of a station."""
        super().__init__(coordinator, station_id, description.key)
        self.entity_description = description
        self.always_available = description.always_available

    @property
    def native_value(self) -> StationValue:
        """The station's current value."""
        meter = self.station.meter
        if (
            self.entity_description.priced
            and not self.coordinator.price_source.known
            and not meter.cost
        ):
            return None
        return self.entity_description.value_fn(meter)
