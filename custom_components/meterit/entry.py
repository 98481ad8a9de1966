"""The typed config entry: each entry's ``runtime_data`` is the coordinator of its source."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

if TYPE_CHECKING:
    from .p1.coordinator import P1Coordinator
    from .prices.coordinator import PriceCoordinator
    from .webhook.coordinator import WebhookCoordinator

type MeteritRuntime = P1Coordinator | PriceCoordinator | WebhookCoordinator
type MeteritConfigEntry = ConfigEntry[MeteritRuntime]
