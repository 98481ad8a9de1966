"""A region's prices in the integration's SQLite store: a restart without network still has them."""

from __future__ import annotations

from datetime import date

from homeassistant.core import HomeAssistant
from homeassistant.helpers.dispatcher import async_dispatcher_send

from ..const import LOGGER, SIGNAL_PRICES_STORED
from ..esios import DayPrices, PriceKind, Region, day_bounds
from ..metering import MeterStore, StoreError
from ..shared_store import async_get_store
from .data import from_points, to_points


class SavedPrices:
    """Reads and writes one region's days; a store that fails only costs the saved copy."""

    def __init__(self, hass: HomeAssistant, region: Region) -> None:
        """Not open yet: :meth:`async_open`."""
        self._hass = hass
        self._region = region
        self._store: MeterStore | None = None

    @property
    def available(self) -> bool:
        """Whether the store could be opened."""
        return self._store is not None

    async def async_open(self) -> None:
        """Open the shared store (a failure is logged: prices are kept in memory only)."""
        try:
            self._store = await async_get_store(self._hass)
        except StoreError as err:
            LOGGER.warning(
                "PVPC %s: the price store cannot be used, prices are kept in memory only: %s",
                self._region,
                err,
            )
            self._store = None

    async def async_read(self, first: date, last: date, kind: PriceKind) -> dict[date, DayPrices]:
        """The stored days from ``first`` to ``last`` (local days); none when unreadable."""
        if self._store is None:
            return {}
        start = day_bounds(first, self._region)[0].timestamp()
        end = day_bounds(last, self._region)[1].timestamp()
        try:
            points = await self._hass.async_add_executor_job(
                self._store.query_prices, self._region.value, kind.value, start, end
            )
        except StoreError as err:
            LOGGER.warning("PVPC %s: stored prices cannot be read: %s", self._region, err)
            return {}
        return from_points(points, self._region, kind)

    async def async_save(self, day: DayPrices) -> None:
        """Store a day; then windows waiting for these prices are priced (``cost.CostLink``)."""
        if self._store is None:
            return
        try:
            await self._hass.async_add_executor_job(self._store.write_prices, to_points(day))
        except StoreError as err:
            LOGGER.warning("PVPC %s: prices cannot be stored: %s", self._region, err)
            return
        async_dispatcher_send(self._hass, SIGNAL_PRICES_STORED, self._region.value)
