"""The integration's actions, registered once for all entries (each package lists its own)."""

from __future__ import annotations

from typing import Final

from homeassistant.core import HomeAssistant, callback

from .history.services import HISTORY_ACTIONS
from .history.view import async_register_history_view
from .prices.cheapest import CHEAPEST_WINDOW_ACTION
from .prices.services import PRICE_ACTIONS

ACTIONS: Final = (*PRICE_ACTIONS, CHEAPEST_WINDOW_ACTION, *HISTORY_ACTIONS)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every action of Meterit, and the history view."""
    for action in ACTIONS:
        action.async_register(hass)
    async_register_history_view(hass)
