"""Time-weighted windows (30 s and 5 min by default) from a stream of readings.

Rules:

* Windows are aligned to UTC wall clock: ``start = floor(t / resolution) * resolution``.
* Each reading weighs the time until the next reading, capped at ``max_weight`` seconds, and
  that weight counts in the reading's own window (so a silence is not weighted as if the last
  value held). ``*_avg`` is the weighted mean of the window's readings, so it always lies within
  their minimum and maximum. ``energy_kwh`` is the same integral of ``w`` (Wh from W * s).
* A window closes when a reading arrives in a later window, or on :meth:`flush` once its end is
  past. On a flush the last reading weighs ``min(now - t, max_weight)``; flushing at
  ``end + max_weight`` or later gives exactly the values the stream would have given.
* Counter energy: every reading adds the counter difference to the previous counter to its own
  window; across a gap it is spread by :mod:`.gapfill`. Per-window energies therefore add up
  exactly (integer Wh) to ``last counter - first counter`` of each counter segment.
* A counter step is plausible when it goes forward by at most ``max_power_w`` times the time
  since the counter was last seen, plus ``counter_slack_kwh``. Any other step (backwards, or an
  absurd jump forward) starts a new counter segment: no energy across it, and a
  :class:`~.models.CounterReset` event. Confirming that such a step is real (a replaced meter,
  not a glitch) is the caller's part: :meth:`WindowAggregator.counter_suspect` says whether a
  reading's counter would be one.
* Duplicates (same ``t``), out-of-order readings (``t`` before the last one) and late readings
  (``t`` in a window already closed by :meth:`flush`) are ignored and counted.
* Resolutions listed in ``synthetic_horizon`` (by default the 30-s live view) only get synthetic
  windows for the last ``horizon`` seconds before a gap ends (the store keeps 30-s windows for
  24 h anyway); the energy invariant is exact for the other resolutions (5 min).
"""

from __future__ import annotations

from collections.abc import Mapping
from math import ceil, isfinite

from .errors import InvalidSnapshotError
from .gapfill import Share, SyntheticRun, WindowBatch
from .models import CounterReset, JsonValue, Reading
from .open_window import OpenWindow
from .snapshot_json import (
    as_int,
    as_list,
    as_num,
    as_obj,
    as_opt_int,
    as_opt_nums,
    reading_from_json,
    reading_to_json,
)

SNAPSHOT_VERSION = 1
DEFAULT_SYNTHETIC_HORIZON: Mapping[int, float] = {30: 86_400.0}
DEFAULT_MAX_POWER_W = 250_000.0
"""The most power a counter step may imply (a generous bound for any grid connection)."""
DEFAULT_COUNTER_SLACK_KWH = 0.1
"""Added to a step's bound: readings that arrive bunched up (a busy host) still count."""


