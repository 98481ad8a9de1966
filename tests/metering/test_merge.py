"""Adding windows to stored ones, the store's one-transaction write, and the pending queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.meterit.metering import (
    InvalidRecordError,
    InvalidSnapshotError,
    MeterStore,
    Reading,
    Window,
    WindowAggregator,
)
from custom_components.meterit.metering.gapfill import SyntheticRun, WindowBatch
from custom_components.meterit.metering.merge import merge_window
from custom_components.meterit.metering.pending import PendingWindows
from custom_components.meterit.metering.store import SHORT_RETENTION_S
from custom_components.meterit.metering.timeline import Closed, Timeline

from .helpers import wh

REAL = Window(
    "s", 300, 600.0, 900.0, tariff=1, import_kwh=10.0, export_kwh=2.0, w=100.0, w_avg=200.0,
    l1_w_avg=100.0, w_max=900.0, l1_w_max=400.0, w_min=50.0, reading_count=30,
    energy_import_kwh=0.021, energy_export_kwh=0.001, energy_kwh=0.0166,
)  # fmt: skip
LATER = Window(
    "s", 300, 600.0, 900.0, tariff=2, import_kwh=10.7, export_kwh=None, w=300.0, w_avg=500.0,
    l1_w_avg=None, w_max=700.0, l1_w_max=800.0, w_min=20.0, reading_count=10,
    energy_import_kwh=0.009, energy_export_kwh=None, energy_kwh=0.0416,
)  # fmt: skip


def test_merged_windows_add_their_energy_and_readings() -> None:
    merged = merge_window(REAL, LATER)
    assert wh(merged.energy_import_kwh) == 30
    assert wh(merged.energy_export_kwh) == 1
    assert merged.energy_kwh == pytest.approx(0.0166 + 0.0416)
    assert merged.reading_count == 40
    assert merged.w_avg == pytest.approx((200.0 * 30 + 500.0 * 10) / 40)
    assert merged.l1_w_avg == 100.0  # only the stored window had it
    assert (merged.w_max, merged.l1_w_max, merged.w_min) == (900.0, 800.0, 20.0)
    # the newer window's last values and counters, the stored ones where it has none
    assert (merged.tariff, merged.import_kwh, merged.export_kwh, merged.w) == (2, 10.7, 2.0, 300)


def test_a_synthetic_window_weighs_no_readings_in_the_averages() -> None:
    gap = Window("s", 300, 600.0, 900.0, w_avg=36.0, energy_import_kwh=0.003, energy_kwh=0.003)
    merged = merge_window(gap, LATER)
    assert merged.w_avg == 500.0
    assert merge_window(LATER, gap).w_avg == 500.0
    assert wh(merged.energy_import_kwh) == 12
    assert merged.reading_count == 10


def test_only_windows_of_one_key_merge() -> None:
    with pytest.raises(ValueError, match="cannot merge"):
        merge_window(REAL, Window("s", 300, 900.0, 1200.0))


def test_the_store_adds_merges_and_saves_the_state_in_the_same_transaction(
    tmp_path: Path,
) -> None:
    store = MeterStore(tmp_path / "s.db")
    store.write_windows([REAL], state=("k", {"v": 1}))
    fresh = Window("s", 300, 900.0, 1200.0, reading_count=1, energy_import_kwh=0.002)
    assert store.write_windows([], merge=[LATER, fresh], state=("k", {"v": 2})) == 2
    stored = store.query_windows("s", 300, 0, 2000)
    assert stored == [merge_window(REAL, LATER), fresh]
    assert store.load_state("k") == {"v": 2}
    bad = Window("s", 300, 600.0, 900.0, w=float("nan"), reading_count=1)
    with pytest.raises(InvalidRecordError):
        store.write_windows([fresh], merge=[LATER, bad], state=("k", {"v": 3}))
    assert store.query_windows("s", 300, 0, 2000) == stored  # nothing of it half-stored
    assert store.load_state("k") == {"v": 2}
    with pytest.raises(InvalidRecordError, match="state key"):
        store.write_windows([fresh], state=("", {}))
    store.close()


def run_of(res: int, first: float, size: int) -> SyntheticRun:
    return SyntheticRun("s", res, first, size, (None, None, None, None))


def test_pending_windows_drop_only_short_windows_the_store_would_purge() -> None:
    now = 10 * 86_400.0
    old = now - SHORT_RETENTION_S - 600
    pending = PendingWindows()
    pending.add(Closed(WindowBatch([Window("s", 30, now - 60, now - 30)])))
    batch = WindowBatch(
        [
            Window("s", 30, old, old + 30),
            Window("s", 300, old, old + 300),
            run_of(30, old - 300, 40),  # 300 s of it too old, 900 s kept
            run_of(300, 0.0, 1000),
        ]
    )
    merges = WindowBatch([Window("s", 30, old + 30, old + 60)])
    pending.put_back(batch, merges, now)
    windows, kept_merges = pending.take()
    assert len(kept_merges) == 0
    starts = [(w.resolution, w.start) for w in windows]
    assert (300, old) in starts
    assert (30, old) not in starts
    assert sum(1 for r, _ in starts if r == 300) == 1001
    short = [s for r, s in starts if r == 30]
    assert min(short) >= now - SHORT_RETENTION_S - 30
    assert short[-1] == now - 60  # what closed meanwhile comes after
    assert len(pending) == 0


def test_a_timeline_rejects_what_it_cannot_use() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        Timeline(WindowAggregator("s"), tolerance=-1.0)
    timeline = Timeline(WindowAggregator("s"))
    snapshot = timeline.snapshot()
    for bad in ("x", True, float("inf")):
        with pytest.raises(InvalidSnapshotError, match="merge_below"):
            timeline.restore({**snapshot, "merge_below": bad})
    timeline.restore({**snapshot, "merge_below": 5})
    assert timeline.merge_below == 5.0
    assert not Closed()


def test_windows_of_a_jump_inside_an_earlier_jumps_stretch_are_added_too() -> None:
    timeline = Timeline(WindowAggregator("s", (300,)))
    for t in range(0, 1200, 10):
        timeline.add(Reading(float(t), 100.0, import_kwh=1.0 + t / 10_000))
    first = timeline.add(Reading(500.0, 100.0, import_kwh=1.2))
    assert first.jumped_back == 690.0
    assert timeline.merge_below == 1200.0
    timeline.add(Reading(560.0, 100.0, import_kwh=1.21))
    second = timeline.add(Reading(100.0, 100.0, import_kwh=1.22))
    assert second.jumped_back == 460.0
    # the window open at the second jump (from 300) closes into the stored one, not over it
    assert [w.start for w in second.merges] == [300.0]
    assert len(second.windows) == 0
    assert timeline.merge_below == 1200.0
