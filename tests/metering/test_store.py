"""MeterStore: schema, migrations, upserts, retention, state, meterlog, prices, bad files."""

from __future__ import annotations

from collections.abc import Generator
from contextlib import closing
import math
from pathlib import Path
import sqlite3
import threading
from typing import Any

import pytest

from custom_components.meterit.metering import (
    InvalidQueryError,
    InvalidRecordError,
    MeterlogRow,
    MeterStore,
    PricePoint,
    StoreCorruptError,
    StoreUnavailableError,
    StoreVersionError,
    Window,
    hourly_statistics,
    store as store_module,
)
from custom_components.meterit.metering.store import SCHEMA_VERSION


@pytest.fixture
def store(tmp_path: Path) -> Generator[MeterStore]:
    s = MeterStore(tmp_path / "meterit.db")
    yield s
    s.close()


def win(start: float, res: int = 300, count: int = 10, series: str = "p1", **kw: object) -> Window:
    return Window(series, res, start, start + res, reading_count=count, **kw)  # type: ignore[arg-type]


def test_new_file_is_wal_and_current(tmp_path: Path) -> None:
    path = tmp_path / "meterit.db"
    store = MeterStore(str(path))
    try:
        assert store.schema_version == SCHEMA_VERSION == 6
    finally:
        store.close()
    store.close()  # idempotent
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"windows", "state", "meterlog", "prices"} <= tables
    finally:
        conn.close()


def test_write_query_roundtrip_and_range(store: MeterStore) -> None:
    windows = [
        win(s, w_avg=float(s), energy_import_kwh=0.001 * i)
        for i, s in enumerate(range(0, 3000, 300))
    ]
    store.write_windows(windows)
    assert store.query_windows("p1", 300, 0, 3000) == windows
    assert store.query_windows("p1", 300, 600, 1200) == windows[2:4]
    assert store.query_windows("p1", 30, 0, 3000) == []
    assert store.query_windows("other", 300, 0, 3000) == []


def test_upsert_real_beats_synthetic(store: MeterStore) -> None:
    real = win(0, count=5, w_avg=100.0)
    synthetic = win(0, count=0, w_avg=50.0)
    store.write_windows([synthetic])
    assert store.query_windows("p1", 300, 0, 300) == [synthetic]
    store.write_windows([real])
    assert store.query_windows("p1", 300, 0, 300) == [real]
    store.write_windows([synthetic])
    assert store.query_windows("p1", 300, 0, 300) == [real]
    newer = win(0, count=6, w_avg=101.0)
    store.write_windows([newer])
    assert store.query_windows("p1", 300, 0, 300) == [newer]


def test_purge_keeps_five_minute_windows(store: MeterStore) -> None:
    now = 1_000_000.0
    old30 = win(now - 90_000, res=30)
    new30 = win(now - 3_600, res=30)
    old300 = win(now - 900_000)
    store.write_windows([old30, new30, old300])
    assert store.purge(now) == 1
    assert store.query_windows("p1", 30, 0, now) == [new30]
    assert store.query_windows("p1", 300, 0, now) == [old300]


def test_series_and_state(store: MeterStore) -> None:
    store.write_windows([win(0, series="b"), win(0, series="a"), win(300, series="a")])
    assert store.series() == ["a", "b"]
    assert store.load_state("agg:p1") is None
    store.save_state("agg:p1", {"x": [1, 2.5, None], "y": {"z": True}})
    store.save_state("agg:p1", {"x": [3]})
    assert store.load_state("agg:p1") == {"x": [3]}
    with pytest.raises(InvalidRecordError, match="not JSON"):
        store.save_state("k", {"x": float("nan")})
    with pytest.raises(InvalidRecordError, match="key"):
        store.save_state("", {})


def test_unusable_state_reads_as_none(store: MeterStore) -> None:
    conn = store._conn
    assert conn is not None
    conn.execute("INSERT INTO state VALUES ('bad', '{oops'), ('list', '[1]')")
    assert store.load_state("bad") is None
    assert store.load_state("list") is None


@pytest.mark.parametrize(
    ("window", "field"),
    [
        (Window("", 300, 0.0, 300.0), "'series'"),
        (Window("p1", 0, 0.0, 300.0), "'resolution'"),
        (Window("p1", 300, float("nan"), 300.0), "'start'"),
        (Window("p1", 300, 0.0, 300.0, w_avg=float("inf")), "'w_avg'"),
        (Window("p1", 300, 0.0, 300.0, tariff="2"), "'tariff'"),  # type: ignore[arg-type]
    ],
)
def test_bad_window_is_rejected_and_batch_not_written(
    store: MeterStore, window: Window, field: str
) -> None:
    good = win(600)
    with pytest.raises(InvalidRecordError, match=field):
        store.write_windows([good, window])
    assert store.query_windows("p1", 300, 0, 10_000) == []