class WindowAggregator:
    """Turn readings of one series into closed windows, with gap filling.

    ``add`` and ``flush`` return the windows that closed, oldest first per resolution
    (synthetic gap windows included); counter resets are collected for :meth:`pop_events`.
    Not thread-safe: feed it from one task.
    """

    def __init__(
        self,
        series: str,
        resolutions: tuple[int, ...] = (30, 300),
        max_weight: float = 30.0,
        synthetic_horizon: Mapping[int, float] | None = None,
        *,
        max_power_w: float | None = DEFAULT_MAX_POWER_W,
        counter_slack_kwh: float = DEFAULT_COUNTER_SLACK_KWH,
    ) -> None:
        """``max_power_w=None``: every forward counter step is plausible."""
        if not series:
            raise ValueError("series must be a non-empty string")
        if not resolutions or any(
            isinstance(r, bool) or not isinstance(r, int) or r <= 0 for r in resolutions
        ):
            raise ValueError(f"resolutions must be positive integers, got {resolutions!r}")
        if len(set(resolutions)) != len(resolutions):
            raise ValueError(f"resolutions must be distinct, got {resolutions!r}")
        if not isfinite(max_weight) or max_weight <= 0:
            raise ValueError(f"max_weight must be a positive number, got {max_weight!r}")
        if max_power_w is not None and (not isfinite(max_power_w) or max_power_w <= 0):
            raise ValueError(f"max_power_w must be a positive number, got {max_power_w!r}")
        if not isfinite(counter_slack_kwh) or counter_slack_kwh < 0:
            raise ValueError(f"counter_slack_kwh must be >= 0, got {counter_slack_kwh!r}")
        # Wh per second of the bound (None: no bound) and the slack in Wh
        self._wh_per_s = None if max_power_w is None else max_power_w / 3600.0
        self._slack_wh = counter_slack_kwh * 1000.0
        self.series = series
        self.resolutions = tuple(sorted(resolutions))
        self.max_weight = float(max_weight)
        horizon = DEFAULT_SYNTHETIC_HORIZON if synthetic_horizon is None else synthetic_horizon
        self._horizon: dict[int, float] = {r: float(h) for r, h in horizon.items()}
        self._reset_state()

    def _reset_state(self) -> None:
        self._open: list[OpenWindow | None] = [None] * len(self.resolutions)
        self._prev: Reading | None = None
        self._watermark = float("-inf")
        self._imp: int | None = None
        self._exp: int | None = None
        # when the import / export counter was last seen (None: no bound on the next step)
        self._imp_t: float | None = None
        self._exp_t: float | None = None
        self._t1: int | None = None
        self._t2: int | None = None
        self._duplicates = 0
        self._out_of_order = 0
        self._events: list[CounterReset] = []

    @property
    def duplicates(self) -> int:
        """Readings ignored because one with the same ``t`` was already added."""
        return self._duplicates

    @property
    def out_of_order(self) -> int:
        """Readings ignored because they were older than the last one (or than a flush)."""
        return self._out_of_order

    @property
    def last_time(self) -> float | None:
        """Time of the last accepted reading."""
        return None if self._prev is None else self._prev.t

    @property
    def time_base(self) -> float | None:
        """The time a reading must come after to be taken (last reading or flush), if any."""
        base = self._watermark
        if self._prev is not None and self._prev.t > base:
            base = self._prev.t
        return None if base == float("-inf") else base

    def _plausible(self, old: int, old_t: float | None, wh: int, t: float) -> bool:
        if wh < old:
            return False
        per_s = self._wh_per_s
        if per_s is None or old_t is None:
            return True
        return wh - old <= max(t - old_t, 0.0) * per_s + self._slack_wh

    def counter_suspect(self, counter: str, kwh: float, t: float) -> bool:
        """True when ``kwh`` at ``t`` would start a new segment of ``counter`` (import/export).

        That is a value below the last one, or above it by more than the power bound allows
        since the counter was last seen. False when the counter is not known yet.
        """
        wh = round(kwh * 1000.0)
        if counter == "import":
            old, old_t = self._imp, self._imp_t
        elif counter == "export":
            old, old_t = self._exp, self._exp_t
        else:
            raise ValueError(f"counter must be 'import' or 'export', got {counter!r}")
        return old is not None and not self._plausible(old, old_t, wh, t)

    def restart_counter(self, counter: str) -> None:
        """Forget ``counter`` (import/export): its next value starts a segment, without an event.

        For a counter that is now read from other fields (another set of tariffs): the step
        to the next value is not energy, and nothing was replaced.
        """
        if counter == "import":
            self._imp = self._imp_t = None
        elif counter == "export":
            self._exp = self._exp_t = None
        else:
            raise ValueError(f"counter must be 'import' or 'export', got {counter!r}")

    def restart_time(self) -> WindowBatch:
        """Close every open window now and take the next reading at any time (the clock jumped).

        The last reading of each window weighs until the window's end (at most ``max_weight``).
        The counters are kept, so the step to the next reading is still energy (without a
        bound: the time between is unknown); nothing is gap-filled across the jump.
        """
        out = WindowBatch()
        for index, res in enumerate(self.resolutions):
            acc = self._open[index]
            if acc is not None:
                acc.settle(acc.last, min(max(acc.end - acc.last.t, 0.0), self.max_weight))
                out.append(acc.close(self.series, res))
                self._open[index] = None
        self._prev = None
        self._watermark = float("-inf")
        self._imp_t = self._exp_t = None
        return out

    def pop_events(self) -> list[CounterReset]:
        """Return and forget the counter resets seen since the last call."""
        events, self._events = self._events, []
        return events

    # ------------------------------------------------------------------ streaming

    def add(self, reading: Reading) -> WindowBatch:
        """Add one reading; return the windows that closed because of it."""
        t = reading.t
        prev = self._prev
        if prev is not None:
            last_t = prev.t
            if t <= last_t:
                if t == last_t:
                    self._duplicates += 1
                else:
                    self._out_of_order += 1
                return WindowBatch()
            weight = min(t - last_t, self.max_weight)
        else:
            last_t = weight = 0.0
        if t < self._watermark:
            self._out_of_order += 1
            return WindowBatch()

        # counter differences since the previous known counter (None: unknown or reset)
        d_imp: int | None = None
        d_exp: int | None = None
        before = (self._imp, self._t1, self._t2, self._exp)
        value = reading.import_kwh
        if value is not None:
            wh = round(value * 1000.0)
            old = self._imp
            if old is not None:
                if self._plausible(old, self._imp_t, wh, t):
                    d_imp = wh - old
                else:
                    self._events.append(CounterReset(self.series, t, old / 1000.0, value))
            self._imp = wh
            self._imp_t = t
        value = reading.export_kwh
        if value is not None:
            wh = round(value * 1000.0)
            old = self._exp
            if old is not None:
                if self._plausible(old, self._exp_t, wh, t):
                    d_exp = wh - old
                else:
                    self._events.append(CounterReset(self.series, t, old / 1000.0, value, "export"))
            self._exp = wh
            self._exp_t = t
        value = reading.import_t1_kwh
        if value is not None:
            self._t1 = round(value * 1000.0)
        value = reading.import_t2_kwh
        if value is not None:
            self._t2 = round(value * 1000.0)

        out = WindowBatch()
        opened = self._open
        for index, res in enumerate(self.resolutions):
            acc = opened[index]
            start = (t // res) * res
            if acc is not None:
                acc.settle(acc.last, weight)
                if acc.start == start:
                    if d_imp is not None:
                        acc.wh_imp += d_imp
                    if d_exp is not None:
                        acc.wh_exp += d_exp
                    acc.record(reading)
                    continue
            new = OpenWindow(start, start + res, reading)
            if prev is not None and start > (last_t // res) * res + res:
                self._fill_gap(
                    res=res,
                    acc=acc,
                    new=new,
                    last_t=last_t,
                    t=t,
                    d_imp=d_imp,
                    d_exp=d_exp,
                    before=before,
                    out=out,
                )
            else:
                if acc is not None:
                    out.append(acc.close(self.series, res))
                if d_imp is not None:
                    new.wh_imp = d_imp
                    new.has_imp = True
                if d_exp is not None:
                    new.wh_exp = d_exp
                    new.has_exp = True
            new.record(reading)
            opened[index] = new
        self._prev = reading
        return out

    def _fill_gap(
        self,
        *,
        res: int,
        acc: OpenWindow | None,
        new: OpenWindow,
        last_t: float,
        t: float,
        d_imp: int | None,
        d_exp: int | None,
        before: tuple[int | None, int | None, int | None, int | None],
        out: WindowBatch,
    ) -> None:
        """Spread the counter differences of a silence ``[last_t, t]`` and emit gap windows.

        Intervals: ``[gap_start, end_a]`` (tail of the open window), ``[end_a, kept_from]``
        (no window kept: a horizon), the missing windows (one lazy run) and ``[start_b, t]``
        (head of the new window). Each share is the difference of cumulative shares, so they
        add up exactly to the measured difference.
        """
        end_a = (last_t // res) * res + res
        start_b = new.start
        gap_start = last_t if acc is not None else end_a
        kept_from = end_a
        horizon = self._horizon.get(res)
        if horizon is not None and t - horizon > end_a:
            kept_from = min(start_b, end_a + ceil((t - horizon - end_a) / res) * res)
        deltas = (d_imp, _diff(before[1], self._t1), _diff(before[2], self._t2), d_exp)
        shares = tuple(
            None if d is None else Share(d, gap_start, t, base)
            for d, base in zip(deltas, before, strict=True)
        )
        imp, exp = shares[0], shares[3]
        if acc is not None:
            if imp is not None:
                acc.wh_imp += imp.until(end_a)
                acc.has_imp = True
            if exp is not None:
                acc.wh_exp += exp.until(end_a)
                acc.has_exp = True
            out.append(acc.close(self.series, res))
        count = round((start_b - kept_from) / res)
        out.append(SyntheticRun(self.series, res, kept_from, count, shares))  # type: ignore[arg-type]
        if imp is not None:
            new.wh_imp = imp.total - imp.until(start_b)
            new.has_imp = True
        if exp is not None:
            new.wh_exp = exp.total - exp.until(start_b)
            new.has_exp = True

    def flush(self, now: float) -> WindowBatch:
        """Close and return the open windows whose end is at or before ``now``."""
        if not isfinite(now):
            raise ValueError(f"flush needs a finite time, got {now!r}")
        out = WindowBatch()
        for index, res in enumerate(self.resolutions):
            acc = self._open[index]
            if acc is not None and acc.end <= now:
                acc.settle(acc.last, min(now - acc.last.t, self.max_weight))
                out.append(acc.close(self.series, res))
                self._open[index] = None
                self._watermark = max(self._watermark, acc.end)
        return out

    # ------------------------------------------------------------------ persistence

    def snapshot(self) -> dict[str, JsonValue]:
        """Everything needed to continue after a restart, as a JSON-serialisable dict."""
        return {
            "version": SNAPSHOT_VERSION,
            "series": self.series,
            "resolutions": list(self.resolutions),
            "max_weight": self.max_weight,
            "prev": None if self._prev is None else reading_to_json(self._prev),
            "watermark": None if self._watermark == float("-inf") else self._watermark,
            "counters": [self._imp, self._t1, self._t2, self._exp],
            "counter_times": [self._imp_t, self._exp_t],
            "duplicates": self._duplicates,
            "out_of_order": self._out_of_order,
            "open": [None if acc is None else acc.to_json() for acc in self._open],
            "events": [
                {"at": e.at, "before": e.before, "after": e.after, "counter": e.counter}
                for e in self._events
            ],
        }

    def restore(self, data: Mapping[str, JsonValue]) -> None:
        """Continue from a :meth:`snapshot`; raises :class:`InvalidSnapshotError` if unusable.

        The aggregator is unchanged when the snapshot is rejected.
        """
        obj = as_obj(data, "snapshot")
        if obj.get("version") != SNAPSHOT_VERSION:
            raise InvalidSnapshotError(
                f"snapshot field 'version': expected {SNAPSHOT_VERSION}, got {obj.get('version')!r}"
            )
        if obj.get("series") != self.series:
            raise InvalidSnapshotError(
                "snapshot field 'series': belongs to another series, not this aggregator's"
            )
        if obj.get("resolutions") != list(self.resolutions):
            raise InvalidSnapshotError(
                f"snapshot field 'resolutions': {obj.get('resolutions')!r} does not match "
                f"{list(self.resolutions)!r}"
            )
        raw_prev = obj.get("prev")
        prev = None if raw_prev is None else reading_from_json(raw_prev, "prev")
        raw_mark = obj.get("watermark")
        watermark = float("-inf") if raw_mark is None else as_num(raw_mark, "watermark")
        counters = [
            as_opt_int(v, f"counters[{i}]")
            for i, v in enumerate(as_list(obj.get("counters"), 4, "counters"))
        ]
        # older snapshots have no counter times: the last reading's time is the closest known
        raw_times = obj.get("counter_times")
        if raw_times is None:
            fallback = None if prev is None else prev.t
            times = [None if counters[i] is None else fallback for i in (0, 3)]
        else:
            times = as_opt_nums(raw_times, 2, "counter_times")
        duplicates = as_int(obj.get("duplicates"), "duplicates")
        out_of_order = as_int(obj.get("out_of_order"), "out_of_order")
        raw_open = as_list(obj.get("open"), len(self.resolutions), "open")
        opened: list[OpenWindow | None] = []
        for index, (res, raw) in enumerate(zip(self.resolutions, raw_open, strict=True)):
            if raw is None:
                opened.append(None)
                continue
            acc = OpenWindow.from_json(raw, res, f"open[{index}]")
            if prev is None or acc.last != prev:
                raise InvalidSnapshotError(
                    f"snapshot field open[{index}].last: is not the last reading 'prev'"
                )
            opened.append(acc)
        events: list[CounterReset] = []
        raw_events = obj.get("events")
        if not isinstance(raw_events, list):
            raise InvalidSnapshotError("snapshot field 'events': must be a list")
        for i, raw_event in enumerate(raw_events):
            event = as_obj(raw_event, f"events[{i}]")
            counter = event.get("counter")
            if counter not in ("import", "export"):
                raise InvalidSnapshotError(f"snapshot field events[{i}].counter: {counter!r}")
            events.append(
                CounterReset(
                    self.series,
                    as_num(event.get("at"), f"events[{i}].at"),
                    as_num(event.get("before"), f"events[{i}].before"),
                    as_num(event.get("after"), f"events[{i}].after"),
                    counter,
                )
            )
        self._open = opened
        self._prev = prev
        self._watermark = watermark
        self._imp, self._t1, self._t2, self._exp = counters
        self._imp_t, self._exp_t = times
        self._duplicates = duplicates
        self._out_of_order = out_of_order
        self._events = events


def _diff(before: int | None, after: int | None) -> int | None:
    if before is None or after is None or after < before:
        return None
    return after - before
