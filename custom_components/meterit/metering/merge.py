"""Adding a window to the one already stored at its key (after Home Assistant's clock went back).

Both windows hold energy of their own stretch of the counters, so energy adds up: nothing
replaced, nothing counted twice. Averages are combined weighted by readings (a synthetic
window weighs none), extremes are the extremes of both, and the last values, tariff and
counters are the newer window's (the counters only go on) where it has them.
"""

from __future__ import annotations

from dataclasses import replace

from .models import AVERAGES, LAST_VALUES, MAXIMA, Window

_COUNTED = ("energy_import_kwh", "energy_export_kwh")  # whole Wh: counter differences


def _add(a: float | None, b: float | None, *, wh: bool) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return round((a + b) * 1000.0) / 1000.0 if wh else a + b


def _mean(a: float | None, wa: int, b: float | None, wb: int) -> float | None:
    if a is None or (wa == 0 and b is not None):
        return b
    if b is None or wb == 0:
        return a
    return (a * wa + b * wb) / (wa + wb)


def _extreme(a: float | None, b: float | None, *, low: bool) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b) if low else max(a, b)


def merge_window(stored: Window, new: Window) -> Window:
    """``stored`` and ``new`` (same key) as one window: energies added, see the module doc."""
    if stored.key != new.key:
        raise ValueError(f"cannot merge windows {stored.key!r} and {new.key!r}")
    ca, cb = stored.reading_count, new.reading_count
    values: dict[str, float | int | None] = {}
    for name in LAST_VALUES:
        value = getattr(new, name)
        values[name] = getattr(stored, name) if value is None else value
    for name in AVERAGES:
        values[name] = _mean(getattr(stored, name), ca, getattr(new, name), cb)
    for name in MAXIMA:
        values[name] = _extreme(getattr(stored, name), getattr(new, name), low=False)
    values["w_min"] = _extreme(stored.w_min, new.w_min, low=True)
    for name in _COUNTED:
        values[name] = _add(getattr(stored, name), getattr(new, name), wh=True)
    values["energy_kwh"] = _add(stored.energy_kwh, new.energy_kwh, wh=False)
    values["reading_count"] = ca + cb
    return replace(stored, **values)  # type: ignore[arg-type]
