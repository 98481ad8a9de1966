"""Days of prices together: two fetches of one day merged, and a region's days at an instant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise

from .models import (
    DayPrices,
    PriceKind,
    PricePeriod,
    Region,
)


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
