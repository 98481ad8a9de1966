"""Hourly statistics of a power webhook's stations, from the windows the writer stores.

The statistics themselves (ids, sums, costs) are ``statistics.StatisticsImporter``'s; here is
when each station's hours are imported (see :class:`StationStatistics`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from ..const import DOMAIN, LOGGER
from ..long_term_statistics import HOUR, STATISTICS_RESOLUTION, Pricing, StatisticsImporter
from ..metering import MeterStore, StoreError, Window

STATION_TIMER_INTERVAL: Final = timedelta(hours=1)
"""How often :class:`StationStatistics` purges 30-s windows and imports settled hours."""


class StationStatistics:
    """Hourly statistics of series whose windows another writer stores (webhook stations).

    The owner tracks each series (:meth:`track`: a catch-up imports again from the last imported
    hour, or from the first window: idempotent after a restart) and hands over every batch of
    windows it stored (:meth:`windows_stored`). An hour is imported once a 5-minute window
    ending at or after its end is stored, or once it is more than ``settle_after`` seconds old
    (no reading can reach it any more: a station that went silent for good still gets its last
    hour). One import task per series at a time. A timer purges old 30-s windows of every series
    (so they are purged without a P1 meter too) and retries what is due; it also runs at once.
    Errors (the store's, the recorder's) leave the hours due; they are logged once while any
    series fails, and once more when the last of them imports again. Nothing starts once Home
    Assistant stops or the entry unloads: the catch-up at the next start imports what was left.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        store: MeterStore,
        *,
        settle_after: float,
    ) -> None:
        """Arm the timer (removed on unload) and purge now."""
        self.hass = hass
        self.entry = entry
        self.store = store
        self.settle_after = settle_after
        self.importers: dict[str, StatisticsImporter] = {}
        self.pricing: Pricing | None = None
        """Set by the owner before tracking: the stations' windows are priced (cost.py)."""
        self._complete: dict[str, float] = {}
        self._catch_up: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._failing: set[str] = set()
        """The series whose last import failed (logged once when the first fails)."""
        entry.async_on_unload(
            async_track_time_interval(hass, self._async_timer, STATION_TIMER_INTERVAL)
        )
        entry.async_create_background_task(
            hass, self._async_timer(), f"{DOMAIN} station statistics {entry.title}"
        )

    @property
    def _active(self) -> bool:
        """Only while Home Assistant runs and the entry is loaded (an unload stores windows too).

        What is skipped stays due: the next windows or the timer start it.
        """
        return self.hass.is_running and self.entry.state is ConfigEntryState.LOADED

    @callback
    def track(self, series: str, object_id: str, name: str) -> None:
        """Import the statistics of ``series`` from now on (nothing when already tracked)."""
        if series in self.importers:
            return
        importer = self.importers[series] = StatisticsImporter(
            self.hass, self.store, series, object_id, name, export=False
        )
        importer.pricing = self.pricing
        self._complete[series] = float("-inf")
        self._catch_up.add(series)
        self._start(series)

    @callback
    def windows_stored(self, windows: Iterable[Window]) -> None:
        """Windows were written to the store: their hours are due once complete."""
        changed: set[str] = set()
        for window in windows:
            if window.resolution != STATISTICS_RESOLUTION:
                continue
            importer = self.importers.get(window.series)
            if importer is None:
                continue
            importer.mark(window.start)
            self._complete[window.series] = max(self._complete[window.series], window.end)
            changed.add(window.series)
        for series in changed:
            self._start_if_due(series)

    @callback
    def request(self, series: str) -> None:
        """Hours of ``series`` became due outside the window path (prices arrived)."""
        if series in self.importers:
            self._start_if_due(series)

    def _complete_until(self, series: str) -> float:
        """The stored windows' end, or the last settled hour's end when that is later."""
        settled = dt_util.utcnow().timestamp() - self.settle_after
        settled -= settled % HOUR  # (the hour it is in)
        return max(self._complete[series], settled)

    @callback
    def _start_if_due(self, series: str) -> None:
        if series in self._catch_up or self.importers[series].due(self._complete_until(series)):
            self._start(series)

    @callback
    def _start(self, series: str) -> None:
        if not self._active:
            return
        task = self._tasks.get(series)
        if task is None or task.done():
            self._tasks[series] = self.entry.async_create_background_task(
                self.hass,
                self._async_import(series),
                f"{DOMAIN} station statistics {series}",
                eager_start=False,  # the task clears itself from self._tasks when it ends
            )

    async def _async_import(self, series: str) -> None:
        importer = self.importers[series]
        try:
            if series in self._catch_up:
                await importer.async_catch_up()
                bounds = await self.hass.async_add_executor_job(
                    self.store.window_range, series, STATISTICS_RESOLUTION
                )
                if bounds is not None:
                    end = bounds[1] + STATISTICS_RESOLUTION
                    self._complete[series] = max(self._complete[series], end)
                self._catch_up.discard(series)
            while importer.due(until := self._complete_until(series)):
                await importer.async_import(until)
        except Exception as err:  # noqa: BLE001 - our store or the recorder (e.g. stopping)
            if not self._failing:
                LOGGER.warning(
                    "%s: statistics not imported, retried later: %s", self.entry.title, err
                )
            self._failing.add(series)
            return
        finally:
            self._tasks.pop(series, None)
        if series in self._failing:
            self._failing.discard(series)
            if not self._failing:  # the last series that failed works again
                LOGGER.info("%s: statistics imported again", self.entry.title)

    async def _async_timer(self, _now: datetime | None = None) -> None:
        """Import what is due (hours that settled, failed imports); purge old 30-s windows."""
        if not self._active:
            return
        for series in self.importers:
            self._start_if_due(series)
        try:
            deleted = await self.hass.async_add_executor_job(
                self.store.purge, dt_util.utcnow().timestamp()
            )
        except StoreError as err:
            LOGGER.warning("%s: old 30-s windows not purged: %s", self.entry.title, err)
            return
        LOGGER.debug("%s: purged %d old 30-s windows", self.entry.title, deleted)
