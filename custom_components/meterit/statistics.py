"""Hourly external statistics from the 5-minute windows of a series (the recorder's long-term data).

Statistics per P1 meter, imported with ``async_add_external_statistics`` (idempotent: an
hour imported again overwrites the same ``start``):

* ``meterit:<id>_energy_import`` and ``meterit:<id>_energy_export``: kWh, ``has_sum`` (the energy
  dashboard picks these); ``state`` is the hour's energy, ``sum`` the running total.
* ``meterit:<id>_power``: W, ``mean_type`` arithmetic, with ``min`` and ``max``.
* With a price source (:mod:`.cost`): ``meterit:<id>_energy_import_cost`` and
  ``meterit:<id>_energy_export_compensation`` (EUR, ``has_sum``): each hour's priced windows'
  energy times their price (:mod:`.metering.pricing`); an hour with no priced window has no row.

A power webhook station has no counters: its windows carry the energy integrated from its power
(``energy_kwh``), and :func:`~.metering.hourly_statistics` counts each window's energy as import
when it is positive and as export when it is negative. A station gets two statistics,
``meterit:<id>_energy`` (the import: what a station that reports consumption used, as its energy
sensor counts it) and ``meterit:<id>_power``; ``<id>`` is :func:`station_object_id` (the entry
and the station, never the webhook ID). :class:`StationStatistics` drives them from the windows
the webhook's writer stores, and purges old 30-s windows.

Sums are a pure function of the store: the running total at an hour is the energy of every window
before it (``MeterStore.energy_before``) plus the hours since. So any hour can be re-imported on
its own and gives the same numbers; when windows change (a gap fill spreads an outage's energy,
an hwLogger import adds old history) every hour from the earliest change on is imported again.
Only complete hours are imported (an hour is complete once a window ending at or after its end
has been stored).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import sha256
import re
from typing import Any, Final

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    get_last_statistics,
)
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import UnitOfEnergy, UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter, PowerConverter

from .const import DOMAIN, LOGGER
from .metering import (
    HourCost,
    HourStat,
    MeterStore,
    PriceRef,
    StoreError,
    Unpriced,
    Window,
    hourly_statistics,
)

HOUR: Final = 3600
COST_UNIT: Final = "EUR"
"""The unit of the cost statistics (PVPC prices are in euros)."""
STATISTICS_RESOLUTION: Final = 300
"""Statistics are built from the 5-minute windows (kept forever)."""
STATION_TIMER_INTERVAL: Final = timedelta(hours=1)
"""How often :class:`StationStatistics` purges 30-s windows and imports settled hours."""

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_PLAIN_STATION = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
_PLAIN_STATION_MAX = 32
"""The longest station ID (``powerhook``): a digested ID is longer, so never equal to a plain one."""


def statistic_object_id(identifier: str) -> str:
    """A statistic-ID-safe form of a meter identifier (lower case, ``[a-z0-9_]``).

    Runs of anything else (underscores included) become one ``_``: the recorder rejects ``__``.
    """
    slug = _NOT_SLUG.sub("_", identifier.lower()).strip("_")
    return slug or "meter"


def station_object_id(entry_id: str, station_id: str) -> str:
    """The statistic object ID of a webhook station: its entry and its station ID.

    Stable and secret-free (never the webhook ID). A station ID that is already a plain slug
    (``garage``, ``1``, ``kitchen_2``) is used as it is; any other (upper case, ``-``, ``.``)
    becomes its slug and 32 hex digits of its SHA-256, longer than any plain station ID, so
    two stations never share statistics (``Garage`` and ``garage`` are different stations).
    """
    if len(station_id) <= _PLAIN_STATION_MAX and _PLAIN_STATION.fullmatch(station_id):
        part = station_id
    else:
        digest = sha256(station_id.encode()).hexdigest()[:32]
        part = f"{statistic_object_id(station_id)}_{digest}"
    return statistic_object_id(f"station_{entry_id}_{part}")


@dataclass(frozen=True, slots=True)
class StatisticIds:
    """The statistic IDs of one meter."""

    energy_import: str
    energy_export: str
    power: str
    import_cost: str
    export_compensation: str

    @classmethod
    def of(cls, object_id: str, *, export: bool = True) -> StatisticIds:
        """The IDs for ``meterit:<object_id>_...``.

        ``export=False`` (a webhook station): the energy is ``_energy`` (the import) and its
        cost ``_energy_cost``; the export's IDs are kept for symmetry but
        :class:`StatisticsImporter` does not import them.
        """
        base = f"{DOMAIN}:{statistic_object_id(object_id)}"
        energy = f"{base}_energy_import" if export else f"{base}_energy"
        return cls(
            energy,
            f"{base}_energy_export",
            f"{base}_power",
            f"{energy}_cost",
            f"{base}_energy_export_compensation",
        )


@dataclass(frozen=True, slots=True)
class Pricing:
    """Where a series' windows take their prices from (the store's PVPC price table).

    ``export_counted``: export energy without a price counts as unpriced (the price source
    has surplus prices: a PVPC entry with an ESIOS token); without, export is not priced.
    """

    import_ref: PriceRef
    export_ref: PriceRef | None
    export_counted: bool

    @property
    def key(self) -> str:
        """What the stored prices of the windows depend on (a change clears them)."""
        export = "" if self.export_ref is None else f"+{self.export_ref.kind}"
        return f"{self.import_ref.region}/{self.import_ref.kind}{export}"


@dataclass(frozen=True, slots=True)
class CostTotals:
    """Totals of the imported hours: cost (€) up to ``until``, and what has no price yet."""

    import_cost: float
    export_compensation: float
    until: float
    unpriced: Unpriced


def _floor_hour(t: float) -> float:
    return t - t % HOUR


class StatisticsImporter:
    """Imports the hourly statistics of one series from the store; one import at a time."""

    def __init__(
        self,
        hass: HomeAssistant,
        store: MeterStore,
        series: str,
        object_id: str,
        name: str,
        *,
        export: bool = True,
    ) -> None:
        """Describe the series (``name`` prefixes the statistics' names).

        ``export=False``: one energy statistic (``_energy``, the import), as for a station.
        """
        self.hass = hass
        self.store = store
        self.series = series
        self.export = export
        self.ids = StatisticIds.of(object_id, export=export)
        self.name = name
        self._dirty_from: float | None = None
        self._lock = asyncio.Lock()
        self.hours_imported = 0
        self.pricing: Pricing | None = None
        """Set by the owner (:mod:`.cost`): the windows are priced and cost imported."""
        self.costs: CostTotals | None = None
        """The cost totals after the last import (None before it, or without pricing)."""

    @property
    def dirty_from(self) -> float | None:
        """Start of the earliest hour that must be imported (again), None when up to date."""
        return self._dirty_from

    @callback
    def mark(self, start: float) -> None:
        """Windows from ``start`` on changed: their hours (and all later ones) are due."""
        hour = _floor_hour(start)
        if self._dirty_from is None or hour < self._dirty_from:
            self._dirty_from = hour

    @callback
    def due(self, complete_until: float) -> bool:
        """True when a changed hour is complete by ``complete_until`` (a stored window's end)."""
        return self._dirty_from is not None and self._dirty_from + HOUR <= complete_until

    async def async_catch_up(self) -> None:
        """After a (re)start: import again from the last imported hour (or the first window)."""
        instance = get_instance(self.hass)
        last = await instance.async_add_executor_job(
            get_last_statistics, self.hass, 1, self.ids.energy_import, False, {"sum"}
        )
        rows = last.get(self.ids.energy_import)
        if rows and self.pricing is not None:
            cost = await instance.async_add_executor_job(
                get_last_statistics, self.hass, 1, self.ids.import_cost, False, {"sum"}
            )
            if not cost.get(self.ids.import_cost):
                rows = []  # priced since: every hour again, for its cost
        if rows:
            self.mark(float(rows[0]["start"]))
            return
        bounds = await self.hass.async_add_executor_job(
            self.store.window_range, self.series, STATISTICS_RESOLUTION
        )
        if bounds is not None:
            self.mark(bounds[0])

    async def async_import(self, complete_until: float) -> int:
        """Import every complete hour from the earliest changed one; returns the hours imported.

        ``complete_until`` is the end of the newest stored window: hours ending after it are
        not complete and wait. Raises the store's errors (the hours stay due).
        """
        async with self._lock:
            start = self._dirty_from
            if start is None:
                return 0
            end = _floor_hour(complete_until)
            if end <= start:
                return 0
            self._dirty_from = None  # marks made while importing collect afresh
            try:
                hours, costs = await self.hass.async_add_executor_job(self._compute, start, end)
            except BaseException:
                self.mark(start)
                raise
            self._add(hours)
            if costs is not None:
                self._add_costs(*costs)
            if end < complete_until:
                self.mark(end)  # the hour in progress has stored windows: due once complete
            self.hours_imported += len(hours)
            LOGGER.debug("%s: imported %d hours of statistics", self.name, len(hours))
            return len(hours)

    def _compute(
        self, start: float, end: float
    ) -> tuple[list[HourStat], tuple[list[HourCost], tuple[float, float]] | None]:
        """Executor: the hours in ``[start, end)`` with sums continuing the stored history.

        With pricing, the windows are priced first, and their hours' costs come along with the
        cost before ``start`` (the base of the cost sums); the totals are kept in ``costs``.
        """
        store, series = self.store, self.series
        base_import, base_export = store.energy_before(series, STATISTICS_RESOLUTION, start)
        windows = store.query_windows(series, STATISTICS_RESOLUTION, start, end)
        hours = hourly_statistics(windows, base_import, base_export)
        pricing = self.pricing
        if pricing is None:
            return hours, None
        export_ref = pricing.export_ref if self.export else None
        store.price_windows(
            series,
            STATISTICS_RESOLUTION,
            start,
            end,
            import_ref=pricing.import_ref,
            export_ref=export_ref,
        )
        counted = self.export and pricing.export_counted
        costs = store.hourly_costs(series, STATISTICS_RESOLUTION, start, end, export=counted)
        base = store.cost_before(series, STATISTICS_RESOLUTION, start)
        total_import = base[0] + sum(h.import_cost or 0.0 for h in costs)
        total_export = base[1] + sum(h.export_cost or 0.0 for h in costs)
        unpriced = store.unpriced(series, STATISTICS_RESOLUTION, export=counted)
        self.costs = CostTotals(total_import, total_export, end, unpriced)
        return hours, (costs, base)

    @callback
    def _add_costs(self, hours: list[HourCost], base: tuple[float, float]) -> None:
        """Import the cost sums (hours without a priced window get no row: unknown, not 0)."""
        imports: list[StatisticData] = []
        exports: list[StatisticData] = []
        total_import, total_export = base
        for hour in hours:
            start = dt_util.utc_from_timestamp(hour.start)
            if hour.import_cost is not None:
                total_import += hour.import_cost
                imports.append(StatisticData(start=start, state=hour.import_cost, sum=total_import))
            if hour.export_cost is not None:
                total_export += hour.export_cost
                exports.append(StatisticData(start=start, state=hour.export_cost, sum=total_export))
        if imports:
            name = f"{self.name} energy cost" if not self.export else f"{self.name} import cost"
            async_add_external_statistics(
                self.hass, self._cost_metadata(self.ids.import_cost, name), imports
            )
        if exports and self.export:
            async_add_external_statistics(
                self.hass,
                self._cost_metadata(
                    self.ids.export_compensation, f"{self.name} export compensation"
                ),
                exports,
            )

    @staticmethod
    def _cost_metadata(statistic_id: str, name: str) -> StatisticMetaData:
        return StatisticMetaData(
            mean_type=StatisticMeanType.NONE,
            has_sum=True,
            name=name,
            source=DOMAIN,
            statistic_id=statistic_id,
            unit_class=None,
            unit_of_measurement=COST_UNIT,
        )

    @callback
    def _add(self, hours: list[HourStat]) -> None:
        if not hours:
            return
        energy_import: list[StatisticData] = []
        energy_export: list[StatisticData] = []
        power: list[StatisticData] = []
        for hour in hours:
            start = dt_util.utc_from_timestamp(hour.start)
            # an hour without counter data gets no row (unknown is not zero)
            if hour.import_kwh is not None:
                energy_import.append(
                    StatisticData(start=start, state=hour.import_kwh, sum=hour.import_sum)
                )
            if hour.export_kwh is not None:
                energy_export.append(
                    StatisticData(start=start, state=hour.export_kwh, sum=hour.export_sum)
                )
            if (
                hour.power_mean is not None
                and hour.power_min is not None
                and hour.power_max is not None
            ):
                power.append(
                    StatisticData(
                        start=start, mean=hour.power_mean, min=hour.power_min, max=hour.power_max
                    )
                )
        if not self.export:
            if energy_import:
                async_add_external_statistics(
                    self.hass, self._energy_metadata(self.ids.energy_import, None), energy_import
                )
        else:
            if energy_import:
                async_add_external_statistics(
                    self.hass,
                    self._energy_metadata(self.ids.energy_import, "import"),
                    energy_import,
                )
            if energy_export:
                async_add_external_statistics(
                    self.hass,
                    self._energy_metadata(self.ids.energy_export, "export"),
                    energy_export,
                )
        if power:
            async_add_external_statistics(self.hass, self._power_metadata(), power)

    def _energy_metadata(self, statistic_id: str, direction: str | None) -> StatisticMetaData:
        return StatisticMetaData(
            mean_type=StatisticMeanType.NONE,
            has_sum=True,
            name=f"{self.name} energy" if direction is None else f"{self.name} energy {direction}",
            source=DOMAIN,
            statistic_id=statistic_id,
            unit_class=EnergyConverter.UNIT_CLASS,
            unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        )

    def _power_metadata(self) -> StatisticMetaData:
        return StatisticMetaData(
            mean_type=StatisticMeanType.ARITHMETIC,
            has_sum=False,
            name=f"{self.name} power",
            source=DOMAIN,
            statistic_id=self.ids.power,
            unit_class=PowerConverter.UNIT_CLASS,
            unit_of_measurement=UnitOfPower.WATT,
        )


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
        settled = _floor_hour(dt_util.utcnow().timestamp() - self.settle_after)
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
