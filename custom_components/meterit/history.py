"""History of a meter in Home Assistant: windows, the store, gap filling, statistics, queries.

A :class:`MeterHistory` adapts ``metering`` to Home Assistant for one series (a P1 meter):

* every push becomes a ``Reading`` at Home Assistant's clock on arrival and goes into a
  ``WindowAggregator`` (30-s and 5-min windows); this is all the push path does;
* closed windows are written to the store in batches by one writer task, off the event loop;
  the aggregator's snapshot is saved with them every minute and on unload / Home Assistant stop,
  so a restart in the middle of a window continues it and loses nothing that was received;
* gap filling: after a restart the first reading (read over REST during setup) closes the gap
  since the last reading: synthetic windows carry the energy measured across it;
* a timer closes windows during a silence (once the last reading's weight is known), purges
  30-s windows older than 24 h every hour and retries failed writes;
* a meter that sends no total counter (only per-tariff ones) gets the sum of the tariffs it
  sends as its counter, as long as the same tariffs are sent (a tariff that appears or
  disappears changes the counter's base: no energy is counted across that one step);
* a counter that goes backwards, or jumps forward by more than any real consumption
  (``WindowAggregator.counter_suspect``), for :data:`RESET_CONFIRM` readings in a row is a meter
  that was replaced or reset: a new counter segment starts (no energy across it) and a repair
  issue says what happened; a single glitch is ignored (that counter is dropped from the reading);
* Home Assistant's clock going back (NTP) by more than :data:`CLOCK_BACK_TOLERANCE` closes the
  open windows and goes on at the new time (counters kept); until the clock is past the
  windows already closed, new windows are added to the stored ones (``metering.timeline``);
* a store that cannot be opened or written raises a repair issue; the windows and the sensors
  keep working from memory.

Queries (the ``meterit.get_history`` action and :class:`HistoryView`) share
:func:`parse_history_query` and :func:`async_query_history`. They read any
:class:`HistorySource`: a P1 meter's :class:`MeterHistory` or a power webhook station's
:class:`StationHistory` (its windows are written by the webhook's coordinator). A station has no
counters: the energy of its windows is integrated from its power (``metering.window_energy``),
positive as import and negative as export, in window rows and hourly rows alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
import csv
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from functools import partial
from http import HTTPStatus
import io
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from aiohttp import web
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER
from .metering import (
    HourStat,
    InvalidReadingError,
    InvalidRecordError,
    InvalidSnapshotError,
    JsonValue,
    MeterStore,
    NotAnHwLoggerDatabaseError,
    Reading,
    StoreError,
    Window,
    WindowAggregator,
    hourly_statistics,
    read_hwlogger_db,
)
from .metering.gapfill import WindowBatch
from .metering.pending import PendingWindows
from .metering.statistics import window_energy
from .metering.timeline import Closed, Timeline
from .repairs import entry_issue_id
from .statistics import STATISTICS_RESOLUTION, Pricing, StatisticsImporter
from .storage import STORE_FILENAME, async_get_store

if TYPE_CHECKING:
    from .entry import MeteritConfigEntry
    from .homewizard import Measurement

RESOLUTIONS: Final = (30, 300)
MAX_WEIGHT: Final = 30.0
"""A reading weighs at most this long (s) in a window's average (a P1 meter pushes every 1-10 s)."""
RESET_CONFIRM: Final = 10
"""Readings in a row with an implausible counter step before it counts as a meter reset."""
CLOCK_BACK_TOLERANCE: Final = 60.0
"""A reading this much (s) before the last one means the clock was set back, not a late push."""
TIMER_INTERVAL: Final = timedelta(seconds=10)
SAVE_INTERVAL: Final = timedelta(minutes=1)
PURGE_INTERVAL: Final = timedelta(hours=1)

ISSUE_STORE_UNUSABLE: Final = "store_unusable"
ISSUE_STORE_UNWRITABLE: Final = "store_unwritable"
ISSUE_COUNTER_RESET: Final = "counter_reset"


TOTAL_SOURCE: Final = 1
"""A counter's source: the meter's total (bit 0); bits 1-4 stand for the sum of tariffs 1-4."""

type CounterValue = tuple[int, float]
"""A counter's source (see :data:`TOTAL_SOURCE`) and its value in kWh."""


def _counter(total: float | None, *tariffs: float | None) -> CounterValue | None:
    """The total when the meter sends it, else the sum of the tariff counters it sends."""
    if total is not None:
        return TOTAL_SOURCE, total
    source = 0
    value = 0.0
    for index, kwh in enumerate(tariffs):
        if kwh is not None:
            source |= 2 << index
            value += kwh
    return (source, round(value, 3)) if source else None


