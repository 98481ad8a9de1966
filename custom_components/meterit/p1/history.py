"""History of a P1 meter in Home Assistant: windows, the store, gap filling, statistics.

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

Queries of this history (the ``meterit.get_history`` action, the HTTP view) are in ``history/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from ..const import DOMAIN, LOGGER
from ..long_term_statistics import STATISTICS_RESOLUTION, Pricing, StatisticsImporter
from ..metering import (
    InvalidReadingError,
    InvalidRecordError,
    InvalidSnapshotError,
    JsonValue,
    MeterStore,
    Reading,
    StoreError,
    Window,
    WindowAggregator,
)
from ..metering.gapfill import WindowBatch
from ..metering.pending import PendingWindows
from ..metering.timeline import Closed, Timeline
from ..shared_store import async_get_store
from .issues import HistoryIssues, local_iso
from .readings import CounterSource, export_counter, import_counter, reading_from_measurement

if TYPE_CHECKING:
    from ..homewizard import Measurement


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


def clock() -> float:
    """Home Assistant's clock now, UTC unix seconds: the time a reading is received."""
    return dt_util.utcnow().timestamp()


class MeterHistory:
    """Windows, store, statistics and repair issues of one meter's series."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
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
        self.issues = HistoryIssues(hass, entry.entry_id, lambda: self.title)
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
            self.issues.store_unusable(err)
        else:
            self.issues.store_unusable(None)
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
            self.issues.store_failed(err)
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
            self.issues.store_failed(err)
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
                self.issues.counter_reset(event.counter, event.before, event.after, event.at)
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
            local_iso(t),
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
                    self.issues.store_failed(err)
                    return
                self.issues.store_ok()
                self.windows_written += len(batch) + len(merges)
                if statistics is not None:
                    self._mark(statistics, batch)
                    self._mark(statistics, merges)
                    if statistics.due(self._complete_until):
                        try:
                            await statistics.async_import(self._complete_until)
                        except StoreError as err:
                            self.issues.store_failed(err)
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
            self.issues.store_failed(err)
            return
        LOGGER.debug("%s: purged %d old 30-s windows", self.title, deleted)
