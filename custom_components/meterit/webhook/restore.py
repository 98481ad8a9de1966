"""The saved state of a power webhook's stations, and the replay after an unclean stop.

Live state and the aggregators' snapshots are saved in the store (every minute, at least hourly,
and on unload), so totals continue after a restart. After an unclean stop, the readings stored
after the last save are replayed from the meterlog (see :meth:`SavedState.async_restore`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from math import isfinite
import time
from typing import TYPE_CHECKING, Final

from homeassistant.util import dt as dt_util

from ..const import LOGGER, MAX_STATIONS
from ..metering import InvalidSnapshotError, JsonValue, Reading, StoreError
from ..metering.gapfill import WindowBatch
from ..powerhook import (
    DEFAULT_MAX_PAST,
    BodyError,
    InvalidStationStateError,
    StationMeter,
    parse_station_id,
)
from .const import STATION_MAX_HOLD, STATION_STALE_AFTER
from .station import Station, new_station

if TYPE_CHECKING:
    from .coordinator import WebhookCoordinator

STATE_VERSION: Final = 1
STATE_REFRESH_S: Final = 3600.0
"""The state is saved at least this often (s), also without new readings: the time of the last
save bounds how far back a restart looks for readings stored after it."""
REPLAY_MARGIN_S: Final = 3600.0
"""Readings stored after the last save may be this much older than the webhook accepts
(``DEFAULT_MAX_PAST`` before the save): a request may have waited for its write round."""


class SavedState:
    """Save the stations of one webhook entry, and restore them (with the replay) at start."""

    def __init__(self, coordinator: WebhookCoordinator) -> None:
        """Nothing is read yet: :meth:`async_restore` does, once, before the webhook is registered."""
        self._coordinator = coordinator
        self._hass = coordinator.hass
        self._store = coordinator.store
        self._title = coordinator.config_entry.title
        self._entry_id = coordinator.config_entry.entry_id
        self._stations = coordinator.live_stations
        self.key = f"webhook_{self._entry_id}"
        """The store's state key of this entry."""
        self.dirty = False
        """The live state changed since the last save."""
        self.applied_id = 0
        """The meterlog ``id`` up to which this entry's readings are in the live state."""
        self._last_saved = float("-inf")
        self._save_lock = asyncio.Lock()
        """One save at a time: a later state is never overwritten by an earlier one."""

    async def async_restore(self) -> None:
        """Restore the saved stations, then replay the readings stored after that save.

        The state is saved every minute; an unclean stop (a crash, a power cut) loses what
        came after, but those readings are in the meterlog. The ones of this entry stored after
        the save (``meterlog_id``: the last one the saved state holds) go through the stations'
        meters and aggregators again, in the order they were stored and with the prices they
        were stored with, so energy and cost continue where they were (a ``total_increasing``
        sensor must not go down) and their windows are written again. That is exactly what the
        live path did: it applies the readings in the order they are stored (each batch sorted
        by time before it is stored, see ``handler`` and ``WebhookCoordinator.apply``). Without any
        saved state (a new entry, or one stopped before its first save) the readings of the
        last ``DEFAULT_MAX_PAST`` are replayed. Availability follows the restored last
        readings: a station silent for too long stays unavailable.

        Raises ``StoreError`` when the saved state cannot be read (setup is retried): starting
        afresh would save empty totals over the good ones at the next minute's save.
        """
        saved = await self._hass.async_add_executor_job(self._store.load_state, self.key)
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
                    "Power webhook %s: saved state has an unknown format, starting afresh",
                    self._title,
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
                LOGGER.warning("Power webhook %s: saved station skipped: %s", self._title, err)
                continue
            self._stations[station_id] = station

    async def _async_replay(self, after_id: int, since: float) -> None:
        """Apply this entry's readings stored after meterlog ``id`` ``after_id`` (see above)."""
        try:
            replay = await self._hass.async_add_executor_job(self._replay, after_id, since)
        except StoreError as err:
            LOGGER.warning(
                "Power webhook %s: readings stored after the last saved state cannot be read, "
                "totals may miss them: %s",
                self._title,
                err,
            )
            self.applied_id = after_id
            return
        self.applied_id = max(after_id, replay.last_id)
        if replay.readings:
            LOGGER.info(
                "Power webhook %s: %d reading(s) stored after the last saved state replayed",
                self._title,
                replay.readings,
            )
            self._coordinator.writer.windows.extend(replay.windows)
            self.dirty = True
        if replay.skipped:
            LOGGER.warning(
                "Power webhook %s: %d stored reading(s) not replayed: %s",
                self._title,
                replay.skipped,
                "unusable, or of a station beyond the limit",
            )

    def _replay(self, after_id: int, since: float) -> _Replay:
        """Executor: read the readings to replay and feed them to the stations.

        Runs before the webhook is registered and the stations are published: nothing else
        touches them meanwhile. The path of each reading is the one :meth:`WebhookCoordinator.apply` takes (the
        station's meter, then its aggregator when the meter took it).
        """
        rows, last_id = self._store.entry_readings_after(self._entry_id, after_id, since)
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
                station = stations[station_id] = new_station(self._entry_id, station_id)
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
            # the readings this state holds: a restart replays the later ones (async_restore)
            "meterlog_id": self.applied_id,
            "saved_at": time.time(),
        }

    async def async_save(self) -> None:
        """Save the live state as it is now (after any save already under way)."""
        async with self._save_lock:
            state = self._state_json()
            self.dirty = False  # (what changes while this one is written makes it dirty again)
            try:
                await self._hass.async_add_executor_job(self._store.save_state, self.key, state)
            except StoreError as err:
                self.dirty = True
                LOGGER.warning("Power webhook %s: state not saved: %s", self._title, err)
            else:
                self._last_saved = time.time()

    async def async_save_timer(self, _now: datetime) -> None:
        """Every minute: save when changed, and hourly anyway.

        (Also without readings: a restart looks for readings from the last save on.)
        """
        if self.dirty or time.time() - self._last_saved >= STATE_REFRESH_S:
            await self.async_save()


@dataclass(slots=True)
class _Replay:
    """What :meth:`SavedState._replay` did."""

    readings: int
    skipped: int
    windows: WindowBatch
    last_id: int


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
    station = new_station(entry_id, station_id)
    station.meter = meter
    snapshot = value.get("aggregator")
    if isinstance(snapshot, dict):
        if snapshot.get("series") == f"station:{station_id}":
            # saved before series were per entry: the same station's windows, renamed
            snapshot = {**snapshot, "series": station.aggregator.series}
        station.aggregator.restore(snapshot)
    return station
