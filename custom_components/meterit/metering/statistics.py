"""Hourly statistics from windows (pure functions, for the recorder's long-term statistics).

Energy comes from the windows' energy, so gap-filled (synthetic) windows put an outage's energy
into the hours it happened in. A window with counters contributes ``energy_import_kwh`` /
``energy_export_kwh``; a window without counters (webhook power stations) contributes its
``energy_kwh`` (integrated from power): positive as import, negative as export. Sums are kept in
integer micro-kWh, so a year of windows does not drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InvalidWindowsError
from .models import Window

HOUR = 3600
_MICRO = 1_000_000_000  # units per kWh (micro-Wh): exact for the meter's 0.001 kWh steps


@dataclass(slots=True, frozen=True)
class HourStat:
    """Statistics of one hour ``[start, start + 3600)`` (UTC unix seconds).

    ``import_kwh`` / ``export_kwh``: energy in the hour, None when no window of the hour has
    that energy (a meter without that counter, or counters missing the whole hour: unknown is
    not zero); ``import_sum`` / ``export_sum``: running totals from the given base up to the end
    of the hour; power in W: duration-weighted mean of the windows' averages, minimum and
    maximum (None when no window has power).
    """

    start: float
    import_kwh: float | None
    export_kwh: float | None
    import_sum: float
    export_sum: float
    power_mean: float | None
    power_min: float | None
    power_max: float | None


class _Hour:
    __slots__ = ("exp", "has_exp", "has_imp", "imp", "mean_s", "mean_t", "pmax", "pmin")

    def __init__(self) -> None:
        self.imp = 0
        self.exp = 0
        self.has_imp = False
        self.has_exp = False
        self.mean_s = 0.0
        self.mean_t = 0
        self.pmax: float | None = None
        self.pmin: float | None = None


def window_energy(
    energy_import_kwh: float | None, energy_export_kwh: float | None, energy_kwh: float | None
) -> tuple[float | None, float | None]:
    """A window's import and export energy (kWh), as :func:`hourly_statistics` counts them.

    From the counters' energy when the window has any (a P1 meter): returned as they are. A
    window without counters (a webhook station) has only its net energy integrated from power
    (``energy_kwh``: time-weighted mean power times the covered time): positive is import with
    export 0, negative is export with import 0. ``(None, None)`` when the window has no energy.
    """
    if energy_import_kwh is not None or energy_export_kwh is not None:
        return energy_import_kwh, energy_export_kwh
    if energy_kwh is None:
        return None, None
    if energy_kwh >= 0:
        return energy_kwh, 0.0
    return 0.0, -energy_kwh


def hourly_statistics(
    windows: Iterable[Window], import_base: float = 0.0, export_base: float = 0.0
) -> list[HourStat]:
    """Aggregate windows of one resolution into hours, sorted by hour.

    Hours without any window are left out (their sums would not change); an hour whose windows
    have no import (export) energy has ``import_kwh`` (``export_kwh``) None. Raises
    :class:`InvalidWindowsError` for mixed resolutions or one that does not divide an hour.
    """
    hours: dict[float, _Hour] = {}
    resolution: int | None = None
    for window in windows:
        res = window.resolution
        if res != resolution:
            if resolution is not None:
                raise InvalidWindowsError(
                    f"hourly_statistics needs one resolution, got {resolution} and {res}"
                )
            if res <= 0 or HOUR % res:
                raise InvalidWindowsError(f"resolution {res} does not divide an hour")
            resolution = res
        start = window.start
        key = start - start % HOUR
        hour = hours.get(key)
        if hour is None:
            hour = hours[key] = _Hour()
        imp, exp = window_energy(
            window.energy_import_kwh, window.energy_export_kwh, window.energy_kwh
        )
        if imp is not None:
            hour.imp += round(imp * _MICRO)
            hour.has_imp = True
        if exp is not None:
            hour.exp += round(exp * _MICRO)
            hour.has_exp = True
        avg = window.w_avg
        if avg is not None:
            hour.mean_s += avg * res
            hour.mean_t += res
            low = window.w_min if window.w_min is not None else avg
            high = window.w_max if window.w_max is not None else avg
            if hour.pmin is None or low < hour.pmin:
                hour.pmin = low
            if hour.pmax is None or high > hour.pmax:
                hour.pmax = high
    out: list[HourStat] = []
    imp_total = 0
    exp_total = 0
    for key in sorted(hours):
        hour = hours[key]
        imp_total += hour.imp
        exp_total += hour.exp
        out.append(
            HourStat(
                start=key,
                import_kwh=hour.imp / _MICRO if hour.has_imp else None,
                export_kwh=hour.exp / _MICRO if hour.has_exp else None,
                import_sum=import_base + imp_total / _MICRO,
                export_sum=export_base + exp_total / _MICRO,
                power_mean=hour.mean_s / hour.mean_t if hour.mean_t else None,
                power_min=hour.pmin,
                power_max=hour.pmax,
            )
        )
    return out
