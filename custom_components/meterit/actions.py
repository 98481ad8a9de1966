"""An action of Meterit: its name, handler, schema and who may call it (each package lists its own)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.helpers import service
from homeassistant.util import dt as dt_util
import probatio

from .const import DOMAIN

ATTR_START: Final = "start"
ATTR_END: Final = "end"
ANY_INSTANT = probatio.Any(str, datetime, date)
"""An instant or a day as typed; each action checks it itself, with an error naming the field."""


def local_iso(moment: datetime) -> str:
    """``moment`` in Home Assistant's time zone, ISO 8601 (how actions answer with times)."""
    return dt_util.as_local(moment).isoformat()


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
