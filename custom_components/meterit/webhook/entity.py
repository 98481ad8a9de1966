"""The entities of a power webhook station: one device per station, unavailable while silent."""

from __future__ import annotations

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from ..const import DOMAIN
from .coordinator import WebhookCoordinator
from .station import Station


def station_device_info(coordinator: WebhookCoordinator, station_id: str) -> DeviceInfo:
    """The device of one station (its identifier holds no secret: entry ID and station)."""
    return DeviceInfo(
        identifiers={(DOMAIN, f"{coordinator.config_entry.entry_id}_station_{station_id}")},
        translation_key="station",
        translation_placeholders={"station_id": station_id},
        model="Power webhook station",
        serial_number=station_id,
    )


class StationEntity(CoordinatorEntity[WebhookCoordinator]):
    """An entity of one station: unavailable while the station is silent."""

    _attr_has_entity_name = True
    always_available = False

    def __init__(self, coordinator: WebhookCoordinator, station_id: str, key: str) -> None:
        """Attach to the station's device; the unique ID is the entry, the station and the key."""
        super().__init__(coordinator)
        self.station_id = station_id
        self._attr_unique_id = f"{coordinator.config_entry.entry_id}_{station_id}_{key}"
        self._attr_device_info = station_device_info(coordinator, station_id)
        self._written = -1

    @property
    def station(self) -> Station:
        """The station this entity shows."""
        return self.coordinator.stations[self.station_id]

    @property
    def available(self) -> bool:
        """Stale values must never reach the energy dashboard."""
        station = self.coordinator.stations.get(self.station_id)  # (None: being deleted)
        return station is not None and (self.always_available or station.available)

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state only when this station changed (not at all once it is deleted)."""
        station = self.coordinator.stations.get(self.station_id)
        if station is None:  # its device was deleted: this entity is being removed with it
            return
        version = station.version
        if version != self._written:
            self._written = version
            self.async_write_ha_state()
