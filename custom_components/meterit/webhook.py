"""Power sensors that POST to a webhook: the handler, the coordinator and the readings view.

An ESP8266 (or anything) posts ``{"watts": 123.4, "station_id": 1}`` (or a batch of buffered
readings, see ``powerhook.body``) to ``/api/webhook/<id>``. The webhook ID is the entry's only
secret: it is never logged, never in an error, never in diagnostics (it is redacted there). For
that, the method and the local-network checks are made here, not by the webhook component (which
logs the ID at WARNING when it refuses a request).

Per request: validate everything (``powerhook.parse_body``: a bad request gets 400 with a JSON
``{"error", "field", "problem"}``), attach the price of each reading's time, store the readings in
the shared ``meterlog`` table, and only then update the live state and answer 200 with what was
stored and the current price. A request is stored whole or not at all, but for its duplicates:
a reading with its own time already stored for the entry, station and time (a batch sent again
by a sensor that missed the answer) is not stored or applied again, and the answer counts it
in ``duplicates``. Concurrent requests are written together (group commit: one job on the
webhook's writer thread and one statement for all requests waiting), so a burst costs one
SQLite commit, not one per request.

Live state per station (``powerhook.StationMeter``): power, energy (left Riemann sum, each
reading holds for at most ``STATION_MAX_HOLD`` seconds: no energy across longer silences),
cost (the energy of each interval times the price of its first reading) and last seen. A station
silent for ``STATION_STALE_AFTER`` goes unavailable (logged once, and once when back); old
readings never make a station available. A station becomes a device on its first reading,
without a restart; at most ``MAX_STATIONS`` per entry, and the user may delete one's device. Each station also feeds a
``metering.WindowAggregator`` (series ``station:<entry id>:<id>``, 30 s and 5 min windows), whose
closed windows go to the store. Live state and the aggregators' snapshots are saved in the store
(every minute and on unload), so totals continue after a restart; after an unclean stop, the
readings stored after the last save are replayed from the meterlog (see ``_async_restore``).

Entities update at most once per ``PUBLISH_INTERVAL`` seconds (the first reading of a new
station at once): a busy webhook never floods the state machine or the recorder.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from http import HTTPStatus
from ipaddress import ip_address
import json
import logging
from math import isfinite
import time
from typing import TYPE_CHECKING, Final

from aiohttp import StreamReader, hdrs, web
from homeassistant.components import webhook
from homeassistant.const import CONF_WEBHOOK_ID, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.event import (
    async_call_later,
    async_track_state_change_event,
    async_track_time_interval,
)
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.network import NoURLAvailableError, is_cloud_connection
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.helpers.update_coordinator import CoordinatorEntity, DataUpdateCoordinator
from homeassistant.util import dt as dt_util, network as network_util
from homeassistant.util.hass_dict import HassKey
import probatio

from .const import (
    CONF_PRICE_SOURCE,
    CONF_SOURCE,
    DOMAIN,
    LOGGER,
    MAX_STATIONS,
    PRICE_ENTRY_PREFIX,
    PRICE_NONE,
    Source,
)
from .cost import CostLink, default_price_source, price_entry, price_source_option, pricing_of
from .esios import PriceKind
from .history.query import StationHistory
from .metering import (
    InvalidRecordError,
    InvalidSnapshotError,
    JsonValue,
    MeterlogRow,
    MeterStore,
    PreparedReadings,
    Reading,
    SerialWorker,
    StoreError,
    StoreUnavailableError,
    Window,
    WindowAggregator,
    prepare_reading,
    prepare_readings,
)
from .metering.gapfill import WindowBatch
from .metering.pending import keep_recent
from .powerhook import (
    DEFAULT_MAX_PAST,
    MAX_BODY_BYTES,
    BodyError,
    InvalidStationStateError,
    PowerReading,
    StationMeter,
    check_content_length,
    check_content_type,
    parse_body,
    parse_station_id,
)
from .prices.coordinator import PriceCoordinator
from .statistics import StationStatistics, station_object_id
from .storage import async_get_store
from .webhook_url import webhook_url

if TYPE_CHECKING:
    from .entry import MeteritConfigEntry

CONF_LOCAL_ONLY: Final = "local_only"
PRICE_UNITS: Final = frozenset({"€/kWh", "EUR/kWh"})
PRICE_UNIT: Final = "€/kWh"

STATION_MAX_HOLD: Final = 60.0
"""A reading's power holds for at most this long (s) in energy and windows."""
STATION_STALE_AFTER: Final = timedelta(seconds=120)
"""A station without a reading for this long is unavailable."""
WATCHDOG_INTERVAL: Final = timedelta(seconds=10)
SAVE_INTERVAL: Final = timedelta(minutes=1)
PUBLISH_INTERVAL: float = 1.0
"""Entities update at most this often (s); tests set it to 0."""
ROUND_INTERVAL: float = 0.002
"""Write rounds start at most this often (s): under load one commit carries more requests, which
costs the writer thread less; a request that finds the writer idle long enough never waits for
it. Tests set it to 0 (its own test sets it back)."""
MAX_CACHED_ANSWERS: Final = 64
MAX_CACHED_REMOTES: Final = 256
"""Remote addresses whose local-only check is kept (the cache is emptied when full)."""
PRICE_HISTORY_S: Final = 2 * 86_400.0
STATE_VERSION: Final = 1
STATE_REFRESH_S: Final = 3600.0
"""The state is saved at least this often (s), also without new readings: the time of the last
save bounds how far back a restart looks for readings stored after it."""
REPLAY_MARGIN_S: Final = 3600.0
"""Readings stored after the last save may be this much older than the webhook accepts
(``DEFAULT_MAX_PAST`` before the save): a request may have waited for its write round."""

READINGS_VIEW_URL: Final = "/api/meterit/readings"
MAX_PAGE: Final = 1_000
MAX_OFFSET: Final = 1_000_000_000
_DATA_VIEW: HassKey[bool] = HassKey(f"{DOMAIN}_readings_view")


def station_series(entry_id: str, station_id: str) -> str:
    """The windows' series name of a station of the webhook entry ``entry_id``.

    Per entry: two webhook entries may both have a station ``1``. (A station ID has no ``:``.)
    """
    return f"station:{entry_id}:{station_id}"