def import_counter(m: Measurement) -> CounterValue | None:
    """The import counter of a measurement: the total or the sum of the tariffs sent."""
    return _counter(
        m.energy_import_kwh,
        m.energy_import_t1_kwh,
        m.energy_import_t2_kwh,
        m.energy_import_t3_kwh,
        m.energy_import_t4_kwh,
    )


def export_counter(m: Measurement) -> CounterValue | None:
    """The export counter of a measurement: the total or the sum of the tariffs sent."""
    return _counter(
        m.energy_export_kwh,
        m.energy_export_t1_kwh,
        m.energy_export_t2_kwh,
        m.energy_export_t3_kwh,
        m.energy_export_t4_kwh,
    )


def reading_from_measurement(
    m: Measurement, t: float, import_kwh: float | None, export_kwh: float | None
) -> Reading:
    """The metering reading of a P1 measurement received at ``t`` (UTC unix seconds).

    Its counters are given: :func:`import_counter` and :func:`export_counter` as far as
    their source is stable (:class:`CounterSource`).
    """
    return Reading(
        t,
        m.power_w,
        m.power_l1_w,
        m.power_l2_w,
        m.power_l3_w,
        m.voltage_l1_v,
        m.voltage_l2_v,
        m.voltage_l3_v,
        import_kwh,
        m.energy_import_t1_kwh,
        m.energy_import_t2_kwh,
        export_kwh,
        m.tariff,
    )


class CounterSource:
    """Which fields one counter (import or export) of a meter is read from, kept stable.

    The first source seen (nothing known yet) is taken at once. After that a value counts only
    when its source (the total, or a set of tariffs) is the one of the previous reading that had
    the counter: a tariff missing from one push, or the total missing once, gives no value (the
    next reading's step covers that time). When the source settles on another one than the
    counter's base (a tariff that appeared or disappeared), :meth:`take` says so: the counter
    restarts, as the sum jumped without any consumption.
    """

    __slots__ = ("base", "last")

    def __init__(self, base: int | None = None) -> None:
        """Start from ``base``: the source the aggregator's counter was read from (if known)."""
        self.base = base
        self.last = base

    def take(self, found: CounterValue | None) -> tuple[float | None, bool]:
        """The counter's value for this reading (None: none or not stable) and a restart flag."""
        if found is None:
            return None, False
        source, value = found
        if self.last is None:
            self.base = self.last = source
            return value, False
        if source != self.last:
            self.last = source
            return None, False
        if source != self.base:
            self.base = source
            return value, True
        return value, False


def clock() -> float:
    """Home Assistant's clock now, UTC unix seconds: the time a reading is received."""
    return dt_util.utcnow().timestamp()


def _local_iso(t: float) -> str:
    return dt_util.as_local(dt_util.utc_from_timestamp(t)).isoformat()


