"""The sensor platform: each entry's sensors come from its source's package."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entry import MeteritConfigEntry
from .p1.sensor import async_setup_p1_sensors
from .prices.coordinator import PriceCoordinator
from .prices.sensor import async_setup_price_sensors
from .webhook.coordinator import WebhookCoordinator
from .webhook.sensor import async_setup_station_sensors

PARALLEL_UPDATES = 0  # push: nothing to poll


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MeteritConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of an entry: each source's package knows its own."""
    if isinstance(entry.runtime_data, WebhookCoordinator):
        async_setup_station_sensors(entry, entry.runtime_data, async_add_entities)
        return
    if isinstance(entry.runtime_data, PriceCoordinator):
        async_setup_price_sensors(hass, entry, entry.runtime_data, async_add_entities)
        return
    async_setup_p1_sensors(entry, entry.runtime_data, async_add_entities)
