"""MeterStore schema migrations: old files keep their data; a failed or newer schema is refused."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
import sqlite3

import pytest

from custom_components.meterit.metering import (
    MeterlogRow,
    MeterStore,
    StoreUnavailableError,
    StoreVersionError,
    Window,
    prepare_readings,
    schema,
)
from custom_components.meterit.metering.schema import SCHEMA_VERSION


def _make_old(path: Path, version: int, rows: list[tuple[object, ...]]) -> None:
    """A file of schema ``version`` as it was written, with these meterlog rows (as many
    columns as that version had: time, station_id, watts, price, then entry from v4)."""
    columns = ("time", "station_id", "watts", "price", "entry")[: len(rows[0])]
    marks = ", ".join("?" * len(columns))
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for migrate in schema.MIGRATIONS[:version]:
            migrate(conn)
        conn.executemany(
            f"INSERT INTO meterlog ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
            rows,
        )
        conn.execute(f"PRAGMA user_version = {version}")


def test_migrates_v4_rows_keep_their_ids_and_count_as_sent_at_their_time(
    tmp_path: Path,
) -> None:
    """v5: the rows from before keep their ids, with no sent time; a batch sent before the
    upgrade and again after it is still recognised, by the stored time."""
    path = tmp_path / "v4.db"
    # rows with an entry, without a sent time
    _make_old(
        path,
        4,
        [(10.0, "1", 100.0, 0.2, "A"), (20.0, "1", 200.0, None, "A"), (30.0, "2", 3.0, 0.1, None)],
    )
    store = MeterStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION == 6
        old = store.query_readings()
        assert [(r.id, r.time, r.station_id, r.entry, r.sent) for r in old] == [
            (3, 30.0, "2", None, None),
            (2, 20.0, "1", "A", None),
            (1, 10.0, "1", "A", None),
        ]
        again = prepare_readings(
            [
                MeterlogRow(10.0, "1", 100.0, 0.2, entry="A", sent=10.0),
                MeterlogRow(20.0, "1", 200.0, entry="A", sent=20.0),
                MeterlogRow(25.0, "1", 250.0, entry="A", sent=25.0),
            ]
        )
        last, kept = store.add_prepared_once([again], [range(3)])
        assert (last, kept) == (4, [[2]])
        assert [(r.id, r.sent) for r in store.query_readings() if r.time == 25.0] == [(4, 25.0)]
    finally:
        store.close()


def _make_v1(path: Path) -> None:
    """A v1 file as it was written: windows without w_min/energy_kwh, and state."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE windows (
            series TEXT NOT NULL, resolution INTEGER NOT NULL, start REAL NOT NULL,
            timestamp REAL NOT NULL, tariff INTEGER,
            import_kwh REAL, import_t1_kwh REAL, import_t2_kwh REAL, export_kwh REAL,
            w REAL, l1_w REAL, l2_w REAL, l3_w REAL, l1_v REAL, l2_v REAL, l3_v REAL,
            w_avg REAL, l1_w_avg REAL, l2_w_avg REAL, l3_w_avg REAL,
            w_max REAL, l1_w_max REAL, l2_w_max REAL, l3_w_max REAL,
            reading_count INTEGER NOT NULL,
            energy_import_kwh REAL, energy_export_kwh REAL,
            PRIMARY KEY (series, resolution, start)
        ) WITHOUT ROWID;
        CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO windows (series, resolution, start, timestamp, tariff, import_kwh, w_avg,
                             w_max, reading_count, energy_import_kwh)
            VALUES ('p1', 300, 600.0, 900.0, 2, 1234.567, 450.5, 900.0, 299, 0.038);
        INSERT INTO state VALUES ('agg:p1', '{"version": 1}');
        PRAGMA user_version = 1;
        """
    )
    conn.close()


def test_migrates_v1_file_keeping_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _make_v1(path)
    store = MeterStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION
        [window] = store.query_windows("p1", 300, 0, 1e9)
        assert window == Window(
            "p1",
            300,
            600.0,
            900.0,
            tariff=2,
            import_kwh=1234.567,
            w_avg=450.5,
            w_max=900.0,
            reading_count=299,
            energy_import_kwh=0.038,
        )
        assert store.load_state("agg:p1") == {"version": 1}
        assert store.add_readings([MeterlogRow(1.0, "1", 2.0)]) == 1
    finally:
        store.close()
    # v3: the (station, time) index is gone; v5: the partial index of sent times
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        indexes = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'meterlog'"
            " ORDER BY name"
        ).fetchall()
    assert indexes == [("meterlog_sent",), ("meterlog_time",)]


def test_migrates_v3_meterlog_rows_keep_no_entry(tmp_path: Path) -> None:
    """v4: meterlog rows name their entry; the rows from before stay, without one."""
    path = tmp_path / "v3.db"
    _make_old(path, 3, [(10.0, "1", 100.0, 0.2), (20.0, "1", 5000.0, None)])  # without an entry
    store = MeterStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION == 6
        old = store.query_readings()
        assert [(r.time, r.station_id, r.watts, r.price, r.entry) for r in old] == [
            (20.0, "1", 5000.0, None, None),
            (10.0, "1", 100.0, 0.2, None),
        ]
        store.add_readings([MeterlogRow(30.0, "1", 7.0, entry="A"), MeterlogRow(40.0, "1", 8.0)])
        store.add_readings([MeterlogRow(50.0, "1", 9.0, 0.1, entry="B")])
        assert [r.time for r in store.query_readings()] == [50.0, 40.0, 30.0, 20.0, 10.0]
        assert [r.time for r in store.query_readings(entry="A")] == [30.0]
        assert [r.time for r in store.query_readings("1", entry="B")] == [50.0]
        assert store.query_readings("2", entry="B") == []
        assert store.query_readings(entry="C") == []
    finally:
        store.close()
    with closing(sqlite3.connect(path)) as conn:
        indexes = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'meterlog'"
            " ORDER BY name"
        ).fetchall()
        # v5's index is partial: rows without a sent time (taken on arrival) are not in it
        in_sent_index = conn.execute(
            "SELECT count(*) FROM meterlog INDEXED BY meterlog_sent WHERE sent IS NOT NULL"
        ).fetchone()[0]
    assert indexes == [("meterlog_sent",), ("meterlog_time",)]
    assert in_sent_index == 0


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreVersionError, match="99"):
        MeterStore(path)


def test_failed_migration_leaves_file_at_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    _make_v1(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE windows ADD COLUMN w_min REAL")
        conn.execute("ALTER TABLE no_such_table ADD COLUMN x")

    monkeypatch.setattr(schema, "MIGRATIONS", (schema.MIGRATIONS[0], broken))
    with pytest.raises(StoreUnavailableError, match="no_such_table"):
        MeterStore(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        columns = [r[1] for r in conn.execute("PRAGMA table_info(windows)")]
        assert "w_min" not in columns
        assert conn.execute("SELECT count(*) FROM windows").fetchone()[0] == 1
    finally:
        conn.close()
