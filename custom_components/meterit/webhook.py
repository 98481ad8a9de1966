"""Power sensors that POST to a webhook: the handler, the coordinator and the readings view.

An ESP8266 (or anything) posts ``{"watts": 123.4, "station_id": 1}`` (or a batch of buffered
readings, see ``powerhook.body``) to ``/api/webhook/<id>``. The webhook ID is the entry's only
secret: it is never logged, never in an error, never in diagnostics (it is redacted there).

Per request: validate everything (``powerhook.parse_body``: a bad request gets 400 with a JSON
``{"error", "field", "problem"}``), attach the price of each reading's time, store the readings in
the shared ``meterlog`` table, and only then update the live state and answer 200 with what was
stored and the current price. A request is stored whole or not at all. Concurrent requests are
written together (group commit: one job on the webhook's writer thread and one statement for all
requests waiting), so a burst costs one SQLite commit, not one per request.

Live state per station (``powerhook.StationMeter``): power, energy (left Riemann sum, each
reading holds for at most ``STATION_MAX_HOLD`` seconds: no energy across longer silences),
cost (the energy of each interval times the price of its first reading) and last seen. A station
silent for ``STATION_STALE_AFTER`` goes unavailable (logged once, and once when back). A station
becomes a device on its first reading, without a restart. Each station also feeds a
``metering.WindowAggregator`` (series ``station:<id>``, 30 s and 5 min windows), whose closed
windows go to the store. Live state and the aggregators' snapshots are saved in the store
(every minute and on unload), so totals continue after a restart.

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
import json
from math import isfinite
import time
from typing import TYPE_CHECKING, Final

from aiohttp import hdrs, web
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
from homeassistant.helpers.network import NoURLAvailableError
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.helpers.update_coordinator import CoordinatorEntity, DataUpdateCoordinator
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
import probatio

from .const import CONF_SOURCE, DOMAIN, LOGGER, Source
from .esios import PriceKind
from .history import StationHistory
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
from .prices import PriceCoordinator
from .statistics import StationStatistics, station_object_id
from .storage import async_get_store

if TYPE_CHECKING:
    from .entry import MeteritConfigEntry

CONF_LOCAL_ONLY: Final = "local_only"
CONF_PRICE_SOURCE: Final = "price_source"
PRICE_NONE: Final = "none"
PRICE_ENTRY_PREFIX: Final = "entry:"
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
MAX_PENDING_WINDOWS: Final = 20_000
MAX_CACHED_ANSWERS: Final = 64
PRICE_HISTORY_S: Final = 2 * 86_400.0
STATE_VERSION: Final = 1

READINGS_VIEW_URL: Final = "/api/meterit/readings"
MAX_PAGE: Final = 1_000
MAX_OFFSET: Final = 1_000_000_000
_DATA_VIEW: HassKey[bool] = HassKey(f"{DOMAIN}_readings_view")


def station_series(station_id: str) -> str:
    """The windows' series name of a station."""
    return f"station:{station_id}"


def example_body(station_id: int = 1, watts: float = 123.4) -> str:
    """The JSON a sensor posts (shown in the config flow and the README)."""
    return json.dumps({"watts": watts, "station_id": station_id})


# ---------------------------------------------------------------------- prices


class PriceSource:
    """The price (€/kWh) at a time; the base class knows no price."""

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
    """One station's live state, its window aggregator, and whether it is available."""

    meter: StationMeter
    aggregator: WindowAggregator
    available: bool = True
    version: int = 0


@dataclass(slots=True)
class _Request:
    """One request waiting for its round: its checked rows, its readings, the handler's future."""

    rows: PreparedReadings
    readings: Sequence[PowerReading]
    prices: Sequence[float | None]
    future: asyncio.Future[None]


@dataclass(slots=True)
class _Outcome:
    """What a write round did: an error per request (None: stored), and the windows."""

    errors: list[Exception | None]
    windows_written: bool
    window_error: Exception | None = None
    unexpected: Exception | None = None
    """A bug rather than a store failure (logged with its traceback, once)."""


