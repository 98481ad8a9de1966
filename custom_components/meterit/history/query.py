"""History queries: parse the arguments, read a meter's or station's windows (or hours) from the store.

The ``meterit.get_history`` action and :class:`~.view.HistoryView` share
:func:`parse_history_query` and :func:`async_query_history`. They read any :class:`HistorySource`:
a P1 meter's ``MeterHistory`` or a power webhook station's :class:`StationHistory` (its windows
are written by the webhook's coordinator). A station has no counters: the energy of its windows
is integrated from its power (``metering.window_energy``), positive as import and negative as
export, in window rows and hourly rows alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Final, Protocol

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util

from ..const import DOMAIN
from ..long_term_statistics import STATISTICS_RESOLUTION
from ..metering import (
    HourStat,
    MeterStore,
    StoreError,
    hourly_statistics,
)
from ..metering.statistics import window_energy
from ..p1.history import MeterHistory
from ..p1.issues import local_iso


class HistorySource(Protocol):
    """What a history query reads: a series of windows in the store (None: unavailable)."""

    @property
    def series(self) -> str:
        """The windows' series name."""
        ...  # pragma: no cover

    @property
    def store(self) -> MeterStore | None:
        """The store that holds the windows."""
        ...  # pragma: no cover

    @property
    def title(self) -> str:
        """A human name (for logs)."""
        ...  # pragma: no cover


@dataclass(frozen=True, slots=True)
class StationHistory:
    """The history of one power webhook station (a :class:`HistorySource`)."""

    series: str
    store: MeterStore | None
    title: str


class Resolution(StrEnum):
    """The resolutions a history query can ask for."""

    S30 = "30s"
    MIN5 = "5min"
    HOUR = "hour"


RESOLUTION_SECONDS: Final = {Resolution.S30: 30, Resolution.MIN5: 300, Resolution.HOUR: 3600}
WINDOW_COLUMNS: Final = (
    "start",
    "end",
    "reading_count",
    "tariff",
    "w_avg",
    "w_min",
    "w_max",
    "l1_w_avg",
    "l2_w_avg",
    "l3_w_avg",
    "l1_w_max",
    "l2_w_max",
    "l3_w_max",
    "energy_import_kwh",
    "energy_export_kwh",
    "import_kwh",
    "export_kwh",
)
"""Columns of 30-s and 5-min rows (times as local ISO text)."""
HOUR_COLUMNS: Final = (
    "start",
    "end",
    "energy_import_kwh",
    "energy_export_kwh",
    "power_mean",
    "power_min",
    "power_max",
)
"""Columns of hourly rows."""
ACTION_MAX_SPAN: Final = {
    Resolution.S30: timedelta(days=1),
    Resolution.MIN5: timedelta(days=31),
    Resolution.HOUR: timedelta(days=366),
}
"""Longest range of the action (its response is held in memory and in the UI)."""
VIEW_MAX_SPAN: Final = {
    Resolution.S30: timedelta(days=1),
    Resolution.MIN5: timedelta(days=366),
    Resolution.HOUR: timedelta(days=3660),
}
"""Longest range of the HTTP view (exports)."""

type Cell = float | int | str | None


class HistoryArgumentError(ValueError):
    """A bad argument of a history query: ``argument`` named, ``key`` translates it."""

    def __init__(self, argument: str, key: str, message: str, **placeholders: str) -> None:
        """``message`` is the English text; ``key``/``placeholders`` its translation."""
        super().__init__(f"argument {argument}: {message}")
        self.argument = argument
        self.key = key
        self.placeholders = {"argument": argument, **placeholders}


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """A checked history query."""

    history: HistorySource
    start: datetime
    end: datetime
    resolution: Resolution


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """Rows of a history query, each a tuple in the order of ``columns``."""

    series: str
    resolution: Resolution
    start: datetime
    end: datetime
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]

    def as_dicts(self) -> list[dict[str, Cell]]:
        """Rows as dicts (column -> value)."""
        columns = self.columns
        return [dict(zip(columns, row, strict=True)) for row in self.rows]


