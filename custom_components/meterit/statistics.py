"""Hourly external statistics from the 5-minute windows of a series (the recorder's long-term data).

Three statistics per meter, imported with ``async_add_external_statistics`` (idempotent: an hour
imported again overwrites the same ``start``):

* ``meterit:<id>_energy_import`` and ``meterit:<id>_energy_export``: kWh, ``has_sum`` (the energy
  dashboard picks these); ``state`` is the hour's energy, ``sum`` the running total.
* ``meterit:<id>_power``: W, ``mean_type`` arithmetic, with ``min`` and ``max``.

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
from .metering import HourStat, MeterStore, hourly_statistics

HOUR: Final = 3600
STATISTICS_RESOLUTION: Final = 300
"""Statistics are built from the 5-minute windows (kept forever)."""

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def statistic_object_id(identifier: str) -> str:
    """A statistic-ID-safe form of a meter identifier (lower case, ``[a-z0-9_]``).

    Runs of anything else (underscores included) become one ``_``: the recorder rejects ``__``.
    """
    slug = _NOT_SLUG.sub("_", identifier.lower()).strip("_")
    return slug or "meter"


@dataclass(frozen=True, slots=True)
class StatisticIds:
    """The three statistic IDs of one meter."""

    energy_import: str
    energy_export: str
    power: str

    @classmethod
    def of(cls, object_id: str) -> StatisticIds:
        """The IDs for ``meterit:<object_id>_...``."""
        base = f"{DOMAIN}:{statistic_object_id(object_id)}"
        return cls(f"{base}_energy_import", f"{base}_energy_export", f"{base}_power")


def _floor_hour(t: float) -> float:
    return t - t % HOUR


class StatisticsImporter:
    """Imports the hourly statistics of one series from the store; one import at a time."""

    def __init__(
        self, hass: HomeAssistant, store: MeterStore, series: str, object_id: str, name: str
    ) -> None:
        """Describe the series (``name`` prefixes the statistics' names)."""
        self.hass = hass
        self.store = store
        self.series = series
        self.ids = StatisticIds.of(object_id)
        self.name = name
        self._dirty_from: float | None = None
        self._lock = asyncio.Lock()
        self.hours_imported = 0

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
                hours = await self.hass.async_add_executor_job(self._compute, start, end)
            except BaseException:
                self.mark(start)
                raise
            self._add(hours)
            if end < complete_until:
                self.mark(end)  # the hour in progress has stored windows: due once complete
            self.hours_imported += len(hours)
            LOGGER.debug("%s: imported %d hours of statistics", self.name, len(hours))
            return len(hours)

    def _compute(self, start: float, end: float) -> list[HourStat]:
        """Executor: the hours in ``[start, end)`` with sums continuing the stored history."""
        base_import, base_export = self.store.energy_before(
            self.series, STATISTICS_RESOLUTION, start
        )
        windows = self.store.query_windows(self.series, STATISTICS_RESOLUTION, start, end)
        return hourly_statistics(windows, base_import, base_export)

    @callback
    def _add(self, hours: list[HourStat]) -> None:
        if not hours:
            return
        energy_import: list[StatisticData] = []
        energy_export: list[StatisticData] = []
        power: list[StatisticData] = []
        for hour in hours:
            start = dt_util.utc_from_timestamp(hour.start)
            energy_import.append(
                StatisticData(start=start, state=hour.import_kwh, sum=hour.import_sum)
            )
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
        async_add_external_statistics(
            self.hass, self._energy_metadata(self.ids.energy_import, "import"), energy_import
        )
        async_add_external_statistics(
            self.hass, self._energy_metadata(self.ids.energy_export, "export"), energy_export
        )
        if power:
            async_add_external_statistics(self.hass, self._power_metadata(), power)

    def _energy_metadata(self, statistic_id: str, direction: str) -> StatisticMetaData:
        return StatisticMetaData(
            mean_type=StatisticMeanType.NONE,
            has_sum=True,
            name=f"{self.name} energy {direction}",
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
