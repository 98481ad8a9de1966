"""The SQLite store: windows, aggregator state, webhook readings (meterlog) and prices.

One connection, WAL journal, one writer: every method takes a lock, so the HA layer may call
them from executor threads. Writes are batched: one transaction per call.

The tables and their migrations are in :mod:`.schema`, the meterlog's rows in :mod:`.meterlog`.
A file that is not SQLite, is damaged or belongs to another program raises
:class:`StoreCorruptError` at open and is left untouched; a path that cannot be opened or
written raises :class:`StoreUnavailableError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
import json
from pathlib import Path
import sqlite3
import threading

from . import pricing
from .errors import (
    InvalidQueryError,
    InvalidRecordError,
    StoreCorruptError,
    StoreUnavailableError,
    finite,
)
from .merge import merge_window
from .meterlog import (
    MAX_ROWS_PER_INSERT,
    MeterlogRow,
    PreparedReadings,
    _concat,
    _insert_readings_sql,
    insert_once,
    insert_rows,
    prepare_readings,
    readings_after,
    select_readings,
)
from .models import WINDOW_FIELDS, JsonValue, Window
from .price_points import PricePoint, _price_values
from .pricing import HourCost, PriceRef, Unpriced
from .schema import _check_window, checked_rows, prepare, window_row

SHORT_RETENTION_S = 86_400.0
"""30-second (any resolution below 5 min) windows are kept this long."""

_CORRUPT_CODES = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})


_COLUMNS = ("timestamp" if name == "end" else name for name in WINDOW_FIELDS)
_COLUMN_LIST = ", ".join(_COLUMNS)
_PLACEHOLDERS = ", ".join("?" * len(WINDOW_FIELDS))
# SQL below is built from constant column names only
_UPSERT_WINDOW = (
    f"INSERT INTO windows ({_COLUMN_LIST}) VALUES ({_PLACEHOLDERS}) "  # noqa: S608
    "ON CONFLICT (series, resolution, start) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}"
        for c in _COLUMN_LIST.split(", ")
        if c not in ("series", "resolution", "start")
    )
    # a synthetic window never replaces a real one
    + " WHERE excluded.reading_count > 0 OR windows.reading_count = 0"
)
_REPLACE_WINDOW = _UPSERT_WINDOW.rsplit(" WHERE ", 1)[0]
_SELECT_WINDOW = (
    f"SELECT {_COLUMN_LIST} FROM windows "  # noqa: S608
    "WHERE series = ? AND resolution = ? AND start = ?"
)
_SAVE_STATE = (
    "INSERT INTO state (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_SELECT_WINDOWS = (
    f"SELECT {_COLUMN_LIST} FROM windows "  # noqa: S608
    "WHERE series = ? AND resolution = ? AND start >= ? AND start < ? ORDER BY start"
)
# the same upsert, but an existing real window is never touched (imports of old history)
_INSERT_MISSING_WINDOW = (
    _UPSERT_WINDOW.rsplit(" WHERE ", 1)[0]
    + " WHERE excluded.reading_count > 0 AND windows.reading_count = 0"
)

QUERY_COLUMNS: frozenset[str] = frozenset(WINDOW_FIELDS) - {"series", "resolution"}
"""Window fields :meth:`MeterStore.query_window_columns` can return."""

# per-window import / export energy in micro-kWh as hourly_statistics counts it: from the
# counters when the window has them, else the integrated energy (positive import, negative export)
_ENERGY_SUMS = (
    "SELECT "
    "coalesce(sum(CASE WHEN energy_import_kwh IS NOT NULL "
    "THEN round(energy_import_kwh * 1e9) "
    "WHEN energy_export_kwh IS NULL AND energy_kwh > 0 THEN round(energy_kwh * 1e9) END), 0), "
    "coalesce(sum(CASE WHEN energy_export_kwh IS NOT NULL "
    "THEN round(energy_export_kwh * 1e9) "
    "WHEN energy_import_kwh IS NULL AND energy_kwh < 0 THEN -round(energy_kwh * 1e9) END), 0) "
    "FROM windows WHERE series = ? AND resolution = ? AND start < ?"
)


class MeterStore:
    """Meterit's own SQLite history (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = self._open(self._path)
        self._page_lock = threading.Lock()
        self._page_conn: sqlite3.Connection | None = None

    # ------------------------------------------------------------------ opening

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        name = path.name
        if path.is_dir():
            raise StoreUnavailableError(f"store path {name!r} is a directory, not a file")
        try:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as err:
            raise StoreUnavailableError(f"cannot open store file {name!r}: {err}") from None
        try:
            prepare(conn, name)
        except sqlite3.Error as err:
            conn.close()
            raise _translate(err, f"store file {name!r}") from None
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def schema_version(self) -> int:
        """The file's schema version (always :data:`SCHEMA_VERSION` once open)."""
        with self._reading() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Checkpoint the WAL and close; later calls raise :class:`StoreUnavailableError`."""
        with self._page_lock:
            if self._page_conn is not None:
                self._page_conn.close()
                self._page_conn = None
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            self._conn = None
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()

    @contextmanager
    def _paging(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection of its own for pages of readings.

        Such a page may scan much of the meterlog; on its own connection (WAL: readers and the
        writer do not wait for each other) it never holds up the webhook's writes.
        """
        with self._page_lock:
            if self._conn is None:
                raise StoreUnavailableError("the store is closed")
            try:
                if self._page_conn is None:
                    uri = f"{self._path.resolve().as_uri()}?mode=ro"
                    self._page_conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
                yield self._page_conn
            except sqlite3.Error as err:
                raise _translate(err, "store") from None

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StoreUnavailableError("the store is closed")
            try:
                yield conn
            except sqlite3.Error as err:
                raise _translate(err, "store") from None

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._reading() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # ------------------------------------------------------------------ windows

    def write_windows(
        self,
        windows: Iterable[Window],
        *,
        replace: bool = True,
        merge: Iterable[Window] = (),
        state: tuple[str, Mapping[str, JsonValue]] | None = None,
    ) -> int:
        """Upsert windows by ``(series, resolution, start)`` in one transaction.

        A real window replaces a synthetic one; a synthetic one never replaces a real one. With
        ``replace=False`` (imports) only missing windows are added and synthetic ones replaced
        by real ones: a window already stored from readings is never changed. ``merge``
        windows are added to the window stored at their key (:func:`~.merge.merge_window`;
        after the clock went back), and ``state`` (key, value) is saved in the same
        transaction: the windows and the state that follows them are stored together or not
        at all. Windows are streamed (a lazy run of many windows is never a list). Returns
        the number of windows inserted or changed.
        """
        value = None if state is None else _state_json(state)
        with self._writing() as conn:
            before = conn.total_changes
            conn.executemany(
                _UPSERT_WINDOW if replace else _INSERT_MISSING_WINDOW, checked_rows(windows)
            )
            for window in merge:
                stored = conn.execute(_SELECT_WINDOW, window.key).fetchone()
                merged = window if stored is None else merge_window(Window(*stored), window)
                row = window_row(merged)
                _check_window(row)
                conn.execute(_REPLACE_WINDOW, row)
            changed = conn.total_changes - before
            if state is not None:
                conn.execute(_SAVE_STATE, (state[0], value))
            return changed

    def query_windows(self, series: str, resolution: int, start: float, end: float) -> list[Window]:
        """Windows of a series and resolution with ``start <= window.start < end``, in order."""
        with self._reading() as conn:
            rows = conn.execute(_SELECT_WINDOWS, (series, resolution, start, end)).fetchall()
        return [Window(*row) for row in rows]

    def query_window_columns(
        self, series: str, resolution: int, start: float, end: float, columns: Sequence[str]
    ) -> list[tuple[float | int | None, ...]]:
        """The lean path: only ``columns`` of the windows in ``[start, end)``, as tuples.

        ``columns`` are :class:`Window` field names (see :data:`QUERY_COLUMNS`); an unknown or
        empty list raises :class:`InvalidQueryError`. Much faster than :meth:`query_windows`
        for long ranges (no ``Window`` objects, no unused columns).
        """
        if not columns:
            raise InvalidQueryError("query field 'columns' must name at least one column")
        unknown = [c for c in columns if c not in QUERY_COLUMNS]
        if unknown:
            raise InvalidQueryError(
                f"query field 'columns': unknown column(s) {', '.join(map(repr, unknown))}"
            )
        names = ", ".join("timestamp" if c == "end" else c for c in columns)
        sql = (
            f"SELECT {names} FROM windows "  # noqa: S608 (names checked against QUERY_COLUMNS)
            "WHERE series = ? AND resolution = ? AND start >= ? AND start < ? ORDER BY start"
        )
        with self._reading() as conn:
            return conn.execute(sql, (series, resolution, start, end)).fetchall()

    def window_range(self, series: str, resolution: int) -> tuple[float, float] | None:
        """``(first start, last start)`` of a series' windows, None when it has none."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT min(start), max(start) FROM windows WHERE series = ? AND resolution = ?",
                (series, resolution),
            ).fetchone()
        return None if row[0] is None else (float(row[0]), float(row[1]))

    def energy_before(self, series: str, resolution: int, before: float) -> tuple[float, float]:
        """Total import and export energy (kWh) of the windows that start before ``before``.

        Counted exactly as :func:`~.statistics.hourly_statistics` counts it, so it is the base
        of running sums that continue a series.
        """
        with self._reading() as conn:
            imp, exp = conn.execute(_ENERGY_SUMS, (series, resolution, before)).fetchone()
        return (int(imp) / 1e9, int(exp) / 1e9)

    # ------------------------------------------------------------------ priced windows

    def price_windows(
        self,
        series: str,
        resolution: int,
        start: float,
        end: float,
        *,
        import_ref: PriceRef | None,
        export_ref: PriceRef | None = None,
    ) -> float | None:
        """Price the unpriced windows in ``[start, end)``; the earliest newly priced start."""
        with self._writing() as conn:
            return pricing.price_windows(
                conn, series, resolution, start, end, import_ref=import_ref, export_ref=export_ref
            )

    def clear_prices(self, series: str) -> int:
        """Forget the prices of a series' windows (its price source changed)."""
        with self._writing() as conn:
            return pricing.clear_prices(conn, series)

    def hourly_costs(
        self, series: str, resolution: int, start: float, end: float, *, export: bool = True
    ) -> list[HourCost]:
        """Per-hour cost of the priced windows in ``[start, end)`` (see :mod:`.pricing`)."""
        with self._reading() as conn:
            rows = pricing.cost_rows(conn, series, resolution, start, end)
        return pricing.hourly_costs(rows, export=export)

    def cost_before(self, series: str, resolution: int, before: float) -> tuple[float, float]:
        """Import cost and export compensation (€) of the priced windows before ``before``."""
        with self._reading() as conn:
            return pricing.cost_before(conn, series, resolution, before)

    def unpriced(self, series: str, resolution: int, *, export: bool = True) -> Unpriced:
        """Windows with energy and no price yet (export counted only when ``export``)."""
        with self._reading() as conn:
            return pricing.unpriced(conn, series, resolution, export=export)

    def unpriced_range(
        self, series: str, resolution: int, since: float
    ) -> tuple[float, float] | None:
        """First and last start of the unpriced windows with import energy from ``since`` on."""
        with self._reading() as conn:
            return pricing.unpriced_range(conn, series, resolution, since)

    def series(self) -> list[str]:
        """Every series with at least one stored window, sorted."""
        with self._reading() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT series FROM windows ORDER BY 1")]

    def purge(self, now: float, retention: float = SHORT_RETENTION_S) -> int:
        """Delete windows shorter than 5 min that ended more than ``retention`` s before ``now``.

        Returns the number of windows deleted. 5-minute windows are kept forever.
        """
        with self._writing() as conn:
            cur = conn.execute(
                "DELETE FROM windows WHERE resolution < 300 AND timestamp <= ?", (now - retention,)
            )
            return cur.rowcount

    # ------------------------------------------------------------------ state

    def save_state(self, key: str, value: Mapping[str, JsonValue]) -> None:
        """Store a JSON-serialisable dict (e.g. an aggregator snapshot) under ``key``."""
        text = _state_json((key, value))
        with self._writing() as conn:
            conn.execute(_SAVE_STATE, (key, text))

    def load_state(self, key: str) -> dict[str, JsonValue] | None:
        """The dict saved under ``key``, or None (also when the stored text is unusable)."""
        with self._reading() as conn:
            row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    # ------------------------------------------------------------------ meterlog

    def add_readings(self, rows: Iterable[MeterlogRow]) -> int:
        """Append webhook readings in one transaction; returns how many were written.

        Every row is validated first: one bad row raises :class:`InvalidRecordError` and
        nothing of the batch is written.
        """
        prepared = prepare_readings(rows)
        self.add_prepared(prepared)
        return prepared.count

    def add_prepared(self, *batches: PreparedReadings) -> int:
        """Append readings validated by :func:`prepare_readings`, all in one transaction.

        The lean path for a writer thread: no Python work per row here. Returns the ``id`` of
        the last row written (0 when there was nothing to write); the rows of one call get
        consecutive ids in the order given (one connection writes).
        """
        count = sum(b.count for b in batches)
        if not count:
            return 0
        if count <= MAX_ROWS_PER_INSERT:
            # One statement is one implicit transaction and one trip into SQLite, which
            # releases the GIL once: under load this is what keeps the event loop fast.
            params = batches[0].params if len(batches) == 1 else _concat(batches)
            with self._reading() as conn:
                cursor = conn.execute(_insert_readings_sql(count), params)
            return cursor.lastrowid or 0
        with self._writing() as conn:
            return insert_rows(conn, _concat(batches))

    def add_prepared_once(
        self, batches: Sequence[PreparedReadings], checked: Sequence[Sequence[int]]
    ) -> tuple[int, list[list[int] | None]]:
        """:meth:`add_prepared`, leaving out the checked rows that are already stored.

        ``checked[i]`` names rows of ``batches[i]`` (by index; readings with the sensor's own
        time): such a row is not written when a reading of the same sent time (the time as the
        sensor gave it), station and entry is stored, or comes earlier in this call (a batch
        sent again). Rows stored before schema v5 have no sent time: their time stands in.
        A checked row without a sent time is checked by its time. The check and the writes
        are one transaction: two calls cannot both write the same reading. Returns the ``id``
        of the last row written (0: none) and, per batch, the indexes of the rows written
        (None: all of them), in order.
        """
        if len(checked) != len(batches):
            raise InvalidRecordError("one list of checked rows per batch is needed")
        with self._writing() as conn:
            return insert_once(conn, batches, checked)

    def query_readings(
        self,
        station_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
        entry: str | None = None,
    ) -> list[MeterlogRow]:
        """Webhook readings, newest first, of one station or of all, of one entry or of all."""
        if limit < 0 or offset < 0:
            raise InvalidRecordError(f"limit and offset must be >= 0, got {limit}, {offset}")
        with self._paging() as conn:
            return select_readings(conn, station_id, entry, limit, offset)

    def entry_readings_after(
        self, entry: str, after_id: int, since: float
    ) -> tuple[list[MeterlogRow], int]:
        """The readings of ``entry`` with ``id > after_id`` and ``time > since``, in id order.

        Id order is the order they were stored in. Returns them with the highest ``id`` in the
        meterlog when read (0: empty): every row of ``entry`` up to that id is in the list or
        filtered out, so it is the next ``after_id`` as long as nothing else writes readings of
        ``entry`` meanwhile. The scan walks the time index from ``since`` (the other entries'
        rows after it included), never the whole table: ``since`` bounds the cost.
        """
        if not isinstance(entry, str) or not entry:
            raise InvalidQueryError("query field 'entry' must be a non-empty string")
        if isinstance(after_id, bool) or not isinstance(after_id, int) or after_id < 0:
            raise InvalidQueryError(f"query field 'after_id' must be >= 0: {after_id!r}")
        if not finite(since):
            raise InvalidQueryError(f"query field 'since' must be finite: {since!r}")
        with self._paging() as conn:
            return readings_after(conn, entry, after_id, since)

    # ------------------------------------------------------------------ prices

    def write_prices(self, points: Iterable[PricePoint]) -> int:
        """Upsert prices by ``(region, kind, start)``; returns how many were written."""
        values = [_price_values(i, p) for i, p in enumerate(points)]
        with self._writing() as conn:
            conn.executemany(
                'INSERT INTO prices (region, kind, start, "end", price) VALUES (?, ?, ?, ?, ?) '
                'ON CONFLICT (region, kind, start) DO UPDATE SET "end" = excluded."end", '
                "price = excluded.price",
                values,
            )
        return len(values)

    def query_prices(self, region: str, kind: str, start: float, end: float) -> list[PricePoint]:
        """Price periods of a region and kind overlapping ``[start, end)``, in order."""
        with self._reading() as conn:
            rows = conn.execute(
                'SELECT region, kind, start, "end", price FROM prices '
                'WHERE region = ? AND kind = ? AND "end" > ? AND start < ? ORDER BY start',
                (region, kind, start, end),
            ).fetchall()
        return [PricePoint(*row) for row in rows]


def _translate(err: sqlite3.Error, what: str) -> StoreCorruptError | StoreUnavailableError:
    code = getattr(err, "sqlite_errorname", "")
    if code in _CORRUPT_CODES:
        return StoreCorruptError(f"{what} is not a usable SQLite database ({code}): {err}")
    return StoreUnavailableError(f"{what} cannot be used ({code or 'error'}): {err}")


def _state_json(state: tuple[str, Mapping[str, JsonValue]]) -> str:
    key, value = state
    if not key:
        raise InvalidRecordError("state key must be a non-empty string")
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as err:
        raise InvalidRecordError(f"state {key!r} is not JSON-serialisable: {err}") from None