def _instant(value: object) -> datetime | None:
    """A datetime, a date (its local midnight) or ISO text, as given (naive: not converted)."""
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time(0))
    elif isinstance(value, str):
        text = value.strip()
        parsed = dt_util.parse_datetime(text)
        if parsed is None and (day := dt_util.parse_date(text)) is not None:
            parsed = datetime.combine(day, time(0))
    return parsed


def _in_utc(parsed: datetime) -> datetime | None:
    """``parsed`` (naive: local) in UTC; None when it or its local time is out of range."""
    try:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt_util.get_default_time_zone())
        utc = dt_util.as_utc(parsed)
        dt_util.as_local(utc)  # answers show it in local time: that must exist too
    except OverflowError, ValueError:  # e.g. 0001-01-01T00:00+05:00 is before year 1 in UTC
        return None
    return utc


def instant_or_none(value: object) -> datetime | None:
    """A datetime, a date (its local midnight) or ISO text, in UTC; None when it is none of these.

    Naive means Home Assistant's time zone. None too for a time that is out of range in UTC or
    in local time (years 1-9999). Shared by every action that takes a time.
    """
    parsed = _instant(value)
    return None if parsed is None else _in_utc(parsed)


def parse_instant(argument: str, value: object) -> datetime:
    """:func:`instant_or_none`, or :class:`HistoryArgumentError` naming ``argument``."""
    if (parsed := _instant(value)) is None:
        raise HistoryArgumentError(
            argument,
            "history_invalid_datetime",
            f"{str(value)[:40]!r} is not a date or date and time",
            value=str(value)[:40],
        )
    if (utc := _in_utc(parsed)) is None:
        raise HistoryArgumentError(
            argument,
            "history_datetime_out_of_range",
            f"{str(value)[:40]!r} is out of range (years 1 to 9999, in UTC and in local time)",
            value=str(value)[:40],
        )
    return utc


def history_source_of_device(hass: HomeAssistant, device_id: object) -> HistorySource:
    """The history of a Meterit P1 meter or power webhook station device (by device ID).

    A P1 entry's runtime data has a ``history``; a webhook entry's a ``station_history``
    method that knows its stations' devices (looked up duck-typed: no import of webhook.py).
    """
    if not isinstance(device_id, str) or not device_id:
        raise HistoryArgumentError("device", "history_device_missing", "a device ID is required")
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        raise HistoryArgumentError(
            "device", "history_unknown_device", "no such device", device=device_id[:64]
        )
    entry = hass.config_entries.async_get_entry(device.config_entry_id)
    if entry is not None and entry.domain == DOMAIN:
        runtime = getattr(entry, "runtime_data", None)
        history = getattr(runtime, "history", None)
        if isinstance(history, MeterHistory):
            return history
        station_history = getattr(runtime, "station_history", None)
        if callable(station_history):
            station = station_history(device.identifiers)
            if isinstance(station, StationHistory):
                return station
    raise HistoryArgumentError(
        "device",
        "history_not_a_meter",
        f"{device.name or device_id} is not a loaded Meterit meter",
        device=device.name or device_id,
    )


def history_of_device(hass: HomeAssistant, device_id: object) -> MeterHistory:
    """The history of a Meterit P1 meter device (hwLogger imports: a station has none)."""
    history = history_source_of_device(hass, device_id)
    if not isinstance(history, MeterHistory):
        raise HistoryArgumentError(
            "device",
            "hwlogger_not_a_p1_meter",
            f"{history.title} is not a P1 meter",
            device=history.title,
        )
    return history


