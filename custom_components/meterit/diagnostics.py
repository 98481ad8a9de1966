"""Diagnostics: what a bug report needs, with tokens, hosts, serials and unique IDs redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST, CONF_TOKEN, CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant

from .const import CONF_IDENTIFIER
from .entry import MeteritConfigEntry

TO_REDACT = {
    CONF_HOST,
    CONF_TOKEN,
    CONF_WEBHOOK_ID,
    CONF_IDENTIFIER,
    "serial",
    "unique_id",
    "wifi_ssid",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: MeteritConfigEntry
) -> dict[str, Any]:
    """Return the entry, the meter's identity and its latest push, redacted."""
    coordinator = entry.runtime_data
    data = coordinator.data
    measurement = asdict(data.measurement)
    measurement["external"] = list(measurement["external"])  # redaction walks lists only
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
            "unique_id": "**REDACTED**",
        },
        "device": async_redact_data(asdict(data.device), TO_REDACT),
        "live": coordinator.live,
        "pushes": coordinator.pushes,
        "received": data.received.isoformat(),
        "measurement": async_redact_data(measurement, TO_REDACT),
    }
