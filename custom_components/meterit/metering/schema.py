"""The store's tables, version by version: each migration takes a file one schema version up.

Schema versions live in ``PRAGMA user_version``; :data:`MIGRATIONS` upgrades a file step by step
(never downgrades: a newer file raises ``StoreVersionError``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
import sqlite3

from .errors import InvalidRecordError, StoreCorruptError, StoreVersionError, finite
from .models import WINDOW_FIELDS, Window


def _migrate_1(conn: sqlite3.Connection) -> None:
    """v1: windows (hwLogger meter_data columns) and aggregator state."""
    conn.execute(
        """CREATE TABLE windows (
            series TEXT NOT NULL, resolution INTEGER NOT NULL, start REAL NOT NULL,
            timestamp REAL NOT NULL, tariff INTEGER,
            import_kwh REAL, import_t1_kwh REAL, import_t2_kwh REAL, export_kwh REAL,
            w REAL, l1_w REAL, l2_w REAL, l3_w REAL, l1_v REAL, l2_v REAL, l3_v REAL,
            w_avg REAL, l1_w_avg REAL, l2_w_avg REAL, l3_w_avg REAL,
            w_max REAL, l1_w_max REAL, l2_w_max REAL, l3_w_max REAL,
            reading_count INTEGER NOT NULL,
            energy_import_kwh REAL, energy_export_kwh REAL,
            PRIMARY KEY (series, resolution, start)
        ) WITHOUT ROWID"""
    )
    conn.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def _migrate_2(conn: sqlite3.Connection) -> None:
    """v2: minimum and integrated energy per window; meterlog and prices tables."""
    conn.execute("ALTER TABLE windows ADD COLUMN w_min REAL")
    conn.execute("ALTER TABLE windows ADD COLUMN energy_kwh REAL")
    conn.execute(
        """CREATE TABLE meterlog (
            id INTEGER PRIMARY KEY, time REAL NOT NULL, station_id TEXT NOT NULL,
            watts REAL NOT NULL, price REAL NULL
        )"""
    )
    conn.execute("CREATE INDEX meterlog_station_time ON meterlog (station_id, time)")
    conn.execute("CREATE INDEX meterlog_time ON meterlog (time)")
    conn.execute(
        """CREATE TABLE prices (
            region TEXT NOT NULL, start REAL NOT NULL, "end" REAL NOT NULL,
            price REAL NOT NULL, kind TEXT NOT NULL,
            PRIMARY KEY (region, kind, start)
        ) WITHOUT ROWID"""
    )


def _migrate_3(conn: sqlite3.Connection) -> None:
    """v3: meterlog keeps only its time index.

    The (station, time) index doubled the cost of every webhook write (readings of several
    stations interleave, so each commit touched a leaf page per station); a station's page of
    readings walks the time index instead.
    """
    conn.execute("DROP INDEX IF EXISTS meterlog_station_time")


def _migrate_4(conn: sqlite3.Connection) -> None:
    """v4: each meterlog row names the config entry that stored it (NULL: rows from before).

    Two webhook entries may have stations with the same ID; their readings stay apart, and an
    entry's readings stored after its last saved state can be found again (see
    :meth:`MeterStore.entry_readings_after`). No index: every write would pay for it.
    """
    conn.execute("ALTER TABLE meterlog ADD COLUMN entry TEXT NULL")


def _migrate_5(conn: sqlite3.Connection) -> None:
    """v5: each meterlog row keeps the time its sensor gave (``sent``; NULL: none given).

    A batch sent again (the sensor missed the answer) is recognised by the times it carries,
    even when a fast clock moved it back by a different amount each time. The index holds only
    the rows with a sent time: the usual reading, taken on arrival, does not pay for it.
    """
    conn.execute("ALTER TABLE meterlog ADD COLUMN sent REAL NULL")
    conn.execute("CREATE INDEX meterlog_sent ON meterlog (sent) WHERE sent IS NOT NULL")


def _migrate_6(conn: sqlite3.Connection) -> None:
    """v6: each window keeps the price of its period (``import_price``, ``export_price``).

    NULL: not priced (yet). See :mod:`.pricing`; the window upserts leave both columns alone.
    """
    conn.execute("ALTER TABLE windows ADD COLUMN import_price REAL")
    conn.execute("ALTER TABLE windows ADD COLUMN export_price REAL")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _migrate_1,
    _migrate_2,
    _migrate_3,
    _migrate_4,
    _migrate_5,
    _migrate_6,
)
"""``MIGRATIONS[i]`` upgrades a file from version ``i`` to ``i + 1``."""
SCHEMA_VERSION = len(MIGRATIONS)


def prepare(conn: sqlite3.Connection, name: str) -> None:
    """Check the file (read-only), then switch to WAL and migrate it to the current schema."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    check = conn.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise StoreCorruptError(f"store file {name!r} is damaged: {check}")
    if version > SCHEMA_VERSION:
        raise StoreVersionError(
            f"store file {name!r} has schema version {version}, newer than this "
            f"Meterit's {SCHEMA_VERSION}; update Meterit"
        )
    if version == 0:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        if tables:
            raise StoreCorruptError(
                f"store file {name!r} is an SQLite database of another program "
                f"(tables {', '.join(tables[:5])}); not touching it"
            )
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    # Long range reads (a year of windows is ~25 MB of pages): map the file instead of copying
    # pages through a small cache.
    conn.execute("PRAGMA mmap_size = 268435456")
    conn.execute("PRAGMA cache_size = -32768")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[target - 1](conn)
            conn.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


window_row = attrgetter(*WINDOW_FIELDS)
"""A window as the row the ``windows`` table holds (its fields in column order)."""


def checked_rows(windows: Iterable[Window]) -> Iterator[tuple[object, ...]]:
    """Checked rows, one at a time (a bad one raises: the transaction is rolled back)."""
    for window in windows:
        row = window_row(window)
        _check_window(row)
        yield row


def _check_window(row: tuple[object, ...]) -> None:
    series, resolution, start, end = row[0], row[1], row[2], row[3]
    if not isinstance(series, str) or not series:
        raise InvalidRecordError(f"window field 'series' must be a non-empty string: {series!r}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution <= 0:
        raise InvalidRecordError(f"window field 'resolution' must be > 0: {resolution!r}")
    if not finite(start) or not finite(end):
        raise InvalidRecordError(f"window fields 'start'/'end' must be finite: {start!r}, {end!r}")
    for name, value in zip(WINDOW_FIELDS[4:], row[4:], strict=True):
        if value is not None and not finite(value):
            raise InvalidRecordError(f"window field {name!r} must be a finite number: {value!r}")
