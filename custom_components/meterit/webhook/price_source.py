"""Where the price of a reading's time comes from: a PVPC entry, a sensor in €/kWh, or none.

The coordinator makes one from the entry's price source option (:func:`create_price_source`); the
handler asks it for the price of each reading's time before the reading is stored with it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from math import isfinite
import time
from typing import Final

from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event

from ..const import LOGGER, PRICE_ENTRY_PREFIX
from ..esios import PriceKind
from ..metering import MeterStore, StoreError
from ..prices.coordinator import PriceCoordinator
from .const import PRICE_UNITS

PRICE_HISTORY_S: Final = 2 * 86_400.0
"""How long a sensor's past prices are kept (for buffered batches)."""


class PriceSource:
    """The price (€/kWh) at a time; the base class knows no price."""

    known = False
    """Whether this source can know prices at all (a station's cost is unknown otherwise)."""

    def price_at(self, t: float) -> float | None:
        """The price in force at ``t`` (UTC unix seconds), None when unknown."""
        return None

    async def async_prices(self, times: Sequence[float]) -> list[float | None]:
        """The price at each time; never raises (an unknown price is None)."""
        return [self.price_at(t) for t in times]

    @callback
    def async_stop(self) -> None:
        """Stop listening (nothing to do here)."""


class EntryPriceSource(PriceSource):
    """The consumer price of a PVPC entry of this integration.

    Today and tomorrow come from the entry's memory; older times (buffered batches) from the
    store's price table. An entry that is not loaded gives no price.
    """

    known = True

    def __init__(self, hass: HomeAssistant, entry_id: str, store: MeterStore) -> None:
        """Follow the entry ``entry_id`` (looked up on each use: it may reload)."""
        self._hass = hass
        self._entry_id = entry_id
        self._store = store

    def _coordinator(self) -> PriceCoordinator | None:
        entry = self._hass.config_entries.async_get_entry(self._entry_id)
        runtime = getattr(entry, "runtime_data", None)
        return runtime if isinstance(runtime, PriceCoordinator) else None

    def price_at(self, t: float) -> float | None:
        """The PVPC consumer price of the period that contains ``t``."""
        if (coordinator := self._coordinator()) is None:
            return None
        period = coordinator.data.period_at(datetime.fromtimestamp(t, UTC))
        return None if period is None else period.price

    async def async_prices(self, times: Sequence[float]) -> list[float | None]:
        """Prices from memory; the misses in one store query."""
        prices = [self.price_at(t) for t in times]
        missing = [t for t, p in zip(times, prices, strict=True) if p is None]
        coordinator = self._coordinator()
        if not missing or coordinator is None:
            return prices
        try:
            points = await self._hass.async_add_executor_job(
                self._store.query_prices,
                coordinator.region.value,
                PriceKind.CONSUMER.value,
                min(missing),
                max(missing) + 1.0,
            )
        except StoreError as err:
            LOGGER.debug("Stored prices cannot be read: %s", err)
            return prices
        for index, (t, price) in enumerate(zip(times, prices, strict=True)):
            if price is None:
                prices[index] = next((p.price for p in points if p.start <= t < p.end), None)
        return prices


class SensorPriceSource(PriceSource):
    """The state of a sensor in €/kWh, with its changes remembered for past times."""

    known = True

    def __init__(self, hass: HomeAssistant, entity_id: str) -> None:
        """Start from the sensor's current state and follow its changes."""
        self._times: list[float] = []
        self._prices: list[float | None] = []
        if (state := hass.states.get(entity_id)) is not None:
            self._record(state.last_changed.timestamp(), state.state, state.attributes)
        self._unsub: CALLBACK_TYPE | None = async_track_state_change_event(
            hass, [entity_id], self._async_changed
        )

    @callback
    def _async_changed(self, event: Event[EventStateChangedData]) -> None:
        state = event.data["new_state"]
        if state is None:
            self._record(time.time(), None, {})
        else:
            self._record(state.last_changed.timestamp(), state.state, state.attributes)

    def _record(self, t: float, value: str | None, attributes: Mapping[str, object]) -> None:
        price: float | None = None
        if value is not None and attributes.get("unit_of_measurement") in PRICE_UNITS:
            try:
                price = float(value)
            except ValueError:
                price = None
            if price is not None and not isfinite(price):
                price = None
        if self._times and t < self._times[-1]:
            t = self._times[-1]
        self._times.append(t)
        self._prices.append(price)
        cut = bisect_right(self._times, t - PRICE_HISTORY_S)
        if cut > 1:
            del self._times[: cut - 1]
            del self._prices[: cut - 1]

    def price_at(self, t: float) -> float | None:
        """The sensor's value at ``t`` (None before the first known state)."""
        index = bisect_right(self._times, t) - 1
        return None if index < 0 else self._prices[index]

    @callback
    def async_stop(self) -> None:
        """Stop following the sensor."""
        if self._unsub is not None:
            self._unsub()
            self._unsub = None


def create_price_source(hass: HomeAssistant, option: str, store: MeterStore) -> PriceSource:
    """The price source an entry's option names: ``none``, ``entry:<id>`` or an entity ID."""
    if option.startswith(PRICE_ENTRY_PREFIX):
        return EntryPriceSource(hass, option.removeprefix(PRICE_ENTRY_PREFIX), store)
    if option.startswith("sensor."):
        return SensorPriceSource(hass, option)
    return PriceSource()
