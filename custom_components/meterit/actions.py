"""An action of Meterit: its name, handler, schema and who may call it (each package lists its own)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.helpers import service
import probatio

from .const import DOMAIN


@dataclass(frozen=True, slots=True)
class Action:
    """One ``meterit.<name>`` action."""

    name: str
    handler: Callable[[ServiceCall], Coroutine[Any, Any, ServiceResponse | None]]
    schema: probatio.Schema
    response: SupportsResponse = SupportsResponse.NONE
    admin: bool = False
    """For administrators only (it reads Home Assistant's disk or writes history)."""

    @callback
    def async_register(self, hass: HomeAssistant) -> None:
        """Register the action with Home Assistant."""
        if self.admin:
            service.async_register_admin_service(
                hass, DOMAIN, self.name, self.handler, self.schema, self.response
            )
        else:
            hass.services.async_register(
                DOMAIN, self.name, self.handler, self.schema, self.response
            )