def example_body(station_id: int = 1, watts: float = 123.4) -> str:
    """The JSON a sensor posts (shown in the config flow and the README)."""
    return json.dumps({"watts": watts, "station_id": station_id})


# ---------------------------------------------------------------------- prices


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


# ---------------------------------------------------------------------- coordinator


@dataclass(slots=True)
class Station:
    """One station's live state, its window aggregator, and whether it is available.

    Available only while its latest reading is less than ``STATION_STALE_AFTER`` old (a new
    station whose first readings are old ones is not).
    """

    meter: StationMeter
    aggregator: WindowAggregator
    available: bool = False
    version: int = 0


@dataclass(slots=True)
class _Request:
    """One request waiting for its round: its checked rows, its readings, the handler's future.

    ``readings`` and ``prices`` are in the order of ``rows`` (a batch's by time); ``checked``
    names the rows (readings with the sensor's own time) not stored again when already stored
    (a batch sent again). The future gets the number of readings stored.
    """

    rows: PreparedReadings
    readings: Sequence[PowerReading]
    prices: Sequence[float | None]
    future: asyncio.Future[int]
    checked: Sequence[int] = ()


@dataclass(slots=True)
class _Outcome:
    """What a write round did: an error per request (None: stored), and the windows."""

    errors: list[Exception | None]
    windows_written: bool
    window_error: Exception | None = None
    unexpected: Exception | None = None
    """A bug rather than a store failure (logged with its traceback, once)."""
    last_id: int = 0
    """The meterlog ``id`` of the round's last reading (0: none stored)."""
    kept: list[list[int] | None] | None = None
    """Per request, the indexes of its rows stored (None: all; the duplicates are left out)."""


def _new_station(entry_id: str, station_id: str) -> Station:
    return Station(
        StationMeter(station_id, STATION_MAX_HOLD),
        WindowAggregator(station_series(entry_id, station_id), max_weight=STATION_MAX_HOLD),
    )


