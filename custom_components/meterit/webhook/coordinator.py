"""The stations of one power webhook entry: where a reading goes, and what follows from it.

A reading's way: the ``handler`` checks the request and prices its readings
(``price_source``); the ``writer`` stores them in the shared ``meterlog`` table in a group-commit
round, then hands them to :meth:`WebhookCoordinator.apply`, which feeds each station
(``station``): its live meter and its window aggregator. Closed windows go back to the writer
for the store; once stored, they feed the stations' hourly statistics (``statistics``) and the
stations' entities follow (``entity``, ``sensor``). ``restore`` saves the live state and, at
start, restores it and replays what an unclean stop lost.

Live state per station (``powerhook.StationMeter``): power, energy (left Riemann sum, each
reading holds for at most ``STATION_MAX_HOLD`` seconds: no energy across longer silences),
cost (the energy of each interval times the price of its first reading) and last seen. A station
silent for ``STATION_STALE_AFTER`` goes unavailable (logged once, and once when back); old
readings never make a station available. A station becomes a device on its first reading,
without a restart; at most ``MAX_STATIONS`` per entry, and the user may delete one's device. Each
station also feeds a ``metering.WindowAggregator`` (series ``station:<entry id>:<id>``, 30 s and
5 min windows), whose closed windows go to the store.

Entities update at most once per ``PUBLISH_INTERVAL`` seconds (the first reading of a new
station at once): a busy webhook never floods the state machine or the recorder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
import time
from typing import Final

from homeassistant.components import webhook
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_WEBHOOK_ID, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from ..const import DOMAIN, LOGGER
from ..cost import CostLink, price_entry, price_source_option, pricing_of
from ..history.query import StationHistory
from ..long_term_statistics import station_object_id
from ..metering import JsonValue, MeterStore, Reading, Window
from ..powerhook import DEFAULT_MAX_PAST, PowerReading
from .const import CONF_LOCAL_ONLY, STATION_MAX_HOLD, STATION_STALE_AFTER
from .handler import WebhookHandler
from .price_source import PriceSource, create_price_source
from .restore import SavedState
from .station import Station, new_station, station_series
from .statistics import StationStatistics
from .writer import WebhookWriter

WATCHDOG_INTERVAL: Final = timedelta(seconds=10)
SAVE_INTERVAL: Final = timedelta(minutes=1)
PUBLISH_INTERVAL: float = 1.0
"""Entities update at most this often (s); tests set it to 0."""


type WebhookConfigEntry = ConfigEntry[WebhookCoordinator]
"""A power webhook's config entry: its ``runtime_data`` is the webhook's coordinator."""


class WebhookCoordinator(DataUpdateCoordinator[Mapping[str, Station]]):
    """The stations of one power webhook entry, fed by the webhook (no polling).

    It owns its collaborators: ``handler`` (the requests), ``writer`` (the write rounds) and
    ``saved`` (the saved state).
    """

    config_entry: WebhookConfigEntry
    _station_statistics: StationStatistics | None = None
    """Hourly statistics of the stations (created when windows are first stored)."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, store: MeterStore) -> None:
        """Prepare; :meth:`async_start` loads the saved state and registers the webhook."""
        super().__init__(hass, LOGGER, config_entry=entry, name=f"{DOMAIN} webhook {entry.title}")
        self.store = store
        self.live_stations: dict[str, Station] = {}
        """The stations by ID (the collaborators change it; others read :attr:`stations`)."""
        self.data = self.live_stations
        self.local_only: bool = bool(entry.options.get(CONF_LOCAL_ONLY, True))
        self.price_source: PriceSource = PriceSource()
        self.accepted = 0
        self.rejected = 0
        self._timers: list[CALLBACK_TYPE] = []
        self._entry_id = entry.entry_id
        self._last_publish = float("-inf")
        self._unsub_publish: CALLBACK_TYPE | None = None
        self._registered = False
        self.saved = SavedState(self)
        self.writer = WebhookWriter(hass, self)
        self.handler = WebhookHandler(hass, self)

    @property
    def state_key(self) -> str:
        """The store's state key of this entry."""
        return self.saved.key

    @property
    def stations(self) -> Mapping[str, Station]:
        """The stations seen so far, by ID."""
        return self.live_stations

    def station_history(self, identifiers: set[tuple[str, str]]) -> StationHistory | None:
        """The history of the station whose device has ``identifiers`` (None: not ours).

        Used by ``history.history_source_of_device`` (the ``meterit.get_history`` action and
        the history view); the identifiers are those of :func:`station_device_info`.
        """
        entry = self.config_entry
        prefix = f"{entry.entry_id}_station_"
        for domain, identifier in identifiers:
            if domain == DOMAIN and identifier.startswith(prefix):
                station_id = identifier.removeprefix(prefix)
                return StationHistory(
                    station_series(entry.entry_id, station_id),
                    self.store,
                    f"{entry.title} station {station_id}",
                )
        return None

    @callback
    def async_remove_station(self, identifiers: set[tuple[str, str]]) -> bool:
        """The user deletes a station's device: forget the station (False: not a station).

        The station leaves the live stations and the saved state (saved at once), its entities
        go with the device, and its stored readings and windows stay. A station that posts
        again later is a new station, and a new device. Nothing here waits: Home Assistant
        removes the device as soon as this returns, before any other reading is handled.
        """
        prefix = f"{self.config_entry.entry_id}_station_"
        station_id = next(
            (
                identifier.removeprefix(prefix)
                for domain, identifier in identifiers
                if domain == DOMAIN and identifier.startswith(prefix)
            ),
            None,
        )
        if station_id is None:
            return False
        if self.live_stations.pop(station_id, None) is not None:
            LOGGER.info("Power webhook %s: station %s deleted", self.config_entry.title, station_id)
            self.saved.dirty = True
            # the entities of the station stop following it, and the sensor platform forgets
            # it (so that the station's next reading adds its entities again)
            self._publish()
            self.config_entry.async_create_background_task(
                self.hass, self.saved.async_save(), f"{DOMAIN} webhook save"
            )
        return True

    @callback
    def windows_stored(self, windows: Sequence[Window]) -> None:
        """Windows are in the store: the stations' hourly statistics follow (and the purge)."""
        statistics = self._station_statistics
        entry = self.config_entry
        if statistics is None:
            statistics = self._station_statistics = StationStatistics(
                self.hass, entry, self.store, settle_after=DEFAULT_MAX_PAST
            )
            self._link_cost(statistics)
        for station_id in self.live_stations:
            statistics.track(
                station_series(entry.entry_id, station_id),
                station_object_id(entry.entry_id, station_id),
                f"{entry.title} station {station_id}",
            )
        statistics.windows_stored(windows)

    @callback
    def _link_cost(self, statistics: StationStatistics) -> None:
        """With a PVPC entry as price source, the stations' windows are priced (cost.py)."""
        prices = price_entry(self.hass, price_source_option(self.hass, self.config_entry))
        statistics.pricing = pricing_of(prices)
        if prices is None:
            return
        link = CostLink(
            self.hass,
            self.config_entry,
            self.store,
            prices,
            importers=lambda: list(statistics.importers.values()),
            on_due=lambda importer: statistics.request(importer.series),
        )
        self.config_entry.async_create_background_task(
            self.hass, link.async_start(), f"{DOMAIN} webhook pricing"
        )

    # ------------------------------------------------------------------ lifecycle

    async def async_start(self) -> None:
        """Restore saved stations, follow the price source, register the webhook, arm timers."""
        entry = self.config_entry
        await self.saved.async_restore()
        self.price_source = create_price_source(
            self.hass, price_source_option(self.hass, entry), self.store
        )
        # Every method, and no local-only check, in the webhook component: it logs the webhook
        # ID at WARNING when it refuses a method or a remote request. Both checks are made in
        # the handler instead, the same way, without the ID.
        webhook.async_register(
            self.hass,
            DOMAIN,
            entry.title,
            entry.data[CONF_WEBHOOK_ID],
            self.handler.async_handle_webhook,
            local_only=False,
            allowed_methods=webhook.SUPPORTED_METHODS,
        )
        self._registered = True
        self._timers = [
            async_track_time_interval(self.hass, self._async_watchdog, WATCHDOG_INTERVAL),
            async_track_time_interval(self.hass, self.saved.async_save_timer, SAVE_INTERVAL),
            # Home Assistant does not unload entries when it stops: write and save then too
            self.hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, self._async_hass_stop),
        ]

    async def _async_hass_stop(self, _event: Event) -> None:
        """Home Assistant stops (the store closes after this stage): write what waits, save."""
        await self._async_flush()

    async def async_stop(self) -> None:
        """Unregister the webhook, finish pending writes, write closed windows, save state.

        Every request queued before the stop is written in the final rounds; a request that
        reaches the queue after the stop began (it was being read or priced) is refused with
        a 503 at once, and anything still queued at the end is refused too: none is left
        waiting for an answer.
        """
        self.writer.stopping = True
        if self._registered:
            webhook.async_unregister(self.hass, self.config_entry.data[CONF_WEBHOOK_ID])
            self._registered = False
        for unsub in self._timers:
            unsub()
        self._timers = []
        self.price_source.async_stop()
        if self._unsub_publish is not None:
            self._unsub_publish()
            self._unsub_publish = None
        try:
            await self._async_flush()
        finally:
            self.writer.close()

    async def _async_flush(self) -> None:
        """Write every waiting request and every window that can close, then save the state."""
        await self.writer.async_wait_drained()
        self._flush_windows(dt_util.utcnow().timestamp())
        await self.writer.async_wait_drained()
        await self.saved.async_save()

    def diagnostics(self) -> dict[str, JsonValue]:
        """Counters and stations for a bug report (the webhook ID is not in here)."""
        stations: dict[str, JsonValue] = {}
        for station_id, station in self.live_stations.items():
            meter: dict[str, JsonValue] = dict(station.meter.to_json())
            meter["available"] = station.available
            meter["ignored"] = station.meter.ignored
            meter["windows_duplicates"] = station.aggregator.duplicates
            meter["windows_out_of_order"] = station.aggregator.out_of_order
            stations[station_id] = meter
        return {
            "local_only": self.local_only,
            "price_source": type(self.price_source).__name__,
            "cost_statistics": None
            if self._station_statistics is None or self._station_statistics.pricing is None
            else self._station_statistics.pricing.key,
            "accepted_readings": self.accepted,
            "rejected_requests": self.rejected,
            "pending_windows": len(self.writer.windows),
            "stations": stations,
        }

    # ------------------------------------------------------------------ live state

    @callback
    def apply(self, readings: Sequence[PowerReading], prices: Sequence[float | None]) -> None:
        """Feed stored readings, in the order stored, to their stations and aggregators.

        (A batch is stored in time order. A restart replays the readings stored after the last
        save in the order stored: the same path, so the same totals; see ``restore``.)

        A station becomes available only when its latest reading is recent (less than
        ``STATION_STALE_AFTER`` old): a buffered batch of old readings updates its totals and
        last seen, but never shows a stale power as current.
        """
        added: list[str] = []
        changed: set[str] = set()
        for reading, price in zip(readings, prices, strict=True):
            station = self.live_stations.get(reading.station_id)
            if station is None:
                station = self.live_stations[reading.station_id] = new_station(
                    self._entry_id, reading.station_id
                )
                added.append(reading.station_id)
                LOGGER.info(
                    "Power webhook %s: new station %s", self.config_entry.title, reading.station_id
                )
            if station.meter.add(reading.time, reading.watts, price):
                self.writer.windows.extend(
                    station.aggregator.add(Reading(reading.time, reading.watts))
                )
            changed.add(reading.station_id)
        recent = time.time() - STATION_STALE_AFTER.total_seconds()
        for station_id in changed:
            station = self.live_stations[station_id]
            station.version += 1
            last = station.meter.last_time
            if not station.available and last is not None and last > recent:
                station.available = True
                if station_id not in added:
                    LOGGER.info(
                        "Power webhook %s: station %s is sending again",
                        self.config_entry.title,
                        station_id,
                    )
        self.saved.dirty = True
        if added:
            self._publish()
        else:
            self._schedule_publish()

    @callback
    def _schedule_publish(self) -> None:
        if self._unsub_publish is not None:
            return
        delay = self._last_publish + PUBLISH_INTERVAL - time.monotonic()
        if delay <= 0:
            self._publish()
        else:
            self._unsub_publish = async_call_later(self.hass, delay, self._async_publish_later)

    @callback
    def _async_publish_later(self, _now: datetime) -> None:
        self._unsub_publish = None
        self._publish()

    @callback
    def _publish(self) -> None:
        if self._unsub_publish is not None:
            self._unsub_publish()
            self._unsub_publish = None
        self._last_publish = time.monotonic()
        self.async_update_listeners()

    @callback
    def _flush_windows(self, now: float) -> None:
        """Close windows that no later reading can change."""
        for station in self.live_stations.values():
            self.writer.windows.extend(station.aggregator.flush(now - STATION_MAX_HOLD))

    @callback
    def _async_watchdog(self, _now: datetime) -> None:
        now = dt_util.utcnow().timestamp()
        stale = STATION_STALE_AFTER.total_seconds()
        changed = False
        for station_id, station in self.live_stations.items():
            silent = station.meter.silent_for(now)
            if station.available and (silent is None or silent >= stale):
                station.available = False
                station.version += 1
                changed = True
                LOGGER.warning(
                    "Power webhook %s: station %s silent for %.0f s, unavailable until it sends",
                    self.config_entry.title,
                    station_id,
                    stale if silent is None else silent,
                )
        self._flush_windows(now)
        self.writer.start_round(retry_windows=True)
        if changed:
            self._publish()