def parse_history_query(
    hass: HomeAssistant, data: Mapping[str, object], max_span: Mapping[Resolution, timedelta]
) -> HistoryQuery:
    """Check the arguments ``device``, ``start``, ``end`` (default now), ``resolution``.

    Raises :class:`HistoryArgumentError` naming the first bad argument and why.
    """
    history = history_source_of_device(hass, data.get("device"))
    raw_resolution = data.get("resolution", Resolution.MIN5.value)
    try:
        resolution = Resolution(str(raw_resolution).strip().lower())
    except ValueError:
        options = ", ".join(r.value for r in Resolution)
        raise HistoryArgumentError(
            "resolution",
            "history_invalid_resolution",
            f"{str(raw_resolution)[:20]!r} is not one of {options}",
            value=str(raw_resolution)[:20],
            options=options,
        ) from None
    if data.get("start") is None:
        raise HistoryArgumentError("start", "history_start_missing", "a start time is required")
    start = parse_instant("start", data["start"])
    end = (
        parse_instant("end", data["end"])
        if data.get("end") is not None
        else dt_util.utcnow().replace(microsecond=0)
    )
    if end <= start:
        raise HistoryArgumentError(
            "end",
            "history_end_not_after_start",
            "must be after start",
            start=start.isoformat(),
            end=end.isoformat(),
        )
    limit = max_span[resolution]
    if end - start > limit:
        raise HistoryArgumentError(
            "end",
            "history_range_too_long",
            f"the range is longer than {limit.days} days for resolution {resolution.value}",
            days=str(limit.days),
            resolution=resolution.value,
        )
    return HistoryQuery(history, start, end, resolution)


_ENERGY_IMPORT = WINDOW_COLUMNS.index("energy_import_kwh")
_ENERGY_EXPORT = WINDOW_COLUMNS.index("energy_export_kwh")


def _window_rows(
    store: MeterStore, series: str, res: int, start: float, end: float
) -> list[tuple[Cell, ...]]:
    """Executor: window rows with local ISO times (the lean store path).

    A window without counters (a station) gets the energy integrated from its power
    (:func:`~.metering.statistics.window_energy`, as the hourly rows count it).
    """
    rows = store.query_window_columns(series, res, start, end, (*WINDOW_COLUMNS, "energy_kwh"))
    as_local = dt_util.as_local
    utc = dt_util.utc_from_timestamp
    imp_at, exp_at = _ENERGY_IMPORT, _ENERGY_EXPORT
    out: list[tuple[Cell, ...]] = []
    for r in rows:
        first = as_local(utc(float(r[0] or 0))).isoformat()
        last = as_local(utc(float(r[1] or 0))).isoformat()
        if r[imp_at] is None and r[exp_at] is None and r[-1] is not None:
            imp, exp = window_energy(None, None, r[-1])
            out.append((first, last, *r[2:imp_at], imp, exp, *r[exp_at + 1 : -1]))
        else:
            out.append((first, last, *r[2:-1]))
    return out


def _hour_rows(store: MeterStore, series: str, start: float, end: float) -> list[tuple[Cell, ...]]:
    """Executor: hourly rows built from the 5-minute windows."""
    first = start - start % 3600
    windows = store.query_windows(series, STATISTICS_RESOLUTION, first, end)
    hours: list[HourStat] = hourly_statistics(windows)
    return [
        (
            local_iso(h.start),
            local_iso(h.start + 3600),
            h.import_kwh,
            h.export_kwh,
            h.power_mean,
            h.power_min,
            h.power_max,
        )
        for h in hours
    ]


async def async_query_history(hass: HomeAssistant, query: HistoryQuery) -> HistoryResult:
    """Run a checked query against the store; raises ``StoreError`` when it cannot be read."""
    history = query.history
    store = history.store
    if store is None:
        raise StoreError("the history store is not available")
    start = query.start.timestamp()
    end = query.end.timestamp()
    columns: tuple[str, ...]
    if query.resolution is Resolution.HOUR:
        columns = HOUR_COLUMNS
        rows = await hass.async_add_executor_job(_hour_rows, store, history.series, start, end)
    else:
        columns = WINDOW_COLUMNS
        rows = await hass.async_add_executor_job(
            _window_rows,
            store,
            history.series,
            RESOLUTION_SECONDS[query.resolution],
            start,
            end,
        )
    return HistoryResult(history.series, query.resolution, query.start, query.end, columns, rows)