class WebhookCoordinator(DataUpdateCoordinator[Mapping[str, Station]]):
    """The stations of one power webhook entry, fed by the webhook (no polling)."""

    config_entry: MeteritConfigEntry
    _station_statistics: StationStatistics | None = None
    """Hourly statistics of the stations (created when windows are first stored)."""

    def __init__(self, hass: HomeAssistant, entry: MeteritConfigEntry, store: MeterStore) -> None:
        """Prepare; :meth:`async_start` loads the saved state and registers the webhook."""
        super().__init__(hass, LOGGER, config_entry=entry, name=f"{DOMAIN} webhook {entry.title}")
        self.store = store
        self._stations: dict[str, Station] = {}
        self.data = self._stations
        self.local_only: bool = bool(entry.options.get(CONF_LOCAL_ONLY, True))
        self.price_source: PriceSource = PriceSource()
        self.accepted = 0
        self.rejected = 0
        self._now_answers: dict[float | None, bytes] = {}
        self._pending: list[_Request] = []
        self._windows = WindowBatch()
        self._worker = SerialWorker(f"{DOMAIN} webhook writer")
        self._round_running = False
        self._closed = False
        self._timers: list[CALLBACK_TYPE] = []
        self._last_round = float("-inf")
        self._round_timer: asyncio.TimerHandle | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._hold_windows = False
        self._windows_failing = False
        self._readings_failing = False
        self._dirty = False
        self._save_lock = asyncio.Lock()
        """One save at a time: a later state is never overwritten by an earlier one."""
        self._entry_id = entry.entry_id
        self._applied_id = 0
        """The meterlog ``id`` up to which this entry's readings are in the live state."""
        self._last_saved = float("-inf")
        self._last_publish = float("-inf")
        self._unsub_publish: CALLBACK_TYPE | None = None
        self._registered = False
        self._stopping = False
        self._incoming: dict[str, int] = {}
        """New stations of requests under way (not yet applied), with how many requests."""
        self._cap_logged = False
        self._remote_logged = False
        # remote address -> local or not: the address is parsed once, not on every request
        self._local_remotes: dict[str, bool] = {}

    @property
    def state_key(self) -> str:
        """The store's state key of this entry."""
        return f"webhook_{self.config_entry.entry_id}"

    @property
    def stations(self) -> Mapping[str, Station]:
        """The stations seen so far, by ID."""
        return self._stations

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
        if self._stations.pop(station_id, None) is not None:
            LOGGER.info("Power webhook %s: station %s deleted", self.config_entry.title, station_id)
            self._dirty = True
            # the entities of the station stop following it, and the sensor platform forgets
            # it (so that the station's next reading adds its entities again)
            self._publish()
            self.config_entry.async_create_background_task(
                self.hass, self._async_save(), f"{DOMAIN} webhook save"
            )
        return True

    @callback
    def _windows_stored(self, windows: Sequence[Window]) -> None:
        """Windows are in the store: the stations' hourly statistics follow (and the purge)."""
        statistics = self._station_statistics
        entry = self.config_entry
        if statistics is None:
            statistics = self._station_statistics = StationStatistics(
                self.hass, entry, self.store, settle_after=DEFAULT_MAX_PAST
            )
            self._link_cost(statistics)
        for station_id in self._stations:
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
        await self._async_restore()
        self.price_source = create_price_source(
            self.hass, price_source_option(self.hass, entry), self.store
        )
        # Every method, and no local-only check, in the webhook component: it logs the webhook
        # ID at WARNING when it refuses a method or a remote request. Both checks are made in
        # async_handle_webhook instead, the same way, without the ID.
        webhook.async_register(
            self.hass,
            DOMAIN,
            entry.title,
            entry.data[CONF_WEBHOOK_ID],
            self.async_handle_webhook,
            local_only=False,
            allowed_methods=webhook.SUPPORTED_METHODS,
        )
        self._registered = True
        self._timers = [
            async_track_time_interval(self.hass, self._async_watchdog, WATCHDOG_INTERVAL),
            async_track_time_interval(self.hass, self._async_save_timer, SAVE_INTERVAL),
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
        self._stopping = True
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
            self._cancel_round_timer()
            self._closed = True
            pending, self._pending = self._pending, []
            stopped = StoreUnavailableError("the webhook is stopped")
            for request in pending:
                if not request.future.done():
                    request.future.set_exception(stopped)
            self._worker.stop()

    async def _async_flush(self) -> None:
        """Write every waiting request and every window that can close, then save the state."""
        await self._async_wait_drained()
        self._flush_windows(dt_util.utcnow().timestamp())
        await self._async_wait_drained()
        await self._async_save()

    async def _async_restore(self) -> None:
        """Restore the saved stations, then replay the readings stored after that save.

        The state is saved every minute; an unclean stop (a crash, a power cut) loses what
        came after, but those readings are in the meterlog. The ones of this entry stored after
        the save (``meterlog_id``: the last one the saved state holds) go through the stations'
        meters and aggregators again, in the order they were stored and with the prices they
        were stored with, so energy and cost continue where they were (a ``total_increasing``
        sensor must not go down) and their windows are written again. That is exactly what the
        live path did: it applies the readings in the order they are stored (each batch sorted
        by time before it is stored, see ``_async_handle`` and ``_apply``). Without any
        saved state (a new entry, or one stopped before its first save) the readings of the
        last ``DEFAULT_MAX_PAST`` are replayed. Availability follows the restored last
        readings: a station silent for too long stays unavailable.

        Raises ``StoreError`` when the saved state cannot be read (setup is retried): starting
        afresh would save empty totals over the good ones at the next minute's save.
        """
        title = self.config_entry.title
        saved = await self.hass.async_add_executor_job(self.store.load_state, self.state_key)
        started = time.time()
        after_id = 0
        since: float | None = started - DEFAULT_MAX_PAST - REPLAY_MARGIN_S
        if saved is not None:
            raw = saved.get("stations")
            if saved.get("version") == STATE_VERSION and isinstance(raw, dict):
                self._restore_stations(raw)
                after_id, since = _replay_mark(saved)
            else:
                LOGGER.warning(
                    "Power webhook %s: saved state has an unknown format, starting afresh", title
                )
                since = None
            if since is not None:
                self._last_saved = since
                since -= DEFAULT_MAX_PAST + REPLAY_MARGIN_S
        # (since None: what is missing is unknown, nothing is replayed; the mark is taken)
        await self._async_replay(after_id, started if since is None else since)
        now = dt_util.utcnow().timestamp()
        stale = STATION_STALE_AFTER.total_seconds()
        for station in self._stations.values():
            silent = station.meter.silent_for(now)
            station.available = silent is not None and silent < stale

    def _restore_stations(self, raw: Mapping[str, JsonValue]) -> None:
        for key, value in raw.items():
            try:
                station_id = parse_station_id(key)
                station = _restore_station(self._entry_id, station_id, value)
            except (BodyError, InvalidStationStateError, InvalidSnapshotError) as err:
                LOGGER.warning(
                    "Power webhook %s: saved station skipped: %s", self.config_entry.title, err
                )
                continue
            self._stations[station_id] = station

    async def _async_replay(self, after_id: int, since: float) -> None:
        """Apply this entry's readings stored after meterlog ``id`` ``after_id`` (see above)."""
        title = self.config_entry.title
        try:
            replay = await self.hass.async_add_executor_job(self._replay, after_id, since)
        except StoreError as err:
            LOGGER.warning(
                "Power webhook %s: readings stored after the last saved state cannot be read, "
                "totals may miss them: %s",
                title,
                err,
            )
            self._applied_id = after_id
            return
        self._applied_id = max(after_id, replay.last_id)
        if replay.readings:
            LOGGER.info(
                "Power webhook %s: %d reading(s) stored after the last saved state replayed",
                title,
                replay.readings,
            )
            self._windows.extend(replay.windows)
            self._dirty = True
        if replay.skipped:
            LOGGER.warning(
                "Power webhook %s: %d stored reading(s) not replayed: %s",
                title,
                replay.skipped,
                "unusable, or of a station beyond the limit",
            )

    def _replay(self, after_id: int, since: float) -> _Replay:
        """Executor: read the readings to replay and feed them to the stations.

        Runs before the webhook is registered and the stations are published: nothing else
        touches them meanwhile. The path of each reading is the one :meth:`_apply` takes (the
        station's meter, then its aggregator when the meter took it).
        """
        rows, last_id = self.store.entry_readings_after(self._entry_id, after_id, since)
        stations = self._stations
        windows = WindowBatch()
        applied = skipped = 0
        for row in rows:
            t, watts, price = row.time, row.watts, row.price
            if not (_finite_float(t) and _finite_float(watts)) or not (
                price is None or _finite_float(price)
            ):
                skipped += 1
                continue
            station = stations.get(row.station_id)
            if station is None:
                try:
                    station_id = parse_station_id(row.station_id)
                except BodyError:
                    station_id = ""
                if station_id != row.station_id or len(stations) >= MAX_STATIONS:
                    skipped += 1
                    continue
                station = stations[station_id] = _new_station(self._entry_id, station_id)
            applied += 1
            if station.meter.add(t, watts, price):
                windows.extend(station.aggregator.add(Reading(t, watts)))
        return _Replay(applied, skipped, windows, last_id)

    def _state_json(self) -> dict[str, JsonValue]:
        stations: dict[str, JsonValue] = {}
        for station_id, station in self._stations.items():
            meter: dict[str, JsonValue] = dict(station.meter.to_json())
            stations[station_id] = {"meter": meter, "aggregator": station.aggregator.snapshot()}
        return {
            "version": STATE_VERSION,
            "stations": stations,
            # the readings this state holds: a restart replays the later ones (_async_restore)
            "meterlog_id": self._applied_id,
            "saved_at": time.time(),
        }

    async def _async_save(self) -> None:
        """Save the live state as it is now (after any save already under way)."""
        async with self._save_lock:
            state = self._state_json()
            self._dirty = False  # (what changes while this one is written makes it dirty again)
            try:
                await self.hass.async_add_executor_job(self.store.save_state, self.state_key, state)
            except StoreError as err:
                self._dirty = True
                LOGGER.warning(
                    "Power webhook %s: state not saved: %s", self.config_entry.title, err
                )
            else:
                self._last_saved = time.time()

    async def _async_save_timer(self, _now: datetime) -> None:
        # also hourly without readings: a restart looks for readings from the last save on
        if self._dirty or time.time() - self._last_saved >= STATE_REFRESH_S:
            await self._async_save()

    def diagnostics(self) -> dict[str, JsonValue]:
        """Counters and stations for a bug report (the webhook ID is not in here)."""
        stations: dict[str, JsonValue] = {}
        for station_id, station in self._stations.items():
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
            "pending_windows": len(self._windows),
            "stations": stations,
        }

    # ------------------------------------------------------------------ the webhook

    async def async_handle_webhook(
        self, hass: HomeAssistant, webhook_id: str, request: web.Request
    ) -> web.Response:
        """Check the method and the network; validate, price, store, then apply one request.

        Never raises, never logs the ID (the webhook is registered for every method and without
        the webhook component's local-only check, which log it: both are made here).
        """
        method = request.method
        if method not in _METHODS:
            return _method_not_allowed(method)
        if self.local_only and not self._is_local(request):
            return web.Response(status=HTTPStatus.OK)  # (as the webhook component answers)
        try:
            return await self._async_handle(request)
        except Exception:  # noqa: BLE001 - the webhook component would log the secret ID
            LOGGER.exception("Power webhook %s: unexpected error", self.config_entry.title)
            return _json_response(
                {"error": "internal_error", "problem": "unexpected error, see the log"},
                HTTPStatus.INTERNAL_SERVER_ERROR,
            )

    def _is_local(self, request: web.Request) -> bool:
        """The webhook component's local-only check, made the same way.

        Local: not through Home Assistant Cloud, and a remote address that
        ``network_util.is_local`` accepts (kept per address: it never changes). A refused
        request is logged once per load (later ones at debug level), without the ID.
        """
        remote = request.remote
        local = False
        if not (is_cloud_connection(self.hass) or remote is None):
            known = self._local_remotes.get(remote)
            if known is None:
                try:
                    known = network_util.is_local(ip_address(remote))
                except ValueError:
                    known = False
                if len(self._local_remotes) >= MAX_CACHED_REMOTES:
                    self._local_remotes.clear()
                self._local_remotes[remote] = known
            local = known
        if not local:
            LOGGER.log(
                logging.DEBUG if self._remote_logged else logging.WARNING,
                "Power webhook %s: a request from %s was ignored: it is not from the local "
                "network (see the option 'only accept requests from the local network')",
                self.config_entry.title,
                "Home Assistant Cloud" if is_cloud_connection(self.hass) else remote,
            )
            self._remote_logged = True
        return local

    async def _async_handle(self, request: web.Request) -> web.Response:
        now = time.time()  # (what dt_util.utcnow() gives, without a datetime)
        try:
            check_content_type(request.headers.get(hdrs.CONTENT_TYPE))
            declared = _declared_length(request.headers.get(hdrs.CONTENT_LENGTH))
            check_content_length(declared)
            raw = await _read_body(request, declared)
            readings = parse_body(raw, now=now)
        except BodyError as err:
            self.rejected += 1
            return _bad_request(err)
        stations = self._stations
        if len(readings) == 1:
            station_id = readings[0].station_id
            new: Sequence[str] = () if station_id in stations else (station_id,)
        else:
            new = list(
                dict.fromkeys(r.station_id for r in readings if r.station_id not in stations)
            )
        if new and (refused := self._admit(readings, new)) is not None:
            self.rejected += 1
            return _bad_request(refused)
        try:  # (the new stations are released whatever happens)
            prices = await self.price_source.async_prices([r.time for r in readings])
            # checked here, not in the writer thread: it holds the GIL as briefly as possible
            if len(readings) == 1:
                first = readings[0]
                rows = prepare_reading(
                    first.time,
                    first.station_id,
                    first.watts,
                    prices[0],
                    entry=self._entry_id,
                    sent=first.sent,
                )
                checked = _ONE if first.timed else ()
                queued = _Request(rows, readings, prices, self.hass.loop.create_future(), checked)
            else:
                # stored in time order, the order they are applied in (a restart replays them
                # in the order stored)
                pairs = sorted(zip(readings, prices, strict=True), key=_reading_time)
                entry_id = self._entry_id
                rows = prepare_readings(
                    MeterlogRow(r.time, r.station_id, r.watts, p, entry=entry_id, sent=r.sent)
                    for r, p in pairs
                )
                queued = _Request(
                    rows,
                    [r for r, _ in pairs],
                    [p for _, p in pairs],
                    self.hass.loop.create_future(),
                    [index for index, (r, _) in enumerate(pairs) if r.timed],
                )
            try:
                stored = await self._async_write(queued)
            except StoreError:  # logged once per outage by the writer's round
                return _json_response(
                    {
                        "error": "store_unavailable",
                        "problem": "readings not stored, send them again",
                    },
                    HTTPStatus.SERVICE_UNAVAILABLE,
                )
        finally:
            if new:
                self._release(new)
        # the body's own time (even one moved back to the arrival) gets the readings back
        if len(readings) == 1 and not readings[0].timed:
            return _json_answer(self._now_answer(prices[0]))
        return _json_response(self._answer(readings, prices, now, stored), HTTPStatus.OK)

    def _admit(self, readings: Sequence[PowerReading], new: Sequence[str]) -> BodyError | None:
        """Count the new stations of a request against :data:`MAX_STATIONS` (None: admitted).

        New stations of requests under way count too (their readings are not applied yet), so
        that concurrent requests cannot pass the limit together; existing stations always pass.
        """
        incoming = self._incoming
        stations = self._stations
        taken = len(stations) + sum(1 for s in incoming if s not in stations)
        for station_id in new:
            if station_id in incoming:
                continue
            if taken >= MAX_STATIONS:
                index = next(i for i, r in enumerate(readings) if r.station_id == station_id)
                field = "station_id" if len(readings) == 1 else f"readings[{index}].station_id"
                LOGGER.log(
                    logging.DEBUG if self._cap_logged else logging.WARNING,
                    "Power webhook %s: readings of a new station %s refused: the webhook has its "
                    "limit of %d stations (delete the devices of stations no longer used)",
                    self.config_entry.title,
                    station_id,
                    MAX_STATIONS,
                )
                self._cap_logged = True
                return BodyError(
                    field,
                    f"station {station_id!r} is new and this webhook already has its limit of "
                    f"{MAX_STATIONS} stations (delete unused station devices in Home Assistant)",
                )
            taken += 1
        for station_id in new:
            incoming[station_id] = incoming.get(station_id, 0) + 1
        return None

    def _release(self, new: Sequence[str]) -> None:
        """A request admitted by :meth:`_admit` is done (stored and applied, or refused)."""
        incoming = self._incoming
        for station_id in new:
            if (count := incoming.get(station_id, 0)) <= 1:
                incoming.pop(station_id, None)
            else:
                incoming[station_id] = count - 1

    def _now_answer(self, price: float | None) -> bytes:
        """The answer to one reading taken now (the usual request): encoded once per price.

        It stays small (a sensor posting every few seconds parses it) and the price, the one
        the reading was stored with, changes at most a few times an hour.
        """
        body = self._now_answers.get(price)
        if body is None:
            if len(self._now_answers) >= MAX_CACHED_ANSWERS:
                self._now_answers.clear()
            body = _ENCODER.encode({"stored": 1, "price": price, "unit": PRICE_UNIT}).encode()
            self._now_answers[price] = body
        return body

    def _answer(
        self,
        readings: Sequence[PowerReading],
        prices: Sequence[float | None],
        now: float,
        stored: int,
    ) -> dict[str, object]:
        """What was stored, the duplicates left out, the price now, each reading with its price.

        A duplicate is a reading with its own time that is already stored (a batch sent again).
        """
        return {
            "stored": stored,
            "duplicates": len(readings) - stored,
            "price": self.price_source.price_at(now),
            "unit": PRICE_UNIT,
            "readings": [
                {"station_id": r.station_id, "time": _iso(r.time), "watts": r.watts, "price": p}
                for r, p in zip(readings, prices, strict=True)
            ],
        }

    # ------------------------------------------------------------------ writing (group commit)
    #
    # One round at a time: a round takes every request waiting and every closed window, writes
    # them in one job on the writer thread (one INSERT for the readings), and the thread hands
    # the outcome straight back to the event loop (``call_soon_threadsafe``): the requests are
    # answered in the next loop iteration, and the next round (what arrived meanwhile) starts at
    # once, or ROUND_INTERVAL after the last one. No task sits between the two: on a busy webhook
    # each hop through the event loop is latency every waiting request pays.

    async def _async_write(self, request: _Request) -> int:
        """Queue a request for the next round and wait until it is stored (or raise StoreError).

        Once stored, its readings are applied to the live state before it is answered. Returns
        how many of its readings were stored (the others were duplicates).
        """
        if self._stopping:  # (the final rounds take only what was queued before the stop)
            raise StoreUnavailableError("the webhook is stopped")
        self._pending.append(request)
        if len(self._pending) == 1 and not self._round_running:
            # start at the end of this loop iteration: requests read together go together
            self.hass.loop.call_soon(self._start_round)
        return await request.future

    @callback
    def _start_round(self, *, retry_windows: bool = False) -> None:
        """Start a round unless one is running or there is nothing to write.

        Windows held back after a failure go with the next request, or when ``retry_windows``
        (the watchdog, the stop) asks for them.
        """
        if self._round_running or self._closed:
            return
        windows_due = bool(self._windows) and (retry_windows or not self._hold_windows)
        if not self._pending and not windows_due:
            return
        now = self.hass.loop.time()
        if not retry_windows and (wait := self._last_round + ROUND_INTERVAL - now) > 0:
            if self._round_timer is None:
                self._round_timer = self.hass.loop.call_later(wait, self._round_timer_fired)
            return
        self._cancel_round_timer()
        self._last_round = now
        batch, self._pending = self._pending, []
        windows, self._windows = self._windows, WindowBatch()
        self._hold_windows = False
        self._worker.submit(partial(self._write_round, batch, windows))
        self._round_running = True
        self._idle.clear()

    @callback
    def _round_timer_fired(self) -> None:
        self._round_timer = None
        self._start_round()

    @callback
    def _cancel_round_timer(self) -> None:
        if self._round_timer is not None:
            self._round_timer.cancel()
            self._round_timer = None

    def _write_round(self, batch: list[_Request], windows: WindowBatch) -> None:
        """Writer thread: write one round, then hand its outcome to the event loop."""
        try:
            outcome = self._write(batch, windows)
        except Exception as err:  # noqa: BLE001 - every waiting request must get an answer
            outcome = _Outcome([err] * len(batch), windows_written=False, unexpected=err)
        try:
            self.hass.loop.call_soon_threadsafe(self._round_done, batch, windows, outcome)
        except RuntimeError:  # the event loop is closed: Home Assistant is gone
            return

    def _write(self, batch: list[_Request], windows: WindowBatch) -> _Outcome:
        """Writer thread: readings (their failure fails the requests), then windows (it does not).

        Once the readings are committed nothing can fail the requests any more: whatever goes
        wrong with the windows is reported with them.
        """
        kept: list[list[int] | None] | None = None
        try:
            if any(request.checked for request in batch):
                # readings with their own time: one sent again is not stored again
                last_id, kept = self.store.add_prepared_once(
                    [request.rows for request in batch], [request.checked for request in batch]
                )
            else:
                last_id = self.store.add_prepared(*(request.rows for request in batch))
        except StoreError as err:
            return _Outcome([err] * len(batch), windows_written=False)
        window_error: Exception | None = None
        if windows:
            try:
                self.store.write_windows(windows)
            except Exception as err:  # noqa: BLE001 - reported on the event loop
                window_error = err
        return _Outcome(
            [None] * len(batch),
            windows_written=window_error is None,
            window_error=window_error,
            last_id=last_id,
            kept=kept,
        )

    @callback
    def _round_done(self, batch: list[_Request], windows: WindowBatch, outcome: _Outcome) -> None:
        """Apply what was stored, answer the requests, settle the windows, start the next round.

        The readings the round stored go to the stations at once, in the order stored (a
        restart replays them in that order), also those of a request whose client went away:
        they are stored. Duplicates left out are not applied again. Whatever fails here, the
        next round starts: one bad round never stalls the webhook.
        """
        try:
            readings: list[PowerReading] = []
            prices: list[float | None] = []
            refused: list[_Request] = []
            kept = outcome.kept or [None] * len(batch)
            for request, error, rows in zip(batch, outcome.errors, kept, strict=True):
                if error is None:
                    if rows is None:
                        readings.extend(request.readings)
                        prices.extend(request.prices)
                        count = request.rows.count
                    else:
                        readings.extend(request.readings[index] for index in rows)
                        prices.extend(request.prices[index] for index in rows)
                        count = len(rows)
                    self.accepted += count
                    if not request.future.done():
                        request.future.set_result(count)
                else:
                    refused.append(request)
            self._readings_done(refused, outcome)
            if readings:
                self._apply(readings, prices)
                # the state saved from now on holds them: a restart replays only later ones
                self._applied_id = max(self._applied_id, outcome.last_id)
            if windows:
                self._windows_done(windows, outcome)
        except Exception:  # noqa: BLE001 - logged; the webhook must go on
            LOGGER.exception("Power webhook %s: a write round failed", self.config_entry.title)
        finally:
            self._round_running = False
            self._start_round()
            if not self._round_running:
                self._idle.set()

    @callback
    def _readings_done(self, refused: list[_Request], outcome: _Outcome) -> None:
        """Answer the refused requests (503: send again); log once per outage, not per request."""
        if not refused:
            if self._readings_failing and outcome.errors:
                self._readings_failing = False
                LOGGER.info("Power webhook %s: readings stored again", self.config_entry.title)
            return
        error: Exception = next(e for e in outcome.errors if e is not None)
        if outcome.unexpected is not None:
            LOGGER.error(
                "Power webhook %s: %d request(s) not stored, unexpected error",
                self.config_entry.title,
                len(refused),
                exc_info=outcome.unexpected,
            )
            error = StoreUnavailableError("unexpected error, see the log")
        elif not self._readings_failing:
            LOGGER.warning(
                "Power webhook %s: readings not stored, answering 503 until the store works: %s",
                self.config_entry.title,
                error,
            )
        self._readings_failing = True
        for request in refused:
            if not request.future.done():
                request.future.set_exception(error)

    async def _async_wait_drained(self) -> None:
        """Wait until every queued request and window has had its round."""
        self._start_round(retry_windows=True)
        while (self._round_running or self._pending) and not self._closed:
            if not self._round_running:  # a round held back by ROUND_INTERVAL: go now
                self._start_round(retry_windows=True)
            await self._idle.wait()

    @callback
    def _windows_done(self, windows: WindowBatch, outcome: _Outcome) -> None:
        if outcome.windows_written:
            self._windows_stored(windows)
            if self._windows_failing:
                self._windows_failing = False
                LOGGER.info("Power webhook %s: windows stored again", self.config_entry.title)
            return
        error = outcome.window_error
        if isinstance(error, InvalidRecordError) or (
            error is not None and not isinstance(error, StoreError)
        ):
            # retrying cannot help, and would hold back every later window: drop them
            LOGGER.error(
                "Power webhook %s: %d window(s) dropped: %s",
                self.config_entry.title,
                len(windows),
                error,
                exc_info=None if isinstance(error, StoreError) else error,
            )
            return
        if error is not None and not self._windows_failing:
            self._windows_failing = True
            LOGGER.warning(
                "Power webhook %s: windows not stored, retrying: %s", self.config_entry.title, error
            )
        # kept until stored (a long outage's gap windows are lazy runs); only 30-s windows the
        # store would purge anyway are dropped
        windows.extend(self._windows)
        self._windows = keep_recent(windows, time.time())
        self._hold_windows = True

    # ------------------------------------------------------------------ live state

    @callback
    def _apply(self, readings: Sequence[PowerReading], prices: Sequence[float | None]) -> None:
        """Feed stored readings, in the order stored, to their stations and aggregators.

        (A batch is stored in time order. A restart replays the readings stored after the last
        save in the order stored: the same path, so the same totals; see ``_async_restore``.)

        A station becomes available only when its latest reading is recent (less than
        ``STATION_STALE_AFTER`` old): a buffered batch of old readings updates its totals and
        last seen, but never shows a stale power as current.
        """
        added: list[str] = []
        changed: set[str] = set()
        for reading, price in zip(readings, prices, strict=True):
            station = self._stations.get(reading.station_id)
            if station is None:
                station = self._stations[reading.station_id] = _new_station(
                    self._entry_id, reading.station_id
                )
                added.append(reading.station_id)
                LOGGER.info(
                    "Power webhook %s: new station %s", self.config_entry.title, reading.station_id
                )
            if station.meter.add(reading.time, reading.watts, price):
                self._windows.extend(station.aggregator.add(Reading(reading.time, reading.watts)))
            changed.add(reading.station_id)
        recent = time.time() - STATION_STALE_AFTER.total_seconds()
        for station_id in changed:
            station = self._stations[station_id]
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
        self._dirty = True
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
        for station in self._stations.values():
            self._windows.extend(station.aggregator.flush(now - STATION_MAX_HOLD))

    @callback
    def _async_watchdog(self, _now: datetime) -> None:
        now = dt_util.utcnow().timestamp()
        stale = STATION_STALE_AFTER.total_seconds()
        changed = False
        for station_id, station in self._stations.items():
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
        self._start_round(retry_windows=True)
        if changed:
            self._publish()


