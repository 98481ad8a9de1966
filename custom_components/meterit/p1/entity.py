"""Base entity of the P1 meter: device info and availability."""

from __future__ import annotations

from typing import Final

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from ..const import DOMAIN
from .coordinator import P1Coordinator

PHASES: Final = ("1", "2", "3")
"""The phases of a meter (L1-L3), as its field names and entity placeholders have them."""


def p1_device_info(coordinator: P1Coordinator) -> DeviceInfo:
    """The device registry entry of the P1 meter itself."""
    device = coordinator.device
    return DeviceInfo(
        identifiers={(DOMAIN, device.serial)},
        manufacturer="HomeWizard",
        model=device.product_name,
        model_id=device.product_type,
        name=coordinator.config_entry.title,
        serial_number=device.serial,
        sw_version=device.firmware_version,
    )


class P1Entity(CoordinatorEntity[P1Coordinator]):
    """An entity of a P1 meter: unavailable whenever the live stream is down or stale."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: P1Coordinator, key: str) -> None:
        """Attach to the meter's device; the unique ID is the serial and the key."""
        super().__init__(coordinator)
        self._attr_unique_id = f"{coordinator.device.serial}_{key}"
        self._attr_device_info = p1_device_info(coordinator)

    @property
    def available(self) -> bool:
        """Stale values must never reach the energy dashboard."""
        return self.coordinator.live
