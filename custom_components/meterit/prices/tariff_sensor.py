"""The tariff period sensor of a PVPC entry: P1 / P2 / P3 now, changing exactly at the boundaries.

The period is a calendar (``esios.tariff``), not a price: the sensor needs no fetched prices and
is available whenever the entry is loaded. It runs its own timer at the next change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from ..esios.tariff import TariffPeriod, next_change, tariff_period
from .coordinator import PriceCoordinator
from .entity import PriceEntity

TARIFF_PERIOD_KEY: Final = "tariff_period"
ATTR_NEXT_CHANGE: Final = "next_change"
ATTR_NEXT_PERIOD: Final = "next_period"


class TariffPeriodSensor(PriceEntity, SensorEntity):
    """The 2.0TD period in force (p1 peak, p2 flat, p3 valley) in the entry's region."""

    _attr_device_class = SensorDeviceClass.ENUM
    _attr_translation_key = TARIFF_PERIOD_KEY

    def __init__(self, coordinator: PriceCoordinator) -> None:
        """One per price entry."""
        super().__init__(coordinator, TARIFF_PERIOD_KEY)
        self._attr_options = [period.value for period in TariffPeriod]
        self._unsub_change: CALLBACK_TYPE | None = None

    @property
    def available(self) -> bool:
        """Always: the period is a calendar, it needs no prices."""
        return True

    @property
    def native_value(self) -> str:
        """The period now."""
        return tariff_period(dt_util.utcnow(), self.coordinator.region).value

    @property
    def extra_state_attributes(self) -> dict[str, str]:
        """When the period changes next (local time) and to which period."""
        when, following = next_change(dt_util.utcnow(), self.coordinator.region)
        return {
            ATTR_NEXT_CHANGE: dt_util.as_local(when).isoformat(),
            ATTR_NEXT_PERIOD: following.value,
        }

    async def async_added_to_hass(self) -> None:
        """Arm the timer at the next change."""
        await super().async_added_to_hass()
        self.async_on_remove(self._async_cancel)
        self._async_arm()

    @callback
    def _async_arm(self) -> None:
        when, _following = next_change(dt_util.utcnow(), self.coordinator.region)
        self._unsub_change = async_track_point_in_utc_time(self.hass, self._async_changed, when)

    @callback
    def _async_changed(self, _now: datetime) -> None:
        self._unsub_change = None
        self.async_write_ha_state()
        self._async_arm()

    @callback
    def _async_cancel(self) -> None:
        if self._unsub_change is not None:
            self._unsub_change()
            self._unsub_change = None
