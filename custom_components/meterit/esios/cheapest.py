"""The cheapest block of a given length within known prices: a sliding window, O(n + starts).

A block starts at ``earliest`` or at a multiple of ``step`` after it (multiples counted from the
UTC epoch: full hours or quarter-hours in the Spanish zones), ends by ``latest`` and lies in
prices without a hole. Its cost is the time-weighted integral of the prices it covers, so a block
that uses part of a period pays for the minutes it uses. Among equally cheap blocks the earliest
wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Final

from .models import PricePeriod

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
TIE: Final = 1e-9
"""€/kWh: a block must be cheaper by more than this on average to beat an earlier one
(rounding noise of the sums never decides)."""


@dataclass(frozen=True, slots=True)
class Block:
    """A block ``[start, end)`` with its time-weighted average price and the periods it uses."""

    start: datetime
    end: datetime
    average: float
    periods: tuple[PricePeriod, ...]


class _Run:
    """Periods without holes between them, with the integral of the price up to each start."""

    def __init__(self, periods: Sequence[PricePeriod]) -> None:
        self.periods = periods
        self.start = periods[0].start
        self.end = periods[-1].end
        self.before: list[float] = [0.0]
        for period in periods[:-1]:
            self.before.append(self.before[-1] + period.price * _seconds(period.duration))

    def integral_to(self, t: datetime, index: int) -> tuple[float, int]:
        """∫ price from the run's start to ``t``; ``index``: where to start looking (moves on)."""
        while index < len(self.periods) - 1 and self.periods[index].end <= t:
            index += 1
        period = self.periods[index]
        return self.before[index] + period.price * _seconds(t - period.start), index


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def _runs(periods: Sequence[PricePeriod]) -> list[_Run]:
    for previous, current in pairwise(periods):
        if current.start < previous.end:
            raise ValueError("periods: not sorted, or overlapping")
    runs: list[list[PricePeriod]] = []
    for period in periods:
        if runs and runs[-1][-1].end == period.start:
            runs[-1].append(period)
        else:
            runs.append([period])
    return [_Run(run) for run in runs]


def _starts(
    first: datetime, last: datetime, step: timedelta, *, with_first: bool
) -> list[datetime]:
    """Every multiple of ``step`` from ``first`` to ``last`` (inclusive); ``first`` too if asked."""
    starts = [first] if with_first else []
    aligned = EPOCH + ((first - EPOCH) // step) * step
    if aligned < first or with_first:
        aligned += step
    while aligned <= last:
        starts.append(aligned)
        aligned += step
    return starts


def cheapest_block(
    periods: Sequence[PricePeriod],
    duration: timedelta,
    earliest: datetime,
    latest: datetime,
    step: timedelta,
) -> Block | None:
    """The cheapest block of ``duration`` in ``[earliest, latest]`` (None: none fits).

    ``periods``: sorted, not overlapping (holes allowed: no block spans one).
    """
    if duration <= timedelta(0) or step <= timedelta(0):
        raise ValueError("duration and step must be positive")
    best: tuple[float, datetime] | None = None
    margin = TIE * _seconds(duration)
    for run in _runs(periods):
        first = max(earliest, run.start)
        last = min(latest, run.end) - duration
        if last < first:
            continue
        at_start = at_end = 0
        for start in _starts(first, last, step, with_first=first == earliest):
            low, at_start = run.integral_to(start, at_start)
            high, at_end = run.integral_to(start + duration, at_end)
            cost = high - low
            if best is None or cost < best[0] - margin:
                best = (cost, start)
    if best is None:
        return None
    cost, start = best
    end = start + duration
    used = tuple(p for p in periods if p.end > start and p.start < end)
    low, high = min(p.price for p in used), max(p.price for p in used)
    average = min(max(cost / _seconds(duration), low), high)  # no rounding outside the prices
    return Block(start=start, end=end, average=average, periods=used)
