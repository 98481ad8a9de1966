"""The one look into a config entry's ``runtime_data`` without knowing the entry's kind."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry


def runtime_of[T](entry: ConfigEntry | None, kind: type[T]) -> T | None:
    """The entry's coordinator when the entry is loaded and is of ``kind``; None otherwise.

    The one place that looks into ``runtime_data`` without knowing the entry's kind (an entry
    that is not loaded has none).
    """
    runtime = getattr(entry, "runtime_data", None)
    return runtime if isinstance(runtime, kind) else None