def _new_station(station_id: str) -> Station:
    return Station(
        StationMeter(station_id, STATION_MAX_HOLD),
        WindowAggregator(station_series(station_id), max_weight=STATION_MAX_HOLD),
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
        self._windows: list[Window] = []
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
        self._last_publish = float("-inf")
        self._unsub_publish: CALLBACK_TYPE | None = None
        self._registered = False

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
                    station_series(station_id), self.store, f"{entry.title} station {station_id}"
                )
        return None

    @callback
    def _windows_stored(self, windows: Sequence[Window]) -> None:
        """Windows are in the store: the stations' hourly statistics follow (and the purge)."""
        statistics = self._station_statistics
        entry = self.config_entry
        if statistics is None:
            statistics = self._station_statistics = StationStatistics(
                self.hass, entry, self.store, settle_after=DEFAULT_MAX_PAST
            )
        for station_id in self._stations:
            statistics.track(
                station_series(station_id),
                station_object_id(entry.entry_id, station_id),
                f"{entry.title} station {station_id}",
            )
        statistics.windows_stored(windows)

    # ------------------------------------------------------------------ lifecycle

    async def async_start(self) -> None:
        """Restore saved stations, follow the price source, register the webhook, arm timers."""
        entry = self.config_entry
        await self._async_restore()
        self.price_source = create_price_source(
            self.hass, str(entry.options.get(CONF_PRICE_SOURCE, PRICE_NONE)), self.store
        )
        webhook.async_register(
            self.hass,
            DOMAIN,
            entry.title,
            entry.data[CONF_WEBHOOK_ID],
            self.async_handle_webhook,
            local_only=self.local_only,
            allowed_methods=(hdrs.METH_POST, hdrs.METH_PUT),
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
        """Unregister the webhook, finish pending writes, write closed windows, save state."""
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
        await self._async_flush()
        self._cancel_round_timer()
        self._closed = True  # a request still on its way in gets a 503 from now on
        self._worker.stop()

    async def _async_flush(self) -> None:
        """Write every waiting request and every window that can close, then save the state."""
        await self._async_wait_drained()
        self._flush_windows(dt_util.utcnow().timestamp())
        await self._async_wait_drained()
        await self._async_save()

    async def _async_restore(self) -> None:
        try:
            saved = await self.hass.async_add_executor_job(self.store.load_state, self.state_key)
        except StoreError as err:
            LOGGER.warning(
                "Power webhook %s: saved state unusable: %s", self.config_entry.title, err
            )
            return
        if saved is None:
            return
        raw = saved.get("stations")
        if saved.get("version") != STATE_VERSION or not isinstance(raw, dict):
            LOGGER.warning(
                "Power webhook %s: saved state has an unknown format, starting afresh",
                self.config_entry.title,
            )
            return
        now = dt_util.utcnow().timestamp()
        for key, value in raw.items():
            try:
                station_id = parse_station_id(key)
                station = _restore_station(station_id, value)
            except (BodyError, InvalidStationStateError, InvalidSnapshotError) as err:
                LOGGER.warning(
                    "Power webhook %s: saved station skipped: %s", self.config_entry.title, err
                )
                continue
            silent = station.meter.silent_for(now)
            station.available = silent is not None and silent < STATION_STALE_AFTER.total_seconds()
            self._stations[station_id] = station

    def _state_json(self) -> dict[str, JsonValue]:
        stations: dict[str, JsonValue] = {}
        for station_id, station in self._stations.items():
            meter: dict[str, JsonValue] = dict(station.meter.to_json())
            stations[station_id] = {"meter": meter, "aggregator": station.aggregator.snapshot()}
        return {"version": STATE_VERSION, "stations": stations}

    async def _async_save(self) -> None:
        try:
            await self.hass.async_add_executor_job(
                self.store.save_state, self.state_key, self._state_json()
            )
        except StoreError as err:
            LOGGER.warning("Power webhook %s: state not saved: %s", self.config_entry.title, err)
        else:
            self._dirty = False

    async def _async_save_timer(self, _now: datetime) -> None:
        if self._dirty:
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
            "accepted_readings": self.accepted,
            "rejected_requests": self.rejected,
            "pending_windows": len(self._windows),
            "stations": stations,
        }

    # ------------------------------------------------------------------ the webhook

    async def async_handle_webhook(
        self, hass: HomeAssistant, webhook_id: str, request: web.Request
    ) -> web.Response:
        """Validate, price, store, then apply one request (never raises, never logs the ID)."""
        try:
            return await self._async_handle(request)
        except Exception:  # noqa: BLE001 - the webhook component would log the secret ID
            LOGGER.exception("Power webhook %s: unexpected error", self.config_entry.title)
            return _json_response(
                {"error": "internal_error", "problem": "unexpected error, see the log"},
                HTTPStatus.INTERNAL_SERVER_ERROR,
            )

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
            return _json_response(
                {"error": "invalid_request", "field": err.field, "problem": err.problem},
                HTTPStatus.BAD_REQUEST,
            )
        prices = await self.price_source.async_prices([r.time for r in readings])
        # checked here, not in the writer thread: it holds the GIL as briefly as possible
        if len(readings) == 1:
            first = readings[0]
            rows = prepare_reading(first.time, first.station_id, first.watts, prices[0])
        else:
            rows = prepare_readings(
                MeterlogRow(r.time, r.station_id, r.watts, p)
                for r, p in zip(readings, prices, strict=True)
            )
        try:
            await self._async_write(
                _Request(rows, readings, prices, self.hass.loop.create_future())
            )
        except StoreError:  # logged once per outage by the writer's round
            return _json_response(
                {"error": "store_unavailable", "problem": "readings not stored, send them again"},
                HTTPStatus.SERVICE_UNAVAILABLE,
            )
        if len(readings) == 1 and readings[0].time == now:
            return _json_answer(self._now_answer(prices[0]))
        return _json_response(self._answer(readings, prices, now), HTTPStatus.OK)

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
        self, readings: Sequence[PowerReading], prices: Sequence[float | None], now: float
    ) -> dict[str, object]:
        """What was stored and the current price, and each reading back with its price."""
        return {
            "stored": len(readings),
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

    async def _async_write(self, request: _Request) -> None:
        """Queue a request for the next round and wait until it is stored (or raise StoreError).

        Once stored, its readings are applied to the live state before it is answered.
        """
        if self._closed:
            raise StoreUnavailableError("the webhook is stopped")
        self._pending.append(request)
        if len(self._pending) == 1 and not self._round_running:
            # start at the end of this loop iteration: requests read together go together
            self.hass.loop.call_soon(self._start_round)
        await request.future

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
        windows, self._windows = self._windows, []
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

    def _write_round(self, batch: list[_Request], windows: list[Window]) -> None:
        """Writer thread: write one round, then hand its outcome to the event loop."""
        try:
            outcome = self._write(batch, windows)
        except Exception as err:  # noqa: BLE001 - every waiting request must get an answer
            outcome = _Outcome([err] * len(batch), windows_written=False, unexpected=err)
        try:
            self.hass.loop.call_soon_threadsafe(self._round_done, batch, windows, outcome)
        except RuntimeError:  # the event loop is closed: Home Assistant is gone
            return

    def _write(self, batch: list[_Request], windows: list[Window]) -> _Outcome:
        """Writer thread: readings (their failure fails the requests), then windows (it does not).

        Once the readings are committed nothing can fail the requests any more: whatever goes
        wrong with the windows is reported with them.
        """
        try:
            self.store.add_prepared(*(request.rows for request in batch))
        except StoreError as err:
            return _Outcome([err] * len(batch), windows_written=False)
        window_error: Exception | None = None
        if windows:
            try:
                self.store.write_windows(windows)
            except Exception as err:  # noqa: BLE001 - reported on the event loop
                window_error = err
        return _Outcome(
            [None] * len(batch), windows_written=window_error is None, window_error=window_error
        )

    @callback
    def _round_done(self, batch: list[_Request], windows: list[Window], outcome: _Outcome) -> None:
        """Apply what was stored, answer the requests, settle the windows, start the next round.

        The readings of the whole round go to the stations at once (in time order), also those
        of a request whose client went away: they are stored. Whatever fails here, the next
        round starts: one bad round never stalls the webhook.
        """
        try:
            readings: list[PowerReading] = []
            prices: list[float | None] = []
            refused: list[_Request] = []
            for request, error in zip(batch, outcome.errors, strict=True):
                if error is None:
                    readings.extend(request.readings)
                    prices.extend(request.prices)
                    self.accepted += request.rows.count
                    if not request.future.done():
                        request.future.set_result(None)
                else:
                    refused.append(request)
            self._readings_done(refused, outcome)
            if readings:
                self._apply(readings, prices)
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
    def _windows_done(self, windows: list[Window], outcome: _Outcome) -> None:
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
        # The readings behind them are stored (a window lost for good loses no reading); the
        # backlog is bounded.
        self._windows = (windows + self._windows)[-MAX_PENDING_WINDOWS:]
        self._hold_windows = True

    # ------------------------------------------------------------------ live state

    @callback
    def _apply(self, readings: Sequence[PowerReading], prices: Sequence[float | None]) -> None:
        """Feed stored readings (in time order) to their stations and aggregators."""
        added = False
        changed: set[str] = set()
        pairs = zip(readings, prices, strict=True)
        for reading, price in (
            pairs if len(readings) == 1 else sorted(pairs, key=lambda pair: pair[0].time)
        ):
            station = self._stations.get(reading.station_id)
            if station is None:
                station = self._stations[reading.station_id] = _new_station(reading.station_id)
                added = True
                LOGGER.info(
                    "Power webhook %s: new station %s", self.config_entry.title, reading.station_id
                )
            if station.meter.add(reading.time, reading.watts, price):
                self._windows.extend(station.aggregator.add(Reading(reading.time, reading.watts)))
            if not station.available:
                station.available = True
                LOGGER.info(
                    "Power webhook %s: station %s is sending again",
                    self.config_entry.title,
                    reading.station_id,
                )
            changed.add(reading.station_id)
        for station_id in changed:
            self._stations[station_id].version += 1
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


def _restore_station(station_id: str, value: JsonValue) -> Station:
    if not isinstance(value, dict):
        raise InvalidStationStateError(f"station {station_id!r} state: must be an object")
    meter_json = value.get("meter")
    if not isinstance(meter_json, dict):
        raise InvalidStationStateError(f"station {station_id!r} state field 'meter': missing")
    meter = StationMeter.from_json(meter_json, STATION_MAX_HOLD)
    if meter.station_id != station_id:
        raise InvalidStationStateError(f"station {station_id!r} state: belongs to another station")
    station = _new_station(station_id)
    station.meter = meter
    snapshot = value.get("aggregator")
    if isinstance(snapshot, dict):
        station.aggregator.restore(snapshot)
    return station


def _declared_length(header: str | None) -> int | None:
    if header is None:
        return None
    text = header.strip()
    if not text.isdigit():
        raise BodyError("content-length", "is not a number of bytes")
    return int(text)


async def _read_body(request: web.Request, declared: int | None) -> bytes:
    """The body: exactly its declared length, or (chunked) up to :data:`MAX_BODY_BYTES`."""
    if declared is None:
        return await _read_limited(request)
    if declared == 0:
        return b""  # (aiohttp's empty stream refuses even readexactly(0))
    content = request.content
    if content.is_eof():  # all of it has arrived (a small body usually has): no waiting
        return content.read_nowait()
    # a client that hangs up early ends the request in aiohttp: no short read reaches us
    return await content.readexactly(declared)


async def _read_limited(request: web.Request) -> bytes:
    """Read the body, refusing it as soon as it passes :data:`MAX_BODY_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(MAX_BODY_BYTES + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyError("body", f"more than {MAX_BODY_BYTES} bytes")
    return b"".join(chunks)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


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
        return self.always_available or self.station.available

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state only when this station changed."""
        version = self.station.version
        if version != self._written:
            self._written = version
            self.async_write_ha_state()


# ---------------------------------------------------------------------- readings view


class ReadingsView(HomeAssistantView):
    """``GET /api/meterit/readings?limit=&offset=&station_id=``: stored readings, newest first."""

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
        except BodyError as err:
            return _json_response(
                {"error": "invalid_request", "field": err.field, "problem": err.problem},
                HTTPStatus.BAD_REQUEST,
            )
        hass = request.app[KEY_HASS]
        try:
            store = await async_get_store(hass)
            rows = await hass.async_add_executor_job(store.query_readings, station, limit, offset)
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
                    }
                    for row in rows
                ],
            },
            HTTPStatus.OK,
        )


def _query_int(text: str | None, field: str, default: int, low: int, high: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BodyError(field, f"must be an integer from {low} to {high}")
    return int(text)


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
    chosen = str(current.get(CONF_PRICE_SOURCE, PRICE_NONE))
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
        url = webhook.async_generate_url(hass, webhook_id, prefer_external=not local_only)
    except NoURLAvailableError:
        url = f"http://<home-assistant>:8123{webhook.async_generate_path(webhook_id)}"
    body = example_body()
    return {
        "url": url,
        "body": body,
        "curl": f"curl -X POST -H 'Content-Type: application/json' -d '{body}' {url}",
    }
