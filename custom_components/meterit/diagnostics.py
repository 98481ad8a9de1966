"""Diagnostics: what a bug report needs, with tokens, hosts, serials and unique IDs redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST, CONF_TOKEN, CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant

from .const import CONF_IDENTIFIER
from .entry import MeteritConfigEntry
from .p1.coordinator import P1Coordinator

TO_REDACT = {
    CONF_HOST,
    CONF_TOKEN,
    CONF_WEBHOOK_ID,
    CONF_IDENTIFIER,
    "serial",
    "unique_id",
    "url",
    "wifi_ssid",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: MeteritConfigEntry
) -> dict[str, Any]:
    """Return the entry and its source's live state, redacted."""
    coordinator = entry.runtime_data
    if isinstance(coordinator, P1Coordinator):
        details = _p1_details(coordinator)
    else:
        # Every other source's coordinator describes itself (without secrets).
        details = coordinator.diagnostics()
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
            "unique_id": "**REDACTED**",
        },
        **async_redact_data(details, TO_REDACT),
    }


def _p1_details(coordinator: P1Coordinator) -> dict[str, Any]:
    data = coordinator.data
    measurement = asdict(data.measurement)
    measurement["external"] = list(measurement["external"])  # redaction walks lists only
    return {
        "device": asdict(data.device),
        "live": coordinator.live,
        "pushes": coordinator.pushes,
        "received": data.received.isoformat(),
        "measurement": measurement,
        "cost": _cost_details(coordinator),
    }


def _cost_details(coordinator: P1Coordinator) -> dict[str, Any]:
    """The price source and the cost totals, with the energy that has no price yet."""
    statistics = coordinator.history.statistics
    pricing = None if statistics is None else statistics.pricing
    totals = None if statistics is None else statistics.costs
    return {
        "price_entry": None if coordinator.price_entry is None else coordinator.price_entry.title,
        "pricing": None if pricing is None else pricing.key,
        "totals": None if totals is None else asdict(totals),
    }
