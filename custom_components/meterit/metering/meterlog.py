"""The meterlog: webhook power readings with their price, checked, written in bulk, read back.

The functions take an open connection: :class:`~.store.MeterStore` holds the lock and the
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
import sqlite3
from typing import Final

from .errors import (
    InvalidRecordError,
    finite,
)


@dataclass(slots=True, frozen=True)
class MeterlogRow:
    """One webhook power reading with its price (€/kWh, None when unknown).

    ``id`` is assigned by the store (None when writing). ``entry`` is the config entry that
    stored the reading (None: unknown, rows written before schema v4). ``sent`` is the time the
    sensor gave (None: a reading taken on arrival, or written before schema v5); ``time``
    differs from it when a fast sensor clock moved the reading back.
    """

    time: float
    station_id: str
    watts: float
    price: float | None = None
    id: int | None = None
    entry: str | None = None
    sent: float | None = None


MAX_ROWS_PER_INSERT: Final = 1_000
"""Rows per multi-row INSERT (6 parameters each: far below SQLite's parameter limit)."""
_ROW_PARAMS: Final = 6
"""Parameters of one meterlog row: time, station_id, watts, price, entry, sent."""

# the time index bounds the scan (never the whole table); the rowid checks need no table lookup
_ENTRY_READINGS_AFTER: Final = (
    "SELECT time, station_id, watts, price, id, entry, sent FROM meterlog INDEXED BY meterlog_time "
    "WHERE time > ? AND id > ? AND id <= ? AND entry = ? ORDER BY id"
)


_STORED_KEYS_CHUNK: Final = 500
"""Times per lookup of stored readings (far below SQLite's parameter limit)."""


def _stored_keys(
    conn: sqlite3.Connection, times: Sequence[float | str | None]
) -> set[tuple[object, object, object]]:
    """``(sent, station_id, entry)`` of the stored readings sent at any of ``times``.

    A row without a sent time (stored before schema v5, or taken on arrival) counts with its
    time. Both lookups use an index: the partial ``meterlog_sent`` one, and ``meterlog_time``.
    """
    keys: set[tuple[object, object, object]] = set()
    for first in range(0, len(times), _STORED_KEYS_CHUNK):
        chunk = list(times[first : first + _STORED_KEYS_CHUNK])
        keys.update(conn.execute(_stored_keys_sql(len(chunk)), chunk + chunk))
    return keys


@lru_cache(maxsize=8)
def _stored_keys_sql(count: int) -> str:
    """The lookup of :func:`_stored_keys` for ``count`` times (bound twice: ``2 * count``)."""
    marks = ", ".join("?" * count)
    return (
        f"SELECT sent, station_id, entry FROM meterlog WHERE sent IN ({marks}) "  # noqa: S608
        "UNION ALL SELECT time, station_id, entry FROM meterlog "
        f"WHERE time IN ({marks}) AND sent IS NULL"
    )


def _sent_key(params: Sequence[float | str | None], first: int) -> float | str | None:
    """The sent time of the row at ``params[first:]``, or its time when it has none."""
    sent = params[first + 5]
    return params[first] if sent is None else sent


@lru_cache(maxsize=64)
def _insert_readings_sql(count: int) -> str:
    # only placeholders are repeated: the values are bound parameters
    placeholders = ", ".join(["(?, ?, ?, ?, ?, ?)"] * count)
    return (
        f"INSERT INTO meterlog (time, station_id, watts, price, entry, sent) VALUES {placeholders}"  # noqa: S608
    )


@dataclass(frozen=True, slots=True)
class PreparedReadings:
    """Readings checked and flattened into statement parameters (see :func:`prepare_readings`)."""

    count: int
    params: list[float | str | None]


def prepare_readings(rows: Iterable[MeterlogRow]) -> PreparedReadings:
    """Check meterlog rows and flatten them for :meth:`MeterStore.add_prepared`.

    Raises :class:`InvalidRecordError` naming the first bad row and field.
    """
    params: list[float | str | None] = []
    count = 0
    for index, row in enumerate(rows):
        params.extend(
            _meterlog_values(
                index,
                row.time,
                row.station_id,
                row.watts,
                row.price,
                entry=row.entry,
                sent=row.sent,
            )
        )
        count += 1
    return PreparedReadings(count, params)


def prepare_reading(
    time: float,
    station_id: str,
    watts: float,
    price: float | None,
    *,
    entry: str | None = None,
    sent: float | None = None,
) -> PreparedReadings:
    """:func:`prepare_readings` of one row given by its fields (the webhook's common case).

    Same checks, without building a :class:`MeterlogRow` and a generator for a single row.
    """
    return PreparedReadings(
        1, list(_meterlog_values(0, time, station_id, watts, price, entry=entry, sent=sent))
    )


def _concat(batches: Sequence[PreparedReadings]) -> list[float | str | None]:
    return [value for batch in batches for value in batch.params]


def _meterlog_values(
    index: int,
    time: float,
    station_id: str,
    watts: float,
    price: float | None,
    *,
    entry: str | None,
    sent: float | None = None,
) -> tuple[float, str, float, float | None, str | None, float | None]:
    if not finite(time):
        raise InvalidRecordError(f"meterlog row {index}: field 'time' must be finite: {time!r}")
    if not isinstance(station_id, str) or not station_id:
        raise InvalidRecordError(f"meterlog row {index}: field 'station_id' must be non-empty")
    if not finite(watts):
        raise InvalidRecordError(f"meterlog row {index}: field 'watts' must be finite: {watts!r}")
    if price is not None and not finite(price):
        raise InvalidRecordError(
            f"meterlog row {index}: field 'price' must be finite or None: {price!r}"
        )
    if entry is not None and (not isinstance(entry, str) or not entry):
        raise InvalidRecordError(
            f"meterlog row {index}: field 'entry' must be non-empty or None: {entry!r}"
        )
    if sent is not None and not finite(sent):
        raise InvalidRecordError(
            f"meterlog row {index}: field 'sent' must be finite or None: {sent!r}"
        )
    return (time, station_id, watts, price, entry, sent)


def insert_rows(conn: sqlite3.Connection, params: Sequence[float | str | None]) -> int:
    """Write flattened rows (``_ROW_PARAMS`` values each) in multi-row INSERTs, in order.

    Returns the ``id`` of the last row written (0: none).
    """
    last: int | None = 0
    step = _ROW_PARAMS * MAX_ROWS_PER_INSERT
    for first in range(0, len(params), step):
        chunk = params[first : first + step]
        last = conn.execute(_insert_readings_sql(len(chunk) // _ROW_PARAMS), chunk).lastrowid
    return last or 0


def insert_once(
    conn: sqlite3.Connection,
    batches: Sequence[PreparedReadings],
    checked: Sequence[Sequence[int]],
) -> tuple[int, list[list[int] | None]]:
    """Write ``batches`` but their checked rows already stored (see ``MeterStore.add_prepared_once``)."""
    times: set[float | str | None] = set()
    for batch, rows in zip(batches, checked, strict=True):
        params = batch.params
        times.update(_sent_key(params, _ROW_PARAMS * index) for index in rows)
    seen = _stored_keys(conn, list(times))
    kept_rows: list[list[int] | None] = []
    out: list[float | str | None] = []
    for batch, rows in zip(batches, checked, strict=True):
        params = batch.params
        check = set(rows)
        kept: list[int] | None = None
        for index in range(batch.count):
            first = _ROW_PARAMS * index
            key = (_sent_key(params, first), params[first + 1], params[first + 4])
            if index in check and key in seen:
                if kept is None:
                    kept = list(range(index))
                continue
            seen.add(key)
            if kept is not None:
                kept.append(index)
            out.extend(params[first : first + _ROW_PARAMS])
        kept_rows.append(kept)
    return insert_rows(conn, out), kept_rows


def select_readings(
    conn: sqlite3.Connection, station_id: str | None, entry: str | None, limit: int, offset: int
) -> list[MeterlogRow]:
    """Readings newest first, of one station or all, of one entry or all (a page of them)."""
    where: list[str] = []
    params: list[object] = []
    if station_id is not None:
        where.append("station_id = ?")
        params.append(station_id)
    if entry is not None:
        where.append("entry = ?")
        params.append(entry)
    sql = "SELECT time, station_id, watts, price, id, entry, sent FROM meterlog"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY time DESC, id DESC LIMIT ? OFFSET ?"
    rows = conn.execute(sql, (*params, limit, offset)).fetchall()
    return [MeterlogRow(*row) for row in rows]


def readings_after(
    conn: sqlite3.Connection, entry: str, after_id: int, since: float
) -> tuple[list[MeterlogRow], int]:
    """``entry``'s readings with ``id > after_id`` and ``time > since``, and the highest id."""
    last = int(conn.execute("SELECT coalesce(max(id), 0) FROM meterlog").fetchone()[0])
    rows = conn.execute(_ENTRY_READINGS_AFTER, (since, after_id, last, entry)).fetchall()
    return [MeterlogRow(*row) for row in rows], last
