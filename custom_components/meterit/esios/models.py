"""Data model of PVPC prices: regions, periods and one day of prices.

All instants are timezone-aware UTC datetimes. A "day" is a local calendar date: Europe/Madrid for
the peninsula, the Balearic Islands, Ceuta and Melilla, Atlantic/Canary for the Canary Islands.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
import math
from zoneinfo import ZoneInfo

MADRID_TZ = ZoneInfo("Europe/Madrid")
CANARY_TZ = ZoneInfo("Atlantic/Canary")

PVPC_FIRST_DAY = date(2021, 6, 1)
"""First day of PVPC 2.0TD prices (indicator 1001 and the public file): ESIOS has none before."""
PVPC_LAST_DAY = date(2200, 12, 31)
"""Last day the parsers accept (they reject instants after the year 2200 as nonsense)."""

# The Canary Islands are always exactly one hour behind the peninsula: both follow the EU summer
# time rule, switching at 01:00 UTC on the same Sundays.
CANARY_SHIFT = timedelta(hours=1)

_GEO_IDS = {
    "peninsula": 8741,
    "canarias": 8742,
    "baleares": 8743,
    "ceuta": 8744,
    "melilla": 8745,
}


class Region(StrEnum):
    """A PVPC price region (ESIOS geo zone)."""

    PENINSULA = "peninsula"
    CANARIAS = "canarias"
    BALEARES = "baleares"
    CEUTA = "ceuta"
    MELILLA = "melilla"

    @property
    def geo_id(self) -> int:
        """ESIOS ``geo_id`` of the region in indicator 1001 (8741..8745)."""
        return _GEO_IDS[self.value]

    @property
    def public_file_column(self) -> str:
        """Column of the public daily file: ``PCB`` (peninsula, Baleares, Canarias) or ``CYM``."""
        return "CYM" if self in (Region.CEUTA, Region.MELILLA) else "PCB"

    @property
    def timezone(self) -> ZoneInfo:
        """Time zone that defines the region's local day."""
        return CANARY_TZ if self is Region.CANARIAS else MADRID_TZ


class PriceKind(StrEnum):
    """What a price is for."""

    CONSUMER = "consumer"
    """PVPC 2.0TD active energy price (indicator 1001)."""
    SURPLUS = "surplus"
    """Price of exported (surplus) energy under simplified compensation (indicator 1739)."""


def day_bounds(day: date, region: Region) -> tuple[datetime, datetime]:
    """Return the UTC start (inclusive) and end (exclusive) of ``day`` in the region's zone.

    Raises ``ValueError`` for a day whose bounds are not representable (the last date, 9999-12-31,
    has no end).
    """
    tz = region.timezone
    try:
        start = datetime.combine(day, time(0), tz).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    except OverflowError:
        raise ValueError(f"day: {day.isoformat()} is out of range") from None
    return start, end


def _require_utc(value: datetime, name: str) -> None:
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"{name}: naive datetime {value.isoformat()}; an aware UTC one is needed")
    if offset != timedelta(0):
        raise ValueError(f"{name}: {value.isoformat()} is not in UTC")


@dataclass(slots=True, frozen=True)
class PricePeriod:
    """One price period: ``[start, end)`` in UTC, ``price`` in €/kWh (may be negative)."""

    start: datetime
    end: datetime
    price: float

    def __post_init__(self) -> None:
        _require_utc(self.start, "start")
        _require_utc(self.end, "end")
        if self.end <= self.start:
            raise ValueError(
                f"end {self.end.isoformat()} is not after start {self.start.isoformat()}"
            )
        if not math.isfinite(self.price):
            raise ValueError(f"price: not a finite number ({self.price!r})")

    @property
    def duration(self) -> timedelta:
        """Length of the period."""
        return self.end - self.start


@dataclass(slots=True, frozen=True)
class DayPrices:
    """The prices of one local day in one region; periods sorted, not overlapping, not empty."""

    day: date
    region: Region
    kind: PriceKind
    periods: tuple[PricePeriod, ...]

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("periods: a day needs at least one price period")
        for previous, current in pairwise(self.periods):
            if current.start < previous.end:
                raise ValueError(
                    f"periods: {current.start.isoformat()} overlaps or precedes the period "
                    f"ending {previous.end.isoformat()}"
                )

    @property
    def start(self) -> datetime:
        """Start of the local day (UTC)."""
        return day_bounds(self.day, self.region)[0]

    @property
    def end(self) -> datetime:
        """End of the local day (UTC, exclusive)."""
        return day_bounds(self.day, self.region)[1]

    @property
    def complete(self) -> bool:
        """Whether the periods cover the whole local day (23, 24 or 25 h) without holes."""
        start, end = day_bounds(self.day, self.region)
        if self.periods[0].start != start or self.periods[-1].end != end:
            return False
        return all(previous.end == current.start for previous, current in pairwise(self.periods))

    @property
    def min(self) -> float:
        """Lowest price of the day (€/kWh)."""
        return min(period.price for period in self.periods)

    @property
    def max(self) -> float:
        """Highest price of the day (€/kWh)."""
        return max(period.price for period in self.periods)

    @property
    def average(self) -> float:
        """Time-weighted average price over the covered periods (€/kWh)."""
        total = sum(period.duration.total_seconds() for period in self.periods)
        weighted = sum(period.price * period.duration.total_seconds() for period in self.periods)
        # Clamp away rounding noise so that min <= average <= max always holds.
        return min(max(weighted / total, self.min), self.max)

    def price_at(self, t: datetime) -> float | None:
        """Return the price in force at instant ``t`` (aware), or None outside the periods."""
        if t.utcoffset() is None:
            raise ValueError(f"t: naive datetime {t.isoformat()}; an aware one is needed")
        index = bisect_right(self.periods, t, key=lambda period: period.start) - 1
        if index < 0:
            return None
        period = self.periods[index]
        return period.price if t < period.end else None
