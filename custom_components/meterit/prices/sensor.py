"""The sensors of a PVPC prices entry: current and next price, cheapest and dearest period."""

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
from homeassistant.const import CURRENCY_EURO, UnitOfEnergy
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from ..esios import DayPrices, PriceData, PriceKind, PricePeriod
from .coordinator import PriceConfigEntry, PriceCoordinator
from .entity import PriceEntity
from .tariff_sensor import TariffPeriodSensor

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
    hass: HomeAssistant, entry: PriceConfigEntry, sensors: list[SensorEntity]
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


@callback
def async_setup_price_sensors(
    hass: HomeAssistant,
    entry: ConfigEntry,
    coordinator: PriceCoordinator,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a price entry's sensors; drop the registered ones it no longer has."""
    sensors = price_sensors(coordinator)
    _async_remove_gone_price_sensors(hass, entry, sensors)
    async_add_entities(sensors)
