"""The 2.0TD access-tariff periods (P1 peak, P2 flat, P3 valley) of CNMC Circular 3/2020.

A period depends on the region's local date and hour only. Weekdays: P3 00-08, then the
peninsula, Baleares and Canarias (Canarias on its own clock) have P2 08-10, P1 10-14, P2 14-18,
P1 18-22, P2 22-24; Ceuta and Melilla have P2 08-11, P1 11-15, P2 15-19, P1 19-23, P2 23-24.
Saturdays, Sundays and the national holidays with a fixed date (not the substitutable ones,
not the movable Good Friday) are P3 all day, as the circular defines them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Final

from .models import Region


class TariffPeriod(StrEnum):
    """A 2.0TD energy period."""

    P1 = "p1"
    """Peak (punta)."""
    P2 = "p2"
    """Flat (llano)."""
    P3 = "p3"
    """Valley (valle)."""


NATIONAL_HOLIDAYS: Final[frozenset[tuple[int, int]]] = frozenset(
    {(1, 1), (1, 6), (5, 1), (8, 15), (10, 12), (11, 1), (12, 6), (12, 8), (12, 25)}
)
"""(month, day) of the national holidays that are P3 all day: the fixed-date, non-substitutable
ones plus 6 January (Circular 3/2020, art. 7). Good Friday has no fixed date: not included."""

_P, _F = TariffPeriod.P1, TariffPeriod.P2
_V = TariffPeriod.P3
_WEEKDAY: Final[tuple[TariffPeriod, ...]] = (
    (_V,) * 8 + (_F,) * 2 + (_P,) * 4 + (_F,) * 4 + (_P,) * 4 + (_F,) * 2
)
_WEEKDAY_CEUTA_MELILLA: Final[tuple[TariffPeriod, ...]] = (
    (_V,) * 8 + (_F,) * 3 + (_P,) * 4 + (_F,) * 4 + (_P,) * 4 + (_F,) * 1
)
_HOUR: Final = timedelta(hours=1)
_LONGEST_RUN: Final = timedelta(days=8)
"""No period lasts longer (a weekend between two holidays is at most 4 days of P3)."""


def is_valley_day(day: date) -> bool:
    """Whether ``day`` is P3 all day: a Saturday, a Sunday or a national holiday."""
    return day.weekday() >= 5 or (day.month, day.day) in NATIONAL_HOLIDAYS


def hour_schedule(region: Region) -> tuple[TariffPeriod, ...]:
    """The period of each local hour (0-23) of a working day in ``region``."""
    if region in (Region.CEUTA, Region.MELILLA):
        return _WEEKDAY_CEUTA_MELILLA
    return _WEEKDAY


def tariff_period(moment: datetime, region: Region) -> TariffPeriod:
    """The period in force at ``moment`` (aware) in ``region``."""
    if moment.utcoffset() is None:
        raise ValueError(f"moment: naive datetime {moment.isoformat()}; an aware one is needed")
    local = moment.astimezone(region.timezone)
    if is_valley_day(local.date()):
        return TariffPeriod.P3
    return hour_schedule(region)[local.hour]


def next_change(moment: datetime, region: Region) -> tuple[datetime, TariffPeriod]:
    """When (UTC) the period in force at ``moment`` ends, and the period that follows.

    Every change is at a full local hour, which is a full UTC hour in the Spanish zones.
    """
    current = tariff_period(moment, region)
    utc = moment.astimezone(UTC)
    when = utc.replace(minute=0, second=0, microsecond=0) + _HOUR
    while when - utc <= _LONGEST_RUN:
        if (following := tariff_period(when, region)) is not current:
            return when, following
        when += _HOUR
    raise AssertionError(f"no change within {_LONGEST_RUN}")  # pragma: no cover - see above
