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
and the station, never the webhook ID). ``webhook.statistics.StationStatistics`` drives them from
the windows the webhook's writer stores, and purges old 30-s windows.

Sums are a pure function of the store: the running total at an hour is the energy of every window
before it (``MeterStore.energy_before``) plus the hours since. So any hour can be re-imported on
its own and gives the same numbers; when windows change (a gap fill spreads an outage's energy,
an hwLogger import adds old history) every hour from the earliest change on is imported again.
Only complete hours are imported (an hour is complete once a window ending at or after its end
has been stored).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from hashlib import sha256
import re
from typing import Final

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    get_last_statistics,
)
from homeassistant.const import UnitOfEnergy, UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter, PowerConverter

from .const import DOMAIN, LOGGER
from .metering import (
    HourCost,
    HourStat,
    MeterStore,
    PriceRef,
    Unpriced,
    hourly_statistics,
)

HOUR: Final = 3600
COST_UNIT: Final = "EUR"
"""The unit of the cost statistics (PVPC prices are in euros)."""
STATISTICS_RESOLUTION: Final = 300
"""Statistics are built from the 5-minute windows (kept forever)."""

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
