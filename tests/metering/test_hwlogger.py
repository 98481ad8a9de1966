"""Reading hwLogger meter_data databases (built here, as hwLogger writes them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
import sqlite3
from zoneinfo import ZoneInfo

import pytest

from custom_components.meterit.metering import (
    HwLoggerRowError,
    NotAnHwLoggerDatabaseError,
    Window,
    read_hwlogger_db,
)
from custom_components.meterit.metering.hwlogger import HWLOGGER_COLUMNS, parse_timestamp

from .helpers import wh

MADRID = ZoneInfo("Europe/Madrid")


def make_db(
    path: Path, rows: list[dict[str, object]], columns: tuple[str, ...] = HWLOGGER_COLUMNS
) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE meter_data ({', '.join(columns)})")
    for row in rows:
        conn.execute(
            f"INSERT INTO meter_data ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608
            tuple(row.values()),
        )
    conn.commit()
    conn.close()


def row(ts: object, imp: float, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "timestamp": ts,
        "tariff": 2,
        "import_kwh": imp,
        "import_t1_kwh": imp / 2,
        "import_t2_kwh": imp / 2,
        "export_kwh": 10.0,
        "w": 500.0,
        "l1_w": 200.0,
        "l2_w": 150.0,
        "l3_w": 150.0,
        "l1_v": 230.1,
        "l2_v": 229.5,
        "l3_v": 231.0,
        "w_avg": 480.0,
        "l1_w_avg": 190.0,
        "l2_w_avg": 140.0,
        "l3_w_avg": 150.0,
        "w_max": 900.0,
        "l1_w_max": 400.0,
        "l2_w_max": 300.0,
        "l3_w_max": 200.0,
        "reading_count": 300,
    }
    base.update(kw)
    return base


def test_local_text_timestamps_with_gap(tmp_path: Path) -> None:
    path = tmp_path / "meter_data.db"
    local = datetime(2026, 6, 21, 10, 0, 0, tzinfo=MADRID)  # summer time: UTC+2
    rows = [
        row(local.strftime("%Y-%m-%d %H:%M:%S"), 100.000),
        row((local + timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S"), 100.040),
        # 10:10 and 10:15 missing; 10:20 arrives one second late
        row((local + timedelta(minutes=20, seconds=1)).strftime("%Y-%m-%d %H:%M:%S"), 100.130),
    ]
    make_db(path, rows)
    before = path.read_bytes()
    windows = list(read_hwlogger_db(path, series="old", tz=MADRID))
    assert path.read_bytes() == before  # read-only
    end0 = datetime(2026, 6, 21, 8, 0, tzinfo=UTC).timestamp()
    assert [(w.end, w.reading_count) for w in windows] == [
        (end0, 300),
        (end0 + 300, 300),
        (end0 + 600, 0),
        (end0 + 900, 0),
        (end0 + 1200, 300),
    ]
    assert all(w.resolution == 300 and w.series == "old" for w in windows)
    assert windows[0].energy_import_kwh is None
    # 40 Wh in the first step; 90 Wh over the hole of 2 windows + the window after: 30 each
    assert [wh(w.energy_import_kwh) for w in windows[1:]] == [40, 30, 30, 30]
    assert windows[1].w_avg == 480.0
    assert windows[1].l3_w_max == 200.0
    assert windows[1].tariff == 2
    assert windows[2].import_kwh == 100.070


def test_unix_timestamps_and_inferred_30s(tmp_path: Path) -> None:
    path = tmp_path / "hw.db"
    start = 1_782_000_030
    make_db(
        path,
        [row(start + 30 * k, 5.0 + k / 1000) for k in range(5)] + [row(str(start + 150), 5.005)],
    )
    windows = list(read_hwlogger_db(path))
    assert [w.resolution for w in windows] == [30] * 6
    assert [w.end for w in windows] == [float(start + 30 * k) for k in range(6)]
    assert [wh(w.energy_import_kwh) for w in windows[1:]] == [1, 1, 1, 1, 1]


def test_explicit_resolution_and_single_row(tmp_path: Path) -> None:
    path = tmp_path / "hw.db"
    make_db(path, [row(1_782_000_300, 1.0, reading_count=None, tariff=None)])
    with pytest.raises(HwLoggerRowError, match="reading_count"):
        list(read_hwlogger_db(path))
    path2 = tmp_path / "hw2.db"
    make_db(path2, [row(1_782_000_300, 1.0, tariff=None, w="")])
    [w] = list(read_hwlogger_db(path2, resolution=60))
    assert (w.start, w.resolution, w.tariff, w.w) == (1_782_000_240.0, 60, None, None)
    with pytest.raises(ValueError, match="resolution"):
        list(read_hwlogger_db(path2, resolution=0))


def test_dst_repeated_hour_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "hw.db"
    # 2026-10-25 02:55 local happens twice in Madrid; the logger wrote it twice
    make_db(
        path,
        [
            row("2026-10-25 02:55:00", 1.0),
            row("2026-10-25 02:55:00", 1.1),
            row("2026-10-25 03:00:00", 1.2),
        ],
    )
    windows = list(read_hwlogger_db(path, tz=MADRID, resolution=300))
    real = [w for w in windows if not w.synthetic]
    assert len(real) == 2


@pytest.mark.parametrize(
    ("override", "column", "good_before", "resolution"),
    [
        ({"timestamp": "yesterday"}, "'timestamp'", 1, 300),  # text sorts after numbers
        ({"timestamp": "yesterday"}, "'timestamp'", 1, None),  # skipped while inferring
        ({"timestamp": None}, "'timestamp'", 0, 300),  # NULL sorts first
        ({"w_avg": "lots"}, "'w_avg'", 1, 300),
        ({"import_kwh": float("inf")}, "'import_kwh'", 1, 300),
        ({"reading_count": 2.5}, "'reading_count'", 1, 300),
        ({"tariff": -1}, "'tariff'", 1, None),
    ],
)
def test_bad_row_named(
    tmp_path: Path,
    override: dict[str, object],
    column: str,
    good_before: int,
    resolution: int | None,
) -> None:
    path = tmp_path / "hw.db"
    make_db(path, [row(1_782_000_000, 1.0), row(1_782_000_300, 1.0, **override)])
    produced: list[Window] = []
    with pytest.raises(HwLoggerRowError, match=rf"row 2, column {column}"):
        produced.extend(read_hwlogger_db(path, resolution=resolution))
    assert len(produced) == good_before  # good rows before it were delivered


def test_damaged_pages_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "hw.db"
    make_db(path, [row(1_782_000_000 + 300 * k, 1.0 + k / 1000) for k in range(3000)])
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 2, len(data), 4096):
        data[offset : offset + 200] = b"\xee" * 200
    path.write_bytes(bytes(data))
    with pytest.raises(NotAnHwLoggerDatabaseError, match="cannot be read"):
        list(read_hwlogger_db(path, resolution=300))


def test_not_hwlogger(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(NotAnHwLoggerDatabaseError, match="not an SQLite database"):
        list(read_hwlogger_db(junk))
    with pytest.raises(NotAnHwLoggerDatabaseError, match="not a file"):
        list(read_hwlogger_db(tmp_path / "nothing.db"))
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE readings (x)")
    conn.close()
    with pytest.raises(NotAnHwLoggerDatabaseError, match="no 'meter_data' table"):
        list(read_hwlogger_db(other))
    partial = tmp_path / "partial.db"
    make_db(partial, [], columns=HWLOGGER_COLUMNS[:5])
    with pytest.raises(NotAnHwLoggerDatabaseError, match=r"lacks column.*w, l1_w"):
        list(read_hwlogger_db(partial))


def test_parse_timestamp() -> None:
    assert parse_timestamp(1_782_000_000) == 1_782_000_000.0
    assert parse_timestamp("1782000000.5") == 1_782_000_000.5
    assert parse_timestamp("2026-06-21T02:00:00+02:00") == 1_782_000_000.0
    assert parse_timestamp("2026-06-21 00:00:00") == 1_782_000_000.0
    for bad in (True, -5, float("nan"), b"x", "2026-99-01 00:00:00"):
        with pytest.raises(ValueError, match="timestamp"):
            parse_timestamp(bad)


def test_open_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hw.db"
    make_db(path, [])

    def fail(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(sqlite3, "connect", fail)
    with pytest.raises(NotAnHwLoggerDatabaseError, match="cannot be opened"):
        list(read_hwlogger_db(path))
