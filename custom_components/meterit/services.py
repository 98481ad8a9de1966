"""The integration's actions, registered once for all entries (each package has its own)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback

from .history.services import async_setup_history_services
from .prices.cheapest import async_setup_cheapest_window_service
from .prices.services import async_setup_price_services


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every action of Meterit (and the history view)."""
    async_setup_history_services(hass)
    async_setup_price_services(hass)
    async_setup_cheapest_window_service(hass)
