"""MeterStore meterlog: prepared readings, batches, readings sent again, pages of readings."""

from __future__ import annotations

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
    StoreUnavailableError,
    meterlog as meterlog_module,
)


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
    first = meterlog_module.prepare_readings([MeterlogRow(1.0, "a", 10.0, 0.1)])
    second = meterlog_module.prepare_readings(
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
        meterlog_module.prepare_readings([MeterlogRow(4.0, "a", 1.0), MeterlogRow(5.0, "a", 1e400)])


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
            meterlog_module.prepare_reading(*fields)
        with pytest.raises(InvalidRecordError, match=f"row 0: {problem}"):
            meterlog_module.prepare_readings([MeterlogRow(*fields)])
        return
    one = meterlog_module.prepare_reading(*fields)
    assert one == meterlog_module.prepare_readings([MeterlogRow(*fields)])
    got_id = store.add_prepared(one)
    got = store.query_readings()[0]
    assert (got.time, got.station_id, got.watts, got.price) == fields
    assert (got.id, got.entry) == (got_id, None)
    with_entry = meterlog_module.prepare_reading(*fields, entry="E1")
    assert with_entry == meterlog_module.prepare_readings([MeterlogRow(*fields, entry="E1")])
    store.add_prepared(with_entry)
    assert [r.entry for r in store.query_readings()] == ["E1", None]


def test_meterlog_large_batch_in_statements_of_bounded_size(
    store: MeterStore, tmp_path: Path
) -> None:
    """More rows than one statement takes: all stored exactly, in one transaction."""
    count = 2 * meterlog_module.MAX_ROWS_PER_INSERT + 7
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
    last = store.add_prepared(meterlog_module.prepare_readings(rows))
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
    prepare = meterlog_module.prepare_readings
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

    def prepare(rows: list[MeterlogRow]) -> meterlog_module.PreparedReadings:
        return meterlog_module.prepare_readings(rows)

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
                "EXPLAIN QUERY PLAN " + meterlog_module._stored_keys_sql(2), (1.0, 2.0, 1.0, 2.0)
            )
        )
    assert "meterlog_sent" in plan
    assert "meterlog_time" in plan
    assert "SCAN meterlog" not in plan


def test_meterlog_large_batch_sent_again_in_part(store: MeterStore) -> None:
    """More times than one lookup and more rows than one statement take."""
    count = 2 * meterlog_module.MAX_ROWS_PER_INSERT + 7
    rows = [MeterlogRow(float(i), str(i % 3), 1.0, entry="A") for i in range(count)]
    half = count // 2
    store.add_readings(rows[:half])
    last, kept = store.add_prepared_once([meterlog_module.prepare_readings(rows)], [range(count)])
    assert kept == [list(range(half, count))]
    got = store.query_readings(limit=2 * count)
    assert sorted(r.time for r in got) == [r.time for r in rows]
    assert last == got[0].id
    assert store.add_prepared_once([meterlog_module.prepare_readings(rows)], [range(count)]) == (
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


def test_entry_readings_after_in_stored_order(store: MeterStore) -> None:
    """An entry's readings after an id and a time, in the order stored (not in time order),
    with the highest id of the table (every entry's) to continue from."""
    store.add_readings([MeterlogRow(100.0, "1", 1.0, entry="A")])
    mark = store.add_prepared(
        meterlog_module.prepare_readings([MeterlogRow(110.0, "1", 2.0, 0.3, entry="A")])
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
            "EXPLAIN QUERY PLAN " + meterlog_module._ENTRY_READINGS_AFTER, (0.0, 0, 1, "A")
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
