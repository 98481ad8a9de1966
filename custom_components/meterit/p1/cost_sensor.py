"""The P1 meter's cost sensors: import cost and export compensation of its priced windows.

They show the totals of the hours imported as cost statistics (up to the last complete hour),
with the energy that has no price yet as attributes; unknown without a price source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import CURRENCY_EURO
from homeassistant.core import callback
from homeassistant.util import dt as dt_util

from ..long_term_statistics import CostTotals
from .coordinator import P1Coordinator
from .entity import P1Entity


@dataclass(frozen=True, kw_only=True)
class CostSensorEntityDescription(SensorEntityDescription):
    """A cost total of the P1 meter."""

    value_fn: Callable[[CostTotals], float]
    export: bool = False


def _cost(
    key: str, value_fn: Callable[[CostTotals], float], *, export: bool = False
) -> CostSensorEntityDescription:
    """A cost total in euros, summed like the energy dashboard's cost (state class total)."""
    return CostSensorEntityDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=CURRENCY_EURO,
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        value_fn=value_fn,
        export=export,
    )


COST_SENSORS: Final[tuple[CostSensorEntityDescription, ...]] = (
    _cost("energy_import_cost", lambda totals: totals.import_cost),
    _cost("energy_export_compensation", lambda totals: totals.export_compensation, export=True),
)


def cost_sensors(coordinator: P1Coordinator) -> list[SensorEntity]:
    """The cost sensors of a P1 meter (unknown while it has no price source)."""
    return [P1CostSensor(coordinator, description) for description in COST_SENSORS]


class P1CostSensor(P1Entity, SensorEntity):
    """A cost total up to the last imported hour; written when an import changed it."""

    entity_description: CostSensorEntityDescription
    _unrecorded_attributes = frozenset(
        {"until", "unpriced_windows", "unpriced_kwh", "newest_unpriced"}
    )

    def __init__(
        self, coordinator: P1Coordinator, description: CostSensorEntityDescription
    ) -> None:
        """Describe one cost total."""
        super().__init__(coordinator, description.key)
        self.entity_description = description
        self._written: CostTotals | None = None

    @callback
    def _handle_coordinator_update(self) -> None:
        """On a push, write only when the totals changed (an import ran since)."""
        totals = self._totals()
        if totals is not self._written:
            self._written = totals
            self.async_write_ha_state()

    @property
    def available(self) -> bool:
        """History, not a live value: available while the entry is loaded."""
        return True

    def _totals(self) -> CostTotals | None:
        statistics = self.coordinator.history.statistics
        return None if statistics is None or statistics.pricing is None else statistics.costs

    @property
    def native_value(self) -> float | None:
        """The total in €, None before the first import or without a price source."""
        totals = self._totals()
        return None if totals is None else self.entity_description.value_fn(totals)

    @property
    def extra_state_attributes(self) -> dict[str, object] | None:
        """Up to when the total counts, and the energy that has no price yet."""
        totals = self._totals()
        if totals is None:
            return None
        unpriced = totals.unpriced
        newest = unpriced.newest
        return {
            "until": dt_util.utc_from_timestamp(totals.until).isoformat(),
            "unpriced_windows": unpriced.windows,
            "unpriced_kwh": round(
                unpriced.export_kwh if self.entity_description.export else unpriced.import_kwh, 6
            ),
            "newest_unpriced": None
            if newest is None
            else dt_util.utc_from_timestamp(newest).isoformat(),
        }
