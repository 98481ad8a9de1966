"""Exact cost: a P1 meter's or a station's windows priced from a PVPC entry of Meterit.

An entry's ``price_source`` option names the PVPC entry (``entry:<id>``) or ``none``; a P1 entry
without the option takes the one PVPC entry when there is exactly one. The windows take the
prices of the store's price table (see :mod:`.metering.pricing`) when their hours are imported
as statistics (:class:`~.long_term_statistics.StatisticsImporter`); :class:`CostLink` prices them again
when prices are stored later (ESIOS was down, or a past day asked for with ``get_prices``), asks
the PVPC entry for days still missing, and starts afresh when the price source changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .const import (
    CONF_PRICE_SOURCE,
    CONF_REGION,
    CONF_SOURCE,
    DOMAIN,
    LOGGER,
    PRICE_ENTRY_PREFIX,
    PRICE_NONE,
    SIGNAL_PRICES_STORED,
    Source,
)
from .esios import PriceKind
from .long_term_statistics import STATISTICS_RESOLUTION, Pricing, StatisticsImporter
from .metering import MeterStore, PriceRef, StoreError
from .prices.coordinator import PriceCoordinator
from .runtime import runtime_of

PRICING_INTERVAL: Final = timedelta(minutes=30)
"""How often windows are priced again from the stored prices (and missing days asked for)."""
BACKFILL: Final = timedelta(days=7)
"""How far back missing days of prices are asked for from ESIOS."""


def pvpc_entries(hass: HomeAssistant) -> list[ConfigEntry]:
    """Every PVPC prices entry of Meterit."""
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.data.get(CONF_SOURCE) == Source.PRICES
    ]


def default_price_source(hass: HomeAssistant) -> str:
    """The one PVPC entry (``entry:<id>``) when there is exactly one, else ``none``."""
    entries = pvpc_entries(hass)
    return f"{PRICE_ENTRY_PREFIX}{entries[0].entry_id}" if len(entries) == 1 else PRICE_NONE


def price_source_option(hass: HomeAssistant, entry: ConfigEntry) -> str:
    """The entry's price source: its option, or the default when it has none."""
    return str(entry.options.get(CONF_PRICE_SOURCE) or default_price_source(hass))


def price_entry(hass: HomeAssistant, option: str) -> ConfigEntry | None:
    """The PVPC entry an option names (None: ``none``, a sensor, or an entry that is gone)."""
    if not option.startswith(PRICE_ENTRY_PREFIX):
        return None
    found = hass.config_entries.async_get_entry(option.removeprefix(PRICE_ENTRY_PREFIX))
    if found is None or found.data.get(CONF_SOURCE) != Source.PRICES:
        return None
    return found


def pricing_of(prices: ConfigEntry | None) -> Pricing | None:
    """How windows are priced from a PVPC entry: its consumer and surplus prices."""
    if prices is None:
        return None
    region = str(prices.data[CONF_REGION])
    return Pricing(
        PriceRef(region, PriceKind.CONSUMER.value),
        PriceRef(region, PriceKind.SURPLUS.value),
        export_counted=bool(prices.data.get(CONF_TOKEN)),
    )


def _coordinator(prices: ConfigEntry) -> PriceCoordinator | None:
    return runtime_of(prices, PriceCoordinator)