@dataclass(slots=True)
class _Replay:
    """What :meth:`WebhookCoordinator._replay` did."""

    readings: int
    skipped: int
    windows: WindowBatch
    last_id: int


_ONE: Final = (0,)
"""``_Request.checked`` of a single reading with its own time."""


def _reading_time(pair: tuple[PowerReading, float | None]) -> float:
    return pair[0].time


def _finite_float(value: object) -> bool:
    return isinstance(value, float) and isfinite(value)


def _replay_mark(saved: Mapping[str, JsonValue]) -> tuple[int, float | None]:
    """The meterlog ``id`` a saved state holds readings up to, and when it was saved.

    ``(0, None)`` when the state has no usable mark: nothing can be replayed after it.
    """
    last_id = saved.get("meterlog_id")
    saved_at = saved.get("saved_at")
    if (
        isinstance(last_id, int)
        and not isinstance(last_id, bool)
        and last_id >= 0
        and isinstance(saved_at, (int, float))
        and not isinstance(saved_at, bool)
        and isfinite(saved_at)
    ):
        return last_id, float(saved_at)
    return 0, None


def _restore_station(entry_id: str, station_id: str, value: JsonValue) -> Station:
    if not isinstance(value, dict):
        raise InvalidStationStateError(f"station {station_id!r} state: must be an object")
    meter_json = value.get("meter")
    if not isinstance(meter_json, dict):
        raise InvalidStationStateError(f"station {station_id!r} state field 'meter': missing")
    meter = StationMeter.from_json(meter_json, STATION_MAX_HOLD)
    if meter.station_id != station_id:
        raise InvalidStationStateError(f"station {station_id!r} state: belongs to another station")
    station = _new_station(entry_id, station_id)
    station.meter = meter
    snapshot = value.get("aggregator")
    if isinstance(snapshot, dict):
        if snapshot.get("series") == f"station:{station_id}":
            # saved before series were per entry: the same station's windows, renamed
            snapshot = {**snapshot, "series": station.aggregator.series}
        station.aggregator.restore(snapshot)
    return station


