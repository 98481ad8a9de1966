"""The typed config entry: each entry's ``runtime_data`` is the coordinator of its source."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

if TYPE_CHECKING:
    from .p1.coordinator import P1Coordinator
    from .prices.coordinator import PriceCoordinator
    from .webhook import WebhookCoordinator

type MeteritRuntime = P1Coordinator | PriceCoordinator | WebhookCoordinator
type MeteritConfigEntry = ConfigEntry[MeteritRuntime]


def runtime_of[T](entry: ConfigEntry | None, kind: type[T]) -> T | None:
    """The entry's coordinator when the entry is loaded and is of ``kind``; None otherwise.

    The one place that looks into ``runtime_data`` without knowing the entry's kind (an entry
    that is not loaded has none).
    """
    runtime = getattr(entry, "runtime_data", None)
    return runtime if isinstance(runtime, kind) else None