class CostLink:
    """Keeps the priced windows of some series in step with one PVPC entry's prices.

    ``importers`` gives the statistics importers of the series (a webhook adds stations over
    time); ``on_due(importer)`` asks the owner to import what became due. A pass prices every
    unpriced window the stored prices cover and marks each importer whose windows changed; it
    runs at start, whenever the PVPC entry stores prices of its region, and on a timer, which
    also asks the PVPC entry for the missing days of the last ``backfill`` (ESIOS was down).
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        store: MeterStore,
        prices: ConfigEntry,
        *,
        importers: Callable[[], Sequence[StatisticsImporter]],
        on_due: Callable[[StatisticsImporter], None],
        interval: timedelta = PRICING_INTERVAL,
        backfill: timedelta = BACKFILL,
    ) -> None:
        """Link; nothing runs before :meth:`async_start`."""
        self.hass = hass
        self.entry = entry
        self.store = store
        self.prices = prices
        self.pricing = pricing_of(prices)
        self._importers = importers
        self._on_due = on_due
        self._interval = interval
        self._backfill = backfill
        self._begun: set[str] = set()
        self._running = False
        self.passes = 0

    async def async_start(self) -> None:
        """Start the first pass (in the background); then follow stored prices and a timer."""
        self._running = True
        self.entry.async_on_unload(self._async_stop)
        self.entry.async_on_unload(
            async_track_time_interval(self.hass, self._async_timer, self._interval)
        )
        self.entry.async_on_unload(
            async_dispatcher_connect(self.hass, SIGNAL_PRICES_STORED, self._async_stored)
        )
        self._start_pass(fetch=True)

    @callback
    def _async_stop(self) -> None:
        self._running = False

    async def _async_timer(self, _now: datetime) -> None:
        await self.async_pass(fetch=True)

    @callback
    def _async_stored(self, region: str) -> None:
        """Prices of a region were stored: price the windows waiting for them."""
        if self.pricing is not None and region == self.pricing.import_ref.region:
            self._start_pass(fetch=False)

    @callback
    def _start_pass(self, *, fetch: bool) -> None:
        if self._running:
            self.entry.async_create_background_task(
                self.hass, self.async_pass(fetch=fetch), f"{DOMAIN} pricing {self.entry.title}"
            )

    async def async_pass(self, *, fetch: bool = False) -> None:
        """One pass: windows priced from the stored prices; with ``fetch``, missing days too."""
        pricing = self.pricing
        if pricing is None or not self._running:
            return
        self.passes += 1
        since = dt_util.utcnow().timestamp() - self._backfill.total_seconds()
        for importer in self._importers():
            importer.pricing = pricing
            try:
                first = await self.hass.async_add_executor_job(self._begin, importer, pricing)
                coordinator = _coordinator(self.prices) if fetch else None
                if coordinator is not None and await self._async_fetch_missing(
                    importer, coordinator, since
                ):
                    later = await self.hass.async_add_executor_job(self._price, importer, pricing)
                    if later is not None and (first is None or later < first):
                        first = later
            except StoreError as err:
                LOGGER.debug("%s: windows not priced now: %s", self.entry.title, err)
                continue
            if first is not None:
                importer.mark(first)
                self._on_due(importer)

    def _begin(self, importer: StatisticsImporter, pricing: Pricing) -> float | None:
        """Executor: the first time, a changed price source forgets the old prices; then price.

        Returns the earliest start from which costs changed (None: none did).
        """
        store, series = self.store, importer.series
        first: float | None = None
        if series not in self._begun:
            key = f"pricing_{series}"
            saved = store.load_state(key)
            changed = saved is not None and saved.get("source") != pricing.key
            if changed and store.clear_prices(series):
                bounds = store.window_range(series, STATISTICS_RESOLUTION)
                first = None if bounds is None else bounds[0]
            if saved is None or changed:
                store.save_state(key, {"source": pricing.key})
            self._begun.add(series)
        priced = self._price(importer, pricing)
        return priced if first is None or (priced is not None and priced < first) else first

    def _price(self, importer: StatisticsImporter, pricing: Pricing) -> float | None:
        """Executor: price every unpriced window of the series the stored prices cover."""
        return self.store.price_windows(
            importer.series,
            STATISTICS_RESOLUTION,
            float("-inf"),
            float("inf"),
            import_ref=pricing.import_ref,
            export_ref=pricing.export_ref if importer.export else None,
        )

    async def _async_fetch_missing(
        self, importer: StatisticsImporter, coordinator: PriceCoordinator, since: float
    ) -> bool:
        """Ask the PVPC entry for the days of the recent unpriced windows (True: it answered)."""
        unpriced = await self.hass.async_add_executor_job(
            self.store.unpriced_range, importer.series, STATISTICS_RESOLUTION, since
        )
        if unpriced is None:
            return False
        start, end = (dt_util.utc_from_timestamp(t) for t in unpriced)
        try:
            for kind in coordinator.kinds:
                await coordinator.async_get_periods(start, end + timedelta(minutes=5), kind)
        except HomeAssistantError as err:
            LOGGER.debug("%s: missing prices not fetched now: %s", self.entry.title, err)
            return False
        return True
