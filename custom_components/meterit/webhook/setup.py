"""Set up a power webhook entry: the store, the coordinator (started), the readings view."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant

from ..shared_store import async_get_store
from .coordinator import WebhookCoordinator
from .view import async_register_view

if TYPE_CHECKING:
    from ..entry import MeteritConfigEntry


async def async_setup_webhook_entry(
    hass: HomeAssistant, entry: MeteritConfigEntry
) -> WebhookCoordinator:
    """Open the store, start the coordinator and the view; stopped on unload.

    Raises ``StoreError`` when the store cannot be used (readings could not be kept).
    """
    store = await async_get_store(hass)
    coordinator = WebhookCoordinator(hass, entry, store)
    await coordinator.async_start()
    async_register_view(hass)
    return coordinator
