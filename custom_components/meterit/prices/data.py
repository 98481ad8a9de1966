"""A region's prices in memory: the days it has, the period at an instant, and store rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Final

from ..esios import (
    DayPrices,
    PriceKind,
    PricePeriod,
    Region,
)
from ..metering import PricePoint

REGION_NAMES: Final[Mapping[Region, str]] = {
    Region.PENINSULA: "Península",
    Region.CANARIAS: "Canarias",
    Region.BALEARES: "Baleares",
    Region.CEUTA: "Ceuta",
    Region.MELILLA: "Melilla",
}


def pvpc_unique_id(region: Region | str) -> str:
    """Unique ID of a region's config entry (one entry per region)."""
    return f"pvpc_{Region(region).value}"


def merge_day(old: DayPrices | None, new: DayPrices) -> DayPrices:
    """Combine two fetches of the same day without ever losing a good price.

    A complete new day replaces the old one; otherwise the periods are united by start (the new
    value wins). If the union does not form a valid day (periods of another length overlap),
    the one that covers more time is kept.
    """
    if old is None or new.complete:
        return new
    by_start = {period.start: period for period in old.periods}
    by_start.update((period.start, period) for period in new.periods)
    periods = tuple(by_start[start] for start in sorted(by_start))
    if all(a.end <= b.start for a, b in pairwise(periods)):
        return DayPrices(day=new.day, region=new.region, kind=new.kind, periods=periods)

    def covered(day: DayPrices) -> timedelta:
        return sum((period.duration for period in day.periods), timedelta())

    return new if covered(new) >= covered(old) else old


def to_points(day: DayPrices) -> list[PricePoint]:
    """The store's rows of one day of prices."""
    return [
        PricePoint(
            region=day.region.value,
            kind=day.kind.value,
            start=period.start.timestamp(),
            end=period.end.timestamp(),
            price=period.price,
        )
        for period in day.periods
    ]


def from_points(
    points: Iterable[PricePoint], region: Region, kind: PriceKind
) -> dict[date, DayPrices]:
    """Group stored rows into days (the region's local dates); rows that do not fit are skipped."""
    grouped: dict[date, list[PricePoint]] = {}
    for point in points:
        start = datetime.fromtimestamp(point.start, UTC)
        grouped.setdefault(start.astimezone(region.timezone).date(), []).append(point)
    days: dict[date, DayPrices] = {}
    for day, rows in grouped.items():
        periods: list[PricePeriod] = []
        for row in sorted(rows, key=lambda p: p.start):
            period = PricePeriod(
                start=datetime.fromtimestamp(row.start, UTC),
                end=datetime.fromtimestamp(row.end, UTC),
                price=row.price,
            )
            if not periods or periods[-1].end <= period.start:
                periods.append(period)
        days[day] = DayPrices(day=day, region=region, kind=kind, periods=tuple(periods))
    return days


@dataclass(frozen=True, slots=True)
class PriceData:
    """A snapshot of the prices an entry holds: today and tomorrow (local days) per kind."""

    region: Region
    today: date
    days: Mapping[tuple[PriceKind, date], DayPrices]

    @property
    def tomorrow(self) -> date:
        """The local date after today."""
        return self.today + timedelta(days=1)

    def day(self, which: date, kind: PriceKind = PriceKind.CONSUMER) -> DayPrices | None:
        """The prices of a local day, if known."""
        return self.days.get((kind, which))

    def periods(self, kind: PriceKind = PriceKind.CONSUMER) -> list[PricePeriod]:
        """Today's and tomorrow's periods, in order."""
        result: list[PricePeriod] = []
        for which in (self.today, self.tomorrow):
            if (day := self.day(which, kind)) is not None:
                result.extend(day.periods)
        return result

    def period_at(self, t: datetime, kind: PriceKind = PriceKind.CONSUMER) -> PricePeriod | None:
        """The period in force at ``t``."""
        for period in self.periods(kind):
            if period.start <= t < period.end:
                return period
        return None

    def next_period(self, t: datetime, kind: PriceKind = PriceKind.CONSUMER) -> PricePeriod | None:
        """The first period that starts after ``t``."""
        for period in self.periods(kind):
            if period.start > t:
                return period
        return None