def test_meterlog_newest_first(store: MeterStore) -> None:
    rows = [
        MeterlogRow(100.0, "1", 50.0, 0.12),
        MeterlogRow(200.0, "2", 60.0),
        MeterlogRow(300.0, "1", 70.0, 0.15),
    ]
    assert store.add_readings(rows) == 3
    got = store.query_readings()
    assert [(r.time, r.station_id, r.watts, r.price) for r in got] == [
        (300.0, "1", 70.0, 0.15),
        (200.0, "2", 60.0, None),
        (100.0, "1", 50.0, 0.12),
    ]
    assert all(r.id is not None for r in got)
    assert [r.time for r in store.query_readings("1")] == [300.0, 100.0]
    assert [r.time for r in store.query_readings("1", limit=1, offset=1)] == [100.0]
    with pytest.raises(InvalidRecordError, match="limit"):
        store.query_readings(limit=-1)


def test_meterlog_prepared_batches_in_one_statement(store: MeterStore) -> None:
    """Requests checked apart (on the event loop) are written together, in order."""
    first = store_module.prepare_readings([MeterlogRow(1.0, "a", 10.0, 0.1)])
    second = store_module.prepare_readings(
        [MeterlogRow(2.0, "b", 20.0), MeterlogRow(3.0, "a", -5.5, 0.2)]
    )
    assert (first.count, second.count) == (1, 2)
    store.add_readings([MeterlogRow(0.5, "z", 1.0)])  # ids need not start at 1
    last = store.add_prepared(first, second)
    assert store.add_prepared() == 0
    got = store.query_readings()
    assert [(r.time, r.station_id, r.watts, r.price, r.id) for r in reversed(got)][1:] == [
        (1.0, "a", 10.0, 0.1, last - 2),  # the id of the last row is returned, ids consecutive
        (2.0, "b", 20.0, None, last - 1),
        (3.0, "a", -5.5, 0.2, last),
    ]
    with pytest.raises(InvalidRecordError, match="row 1: field 'watts'"):
        store_module.prepare_readings([MeterlogRow(4.0, "a", 1.0), MeterlogRow(5.0, "a", 1e400)])


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ((1.0, "a", 10.0, 0.1), None),
        ((2.0, "b", -3, None), None),
        ((float("nan"), "a", 1.0, None), "field 'time'"),
        ((1.0, "", 1.0, None), "field 'station_id'"),
        ((1.0, "a", True, None), "field 'watts'"),
        ((1.0, "a", 1.0, float("inf")), "field 'price'"),
    ],
)
def test_meterlog_one_prepared_reading_is_checked_as_a_batch_of_one(
    store: MeterStore, fields: tuple[Any, Any, Any, Any], problem: str | None
) -> None:
    """``prepare_reading`` (the webhook's single reading) = ``prepare_readings`` of one row."""
    if problem is not None:
        with pytest.raises(InvalidRecordError, match=f"row 0: {problem}"):
            store_module.prepare_reading(*fields)
        with pytest.raises(InvalidRecordError, match=f"row 0: {problem}"):
            store_module.prepare_readings([MeterlogRow(*fields)])
        return
    one = store_module.prepare_reading(*fields)
    assert one == store_module.prepare_readings([MeterlogRow(*fields)])
    got_id = store.add_prepared(one)
    got = store.query_readings()[0]
    assert (got.time, got.station_id, got.watts, got.price) == fields
    assert (got.id, got.entry) == (got_id, None)
    with_entry = store_module.prepare_reading(*fields, entry="E1")
    assert with_entry == store_module.prepare_readings([MeterlogRow(*fields, entry="E1")])
    store.add_prepared(with_entry)
    assert [r.entry for r in store.query_readings()] == ["E1", None]


