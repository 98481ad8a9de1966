"""The P1 meter's latest closed 5-minute window as sensors (average and maximum power)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfPower
from homeassistant.core import callback
from homeassistant.util import dt as dt_util

from .coordinator import P1Coordinator
from .entity import PHASES, P1Entity


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
