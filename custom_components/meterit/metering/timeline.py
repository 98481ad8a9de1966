"""Windows on Home Assistant's clock, whichever way and however far the clock jumps.

Readings are windowed at the time they arrive (the clock's time). A jump forward is a silence:
gap filling spreads the counter step over it. A jump back by more than ``tolerance`` seconds
(a smaller one is taken for a late reading: ignored, the next reading's step counts it) closes
the open windows and continues at the new time, with the counters kept: the step across the
jump is energy of the first window after it. Until the clock is past every window already
closed (``merge_below``), a new window whose key is taken is *added* to the stored one
(:func:`~.merge.merge_window`) instead of replacing it: no energy is lost or counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from math import isfinite

from .aggregator import WindowAggregator
from .errors import InvalidSnapshotError
from .gapfill import SyntheticRun, WindowBatch
from .models import JsonValue, Reading, Window

DEFAULT_TOLERANCE = 60.0
"""A reading this much (s) before the last one means the clock was set back, not a late one."""
MERGE_KEY = "merge_below"
"""The snapshot field of :attr:`Timeline.merge_below`."""


@dataclass(slots=True)
class Closed:
    """Windows that closed: ``windows`` to store, ``merges`` to add to the stored ones."""

    windows: WindowBatch = field(default_factory=WindowBatch)
    merges: WindowBatch = field(default_factory=WindowBatch)
    jumped_back: float | None = None
    """How far (s) the clock went back, when this reading found it had."""

    def __bool__(self) -> bool:
        return bool(self.windows) or bool(self.merges)


class Timeline:
    """One series' :class:`WindowAggregator` on a clock that may jump (see the module doc)."""

    def __init__(self, aggregator: WindowAggregator, *, tolerance: float = DEFAULT_TOLERANCE):
        if not isfinite(tolerance) or tolerance < 0:
            raise ValueError(f"tolerance must be >= 0 s, got {tolerance!r}")
        self.aggregator = aggregator
        self.tolerance = tolerance
        self.merge_below: float | None = None
        """Windows that start before this are added to the stored ones (None: none)."""

    def check(self, t: float) -> Closed:
        """When ``t`` is a jump back, close the open windows (stored as they are)."""
        out = Closed()
        aggregator = self.aggregator
        base = aggregator.time_base
        if base is None or t >= base - self.tolerance:
            return out
        out.jumped_back = base - t
        closed = aggregator.restart_time()
        self._split(closed, out)  # (windows of an earlier jump's stretch are still added)
        frontier = max([base, *(w.end for w in closed)])
        if self.merge_below is not None:
            frontier = max(frontier, self.merge_below)
        self.merge_below = frontier
        return out

    def add(self, reading: Reading) -> Closed:
        """Add a reading (after :meth:`check`, which it runs itself when not yet done)."""
        out = self.check(reading.t)
        self._split(self.aggregator.add(reading), out)
        below = self.merge_below
        if below is not None and reading.t >= below + max(self.aggregator.resolutions):
            self.merge_below = None  # every open window starts after it: nothing to add to
        return out

    def flush(self, now: float) -> Closed:
        """Close the windows whose end is at or before ``now``."""
        out = Closed()
        self._split(self.aggregator.flush(now), out)
        return out

    def _split(self, batch: WindowBatch, out: Closed) -> None:
        below = self.merge_below
        if below is None:
            out.windows.extend(batch)
            return
        for part in batch.parts:
            if isinstance(part, Window):
                (out.merges if part.start < below else out.windows).append(part)
            else:
                early, late = SyntheticRun.split(part, below)
                out.merges.append(early)
                out.windows.append(late)

    def snapshot(self) -> dict[str, JsonValue]:
        """The aggregator's snapshot, with :attr:`merge_below`."""
        snapshot = self.aggregator.snapshot()
        snapshot[MERGE_KEY] = self.merge_below
        return snapshot

    def restore(self, data: Mapping[str, JsonValue]) -> None:
        """Continue from :meth:`snapshot` (an aggregator snapshot alone: nothing to add to)."""
        raw = data.get(MERGE_KEY)
        if raw is not None and (
            isinstance(raw, bool) or not isinstance(raw, (int, float)) or not isfinite(raw)
        ):
            raise InvalidSnapshotError(f"snapshot field {MERGE_KEY!r}: must be a finite number")
        self.aggregator.restore(data)
        self.merge_below = None if raw is None else float(raw)
