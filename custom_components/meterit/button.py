"""Buttons: "Refresh prices" of a PVPC price entry."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entry import MeteritConfigEntry
from .prices.coordinator import PriceCoordinator
from .prices.entity import PriceEntity
from .prices.services import async_refresh

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MeteritConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the buttons of a source (only price entries have one)."""
    if isinstance(entry.runtime_data, PriceCoordinator):
        async_add_entities([RefreshPricesButton(entry.runtime_data)])


class RefreshPricesButton(PriceEntity, ButtonEntity):
    """Fetch today's and (once published) tomorrow's prices now."""

    _attr_translation_key = "refresh_prices"

    def __init__(self, coordinator: PriceCoordinator) -> None:
        """One per price entry."""
        super().__init__(coordinator, "refresh_prices")

    @property
    def available(self) -> bool:
        """Always pressable: refreshing is how to recover from missing prices."""
        return True

    async def async_press(self) -> None:
        """Fetch now; a failure shows as an error in the UI, stored prices are kept."""
        await async_refresh(self.coordinator)
