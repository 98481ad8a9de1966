"""Helpers for the metering tests: readings that integrate a power exactly."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from custom_components.meterit.metering import Reading, Window, WindowAggregator


@dataclass
class Meter:
    """A simulated meter: integer Wh counters that integrate power over time."""

    t: float
    imp_wh: float = 1_000_000.0
    exp_wh: float = 500_000.0

    def advance(self, dt: float, power: float) -> None:
        energy = power * dt / 3600.0
        if energy >= 0:
            self.imp_wh += energy
        else:
            self.exp_wh -= energy
        self.t += dt

    def reading(self, power: float) -> Reading:
        return Reading(
            t=self.t,
            w=power,
            l1_w=power / 2,
            l2_w=power / 4,
            l3_w=power / 4,
            l1_v=230.0,
            l2_v=231.0,
            l3_v=229.0,
            import_kwh=round(self.imp_wh / 1000.0, 3),
            import_t1_kwh=round(self.imp_wh / 2000.0, 3),
            import_t2_kwh=round(self.imp_wh / 2000.0, 3),
            export_kwh=round(self.exp_wh / 1000.0, 3),
            tariff=1,
        )


def run(
    readings: Iterable[Reading],
    series: str = "s",
    resolutions: tuple[int, ...] = (30, 300),
    max_weight: float = 30.0,
    end: float | None = None,
) -> tuple[WindowAggregator, list[Window]]:
    """Feed readings and flush everything at the end."""
    agg = WindowAggregator(series, resolutions, max_weight)
    out: list[Window] = []
    last = None
    for r in readings:
        out += agg.add(r)
        last = r.t
    if last is not None:
        out += agg.flush(end if end is not None else last + 10 * max(resolutions) + max_weight)
    return agg, out


def wh(kwh: float | None) -> int:
    assert kwh is not None
    return round(kwh * 1000)


def energy_sum(windows: Sequence[Window], resolution: int, field: str) -> int:
    return sum(
        wh(getattr(w, field))
        for w in windows
        if w.resolution == resolution and getattr(w, field) is not None
    )


def by_res(windows: Iterable[Window], resolution: int) -> list[Window]:
    return [w for w in windows if w.resolution == resolution]
