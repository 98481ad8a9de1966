"""Benchmark of the metering package (not part of pytest).

Run: ``.venv/bin/python bench/bench_metering.py [--hours 24]``

1. Replay: a day of 1 Hz P1 pushes from ``../shared/tools/p1-trace`` (generated once to a temp
   file, outside the timing) through parse (json.loads -> Reading) -> WindowAggregator ->
   MeterStore, in messages/s, beside a baseline of plain json.loads of the same lines measured
   in the same run. The HA layer uses the HomeWizard parser instead of the inline one here.
2. A one-year range query of 5-minute windows (105,120 rows) from the store: as full ``Window``
   objects (beside the raw sqlite fetch of all their columns), and on the lean path
   (``query_window_columns``: only the columns asked for, as tuples) against the target.
3. One-year hourly statistics from those windows.
4. Peak Python memory of the replay (tracemalloc, a separate untimed run).
5. With ``--hwlogger DIR`` (a checkout of github:AmpScm/HwLogger; needs ``aiosqlite``): the same
   lines through hwLogger's own message handler, ``HWLoggerDaemon._handle_ws_data`` (json.loads
   -> its 30-second and 5-minute blocks -> its SQLite tables, as its daemon does per push),
   alternated with Meterit's replay in the same run (``--pairs`` pairs, ABAB): both rates, and
   the ratio Meterit/hwLogger of each pair, min and median (wall clock: the target), and the same
   ratio by CPU time of the process (all threads: hwLogger's aiosqlite threads too). hwLogger takes the time of a block
   from its clock (``datetime.utcnow()``) tuned by the meter timestamp's minute:second; in the
   replay its clock is the push's ``t`` (so that a day replayed in seconds is a day to it too).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
import importlib
import json
import logging
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from custom_components.meterit.metering import (  # noqa: E402
    MeterStore,
    Reading,
    Window,
    WindowAggregator,
    hourly_statistics,
)

SHARED = ROOT.parent / "shared"
TRACE = SHARED / "tools" / "p1-trace"
YEAR_WINDOWS = 365 * 288  # 105,120
TARGET_MSG_S = 50_000.0
TARGET_QUERY_S = 0.100
TARGET_STATS_S = 10.0
TARGET_HWLOGGER_RATIO = 10.0
LEAN_COLUMNS = ("start", "w_avg", "w_max", "energy_import_kwh")
"""What a chart of a year needs (``MeterStore.query_window_columns``)."""


def reading_from_push(message: Mapping[str, Any]) -> Reading:
    """Inline stand-in for the HomeWizard parser: one push -> Reading."""
    d = message["data"]
    g = d.get
    return Reading(
        message["t"],
        g("power_w"),
        g("power_l1_w"),
        g("power_l2_w"),
        g("power_l3_w"),
        g("voltage_l1_v"),
        g("voltage_l2_v"),
        g("voltage_l3_v"),
        g("energy_import_kwh"),
        g("energy_import_t1_kwh"),
        g("energy_import_t2_kwh"),
        g("energy_export_kwh"),
        g("tariff"),
    )


def replay(lines: list[str], store: MeterStore) -> int:
    """Parse -> aggregate -> store every line; windows are written in batches, once a minute."""
    agg = WindowAggregator("p1")
    add = agg.add
    loads = json.loads
    pending: list[Window] = []
    written = 0
    for line in lines:
        closed = add(reading_from_push(loads(line)))
        if closed:
            pending.extend(closed)
            if len(pending) >= 3:
                store.write_windows(pending)
                written += len(pending)
                pending = []
    pending.extend(agg.flush(1e12))
    store.write_windows(pending)
    store.save_state("p1", agg.snapshot())
    return written + len(pending)


class HwLoggerReplay:
    """hwLogger's daemon, its message handler fed the lines of a trace (``--hwlogger DIR``)."""

    def __init__(self, checkout: Path) -> None:
        sys.path.insert(0, str(checkout))
        self.daemon_module: Any = importlib.import_module("hwLogger.daemon")
        self.config_module: Any = importlib.import_module("hwLogger.config")
        logging.getLogger("hwLogger").setLevel(logging.ERROR)  # its warnings, not its work
        clock = [0.0]
        self.clock = clock

        class ReplayClock(datetime):
            """``datetime`` whose ``utcnow()`` is the time of the push being handled."""

            @classmethod
            def utcnow(cls) -> datetime:  # type: ignore[override]
                return datetime.fromtimestamp(clock[0], UTC).replace(tzinfo=None)

        setattr(self.daemon_module, "datetime", ReplayClock)  # noqa: B010 (a module of theirs)

    def replay(self, lines: list[str], db_file: Path) -> int:
        """Handle every line as its daemon does a WebSocket message; return its 5-min rows."""
        return asyncio.run(self._replay(lines, db_file))

    async def _replay(self, lines: list[str], db_file: Path) -> int:
        daemon = self.daemon_module.HWLoggerDaemon(self.config_module.Config(db_file=db_file))
        await daemon.db.init()
        handle = daemon._handle_ws_data  # noqa: SLF001 (the handler under test)
        loads = json.loads
        clock = self.clock
        for line in lines:
            message = loads(line)
            clock[0] = message["t"]
            await handle(message)
        return self.count(db_file)

    @staticmethod
    def count(db_file: Path) -> int:
        """Rows of hwLogger's 5-minute table."""
        import sqlite3  # noqa: PLC0415

        conn = sqlite3.connect(db_file)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM meter_data").fetchone()[0])
        finally:
            conn.close()


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall time and CPU time (this process, all threads) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def best_of(n: int, fn: Callable[[], object]) -> float:
    """Best wall time of n runs."""
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def year_of_windows(start: float) -> list[Window]:
    """A year of plausible 5-minute P1 windows (counters increase 0..50 Wh per window)."""
    out = []
    imp = 10_000_000
    for i in range(YEAR_WINDOWS):
        s = start + i * 300
        e = (i * 7919) % 51
        imp += e
        w = e * 12.0
        out.append(
            Window(
                "year",
                300,
                s,
                s + 300,
                1 + (i // 96) % 2,
                imp / 1000,
                imp / 2000,
                imp / 2000,
                4000.0,
                w,
                w / 3,
                w / 3,
                w / 3,
                230.0,
                231.0,
                229.0,
                w,
                w / 3,
                w / 3,
                w / 3,
                w * 1.5,
                w / 2,
                w / 2,
                w / 2,
                w / 2,
                300,
                e / 1000,
                0.0,
                e / 1000,
            )
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--hwlogger", type=Path, help="a checkout of github:AmpScm/HwLogger")
    parser.add_argument("--pairs", type=int, default=5, help="Meterit/hwLogger pairs of runs")
    args = parser.parse_args()
    hwlogger = None if args.hwlogger is None else HwLoggerReplay(args.hwlogger)
    rows: list[tuple[str, str, str, str, bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.jsonl"
        with trace.open("w") as fh:
            subprocess.run(  # noqa: S603 (our own interpreter and the shared tool)
                [sys.executable, str(TRACE), "--hours", str(args.hours)], stdout=fh, check=True
            )
        lines = trace.read_text().splitlines()
        n = len(lines)

        # 1. replay vs baseline
        def baseline() -> None:
            loads = json.loads
            for line in lines:
                loads(line)

        base_s = best_of(3, baseline)
        runs: list[float] = []
        for k in range(3):
            store = MeterStore(Path(tmp) / f"replay{k}.db")
            t0 = time.perf_counter()
            windows = replay(lines, store)
            runs.append(time.perf_counter() - t0)
            store.close()
        replay_s = min(runs)
        rate = n / replay_s
        rows.append(
            (
                f"replay {n} msgs -> {windows} windows",
                f"{rate:,.0f} msg/s",
                f"json.loads only: {n / base_s:,.0f} msg/s (x{replay_s / base_s:.2f} time)",
                f">= {TARGET_MSG_S:,.0f} msg/s",
                rate >= TARGET_MSG_S,
            )
        )

        # 5. side by side with hwLogger's own handler, pairs of runs in the same process
        if hwlogger is not None:
            ours: list[float] = []
            theirs: list[float] = []
            ours_cpu: list[float] = []
            theirs_cpu: list[float] = []
            blocks = 0
            for k in range(args.pairs):
                store = MeterStore(Path(tmp) / f"pair{k}.db")
                wall, cpu = timed(lambda: replay(lines, store))  # noqa: B023 (called now)
                ours.append(n / wall)
                ours_cpu.append(n / cpu)
                store.close()
                db_file = Path(tmp) / f"hwlogger{k}.db"
                wall, cpu = timed(lambda: hwlogger.replay(lines, db_file))  # noqa: B023
                theirs.append(n / wall)
                theirs_cpu.append(n / cpu)
                blocks = hwlogger.count(db_file)
            ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
            cpu_ratios = [a / b for a, b in zip(ours_cpu, theirs_cpu, strict=True)]
            for name, values, unit in (
                ("Meterit replay (pairs)", ours, " msg/s"),
                (f"hwLogger _handle_ws_data -> {blocks} 5-min rows", theirs, " msg/s"),
            ):
                rows.append(
                    (
                        name,
                        f"{statistics.median(values):,.0f}{unit}",
                        f"min {min(values):,.0f}, runs "
                        + ", ".join(f"{v / 1000:,.0f}k" for v in values),
                        "info",
                        True,
                    )
                )
            rows.append(
                (
                    "ratio by CPU time (all threads), median",
                    f"x{statistics.median(cpu_ratios):.1f}",
                    (
                        f"min x{min(cpu_ratios):.1f}; msg per CPU s: Meterit "
                        f"{statistics.median(ours_cpu):,.0f}, hwLogger "
                        f"{statistics.median(theirs_cpu):,.0f}"
                    ),
                    "info",
                    True,
                )
            )
            median_ratio = statistics.median(ratios)
            rows.append(
                (
                    "ratio Meterit/hwLogger (median of pairs)",
                    f"x{median_ratio:.1f}",
                    f"min x{min(ratios):.1f}, pairs " + ", ".join(f"{r:.1f}" for r in ratios),
                    f">= x{TARGET_HWLOGGER_RATIO:.0f}",
                    median_ratio >= TARGET_HWLOGGER_RATIO,
                )
            )

        # 4. memory of the replay (separate, untimed)
        store = MeterStore(Path(tmp) / "mem.db")
        tracemalloc.start()
        replay(lines, store)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        store.close()

        # 2. year query
        store = MeterStore(Path(tmp) / "year.db")
        year_start = 1_767_225_600.0  # 2026-01-01T00:00:00Z
        store.write_windows(year_of_windows(year_start))
        year_end = year_start + YEAR_WINDOWS * 300
        result: list[Window] = []

        def query() -> None:
            result[:] = store.query_windows("year", 300, year_start, year_end)

        query_s = best_of(3, query)
        assert len(result) == YEAR_WINDOWS, len(result)
        conn = store._conn  # noqa: SLF001 (the raw-fetch baseline needs the connection)
        assert conn is not None
        raw_s = best_of(
            3,
            lambda: conn.execute(
                "SELECT * FROM windows WHERE series = 'year' AND resolution = 300"
            ).fetchall(),
        )
        rows.append(
            (
                f"query 1 year, Window objects ({len(result):,})",
                f"{query_s * 1000:,.0f} ms",
                f"raw sqlite fetchall of all columns: {raw_s * 1000:,.0f} ms",
                "info",
                True,
            )
        )
        lean: list[tuple[float | int | None, ...]] = []

        def lean_query() -> None:
            lean[:] = store.query_window_columns("year", 300, year_start, year_end, LEAN_COLUMNS)

        lean_s = best_of(5, lean_query)
        assert len(lean) == YEAR_WINDOWS, len(lean)
        assert lean[7] == tuple(getattr(result[7], c) for c in LEAN_COLUMNS)
        rows.append(
            (
                f"query 1 year, lean path ({len(lean):,} rows x {len(LEAN_COLUMNS)})",
                f"{lean_s * 1000:,.0f} ms",
                f"columns {', '.join(LEAN_COLUMNS)}",
                f"< {TARGET_QUERY_S * 1000:.0f} ms",
                lean_s < TARGET_QUERY_S,
            )
        )

        # 3. hourly statistics
        stats: list[Any] = []
        stats_s = best_of(3, lambda: stats.__setitem__(slice(None), hourly_statistics(result)))
        rows.append(
            (
                f"hourly statistics of 1 year ({len(stats):,} hours)",
                f"{stats_s * 1000:,.0f} ms",
                "",
                f"< {TARGET_STATS_S:.0f} s",
                stats_s < TARGET_STATS_S,
            )
        )
        store.close()
    rows.append(
        ("peak memory of the replay (tracemalloc)", f"{peak / 1024:,.0f} KiB", "", "", True)
    )

    print(f"{'measure':<48} {'result':>14}  {'baseline':<52} {'target':<18} verdict")
    for name, value, base, target, ok in rows:
        verdict = ("PASS" if ok else "FAIL") if target and target != "info" else "info"
        print(f"{name:<48} {value:>14}  {base:<52} {target:<18} {verdict}")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
