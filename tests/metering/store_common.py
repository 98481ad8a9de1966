"""Shared by the MeterStore tests: a window in one call."""

from __future__ import annotations

from custom_components.meterit.metering import Window


def win(start: float, res: int = 300, count: int = 10, series: str = "p1", **kw: object) -> Window:
    return Window(series, res, start, start + res, reading_count=count, **kw)  # type: ignore[arg-type]
