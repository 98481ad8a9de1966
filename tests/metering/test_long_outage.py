"""A long outage: its gap windows are made lazily, stored in full, and energy is kept."""

from __future__ import annotations

from pathlib import Path
import tracemalloc

from custom_components.meterit.metering import MeterStore, Reading, WindowAggregator
from custom_components.meterit.metering.gapfill import SyntheticRun, WindowBatch

from .helpers import wh

DAY = 86_400.0
T = 1_782_000_010.0


def outage(days: float) -> tuple[Reading, Reading]:
    return (
        Reading(T, 500.0, import_kwh=1000.0, export_kwh=20.0),
        Reading(T + days * DAY, 700.0, import_kwh=1000.0 + 9.6 * days, export_kwh=20.0 + days),
    )


def close_and_store(store: MeterStore, days: float) -> tuple[WindowBatch, int]:
    """The gap's windows (as the aggregator gives them), and the peak memory (bytes) of it all."""
    agg = WindowAggregator("p1")
    before, after = outage(days)
    agg.add(before)
    tracemalloc.start()
    try:
        closed = agg.add(after)
        closed.extend(agg.flush(after.t + 3600))
        store.write_windows(closed)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        store.close()
    return closed, peak


def test_a_hundred_day_outage_keeps_its_energy_in_the_store(tmp_path: Path) -> None:
    closed, _ = close_and_store(MeterStore(tmp_path / "store.db"), 100)
    store = MeterStore(tmp_path / "store.db")  # what is on disk
    before, after = outage(100)
    windows = store.query_windows("p1", 300, T - 300, after.t + 3600)
    assert len(windows) == 100 * 288 + 1
    assert sum(w.reading_count == 0 for w in windows) == 100 * 288 - 1
    for counter in ("import", "export"):
        total = sum(wh(getattr(w, f"energy_{counter}_kwh")) for w in windows)
        counted = wh(getattr(after, f"{counter}_kwh")) - wh(getattr(before, f"{counter}_kwh"))
        assert total == counted
    # interpolated counters climb steadily to the reading after the gap
    assert windows[-2].import_kwh is not None
    assert after.import_kwh is not None
    assert windows[-2].import_kwh <= after.import_kwh
    assert [w.start for w in windows] == [windows[0].start + 300 * k for k in range(len(windows))]
    assert any(isinstance(part, SyntheticRun) for part in closed.parts)
    store.close()


def test_the_memory_of_a_gap_does_not_grow_with_its_length(tmp_path: Path) -> None:
    _, short = close_and_store(MeterStore(tmp_path / "a.db"), 10)
    _, long = close_and_store(MeterStore(tmp_path / "b.db"), 400)
    assert long < 2 * short + 200_000  # 40 times the windows, about the same memory
    assert long < 2_000_000


def test_a_lazy_run_is_the_windows_the_spread_gives() -> None:
    agg = WindowAggregator("p1")
    before, after = outage(0.5)
    agg.add(before)
    closed = agg.add(after)
    [run] = [p for p in closed.parts if isinstance(p, SyntheticRun) and p.resolution == 300]
    windows = list(run)
    assert run[-1] == windows[-1]
    assert list(run[3:7]) == windows[3:7]
    assert run[::100] == windows[::100]
    early, late = run.split(windows[10].start)
    assert list(early) + list(late) == windows
    assert len(early) == 10
    step_start = windows[0].start
    assert [w.start for w in windows] == [step_start + 300 * k for k in range(len(windows))]