def test_meterlog_large_batch_in_statements_of_bounded_size(
    store: MeterStore, tmp_path: Path
) -> None:
    """More rows than one statement takes: all stored exactly, in one transaction."""
    count = 2 * store_module.MAX_ROWS_PER_INSERT + 7
    rows = [
        MeterlogRow(float(i), str(i % 5), i / 3, i / 7 or None, entry=f"e{i % 2}")
        for i in range(count)
    ]
    assert store.add_readings(rows) == count
    assert store.add_readings([]) == 0
    got = store.query_readings(limit=count + 1)
    assert [(r.time, r.station_id, r.watts, r.price, r.entry) for r in reversed(got)] == [
        (r.time, r.station_id, r.watts, r.price, r.entry) for r in rows
    ]
    # in statements of bounded size too, the id of the last row comes back
    last = store.add_prepared(store_module.prepare_readings(rows))
    assert last == store.query_readings(limit=1)[0].id == got[0].id + count  # type: ignore[operator]
    # a failure in the last statement leaves nothing of the batch behind
    with closing(sqlite3.connect(tmp_path / "meterit.db", isolation_level=None)) as other:
        other.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON meterlog WHEN NEW.station_id = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    more = [MeterlogRow(1e6 + i, "9", 1.0) for i in range(count)]
    with pytest.raises(StoreUnavailableError, match="refused"):
        store.add_readings([*more, MeterlogRow(2e6, "boom", 1.0)])
    assert len(store.query_readings(limit=3 * count)) == 2 * count


def test_meterlog_rows_already_stored_are_not_stored_again(store: MeterStore) -> None:
    """Checked rows are left out when a reading of the same time, station and entry is stored,
    or comes earlier in the same call; the others are written in order, as by add_prepared."""
    prepare = store_module.prepare_readings
    store.add_readings([MeterlogRow(10.0, "1", 1.0, entry="A"), MeterlogRow(20.0, "1", 2.0)])
    first = prepare(
        [
            MeterlogRow(10.0, "1", 9.0, entry="A"),  # stored: left out
            MeterlogRow(10.0, "2", 9.1, entry="A"),  # another station
            MeterlogRow(10.0, "1", 9.2, entry="B"),  # another entry
            MeterlogRow(20.0, "1", 9.3),  # stored without an entry: left out
            MeterlogRow(30.0, "1", 3.0, 0.2, entry="A"),
        ]
    )
    second = prepare(
        [
            MeterlogRow(30.0, "1", 4.0, entry="A"),  # earlier in this call: left out
            MeterlogRow(30.0, "1", 5.0, entry="A"),  # not checked: written
            MeterlogRow(40.0, "1", 6.0, entry="A"),
        ]
    )
    third = prepare([MeterlogRow(50.0, "1", 7.0, entry="A")])
    last, kept = store.add_prepared_once([first, second, third], [range(5), [0, 2], [0]])
    assert kept == [[1, 2, 4], [1, 2], None]
    got = [(r.time, r.station_id, r.watts, r.price, r.entry, r.id) for r in store.query_readings()]
    assert sorted(got, key=lambda row: row[5] or 0)[2:] == [
        (10.0, "2", 9.1, None, "A", last - 5),
        (10.0, "1", 9.2, None, "B", last - 4),
        (30.0, "1", 3.0, 0.2, "A", last - 3),
        (30.0, "1", 5.0, None, "A", last - 2),
        (40.0, "1", 6.0, None, "A", last - 1),
        (50.0, "1", 7.0, None, "A", last),
    ]
    assert store.add_prepared_once([first], [range(5)]) == (0, [[]])  # all stored already
    assert store.add_prepared_once([], []) == (0, [])
    with pytest.raises(InvalidRecordError, match="per batch"):
        store.add_prepared_once([first], [])


def test_meterlog_sent_again_is_known_by_its_sent_time(store: MeterStore) -> None:
    """A resent reading is the same sent time, station and entry, whatever time it was stored
    at (a fast clock moves a batch back by a different amount on each send)."""

    def prepare(rows: list[MeterlogRow]) -> store_module.PreparedReadings:
        return store_module.prepare_readings(rows)

    store.add_readings(
        [
            MeterlogRow(95.0, "1", 1.0, entry="A", sent=100.0),  # moved back 5 s when stored
            MeterlogRow(96.0, "1", 2.0, entry="A", sent=101.0),
        ]
    )
    again = prepare(
        [
            MeterlogRow(93.0, "1", 1.0, entry="A", sent=100.0),  # moved back 7 s this time
            MeterlogRow(94.0, "1", 2.0, entry="A", sent=101.0),
            MeterlogRow(95.0, "1", 3.0, entry="A", sent=102.0),  # new; a stored row's time
        ]
    )
    last, kept = store.add_prepared_once([again], [range(3)])
    assert kept == [[2]]
    got = sorted(store.query_readings(), key=lambda r: r.id or 0)
    assert [(r.time, r.sent, r.watts, r.id) for r in got] == [
        (95.0, 100.0, 1.0, last - 2),
        (96.0, 101.0, 2.0, last - 1),
        (95.0, 102.0, 3.0, last),
    ]
    # within one call too: the second reading sent at 103 is left out
    twice = prepare(
        [
            MeterlogRow(97.0, "1", 4.0, entry="A", sent=103.0),
            MeterlogRow(98.0, "1", 4.0, entry="A", sent=103.0),
        ]
    )
    assert store.add_prepared_once([twice], [range(2)])[1] == [[0]]
    with pytest.raises(InvalidRecordError, match="'sent' must be finite"):
        prepare([MeterlogRow(1.0, "1", 1.0, sent=math.inf)])


