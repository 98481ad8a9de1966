"""Gap filling: spread energy measured across a silence over the windows it happened in.

Energy is handled in integer Wh (the meter's 0.001 kWh resolution), so shares always add up
exactly to the measured counter difference: no drift, nothing invented, nothing lost.

Rules (used by :class:`~.aggregator.WindowAggregator` and :func:`fill_missing_windows`):

* A gap is a silence after which the next reading falls beyond the following expected window
  (at least one whole window has no reading).
* The counter difference across the gap (last counter before, first counter after) is spread
  over the gap's time in proportion to duration: the tail of the last window before (while
  that window is still open), every missing window (a synthetic window, ``reading_count = 0``)
  and the head of the first window after.
* A synthetic window's average power is its net energy over its duration; its counters are
  interpolated. Sources without counters (webhook power stations) get synthetic windows with
  ``energy_kwh = 0`` and ``None`` averages: no energy is invented.
* A counter that goes backwards is a :class:`~.models.CounterReset`: no energy is attributed
  across it (the series starts a new segment).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from math import ceil, floor
from typing import overload

from .errors import InvalidWindowsError
from .models import Window


def to_wh(kwh: float) -> int:
    """Convert a kWh counter to integer Wh (the meter's resolution)."""
    return round(kwh * 1000.0)


def spread(total: int, start: float, end: float, cuts: Sequence[float]) -> list[int]:
    """Split ``total`` units over ``[start, cuts[0]], [cuts[0], cuts[1]], ..., [cuts[-1], end]``.

    Shares are proportional to duration, by cumulative rounding: every share is a non-negative
    integer (for ``total >= 0``) and they sum to ``total`` exactly. ``cuts`` must be increasing
    and inside ``(start, end)``.
    """
    span = end - start
    if span <= 0:
        raise ValueError(f"spread needs end > start, got start={start!r} end={end!r}")
    shares: list[int] = []
    previous = 0
    for cut in cuts:
        cumulative = round(total * (cut - start) / span)
        shares.append(cumulative - previous)
        previous = cumulative
    shares.append(total - previous)
    return shares


def synthetic_window(
    series: str,
    resolution: int,
    start: float,
    *,
    import_wh: int | None,
    export_wh: int | None,
    counters: tuple[int | None, int | None, int | None, int | None] = (None, None, None, None),
) -> Window:
    """Build a gap-filled window (``reading_count = 0``) with the given energy shares.

    ``counters`` are the interpolated cumulative counters (import, t1, t2, export) in Wh at the
    window's end, or None when unknown. Without any energy share the window carries
    ``energy_kwh = 0`` and no averages (nothing is invented).
    """
    imp, t1, t2, exp = counters
    if import_wh is None and export_wh is None:
        net: int | None = None
    else:
        net = (import_wh or 0) - (export_wh or 0)
    return Window(
        series=series,
        resolution=resolution,
        start=start,
        end=start + resolution,
        import_kwh=None if imp is None else imp / 1000.0,
        import_t1_kwh=None if t1 is None else t1 / 1000.0,
        import_t2_kwh=None if t2 is None else t2 / 1000.0,
        export_kwh=None if exp is None else exp / 1000.0,
        w_avg=None if net is None else net * 3600.0 / resolution,
        reading_count=0,
        energy_import_kwh=None if import_wh is None else import_wh / 1000.0,
        energy_export_kwh=None if export_wh is None else export_wh / 1000.0,
        energy_kwh=0.0 if net is None else net / 1000.0,
    )


def _delta(before: float | None, after: float | None) -> int | None:
    if before is None or after is None:
        return None
    delta = to_wh(after) - to_wh(before)
    return delta if delta >= 0 else None


def fill_missing_windows(windows: Iterable[Window]) -> Iterator[Window]:
    """Derive per-window energy from counters of a stored window series and fill its holes.

    For windows of one series and one resolution, sorted by ``start`` (e.g. an hwLogger
    history): each window's ``energy_import_kwh`` / ``energy_export_kwh`` becomes the counter
    difference to the previous window (None for the first window and after a counter reset);
    when windows are missing, synthetic windows are inserted and the counter difference across
    the hole is spread over the missing windows and the window after them by duration. Windows
    that are not after the previous one (duplicates, disorder) raise
    :class:`InvalidWindowsError`, as do mixed series or resolutions.
    """
    previous: Window | None = None
    for window in windows:
        if previous is None:
            previous = window
            yield replace(window, energy_import_kwh=None, energy_export_kwh=None)
            continue
        if window.series != previous.series or window.resolution != previous.resolution:
            raise InvalidWindowsError(
                f"fill_missing_windows needs one series and resolution; got "
                f"{window.series!r}/{window.resolution} after "
                f"{previous.series!r}/{previous.resolution}"
            )
        if window.start < previous.end:
            raise InvalidWindowsError(
                f"window start {window.start!r} is not after the previous window's end "
                f"{previous.end!r} (duplicate or out of order)"
            )
        imp = _delta(previous.import_kwh, window.import_kwh)
        exp = _delta(previous.export_kwh, window.export_kwh)
        res = window.resolution
        missing = floor((window.start - previous.end) / res)
        if missing <= 0:
            yield replace(
                window,
                energy_import_kwh=None if imp is None else imp / 1000.0,
                energy_export_kwh=None if exp is None else exp / 1000.0,
            )
            previous = window
            continue
        starts = [previous.end + k * res for k in range(missing)]
        cuts = [s + res for s in starts]
        cuts[-1] = window.start  # the last missing window ends where the next window starts
        imp_shares = None if imp is None else spread(imp, previous.end, window.end, cuts)
        exp_shares = None if exp is None else spread(exp, previous.end, window.end, cuts)
        imp_acc = None if imp is None else to_wh(previous.import_kwh or 0.0)
        exp_acc = None if exp is None else to_wh(previous.export_kwh or 0.0)
        for index, start in enumerate(starts):
            imp_share = None if imp_shares is None else imp_shares[index]
            exp_share = None if exp_shares is None else exp_shares[index]
            if imp_acc is not None and imp_share is not None:
                imp_acc += imp_share
            if exp_acc is not None and exp_share is not None:
                exp_acc += exp_share
            yield synthetic_window(
                window.series,
                res,
                start,
                import_wh=imp_share,
                export_wh=exp_share,
                counters=(imp_acc, None, None, exp_acc),
            )
        yield replace(
            window,
            energy_import_kwh=None if imp_shares is None else imp_shares[-1] / 1000.0,
            energy_export_kwh=None if exp_shares is None else exp_shares[-1] / 1000.0,
        )
        previous = window


@dataclass(slots=True, frozen=True)
class Share:
    """One counter's difference across a gap, spread by duration: ``total`` Wh over ``[t0, t1]``.

    ``base`` is the counter (Wh) at ``t0`` (None: not known, no interpolated counter).
    """

    total: int
    t0: float
    t1: float
    base: int | None = None

    def until(self, x: float) -> int:
        """The cumulative share of ``[t0, x]`` (the same rounding as :func:`spread`)."""
        return round(self.total * (x - self.t0) / (self.t1 - self.t0))

    def between(self, a: float, b: float) -> int:
        """The share of ``[a, b]``: shares of adjacent intervals add up exactly."""
        return self.until(b) - self.until(a)

    def counter(self, x: float) -> int | None:
        """The interpolated counter at ``x``."""
        return None if self.base is None else self.base + self.until(x)


@dataclass(slots=True, frozen=True)
class SyntheticRun(Sequence[Window]):
    """``size`` consecutive synthetic windows from ``first``, made only when read (lazy).

    A long outage is a few numbers, not one window object per 5 minutes. ``shares`` are the
    import, tariff 1, tariff 2 and export differences across the gap (None: no such counter).
    """

    series: str
    resolution: int
    first: float
    size: int
    shares: tuple[Share | None, Share | None, Share | None, Share | None]

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> Window: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Window]: ...
    def __getitem__(self, index: int | slice) -> Window | Sequence[Window]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self.size)
            if step != 1:
                return [self[k] for k in range(start, stop, step)]
            return replace(
                self,
                first=self.first + start * self.resolution,
                size=max(0, stop - start),
            )
        if index < 0:
            index += self.size
        if not 0 <= index < self.size:
            raise IndexError(index)
        begin = self.first + index * self.resolution
        end = begin + self.resolution
        imp, _, _, exp = self.shares
        return synthetic_window(
            self.series,
            self.resolution,
            begin,
            import_wh=None if imp is None else imp.between(begin, end),
            export_wh=None if exp is None else exp.between(begin, end),
            counters=tuple(None if s is None else s.counter(end) for s in self.shares),  # type: ignore[arg-type]
        )

    def __iter__(self) -> Iterator[Window]:
        for index in range(self.size):
            yield self[index]

    def split(self, at: float) -> tuple[SyntheticRun, SyntheticRun]:
        """The windows that start before ``at`` and the others."""
        k = min(self.size, max(0, ceil((at - self.first) / self.resolution)))
        return replace(self, size=k), replace(
            self, first=self.first + k * self.resolution, size=self.size - k
        )