def _declared_length(header: str | None) -> int | None:
    """The ``Content-Length``: ASCII digits, few enough of them for ``int``.

    (``str.isdigit`` alone also takes a superscript or another script's digits, which ``int``
    refuses or reads; more than ``_MAX_LENGTH_DIGITS`` digits is over the limit anyway.)
    """
    if header is None:
        return None
    text = header.strip()
    if not (text.isdigit() and text.isascii()):
        raise BodyError("content-length", "is not a number of bytes")
    if len(text) > _MAX_LENGTH_DIGITS:
        raise BodyError("body", f"{text[:20]}... bytes is over the limit of {MAX_BODY_BYTES}")
    return int(text)


_MAX_LENGTH_DIGITS: Final = 18
_METHODS: Final = frozenset({hdrs.METH_POST, hdrs.METH_PUT})


async def _read_body(request: web.Request, declared: int | None) -> bytes:
    """The body: exactly its declared length, or (chunked) up to :data:`MAX_BODY_BYTES`."""
    if declared is None:
        return await _read_limited(request)
    if declared == 0:
        return b""  # (aiohttp's empty stream refuses even readexactly(0))
    content: object = request.content  # (typed as a StreamReader, which a stand-in is not)
    if not isinstance(content, StreamReader):
        # a cloudhook or the ``webhook/handle`` command: a stand-in stream that only has read()
        return await _read_limited(request)
    if content.is_eof():  # all of it has arrived (a small body usually has): no waiting
        return content.read_nowait()
    # a client that hangs up early ends the request in aiohttp: no short read reaches us
    return await content.readexactly(declared)


