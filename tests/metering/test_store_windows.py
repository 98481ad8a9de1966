"""MeterStore windows: write and query, upserts, retention, series, state, statistics."""

from __future__ import annotations

import pytest

from custom_components.meterit.metering import (
    InvalidQueryError,
    InvalidRecordError,
    MeterStore,
    Window,
    hourly_statistics,
)

from .store_common import win


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