class WindowBatch(Sequence[Window]):
    """Closed windows, in order: single windows and lazy :class:`SyntheticRun` parts."""

    __slots__ = ("_len", "parts")

    def __init__(self, parts: Iterable[Window | SyntheticRun] = ()) -> None:
        self.parts: list[Window | SyntheticRun] = []
        self._len = 0
        for part in parts:
            self.append(part)

    def append(self, part: Window | SyntheticRun) -> None:
        """Add a window or a run (an empty run is left out)."""
        size = 1 if isinstance(part, Window) else len(part)
        if size:
            self.parts.append(part)
            self._len += size

    def extend(self, other: WindowBatch) -> None:
        """Add the parts of another batch."""
        for part in other.parts:
            self.append(part)

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> Window: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Window]: ...
    def __getitem__(self, index: int | slice) -> Window | Sequence[Window]:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(index)
        for part in self.parts:
            if isinstance(part, Window):
                if index == 0:
                    return part
                index -= 1
            elif index < len(part):
                return part[index]
            else:
                index -= len(part)
        raise AssertionError("unreachable")  # pragma: no cover

    def __iter__(self) -> Iterator[Window]:
        for part in self.parts:
            if isinstance(part, Window):
                yield part
            else:
                yield from part

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"WindowBatch({self.parts!r})"