async def _read_limited(request: web.Request) -> bytes:
    """Read the body, refusing it as soon as it passes :data:`MAX_BODY_BYTES`."""
    content = request.content  # (a stand-in request makes a new stream at every access)
    chunks: list[bytes] = []
    size = 0
    while chunk := await content.read(MAX_BODY_BYTES + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyError("body", f"more than {MAX_BODY_BYTES} bytes")
    return b"".join(chunks)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _bad_request(err: BodyError) -> web.Response:
    return _json_response(
        {"error": "invalid_request", "field": err.field, "problem": err.problem},
        HTTPStatus.BAD_REQUEST,
    )


def _method_not_allowed(method: str) -> web.Response:
    """405 for any method but POST and PUT; HEAD gets a 200.

    (A website may check that the URL exists, as the webhook component lets it.)
    """
    if method == hdrs.METH_HEAD:
        return web.Response(status=HTTPStatus.OK)
    response = _json_response(
        {"error": "method_not_allowed", "problem": "send readings with POST (or PUT)"},
        HTTPStatus.METHOD_NOT_ALLOWED,
    )
    response.headers[hdrs.ALLOW] = "POST, PUT"
    return response


def _json_response(body: Mapping[str, object], status: HTTPStatus) -> web.Response:
    return _json_answer(_ENCODER.encode(body).encode(), status)


def _json_answer(body: bytes, status: HTTPStatus = HTTPStatus.OK) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


# ---------------------------------------------------------------------- entities


def station_device_info(coordinator: WebhookCoordinator, station_id: str) -> DeviceInfo:
    """The device of one station (its identifier holds no secret: entry ID and station)."""
    return DeviceInfo(
        identifiers={(DOMAIN, f"{coordinator.config_entry.entry_id}_station_{station_id}")},
        translation_key="station",
        translation_placeholders={"station_id": station_id},
        model="Power webhook station",
        serial_number=station_id,
    )


class StationEntity(CoordinatorEntity[WebhookCoordinator]):
    """An entity of one station: unavailable while the station is silent."""

    _attr_has_entity_name = True
    always_available = False

    def __init__(self, coordinator: WebhookCoordinator, station_id: str, key: str) -> None:
        """Attach to the station's device; the unique ID is the entry, the station and the key."""
        super().__init__(coordinator)
        self.station_id = station_id
        self._attr_unique_id = f"{coordinator.config_entry.entry_id}_{station_id}_{key}"
        self._attr_device_info = station_device_info(coordinator, station_id)
        self._written = -1

    @property
    def station(self) -> Station:
        """The station this entity shows."""
        return self.coordinator.stations[self.station_id]

    @property
    def available(self) -> bool:
        """Stale values must never reach the energy dashboard."""
        station = self.coordinator.stations.get(self.station_id)  # (None: being deleted)
        return station is not None and (self.always_available or station.available)

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state only when this station changed (not at all once it is deleted)."""
        station = self.coordinator.stations.get(self.station_id)
        if station is None:  # its device was deleted: this entity is being removed with it
            return
        version = station.version
        if version != self._written:
            self._written = version
            self.async_write_ha_state()


# ---------------------------------------------------------------------- readings view


class ReadingsView(HomeAssistantView):
    """``GET /api/meterit/readings?limit=&offset=&station_id=&entry_id=``: readings, newest first.

    Each reading names the config entry that stored it (``entry_id``; None for readings stored
    before readings had one).
    """

    url = READINGS_VIEW_URL
    name = "api:meterit:readings"
    requires_auth = True

    async def get(self, request: web.Request) -> web.Response:
        """One page of the meterlog (authenticated)."""
        query = request.query
        try:
            limit = _query_int(query.get("limit"), "limit", 100, 1, MAX_PAGE)
            offset = _query_int(query.get("offset"), "offset", 0, 0, MAX_OFFSET)
            raw_station = query.get("station_id")
            station = None if raw_station is None else parse_station_id(raw_station)
            raw_entry = query.get("entry_id")
            entry_id = None if raw_entry is None else _query_entry_id(raw_entry)
        except BodyError as err:
            return _json_response(
                {"error": "invalid_request", "field": err.field, "problem": err.problem},
                HTTPStatus.BAD_REQUEST,
            )
        hass = request.app[KEY_HASS]
        try:
            store = await async_get_store(hass)
            rows = await hass.async_add_executor_job(
                store.query_readings, station, limit, offset, entry_id
            )
        except StoreError as err:
            LOGGER.warning("Readings cannot be read: %s", err)
            return _json_response(
                {"error": "store_unavailable", "problem": "the store cannot be read"},
                HTTPStatus.SERVICE_UNAVAILABLE,
            )
        return _json_response(
            {
                "limit": limit,
                "offset": offset,
                "unit": PRICE_UNIT,
                "readings": [
                    {
                        "id": row.id,
                        "time": _iso(row.time),
                        "station_id": row.station_id,
                        "watts": row.watts,
                        "price": row.price,
                        "entry_id": row.entry,
                        "sent": None if row.sent is None else _iso(row.sent),
                    }
                    for row in rows
                ],
            },
            HTTPStatus.OK,
        )


def _query_int(text: str | None, field: str, default: int, low: int, high: int) -> int:
    """A query argument of ASCII digits from ``low`` to ``high`` (400 naming it otherwise)."""
    if text is None:
        return default
    if not (0 < len(text) <= _MAX_QUERY_DIGITS and text.isascii() and text.isdigit()):
        raise BodyError(field, f"must be an integer from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise BodyError(field, f"must be an integer from {low} to {high}")
    return value


_MAX_QUERY_DIGITS: Final = 12
_MAX_ENTRY_ID: Final = 64


def _query_entry_id(text: str) -> str:
    """A config entry ID argument: 1-64 ASCII letters, digits, ``_`` or ``-`` (400 otherwise)."""
    if not (
        0 < len(text) <= _MAX_ENTRY_ID
        and text.isascii()
        and text.replace("_", "a").replace("-", "a").isalnum()
    ):
        raise BodyError(
            "entry_id", f"must be a config entry ID (1-{_MAX_ENTRY_ID} of A-Z, a-z, 0-9, '_', '-')"
        )
    return text


@callback
def async_register_view(hass: HomeAssistant) -> None:
    """Register the readings view once per Home Assistant."""
    if not hass.data.get(_DATA_VIEW):
        hass.http.register_view(ReadingsView())
        hass.data[_DATA_VIEW] = True


# ---------------------------------------------------------------------- setup helpers


async def async_setup_webhook_entry(
    hass: HomeAssistant, entry: MeteritConfigEntry
) -> WebhookCoordinator:
    """Open the store, start the coordinator and the view; stopped on unload.

    Raises ``StoreError`` when the store cannot be used (readings could not be kept).
    """
    store = await async_get_store(hass)
    coordinator = WebhookCoordinator(hass, entry, store)
    await coordinator.async_start()
    async_register_view(hass)
    return coordinator


def price_source_choices(hass: HomeAssistant) -> list[tuple[str, str]]:
    """``(value, label)`` of every price source: none, PVPC entries, sensors in €/kWh."""
    choices: list[tuple[str, str]] = [(PRICE_NONE, "—")]
    choices.extend(
        (f"{PRICE_ENTRY_PREFIX}{entry.entry_id}", f"PVPC: {entry.title}")
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.data.get(CONF_SOURCE) == Source.PRICES
    )
    choices.extend(
        (state.entity_id, f"{state.name} ({state.entity_id})")
        for state in sorted(hass.states.async_all("sensor"), key=lambda s: s.entity_id)
        if state.attributes.get("unit_of_measurement") in PRICE_UNITS
    )
    return choices


def webhook_options_schema(hass: HomeAssistant, current: Mapping[str, object]) -> probatio.Schema:
    """The form of a webhook's options: local only (default on) and the price source."""
    choices = price_source_choices(hass)
    chosen = str(current.get(CONF_PRICE_SOURCE) or default_price_source(hass))
    if chosen not in {value for value, _ in choices}:
        choices.append((chosen, chosen))  # keep a source that is gone for now
    return probatio.Schema(
        {
            probatio.Required(
                CONF_LOCAL_ONLY, default=bool(current.get(CONF_LOCAL_ONLY, True))
            ): BooleanSelector(),
            probatio.Required(CONF_PRICE_SOURCE, default=chosen): SelectSelector(
                SelectSelectorConfig(
                    options=[SelectOptionDict(value=v, label=label) for v, label in choices],
                    mode=SelectSelectorMode.DROPDOWN,
                )
            ),
        }
    )


def webhook_options(user_input: Mapping[str, object]) -> dict[str, object]:
    """The entry options from a submitted form."""
    return {
        CONF_LOCAL_ONLY: bool(user_input.get(CONF_LOCAL_ONLY, True)),
        CONF_PRICE_SOURCE: str(user_input.get(CONF_PRICE_SOURCE, PRICE_NONE)),
    }


@callback
def webhook_placeholders(hass: HomeAssistant, webhook_id: str, local_only: bool) -> dict[str, str]:
    """The URL, an example body and a ``curl`` line (shown once, when the entry is created)."""
    try:
        url = webhook_url(hass, webhook_id, local_only)
    except NoURLAvailableError:
        url = f"http://<home-assistant>:8123{webhook.async_generate_path(webhook_id)}"
    body = example_body()
    return {
        "url": url,
        "body": body,
        "curl": f"curl -X POST -H 'Content-Type: application/json' -d '{body}' {url}",
    }
