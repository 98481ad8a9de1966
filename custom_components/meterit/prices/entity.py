"""Base entity of a PVPC prices entry: one service device per region."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from ..const import DOMAIN
from .coordinator import PriceCoordinator
from .data import pvpc_unique_id


class PriceEntity(CoordinatorEntity[PriceCoordinator]):
    """An entity of a PVPC price entry: one service device per region."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: PriceCoordinator, key: str) -> None:
        """Attach to the region's device; the unique ID is the region and the key."""
        super().__init__(coordinator)
        region = coordinator.region
        self._attr_unique_id = f"{pvpc_unique_id(region)}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, pvpc_unique_id(region))},
            entry_type=DeviceEntryType.SERVICE,
            manufacturer="Red Eléctrica de España (ESIOS)",
            model="PVPC 2.0TD",
            name=coordinator.config_entry.title,
        )