def test_sent_time_lookup_uses_the_partial_index(tmp_path: Path) -> None:
    """The duplicate check never scans the table: both halves of the lookup use an index."""
    path = tmp_path / "meterit.db"
    MeterStore(path).close()
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        plan = " / ".join(
            row[3]
            for row in conn.execute(
                "EXPLAIN QUERY PLAN " + store_module._stored_keys_sql(2), (1.0, 2.0, 1.0, 2.0)
            )
        )
    assert "meterlog_sent" in plan
    assert "meterlog_time" in plan
    assert "SCAN meterlog" not in plan


def _make_old(path: Path, version: int, rows: list[tuple[object, ...]]) -> None:
    """A file of schema ``version`` as it was written, with these meterlog rows (as many
    columns as that version had: time, station_id, watts, price, then entry from v4)."""
    columns = ("time", "station_id", "watts", "price", "entry")[: len(rows[0])]
    marks = ", ".join("?" * len(columns))
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for migrate in store_module.MIGRATIONS[:version]:
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
        again = store_module.prepare_readings(
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


def test_meterlog_large_batch_sent_again_in_part(store: MeterStore) -> None:
    """More times than one lookup and more rows than one statement take."""
    count = 2 * store_module.MAX_ROWS_PER_INSERT + 7
    rows = [MeterlogRow(float(i), str(i % 3), 1.0, entry="A") for i in range(count)]
    half = count // 2
    store.add_readings(rows[:half])
    last, kept = store.add_prepared_once([store_module.prepare_readings(rows)], [range(count)])
    assert kept == [list(range(half, count))]
    got = store.query_readings(limit=2 * count)
    assert sorted(r.time for r in got) == [r.time for r in rows]
    assert last == got[0].id
    assert store.add_prepared_once([store_module.prepare_readings(rows)], [range(count)]) == (
        0,
        [[]],
    )


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (MeterlogRow(float("nan"), "1", 1.0), "'time'"),
        (MeterlogRow(1.0, "", 1.0), "'station_id'"),
        (MeterlogRow(1.0, "1", float("inf")), "'watts'"),
        (MeterlogRow(1.0, "1", 1.0, float("nan")), "'price'"),
        (MeterlogRow(1.0, "1", 1.0, entry=""), "'entry'"),
    ],
)
def test_meterlog_bad_row_writes_nothing(store: MeterStore, row: MeterlogRow, field: str) -> None:
    with pytest.raises(InvalidRecordError, match=field):
        store.add_readings([MeterlogRow(1.0, "1", 1.0), row])
    assert store.query_readings() == []


def test_prices_upsert_and_overlap(store: MeterStore) -> None:
    points = [
        PricePoint("pen", "pvpc", h * 3600.0, (h + 1) * 3600.0, 0.1 + h / 100) for h in range(4)
    ]
    assert store.write_prices(points) == 4
    store.write_prices([PricePoint("pen", "pvpc", 0.0, 3600.0, 0.5)])
    got = store.query_prices("pen", "pvpc", 1800.0, 7200.0)
    assert [(p.start, p.price) for p in got] == [(0.0, 0.5), (3600.0, points[1].price)]
    assert store.query_prices("pen", "injection", 0, 1e9) == []


@pytest.mark.parametrize(
    ("point", "field"),
    [
        (PricePoint("", "pvpc", 0.0, 1.0, 1.0), "'region'"),
        (PricePoint("pen", "", 0.0, 1.0, 1.0), "'kind'"),
        (PricePoint("pen", "pvpc", 0.0, 1.0, float("nan")), "'price'"),
        (PricePoint("pen", "pvpc", 5.0, 5.0, 1.0), "'end'"),
    ],
)
def test_bad_price_rejected(store: MeterStore, point: PricePoint, field: str) -> None:
    with pytest.raises(InvalidRecordError, match=field):
        store.write_prices([point])


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


