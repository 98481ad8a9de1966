"""Read the history of an hwLogger ``meter_data.db`` as windows.

hwLogger keeps one row per window in table ``meter_data`` with the 22 columns below;
``timestamp`` is the window's **end**, stored either as unix seconds (a number, or a string of
digits) or as text ``YYYY-MM-DDTHH:MM:SS`` (also space separated). hwLogger's daemon writes
naive **UTC** text (``datetime.utcnow()``), so text times are read in ``tz``, default UTC; a text
time carrying its own offset keeps it. With a local ``tz`` the autumn DST change repeats text
times: the second copy of a window is skipped (an ambiguous local time cannot be placed). The file is opened read-only and
never modified.

The resolution is given or inferred (the most common step between rows); window ends are
rounded to the resolution's UTC grid (loggers write a second or so late), and a row that lands
on an end already read is skipped. Per-window energy is
derived from the counters and holes are gap-filled (:func:`~.gapfill.fill_missing_windows`),
so imported history obeys the same energy invariant as live windows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from itertools import pairwise
from math import isfinite
from pathlib import Path
import sqlite3

from .errors import HwLoggerRowError, NotAnHwLoggerDatabaseError
from .gapfill import fill_missing_windows
from .models import AVERAGES, LAST_VALUES, MAXIMA, Window

HWLOGGER_COLUMNS: tuple[str, ...] = ("timestamp", *LAST_VALUES, *AVERAGES, *MAXIMA, "reading_count")
"""The columns of hwLogger's ``meter_data`` table."""

_FLOAT_COLUMNS = HWLOGGER_COLUMNS[2:21]


def parse_timestamp(value: object, tz: tzinfo = UTC) -> float:
    """Convert an hwLogger ``timestamp`` (unix number or local text) to UTC unix seconds.

    Raises ValueError naming the problem when the value is neither.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(
                    f"timestamp {value!r} is neither unix seconds nor 'YYYY-MM-DD HH:MM:SS'"
                ) from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=tz)
            return parsed.timestamp()
    else:
        raise ValueError(f"timestamp {value!r} is neither a number nor text")  # noqa: TRY004
    if not isfinite(number) or number < 0:
        raise ValueError(f"timestamp {value!r} is not a valid unix time")
    return number


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise NotAnHwLoggerDatabaseError(f"{path.name!r} is not a file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise NotAnHwLoggerDatabaseError(f"{path.name!r} cannot be opened ({err})") from None
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as err:
        conn.close()
        raise NotAnHwLoggerDatabaseError(
            f"{path.name!r} is not an SQLite database ({err})"
        ) from None
    return conn


def read_hwlogger_db(
    path: str | Path,
    *,
    series: str = "hwlogger",
    tz: tzinfo = UTC,
    resolution: int | None = None,
) -> Iterator[Window]:
    """Yield the windows of an hwLogger database, oldest first, gap-filled.

    Raises :class:`NotAnHwLoggerDatabaseError` (on the first ``next``) when the file is not
    SQLite, has no ``meter_data`` table or lacks columns, and :class:`HwLoggerRowError` (a
    subclass) naming the row and column when a row has a bad value; windows yielded before it
    are good.
    """
    file = Path(path)
    conn = _connect(file)
    try:
        _columns(conn, file.name)
        if resolution is None:
            resolution = _infer_resolution(conn, tz)
        elif resolution <= 0:
            raise ValueError(f"resolution must be positive, got {resolution!r}")
        rows = conn.execute(
            f"SELECT rowid, {', '.join(HWLOGGER_COLUMNS)} FROM meter_data ORDER BY timestamp"  # noqa: S608 (constant column names)
        )
        yield from fill_missing_windows(_windows(rows, series, resolution, tz))
    except sqlite3.Error as err:
        raise NotAnHwLoggerDatabaseError(f"{file.name!r} cannot be read ({err})") from None
    finally:
        conn.close()


def _columns(conn: sqlite3.Connection, name: str) -> None:
    info = conn.execute("PRAGMA table_info(meter_data)").fetchall()
    if not info:
        raise NotAnHwLoggerDatabaseError(f"{name!r} has no 'meter_data' table: not hwLogger")
    present = {str(row[1]).lower() for row in info}
    missing = [c for c in HWLOGGER_COLUMNS if c not in present]
    if missing:
        raise NotAnHwLoggerDatabaseError(
            f"{name!r} table 'meter_data' lacks column(s) {', '.join(missing)}: not hwLogger"
        )


def _infer_resolution(conn: sqlite3.Connection, tz: tzinfo) -> int:
    times: list[float] = []
    for (value,) in conn.execute("SELECT timestamp FROM meter_data ORDER BY timestamp LIMIT 1000"):
        try:
            times.append(parse_timestamp(value, tz))
        except ValueError:
            continue
    steps = Counter(round(b - a) for a, b in pairwise(times) if b > a)
    if not steps:
        return 300
    return steps.most_common(1)[0][0]


def _windows(rows: sqlite3.Cursor, series: str, resolution: int, tz: tzinfo) -> Iterator[Window]:
    previous_end = float("-inf")
    for row in rows:
        rowid = row[0]
        values = row[1:]
        try:
            end = round(parse_timestamp(values[0], tz) / resolution) * resolution
        except ValueError as err:
            raise HwLoggerRowError(f"meter_data row {rowid}, column 'timestamp': {err}") from None
        if end <= previous_end:
            continue  # repeated local time (DST) or duplicate row
        floats: list[float | None] = []
        for name, value in zip(_FLOAT_COLUMNS, values[2:21], strict=True):
            floats.append(_float(value, rowid, name))
        tariff = _int(values[1], rowid, "tariff", allow_none=True)
        count = _int(values[21], rowid, "reading_count", allow_none=False)
        previous_end = end
        (imp, t1, t2, exp, w, l1, l2, l3, v1, v2, v3, wa, l1a, l2a, l3a, wm, l1m, l2m, l3m) = floats
        yield Window(
            series=series,
            resolution=resolution,
            start=float(end - resolution),
            end=float(end),
            tariff=tariff,
            import_kwh=imp,
            import_t1_kwh=t1,
            import_t2_kwh=t2,
            export_kwh=exp,
            w=w,
            l1_w=l1,
            l2_w=l2,
            l3_w=l3,
            l1_v=v1,
            l2_v=v2,
            l3_v=v3,
            w_avg=wa,
            l1_w_avg=l1a,
            l2_w_avg=l2a,
            l3_w_avg=l3a,
            w_max=wm,
            l1_w_max=l1m,
            l2_w_max=l2m,
            l3_w_max=l3m,
            reading_count=count or 0,
        )


def _float(value: object, rowid: object, column: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except TypeError, ValueError:
        number = float("nan")
    if isinstance(value, bool) or not isfinite(number):
        raise HwLoggerRowError(
            f"meter_data row {rowid}, column {column!r}: {value!r} is not a number"
        )
    return number


def _int(value: object, rowid: object, column: str, *, allow_none: bool) -> int | None:
    if value is None or value == "":
        if allow_none:
            return None
        raise HwLoggerRowError(f"meter_data row {rowid}, column {column!r}: missing")
    number = _float(value, rowid, column)
    if number is None or number != int(number) or number < 0:
        raise HwLoggerRowError(
            f"meter_data row {rowid}, column {column!r}: {value!r} is not a count"
        )
    return int(number)