class MeterHistory:
    """Windows, store, statistics and repair issues of one meter's series."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: MeteritConfigEntry,
        *,
        series: str,
        object_id: str,
        on_counter_reset: Callable[[], None] | None = None,
        pricing: Pricing | None = None,
    ) -> None:
        """Prepare; :meth:`async_start` opens the store and restores the last state.

        ``pricing``: the windows are priced and their cost imported (see :mod:`.cost`).
        """
        self.hass = hass
        self.entry = entry
        self.series = series
        self.object_id = object_id
        self.aggregator = WindowAggregator(series, RESOLUTIONS, MAX_WEIGHT)
        self.timeline = Timeline(self.aggregator, tolerance=CLOCK_BACK_TOLERANCE)
        self.store: MeterStore | None = None
        self.statistics: StatisticsImporter | None = None
        self.latest: Window | None = None
        """The newest closed 5-minute window (what the window sensors show)."""
        self.windows_written = 0
        self._on_counter_reset = on_counter_reset
        self._pricing = pricing
        self._listeners: list[CALLBACK_TYPE] = []
        self._pending = PendingWindows()
        self._save_requested = False
        self._writer: asyncio.Task[None] | None = None
        self._failing = False
        self._running = False
        self._complete_until = float("-inf")
        # where the import / export counters come from (a total or a set of tariffs)
        self._sources = (CounterSource(), CounterSource())
        # counter-reset confirmation: implausible import / export steps in a row
        self._suspect = [0, 0]
        self._bad_reading_logged = False
        self._clock_back_logged = False
        self._after_clock_back = False

    @property
    def state_key(self) -> str:
        """The store's state key of this series' aggregator snapshot."""
        return f"history_{self.series}"

    @property
    def title(self) -> str:
        """The config entry's title (for logs and issues)."""
        return self.entry.title

    # ------------------------------------------------------------------ lifecycle

    async def async_start(self, first: Measurement | None = None) -> None:
        """Open the store, restore the aggregator, feed ``first`` (fills the gap), arm timers."""
        hass = self.hass
        try:
            self.store = await async_get_store(hass)
        except StoreError as err:
            LOGGER.error(
                "%s: history store unusable, history is kept in memory: %s", self.title, err
            )
            self._issue(ISSUE_STORE_UNUSABLE, ir.IssueSeverity.ERROR, error=str(err))
        else:
            ir.async_delete_issue(hass, DOMAIN, self._issue_id(ISSUE_STORE_UNUSABLE))
            self.statistics = StatisticsImporter(
                hass, self.store, self.series, self.object_id, self.title
            )
            self.statistics.pricing = self._pricing
            await self._async_restore()
        self._running = True
        if first is not None:
            self.async_add_measurement(first)
        entry = self.entry
        entry.async_on_unload(async_track_time_interval(hass, self._async_tick, TIMER_INTERVAL))
        entry.async_on_unload(async_track_time_interval(hass, self._async_save, SAVE_INTERVAL))
        entry.async_on_unload(async_track_time_interval(hass, self._async_purge, PURGE_INTERVAL))
        entry.async_on_unload(
            hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._async_hass_stop)
        )
        if self.statistics is not None:
            entry.async_create_task(hass, self._async_catch_up(), f"{DOMAIN} statistics catch-up")
            entry.async_create_task(hass, self._async_purge(), f"{DOMAIN} history purge")

    async def _async_restore(self) -> None:
        store = self.store
        assert store is not None
        now = clock()
        try:
            snapshot = await self.hass.async_add_executor_job(store.load_state, self.state_key)
            recent = await self.hass.async_add_executor_job(
                store.query_windows, self.series, STATISTICS_RESOLUTION, now - 3600, now
            )
        except StoreError as err:
            self._store_failed(err)
            return
        if recent:
            self.latest = recent[-1]
        if snapshot is None:
            return
        try:
            self.timeline.restore(snapshot)
        except InvalidSnapshotError as err:
            LOGGER.warning("%s: saved window state unusable, starting afresh: %s", self.title, err)
            return
        # (a snapshot from before tariff sums has none: the first reading tells, as at a start)
        sources = snapshot.get("counter_sources")
        if not isinstance(sources, list) or len(sources) != len(self._sources):
            return
        for index, base in enumerate(sources):
            if isinstance(base, int) and not isinstance(base, bool) and 0 < base < 32:
                self._sources[index].base = self._sources[index].last = base

    def _snapshot(self) -> dict[str, JsonValue]:
        """The aggregator's snapshot and where the counters come from (None: not known)."""
        snapshot = self.timeline.snapshot()
        snapshot["counter_sources"] = [source.base for source in self._sources]
        return snapshot

    async def _async_catch_up(self) -> None:
        assert self.statistics is not None
        try:
            await self.statistics.async_catch_up()
        except StoreError as err:
            self._store_failed(err)
            return
        self._request_write()

    async def async_stop(self) -> None:
        """Stop taking readings; write the closed windows and the snapshot (mid-window kept)."""
        if not self._running:
            return
        self._running = False
        self._save_requested = True
        self._request_write()
        if self._writer is not None:
            await asyncio.shield(self._writer)

    async def _async_hass_stop(self, _event: Event) -> None:
        await self.async_stop()

    @callback
    def async_request_import(self) -> None:
        """Hours became due outside the window path (prices arrived): let the writer import."""
        if self._running:
            self._request_write()

    # ------------------------------------------------------------------ the push path

    @callback
    def async_add_measurement(self, measurement: Measurement) -> None:
        """Take one measurement as received now (the push path: fast, no I/O)."""
        if not self._running:
            return
        counters: list[float | None] = []
        for index, (found, counter) in enumerate(
            ((import_counter(measurement), "import"), (export_counter(measurement), "export"))
        ):
            value, restart = self._sources[index].take(found)
            if restart:
                # read from other tariffs now: the step to this value is no consumption
                LOGGER.debug("%s: the %s counter is read from other fields", self.title, counter)
                self.aggregator.restart_counter(counter)
                self._suspect[index] = 0
            counters.append(value)
        try:
            reading = reading_from_measurement(measurement, clock(), counters[0], counters[1])
        except InvalidReadingError as err:
            if not self._bad_reading_logged:
                self._bad_reading_logged = True
                LOGGER.warning("%s: a push was not added to the history: %s", self.title, err)
            return
        self.async_add(reading)

    @callback
    def async_add(self, reading: Reading) -> None:
        """Add a reading to the windows; closed windows are queued for the store."""
        aggregator = self.aggregator
        jump = self.timeline.check(reading.t)
        if jump.jumped_back is not None:
            self._clock_went_back(jump, reading.t)
        closed = self.timeline.add(self._confirm_counters(reading))
        if closed:
            self._closed(closed)
        if events := aggregator.pop_events():
            for event in events:
                self._counter_reset_issue(event.counter, event.before, event.after, event.at)
            if self._on_counter_reset is not None:
                self._on_counter_reset()

    @callback
    def _clock_went_back(self, closed: Closed, t: float) -> None:
        """The open windows closed; readings go on from ``t`` (counters stay continuous)."""
        log = LOGGER.debug if self._clock_back_logged else LOGGER.warning
        self._clock_back_logged = True
        log(
            "%s: Home Assistant's clock went back by %.0f s; the history continues from %s, "
            "adding to the windows already stored there",
            self.title,
            closed.jumped_back,
            _local_iso(t),
        )
        self._complete_until = min(self._complete_until, t)
        if closed:
            self._closed(closed)
        self._after_clock_back = True  # the next window is the latest, though it starts earlier

    def _confirm_counters(self, reading: Reading) -> Reading:
        """Drop a counter with an implausible step, until that happened RESET_CONFIRM times."""
        t = reading.t
        if self._suspect_step(0, "import", reading.import_kwh, t):
            reading = replace(reading, import_kwh=None, import_t1_kwh=None, import_t2_kwh=None)
        if self._suspect_step(1, "export", reading.export_kwh, t):
            reading = replace(reading, export_kwh=None)
        return reading

    def _suspect_step(self, index: int, counter: str, kwh: float | None, t: float) -> bool:
        """True to drop the counter: its step is implausible and not confirmed yet."""
        if kwh is None:
            return False
        if not self.aggregator.counter_suspect(counter, kwh, t):
            self._suspect[index] = 0
            return False
        self._suspect[index] += 1
        if self._suspect[index] < RESET_CONFIRM:
            return True
        self._suspect[index] = 0  # confirmed: the aggregator starts a new segment
        return False

    @callback
    def _closed(self, closed: Closed) -> None:
        latest = None if self._after_clock_back else self.latest
        for batch in (closed.windows, closed.merges):
            for part in batch.parts:
                window = part if isinstance(part, Window) else part[-1]  # a run: its newest
                if window.resolution == STATISTICS_RESOLUTION and (
                    latest is None or window.start >= latest.start
                ):
                    latest = window
        self._pending.add(closed)
        self._request_write()
        if latest is not None and latest is not self.latest:
            self._after_clock_back = False
            self.latest = latest
            for listener in list(self._listeners):
                listener()

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` whenever a 5-minute window closes; returns the remover."""
        self._listeners.append(listener)

        @callback
        def _remove() -> None:
            self._listeners.remove(listener)

        return _remove

    # ------------------------------------------------------------------ the writer

    @callback
    def _request_write(self) -> None:
        if self._writer is None and self.store is not None:
            self._writer = self.entry.async_create_task(
                self.hass,
                self._async_write_loop(),
                f"{DOMAIN} history writer {self.series}",
                eager_start=False,  # the loop clears self._writer when it ends
            )

    async def _async_write_loop(self) -> None:
        """Write pending windows (and the snapshot when asked) until nothing is left."""
        store = self.store
        assert store is not None
        statistics = self.statistics
        try:
            while (
                self._pending
                or self._save_requested
                or (statistics is not None and statistics.due(self._complete_until))
            ):
                batch, merges = self._pending.take()
                # the snapshot goes with every batch: a restart never takes a window twice
                snapshot = self._snapshot()
                self._save_requested = False
                try:
                    await self.hass.async_add_executor_job(
                        self._write, store, batch, merges, snapshot
                    )
                except StoreError as err:
                    self._pending.put_back(batch, merges, clock())
                    self._save_requested = True
                    self._store_failed(err)
                    return
                self._store_ok()
                self.windows_written += len(batch) + len(merges)
                if statistics is not None:
                    self._mark(statistics, batch)
                    self._mark(statistics, merges)
                    if statistics.due(self._complete_until):
                        try:
                            await statistics.async_import(self._complete_until)
                        except StoreError as err:
                            self._store_failed(err)
                            return
        finally:
            self._writer = None

    def _write(
        self,
        store: MeterStore,
        windows: WindowBatch,
        merges: WindowBatch,
        snapshot: dict[str, JsonValue],
    ) -> None:
        """Executor: windows, merges and the snapshot that follows them, in one transaction."""
        state = (self.state_key, snapshot)
        try:
            store.write_windows(windows, merge=merges, state=state)
        except InvalidRecordError as err:  # pragma: no cover - windows come from metering
            LOGGER.error("%s: windows not stored (bad field): %s", self.title, err)
            store.save_state(*state)

    def _mark(self, statistics: StatisticsImporter, windows: WindowBatch) -> None:
        first: float | None = None
        now = clock()  # windows closed before the clock went back end in the future
        for part in windows.parts:
            if part.resolution == STATISTICS_RESOLUTION:
                start = part.start if isinstance(part, Window) else part.first
                end = part.end if isinstance(part, Window) else part[-1].end
                if first is None or start < first:
                    first = start
                self._complete_until = max(self._complete_until, min(end, now))
        if first is not None:
            statistics.mark(first)

    # ------------------------------------------------------------------ timers

    @callback
    def _async_tick(self, _now: datetime | None = None) -> None:
        """Close windows during a silence, once the last reading's weight is known."""
        if not self._running:
            return
        t = clock()
        last = self.aggregator.last_time
        if last is not None and t - last >= MAX_WEIGHT and (closed := self.timeline.flush(t)):
            self._closed(closed)

    @callback
    def _async_save(self, _now: datetime | None = None) -> None:
        """Save the snapshot (and retry writes that failed)."""
        if self._running:
            self._save_requested = True
            self._request_write()

    async def _async_purge(self, _now: datetime | None = None) -> None:
        """Delete 30-s windows older than 24 h."""
        if self.store is None or not self._running:
            return
        try:
            deleted = await self.hass.async_add_executor_job(self.store.purge, clock())
        except StoreError as err:
            self._store_failed(err)
            return
        LOGGER.debug("%s: purged %d old 30-s windows", self.title, deleted)

    # ------------------------------------------------------------------ repair issues

    def _issue_id(self, key: str) -> str:
        """Issues are per entry: each names its entry, and goes when the entry is removed."""
        return entry_issue_id(key, self.entry.entry_id)

    def _issue(self, key: str, severity: ir.IssueSeverity, **ph: str) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id(key),
            is_fixable=False,
            severity=severity,
            translation_key=key,
            translation_placeholders={"title": self.title, "file": STORE_FILENAME, **ph},
        )

    @callback
    def _store_failed(self, err: StoreError) -> None:
        if not self._failing:
            self._failing = True
            LOGGER.warning(
                "%s: history cannot be stored, kept in memory and retried: %s", self.title, err
            )
        self._issue(ISSUE_STORE_UNWRITABLE, ir.IssueSeverity.ERROR, error=str(err))

    @callback
    def _store_ok(self) -> None:
        if self._failing:
            self._failing = False
            LOGGER.info("%s: history is stored again", self.title)
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(ISSUE_STORE_UNWRITABLE))

    @callback
    def _counter_reset_issue(self, counter: str, before: float, after: float, at: float) -> None:
        LOGGER.warning(
            "%s: the %s counter changed from %.3f to %.3f kWh, a step no consumption explains: "
            "meter replaced or reset, a new counter segment starts",
            self.title,
            counter,
            before,
            after,
        )
        self._issue(
            ISSUE_COUNTER_RESET,
            ir.IssueSeverity.WARNING,
            counter=counter,
            before=f"{before:.3f}",
            after=f"{after:.3f}",
            time=_local_iso(at),
        )


# ---------------------------------------------------------------------- queries


class HistorySource(Protocol):
    """What a history query reads: a series of windows in the store (None: unavailable)."""

    @property
    def series(self) -> str:
        """The windows' series name."""
        ...  # pragma: no cover

    @property
    def store(self) -> MeterStore | None:
        """The store that holds the windows."""
        ...  # pragma: no cover

    @property
    def title(self) -> str:
        """A human name (for logs)."""
        ...  # pragma: no cover


@dataclass(frozen=True, slots=True)
class StationHistory:
    """The history of one power webhook station (a :class:`HistorySource`)."""

    series: str
    store: MeterStore | None
    title: str


class Resolution(StrEnum):
    """The resolutions a history query can ask for."""

    S30 = "30s"
    MIN5 = "5min"
    HOUR = "hour"


RESOLUTION_SECONDS: Final = {Resolution.S30: 30, Resolution.MIN5: 300, Resolution.HOUR: 3600}
WINDOW_COLUMNS: Final = (
    "start",
    "end",
    "reading_count",
    "tariff",
    "w_avg",
    "w_min",
    "w_max",
    "l1_w_avg",
    "l2_w_avg",
    "l3_w_avg",
    "l1_w_max",
    "l2_w_max",
    "l3_w_max",
    "energy_import_kwh",
    "energy_export_kwh",
    "import_kwh",
    "export_kwh",
)
"""Columns of 30-s and 5-min rows (times as local ISO text)."""
HOUR_COLUMNS: Final = (
    "start",
    "end",
    "energy_import_kwh",
    "energy_export_kwh",
    "power_mean",
    "power_min",
    "power_max",
)
"""Columns of hourly rows."""
ACTION_MAX_SPAN: Final = {
    Resolution.S30: timedelta(days=1),
    Resolution.MIN5: timedelta(days=31),
    Resolution.HOUR: timedelta(days=366),
}
"""Longest range of the action (its response is held in memory and in the UI)."""
VIEW_MAX_SPAN: Final = {
    Resolution.S30: timedelta(days=1),
    Resolution.MIN5: timedelta(days=366),
    Resolution.HOUR: timedelta(days=3660),
}
"""Longest range of the HTTP view (exports)."""

type Cell = float | int | str | None


class HistoryArgumentError(ValueError):
    """A bad argument of a history query: ``argument`` named, ``key`` translates it."""

    def __init__(self, argument: str, key: str, message: str, **placeholders: str) -> None:
        """``message`` is the English text; ``key``/``placeholders`` its translation."""
        super().__init__(f"argument {argument}: {message}")
        self.argument = argument
        self.key = key
        self.placeholders = {"argument": argument, **placeholders}


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """A checked history query."""

    history: HistorySource
    start: datetime
    end: datetime
    resolution: Resolution


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """Rows of a history query, each a tuple in the order of ``columns``."""

    series: str
    resolution: Resolution
    start: datetime
    end: datetime
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]

    def as_dicts(self) -> list[dict[str, Cell]]:
        """Rows as dicts (column -> value)."""
        columns = self.columns
        return [dict(zip(columns, row, strict=True)) for row in self.rows]


def _instant(value: object) -> datetime | None:
    """A datetime, a date (its local midnight) or ISO text, as given (naive: not converted)."""
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time(0))
    elif isinstance(value, str):
        text = value.strip()
        parsed = dt_util.parse_datetime(text)
        if parsed is None and (day := dt_util.parse_date(text)) is not None:
            parsed = datetime.combine(day, time(0))
    return parsed


def _in_utc(parsed: datetime) -> datetime | None:
    """``parsed`` (naive: local) in UTC; None when it or its local time is out of range."""
    try:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt_util.get_default_time_zone())
        utc = dt_util.as_utc(parsed)
        dt_util.as_local(utc)  # answers show it in local time: that must exist too
    except OverflowError, ValueError:  # e.g. 0001-01-01T00:00+05:00 is before year 1 in UTC
        return None
    return utc


def instant_or_none(value: object) -> datetime | None:
    """A datetime, a date (its local midnight) or ISO text, in UTC; None when it is none of these.

    Naive means Home Assistant's time zone. None too for a time that is out of range in UTC or
    in local time (years 1-9999). Shared by every action that takes a time.
    """
    parsed = _instant(value)
    return None if parsed is None else _in_utc(parsed)


def parse_instant(argument: str, value: object) -> datetime:
    """:func:`instant_or_none`, or :class:`HistoryArgumentError` naming ``argument``."""
    if (parsed := _instant(value)) is None:
        raise HistoryArgumentError(
            argument,
            "history_invalid_datetime",
            f"{str(value)[:40]!r} is not a date or date and time",
            value=str(value)[:40],
        )
    if (utc := _in_utc(parsed)) is None:
        raise HistoryArgumentError(
            argument,
            "history_datetime_out_of_range",
            f"{str(value)[:40]!r} is out of range (years 1 to 9999, in UTC and in local time)",
            value=str(value)[:40],
        )
    return utc


def history_source_of_device(hass: HomeAssistant, device_id: object) -> HistorySource:
    """The history of a Meterit P1 meter or power webhook station device (by device ID).

    A P1 entry's runtime data has a ``history``; a webhook entry's a ``station_history``
    method that knows its stations' devices (looked up duck-typed: no import of webhook.py).
    """
    if not isinstance(device_id, str) or not device_id:
        raise HistoryArgumentError("device", "history_device_missing", "a device ID is required")
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        raise HistoryArgumentError(
            "device", "history_unknown_device", "no such device", device=device_id[:64]
        )
    entry = hass.config_entries.async_get_entry(device.config_entry_id)
    if entry is not None and entry.domain == DOMAIN:
        runtime = getattr(entry, "runtime_data", None)
        history = getattr(runtime, "history", None)
        if isinstance(history, MeterHistory):
            return history
        station_history = getattr(runtime, "station_history", None)
        if callable(station_history):
            station = station_history(device.identifiers)
            if isinstance(station, StationHistory):
                return station
    raise HistoryArgumentError(
        "device",
        "history_not_a_meter",
        f"{device.name or device_id} is not a loaded Meterit meter",
        device=device.name or device_id,
    )


def history_of_device(hass: HomeAssistant, device_id: object) -> MeterHistory:
    """The history of a Meterit P1 meter device (hwLogger imports: a station has none)."""
    history = history_source_of_device(hass, device_id)
    if not isinstance(history, MeterHistory):
        raise HistoryArgumentError(
            "device",
            "hwlogger_not_a_p1_meter",
            f"{history.title} is not a P1 meter",
            device=history.title,
        )
    return history


def parse_history_query(
    hass: HomeAssistant, data: Mapping[str, object], max_span: Mapping[Resolution, timedelta]
) -> HistoryQuery:
    """Check the arguments ``device``, ``start``, ``end`` (default now), ``resolution``.

    Raises :class:`HistoryArgumentError` naming the first bad argument and why.
    """
    history = history_source_of_device(hass, data.get("device"))
    raw_resolution = data.get("resolution", Resolution.MIN5.value)
    try:
        resolution = Resolution(str(raw_resolution).strip().lower())
    except ValueError:
        options = ", ".join(r.value for r in Resolution)
        raise HistoryArgumentError(
            "resolution",
            "history_invalid_resolution",
            f"{str(raw_resolution)[:20]!r} is not one of {options}",
            value=str(raw_resolution)[:20],
            options=options,
        ) from None
    if data.get("start") is None:
        raise HistoryArgumentError("start", "history_start_missing", "a start time is required")
    start = parse_instant("start", data["start"])
    end = (
        parse_instant("end", data["end"])
        if data.get("end") is not None
        else dt_util.utcnow().replace(microsecond=0)
    )
    if end <= start:
        raise HistoryArgumentError(
            "end",
            "history_end_not_after_start",
            "must be after start",
            start=start.isoformat(),
            end=end.isoformat(),
        )
    limit = max_span[resolution]
    if end - start > limit:
        raise HistoryArgumentError(
            "end",
            "history_range_too_long",
            f"the range is longer than {limit.days} days for resolution {resolution.value}",
            days=str(limit.days),
            resolution=resolution.value,
        )
    return HistoryQuery(history, start, end, resolution)


_ENERGY_IMPORT = WINDOW_COLUMNS.index("energy_import_kwh")
_ENERGY_EXPORT = WINDOW_COLUMNS.index("energy_export_kwh")


def _window_rows(
    store: MeterStore, series: str, res: int, start: float, end: float
) -> list[tuple[Cell, ...]]:
    """Executor: window rows with local ISO times (the lean store path).

    A window without counters (a station) gets the energy integrated from its power
    (:func:`~.metering.statistics.window_energy`, as the hourly rows count it).
    """
    rows = store.query_window_columns(series, res, start, end, (*WINDOW_COLUMNS, "energy_kwh"))
    as_local = dt_util.as_local
    utc = dt_util.utc_from_timestamp
    imp_at, exp_at = _ENERGY_IMPORT, _ENERGY_EXPORT
    out: list[tuple[Cell, ...]] = []
    for r in rows:
        first = as_local(utc(float(r[0] or 0))).isoformat()
        last = as_local(utc(float(r[1] or 0))).isoformat()
        if r[imp_at] is None and r[exp_at] is None and r[-1] is not None:
            imp, exp = window_energy(None, None, r[-1])
            out.append((first, last, *r[2:imp_at], imp, exp, *r[exp_at + 1 : -1]))
        else:
            out.append((first, last, *r[2:-1]))
    return out


def _hour_rows(store: MeterStore, series: str, start: float, end: float) -> list[tuple[Cell, ...]]:
    """Executor: hourly rows built from the 5-minute windows."""
    first = start - start % 3600
    windows = store.query_windows(series, STATISTICS_RESOLUTION, first, end)
    hours: list[HourStat] = hourly_statistics(windows)
    return [
        (
            _local_iso(h.start),
            _local_iso(h.start + 3600),
            h.import_kwh,
            h.export_kwh,
            h.power_mean,
            h.power_min,
            h.power_max,
        )
        for h in hours
    ]


async def async_query_history(hass: HomeAssistant, query: HistoryQuery) -> HistoryResult:
    """Run a checked query against the store; raises ``StoreError`` when it cannot be read."""
    history = query.history
    store = history.store
    if store is None:
        raise StoreError("the history store is not available")
    start = query.start.timestamp()
    end = query.end.timestamp()
    columns: tuple[str, ...]
    if query.resolution is Resolution.HOUR:
        columns = HOUR_COLUMNS
        rows = await hass.async_add_executor_job(_hour_rows, store, history.series, start, end)
    else:
        columns = WINDOW_COLUMNS
        rows = await hass.async_add_executor_job(
            _window_rows,
            store,
            history.series,
            RESOLUTION_SECONDS[query.resolution],
            start,
            end,
        )
    return HistoryResult(history.series, query.resolution, query.start, query.end, columns, rows)


# ---------------------------------------------------------------------- the HTTP view

HISTORY_VIEW_URL: Final = "/api/meterit/history"


def _bad_request(argument: str, problem: str) -> web.Response:
    return web.json_response(
        {"error": "invalid_argument", "argument": argument, "problem": problem},
        status=HTTPStatus.BAD_REQUEST,
    )


class HistoryView(HomeAssistantView):
    """``GET /api/meterit/history?device=&start=&end=&resolution=&format=json|csv``."""

    url = HISTORY_VIEW_URL
    name = "api:meterit:history"
    requires_auth = True

    async def get(self, request: web.Request) -> web.Response:
        """Answer a history query as JSON (default) or CSV; a bad argument gets 400."""
        hass = request.app[KEY_HASS]
        params = request.query
        unknown = sorted(set(params) - {"device", "start", "end", "resolution", "format"})
        if unknown:
            return _bad_request(unknown[0][:40], "unknown argument")
        output = params.get("format", "json").strip().lower()
        if output not in ("json", "csv"):
            return _bad_request("format", f"{output[:20]!r} is not one of json, csv")
        try:
            query = parse_history_query(hass, params, VIEW_MAX_SPAN)
        except HistoryArgumentError as err:
            return _bad_request(err.argument, str(err).partition(": ")[2])
        try:
            result = await async_query_history(hass, query)
        except StoreError as err:
            LOGGER.warning("History query failed: %s", err)
            return web.json_response(
                {"error": "store_unavailable", "problem": "the history store cannot be read"},
                status=HTTPStatus.SERVICE_UNAVAILABLE,
            )
        if output == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(result.columns)
            writer.writerows(result.rows)
            return web.Response(
                text=buffer.getvalue(),
                content_type="text/csv",
                headers={
                    "Content-Disposition": (
                        f'attachment; filename="meterit_{result.resolution.value}.csv"'
                    )
                },
            )
        return web.json_response(
            {
                "series": result.series,
                "resolution": result.resolution.value,
                "start": dt_util.as_local(result.start).isoformat(),
                "end": dt_util.as_local(result.end).isoformat(),
                "columns": list(result.columns),
                "rows": result.rows,
            }
        )


@callback
def async_register_history_view(hass: HomeAssistant) -> None:
    """Register :class:`HistoryView` (once)."""
    if getattr(hass, "http", None) is not None:
        hass.http.register_view(HistoryView())


# ---------------------------------------------------------------------- hwLogger import


@dataclass(frozen=True, slots=True)
class HwLoggerImport:
    """What an hwLogger import did."""

    windows: int
    added: int
    first: float | None
    last: float | None
    hours: int


def _read_hwlogger(
    config_dir: str, allowed: Callable[[str], bool], raw_path: str, series: str, tz: tzinfo
) -> list[Window]:
    """Executor: check the path, then read the whole file (nothing is written before)."""
    try:
        path = Path(raw_path).expanduser()  # RuntimeError: "~user" that does not exist
        if not path.is_absolute():
            path = Path(config_dir) / path
        resolved = path.resolve()  # ValueError: a NUL in the path; OSError, RuntimeError: loops
        inside_config = resolved.is_relative_to(Path(config_dir).resolve())
    except OSError, RuntimeError, ValueError:
        problem = "the path cannot be resolved"
        raise HistoryArgumentError(
            "path", "hwlogger_not_a_database", problem, path=raw_path[:200], error=problem
        ) from None
    if not inside_config and not allowed(str(resolved)):
        raise HistoryArgumentError(
            "path",
            "hwlogger_path_not_allowed",
            "the file is neither in the configuration folder nor in an allowed folder",
            path=raw_path[:200],
        )
    try:
        return list(read_hwlogger_db(resolved, series=series, tz=tz, resolution=300))
    except NotAnHwLoggerDatabaseError as err:
        raise HistoryArgumentError(
            "path", "hwlogger_not_a_database", str(err), path=raw_path[:200], error=str(err)
        ) from None


async def async_import_hwlogger(
    hass: HomeAssistant, history: MeterHistory, raw_path: object
) -> HwLoggerImport:
    """Import the 5-minute windows of an hwLogger ``meter_data.db`` into a meter's history.

    Windows already stored from readings are kept (only missing or synthetic ones are added),
    so importing twice changes nothing; the statistics are imported again from the first
    imported hour. A file that is not such a database raises :class:`HistoryArgumentError`
    and nothing is written; an unusable store raises ``StoreError``.
    """
    if not isinstance(raw_path, str) or not raw_path.strip():
        raise HistoryArgumentError("path", "hwlogger_path_missing", "a file path is required")
    store = history.store
    if store is None:
        raise StoreError("the history store is not available")
    windows = await hass.async_add_executor_job(
        _read_hwlogger,
        hass.config.config_dir,
        hass.config.is_allowed_path,
        raw_path.strip(),
        history.series,
        UTC,  # hwLogger's daemon writes naive UTC (datetime.utcnow()), not local time
    )
    added = await hass.async_add_executor_job(partial(store.write_windows, windows, replace=False))
    hours = 0
    if windows and (statistics := history.statistics) is not None:
        statistics.mark(windows[0].start)
        bounds = await hass.async_add_executor_job(
            store.window_range, history.series, STATISTICS_RESOLUTION
        )
        if bounds is not None:
            hours = await statistics.async_import(bounds[1] + STATISTICS_RESOLUTION)
    LOGGER.info(
        "%s: imported %d of %d hwLogger windows, %d hours of statistics",
        history.title,
        added,
        len(windows),
        hours,
    )
    return HwLoggerImport(
        len(windows),
        added,
        windows[0].start if windows else None,
        windows[-1].end if windows else None,
        hours,
    )