def test_entry_readings_after_in_stored_order(store: MeterStore) -> None:
    """An entry's readings after an id and a time, in the order stored (not in time order),
    with the highest id of the table (every entry's) to continue from."""
    store.add_readings([MeterlogRow(100.0, "1", 1.0, entry="A")])
    mark = store.add_prepared(
        store_module.prepare_readings([MeterlogRow(110.0, "1", 2.0, 0.3, entry="A")])
    )
    store.add_readings(
        [
            MeterlogRow(130.0, "1", 3.0, 0.3, entry="A", sent=135.0),  # sent 5 s ahead
            MeterlogRow(125.0, "1", 99.0, entry="B"),  # another entry's station 1
            MeterlogRow(120.0, "2", 4.0, entry="A"),  # stored later, taken earlier
            MeterlogRow(5.0, "1", 5.0, entry="A"),  # older than ``since``
            MeterlogRow(140.0, "1", 6.0),  # no entry (from before v4)
        ]
    )
    store.add_readings([MeterlogRow(150.0, "3", 7.0, entry="B")])
    rows, last = store.entry_readings_after("A", mark, 50.0)
    assert [(r.time, r.station_id, r.watts, r.price, r.entry, r.sent) for r in rows] == [
        (130.0, "1", 3.0, 0.3, "A", 135.0),
        (120.0, "2", 4.0, None, "A", None),
    ]
    assert last == store.query_readings(limit=1)[0].id == mark + 6
    assert store.entry_readings_after("A", last, 0.0) == ([], last)
    everything, _ = store.entry_readings_after("A", 0, 0.0)
    assert [r.watts for r in everything] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert store.entry_readings_after("B", 0, 130.0)[0][0].watts == 7.0
    # bounded by the time index, never a scan of the whole table
    with store._reading() as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN " + store_module._ENTRY_READINGS_AFTER, (0.0, 0, 1, "A")
        ).fetchall()
    assert "USING INDEX meterlog_time (time>?)" in " ".join(str(step[3]) for step in plan)
    for args, field in (
        (("", 0, 0.0), "'entry'"),
        (("A", -1, 0.0), "'after_id'"),
        (("A", 0, float("nan")), "'since'"),
    ):
        with pytest.raises(InvalidQueryError, match=field):
            store.entry_readings_after(*args)


def test_entry_readings_after_of_an_empty_meterlog(store: MeterStore) -> None:
    assert store.entry_readings_after("A", 0, 0.0) == ([], 0)


def test_station_page_without_a_station_index(store: MeterStore) -> None:
    store.add_readings([MeterlogRow(float(t), str(t % 3), float(t)) for t in range(300)])
    assert [r.time for r in store.query_readings("2", limit=3, offset=1)] == [296.0, 293.0, 290.0]
    assert store.query_readings("unknown") == []


def test_not_sqlite_is_corrupt_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "meterit.db"
    content = b"this is not a database at all\n" * 200
    path.write_bytes(content)
    with pytest.raises(StoreCorruptError, match=r"meterit\.db"):
        MeterStore(path)
    assert path.read_bytes() == content
    assert not (tmp_path / "meterit.db-wal").exists()


def test_damaged_sqlite_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "meterit.db"
    store = MeterStore(path)
    store.write_windows([win(float(s)) for s in range(0, 300 * 2000, 300)])
    store.close()
    data = bytearray(path.read_bytes())
    for offset in range(4096, len(data), 4096):  # scribble over every page but the header
        data[offset + 100 : offset + 400] = b"\xff" * 300
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError):
        MeterStore(path)
    assert path.read_bytes() == bytes(data)


def test_other_programs_database_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreCorruptError, match="another program"):
        MeterStore(path)
    assert path.read_bytes() == before


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreVersionError, match="99"):
        MeterStore(path)


def test_unwritable_paths(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="directory"):
        MeterStore(tmp_path)
    with pytest.raises(StoreUnavailableError, match="cannot open"):
        MeterStore(tmp_path / "missing" / "dir" / "meterit.db")


def test_readonly_database_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "meterit.db"
    MeterStore(path).close()
    uri = f"{path.as_uri()}?mode=ro"
    # open the real file read-only through the same code path
    original = sqlite3.connect

    def readonly(*args: object, **kwargs: object) -> sqlite3.Connection:
        return original(uri, uri=True, check_same_thread=False, isolation_level=None)

    monkeypatch.setattr(sqlite3, "connect", readonly)
    store = MeterStore(path)  # schema is current: opening only reads
    try:
        with pytest.raises(StoreUnavailableError, match="SQLITE_READONLY"):
            store.write_windows([win(0)])
        assert store.query_windows("p1", 300, 0, 1e9) == []
    finally:
        store.close()


