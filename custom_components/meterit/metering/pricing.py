"""Priced windows: each window's energy times the price of the period it falls in (no HA).

A window keeps the price (€/kWh) of the price period that holds it whole, in ``import_price``
and ``export_price`` (schema v6; NULL: not priced yet). The price depends only on the window's
time, so a window rewritten by a gap fill or a late real reading keeps it. Windows are priced
when they are stored and again when prices arrive (a day ESIOS published late); nothing is
priced with a price of another period, and energy without a price is counted as unpriced, never
as 0 €. Costs are sums of ``energy * price`` over priced windows, hour by hour
(:func:`hourly_costs`) or before a time (:func:`cost_before`), counted as
:func:`~.statistics.window_energy` counts energy.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import sqlite3

HOUR = 3600

# a window's import / export energy as statistics.window_energy counts it, in SQL
_IMPORT_KWH = (
    "CASE WHEN energy_import_kwh IS NOT NULL THEN energy_import_kwh "
    "WHEN energy_export_kwh IS NULL AND energy_kwh > 0 THEN energy_kwh "
    "WHEN energy_export_kwh IS NULL AND energy_kwh IS NOT NULL THEN 0.0 END"
)
_EXPORT_KWH = (
    "CASE WHEN energy_export_kwh IS NOT NULL THEN energy_export_kwh "
    "WHEN energy_import_kwh IS NULL AND energy_kwh < 0 THEN -energy_kwh "
    "WHEN energy_import_kwh IS NULL AND energy_kwh IS NOT NULL THEN 0.0 END"
)
_COST_ROWS = (
    f"SELECT start, {_IMPORT_KWH}, {_EXPORT_KWH}, import_price, export_price "  # noqa: S608
    "FROM windows WHERE series = ? AND resolution = ? AND start >= ? AND start < ? "
    "ORDER BY start"
)
_COST_BEFORE = (
    f"SELECT coalesce(sum(({_IMPORT_KWH}) * import_price), 0.0), "  # noqa: S608
    f"coalesce(sum(({_EXPORT_KWH}) * export_price), 0.0) "
    "FROM windows WHERE series = ? AND resolution = ? AND start < ?"
)
_UNPRICED = (
    f"SELECT count(*), coalesce(sum(imp), 0.0), max(start) FROM (SELECT start, "  # noqa: S608
    f"{_IMPORT_KWH} AS imp, {_EXPORT_KWH} AS exp, import_price, export_price FROM windows "
    "WHERE series = ? AND resolution = ?) "
    "WHERE (imp > 0 AND import_price IS NULL) OR (? AND exp > 0 AND export_price IS NULL)"
)
_UNPRICED_EXPORT = (
    f"SELECT coalesce(sum({_EXPORT_KWH}), 0.0) FROM windows "  # noqa: S608
    "WHERE series = ? AND resolution = ? AND export_price IS NULL"
)


@dataclass(frozen=True, slots=True)
class PriceRef:
    """Which prices of the store's price table price a direction: a region and a kind."""

    region: str
    kind: str


@dataclass(frozen=True, slots=True)
class HourCost:
    """Cost of one hour's priced windows (€); None when no window of the hour is priced."""

    start: float
    import_cost: float | None
    export_cost: float | None
    unpriced_windows: int


@dataclass(frozen=True, slots=True)
class Unpriced:
    """Windows with energy but no price yet: how many, their import (and export) kWh, newest."""

    windows: int
    import_kwh: float
    export_kwh: float
    newest: float | None


def _price_span(conn: sqlite3.Connection, refs: Sequence[PriceRef]) -> tuple[float, float] | None:
    """From the first stored price's start to the last one's end, over ``refs``."""
    found: tuple[float, float] | None = None
    for ref in refs:
        low, high = conn.execute(
            'SELECT min(start), max("end") FROM prices WHERE region = ? AND kind = ?',
            (ref.region, ref.kind),
        ).fetchone()
        if low is not None:
            found = (low, high) if found is None else (min(found[0], low), max(found[1], high))
    return found


def _periods(
    conn: sqlite3.Connection, ref: PriceRef, start: float, end: float
) -> tuple[list[float], list[tuple[float, float]]]:
    """The periods overlapping ``[start, end)``: their starts, and (end, price) beside them."""
    rows = conn.execute(
        'SELECT start, "end", price FROM prices WHERE region = ? AND kind = ? '
        'AND "end" > ? AND start < ? ORDER BY start',
        (ref.region, ref.kind, start, end),
    ).fetchall()
    return [float(r[0]) for r in rows], [(float(r[1]), float(r[2])) for r in rows]


def _price_of(
    starts: Sequence[float], rest: Sequence[tuple[float, float]], start: float, end: float
) -> float | None:
    """The price of the period holding ``[start, end)`` whole, None when none does."""
    index = bisect_right(starts, start) - 1
    if index < 0:
        return None
    period_end, price = rest[index]
    return price if end <= period_end else None


def price_windows(
    conn: sqlite3.Connection,
    series: str,
    resolution: int,
    start: float,
    end: float,
    *,
    import_ref: PriceRef | None,
    export_ref: PriceRef | None,
) -> float | None:
    """Price the unpriced windows starting in ``[start, end)`` from the stored prices.

    Runs inside the caller's transaction. Returns the earliest start of a window that got a
    price (None: none did), from which costs changed.
    """
    refs = [(column, ref) for column, ref in (("import", import_ref), ("export", export_ref))]
    wanted = " OR ".join(f"{column}_price IS NULL" for column, ref in refs if ref is not None)
    span = _price_span(conn, [ref for _, ref in refs if ref is not None])
    if not wanted or span is None:
        return None
    start, end = max(start, span[0]), min(end, span[1])
    rows = conn.execute(
        "SELECT start, import_price, export_price FROM windows "  # noqa: S608 (constant columns)
        f"WHERE series = ? AND resolution = ? AND start >= ? AND start < ? AND ({wanted})",
        (series, resolution, start, end),
    ).fetchall()
    if not rows:
        return None
    first = min(float(r[0]) for r in rows)
    last = max(float(r[0]) for r in rows) + resolution
    tables = {column: _periods(conn, ref, first, last) for column, ref in refs if ref is not None}
    updates: list[tuple[float | None, float | None, str, int, float]] = []
    earliest: float | None = None
    for window_start, old_import, old_export in rows:
        new = []
        for column, old in (("import", old_import), ("export", old_export)):
            table = tables.get(column)
            found = None
            if old is None and table is not None:
                found = _price_of(*table, window_start, window_start + resolution)
            new.append(found)
        if new[0] is None and new[1] is None:
            continue
        updates.append((new[0], new[1], series, resolution, window_start))
        if earliest is None or window_start < earliest:
            earliest = float(window_start)
    conn.executemany(
        "UPDATE windows SET import_price = coalesce(import_price, ?), "
        "export_price = coalesce(export_price, ?) "
        "WHERE series = ? AND resolution = ? AND start = ?",
        updates,
    )
    return earliest


def clear_prices(conn: sqlite3.Connection, series: str) -> int:
    """Forget every price of a series' windows (its price source changed); returns how many."""
    cursor = conn.execute(
        "UPDATE windows SET import_price = NULL, export_price = NULL WHERE series = ? "
        "AND (import_price IS NOT NULL OR export_price IS NOT NULL)",
        (series,),
    )
    return cursor.rowcount


def cost_rows(
    conn: sqlite3.Connection, series: str, resolution: int, start: float, end: float
) -> list[tuple[float, float | None, float | None, float | None, float | None]]:
    """``(start, import kWh, export kWh, import price, export price)`` of windows, in order."""
    return conn.execute(_COST_ROWS, (series, resolution, start, end)).fetchall()


def cost_before(
    conn: sqlite3.Connection, series: str, resolution: int, before: float
) -> tuple[float, float]:
    """Import cost and export compensation (€) of the priced windows before ``before``."""
    imp, exp = conn.execute(_COST_BEFORE, (series, resolution, before)).fetchone()
    return float(imp), float(exp)


def unpriced(conn: sqlite3.Connection, series: str, resolution: int, *, export: bool) -> Unpriced:
    """The windows whose energy has no price (export counted only when ``export``)."""
    count, imp, newest = conn.execute(_UNPRICED, (series, resolution, export)).fetchone()
    exp = 0.0
    if export:
        exp = float(conn.execute(_UNPRICED_EXPORT, (series, resolution)).fetchone()[0])
    return Unpriced(int(count), float(imp), exp, None if newest is None else float(newest))


def unpriced_range(
    conn: sqlite3.Connection, series: str, resolution: int, since: float
) -> tuple[float, float] | None:
    """First and last start of the windows from ``since`` on with import energy and no price."""
    row = conn.execute(
        f"SELECT min(start), max(start) FROM windows WHERE series = ? AND resolution = ? "  # noqa: S608
        f"AND start >= ? AND import_price IS NULL AND ({_IMPORT_KWH}) > 0",
        (series, resolution, since),
    ).fetchone()
    return None if row[0] is None else (float(row[0]), float(row[1]))


def hourly_costs(
    rows: Iterable[tuple[float, float | None, float | None, float | None, float | None]],
    *,
    export: bool = True,
) -> list[HourCost]:
    """Per hour (sorted): import kWh * price and export kWh * price of the priced windows.

    A window with energy in a direction but no price there counts in ``unpriced_windows``
    (once; export only when ``export``: it has a price source); an hour whose windows have no
    price in a direction has None there.
    """
    hours: dict[float, list[float | int | None]] = {}
    for start, imp, exp, import_price, export_price in rows:
        key = start - start % HOUR
        hour = hours.setdefault(key, [None, None, 0])
        unpriced_here = False
        for index, kwh, price in ((0, imp, import_price), (1, exp, export_price)):
            if kwh is None:
                continue
            if price is None:
                unpriced_here = unpriced_here or (kwh > 0 and (index == 0 or export))
                continue
            hour[index] = (hour[index] or 0.0) + kwh * price
        if unpriced_here:
            hour[2] = int(hour[2] or 0) + 1
    return [
        HourCost(
            key,
            None if h[0] is None else float(h[0]),
            None if h[1] is None else float(h[1]),
            int(h[2] or 0),
        )
        for key, h in sorted(hours.items())
    ]