def test_closed_store_raises(tmp_path: Path) -> None:
    store = MeterStore(tmp_path / "x.db")
    store.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        store.query_windows("p1", 300, 0, 1)


def test_threads_write_concurrently(store: MeterStore) -> None:
    errors: list[BaseException] = []

    def writer(series: str) -> None:
        try:
            for k in range(50):
                store.write_windows([win(k * 300.0, series=series)])
                store.query_windows(series, 300, 0, 1e9)
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(f"s{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.series() == ["s0", "s1", "s2", "s3"]
    assert all(len(store.query_windows(f"s{i}", 300, 0, 1e9)) == 50 for i in range(4))


def test_failed_migration_leaves_file_at_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    _make_v1(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE windows ADD COLUMN w_min REAL")
        conn.execute("ALTER TABLE no_such_table ADD COLUMN x")

    monkeypatch.setattr(store_module, "MIGRATIONS", (store_module.MIGRATIONS[0], broken))
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


def test_lean_columns_match_windows(store: MeterStore) -> None:
    windows = [win(s, w_avg=float(s), w_max=s * 2.0, tariff=1) for s in range(0, 3000, 300)]
    store.write_windows(windows)
    rows = store.query_window_columns("p1", 300, 600, 1500, ("start", "end", "w_avg", "tariff"))
    assert rows == [(w.start, w.end, w.w_avg, w.tariff) for w in windows[2:5]]
    with pytest.raises(InvalidQueryError, match="'bogus'"):
        store.query_window_columns("p1", 300, 0, 1, ("start", "bogus"))
    with pytest.raises(InvalidQueryError, match="at least one"):
        store.query_window_columns("p1", 300, 0, 1, ())
    with pytest.raises(InvalidQueryError, match="'series'"):
        store.query_window_columns("p1", 300, 0, 1, ("series",))


def test_window_range_and_energy_before_match_hourly_statistics(store: MeterStore) -> None:
    assert store.window_range("p1", 300) is None
    assert store.energy_before("p1", 300, 1e12) == (0.0, 0.0)
    windows = [
        win(0, energy_import_kwh=0.007, energy_export_kwh=0.001),
        win(300, energy_kwh=0.004),  # no counters: integrated energy counts as import
        win(600, energy_kwh=-0.003),  # ... or export when negative
        win(900, energy_import_kwh=0.010),
        win(1200, energy_import_kwh=0.5),
    ]
    store.write_windows(windows)
    assert store.window_range("p1", 300) == (0.0, 1200.0)
    hours = hourly_statistics(windows[:4])
    assert store.energy_before("p1", 300, 1200) == (hours[-1].import_sum, hours[-1].export_sum)
    imp, exp = store.energy_before("p1", 300, 1200)
    assert imp == pytest.approx(0.021)
    assert exp == pytest.approx(0.004)


def test_insert_missing_keeps_recorded_windows(store: MeterStore) -> None:
    live = win(0, count=5, w_avg=1.0)
    gap = win(300, count=0, w_avg=2.0)
    store.write_windows([live, gap])
    imported = [win(0, count=9, w_avg=9.0), win(300, count=9, w_avg=9.0), win(600, count=9)]
    assert store.write_windows(imported, replace=False) == 2  # the gap and the new one
    assert store.query_windows("p1", 300, 0, 900) == [live, imported[1], imported[2]]
    assert store.write_windows(imported, replace=False) == 0
    assert store.write_windows([win(600, count=0)], replace=False) == 0  # never over a real one


def test_a_page_of_readings_never_waits_for_the_writer(store: MeterStore) -> None:
    """Pages are read on a connection of their own: a write in progress does not hold them up."""
    store.add_readings([MeterlogRow(1.0, "a", 1.0), MeterlogRow(2.0, "b", 2.0)])
    pages: list[list[MeterlogRow]] = []
    with store._lock:  # as if the writer were in the middle of a long write
        reader = threading.Thread(target=lambda: pages.append(store.query_readings("a")))
        reader.start()
        reader.join(5)
        assert not reader.is_alive()
    assert [(r.time, r.station_id) for r in pages[0]] == [(1.0, "a")]
    store.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        store.query_readings()
