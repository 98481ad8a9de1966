"""Replay of the shared P1 trace with an outage: the invariant against the trace's counters."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
import subprocess
import sys

import pytest

from custom_components.meterit.metering import (
    MeterStore,
    Reading,
    WindowAggregator,
    hourly_statistics,
)

from .helpers import by_res, wh

START = 1_782_000_000  # p1-trace's default start, 2026-06-21T00:00:00Z


def _reading(message: dict[str, object]) -> Reading:
    data = message["data"]
    assert isinstance(data, dict)
    return Reading(
        t=float(message["t"]),  # type: ignore[arg-type]
        w=data.get("power_w"),
        l1_w=data.get("power_l1_w"),
        l2_w=data.get("power_l2_w"),
        l3_w=data.get("power_l3_w"),
        l1_v=data.get("voltage_l1_v"),
        l2_v=data.get("voltage_l2_v"),
        l3_v=data.get("voltage_l3_v"),
        import_kwh=data.get("energy_import_kwh"),
        import_t1_kwh=data.get("energy_import_t1_kwh"),
        import_t2_kwh=data.get("energy_import_t2_kwh"),
        export_kwh=data.get("energy_export_kwh"),
        tariff=data.get("tariff"),
    )


@pytest.fixture(scope="module")
def trace() -> list[Reading]:
    tool = Path(__file__).resolve().parents[3] / "shared" / "tools" / "p1-trace"
    if not tool.is_file():
        pytest.skip("../shared/tools/p1-trace not found")
    result = subprocess.run(  # noqa: S603 (our interpreter, the shared tool)
        [sys.executable, str(tool), "--hours", "2", "--gap", "00:30-01:10"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [_reading(json.loads(line)) for line in result.stdout.splitlines()]


def test_trace_replay_keeps_energy_through_the_outage(trace: list[Reading], tmp_path: Path) -> None:
    agg = WindowAggregator("p1")
    store = MeterStore(tmp_path / "meterit.db")
    try:
        for r in trace:
            store.write_windows(agg.add(r))
        store.write_windows(agg.flush(trace[-1].t + 600))
        windows = store.query_windows("p1", 300, START, START + 7200)
        windows_30 = store.query_windows("p1", 30, START, START + 7200)
    finally:
        store.close()
    first, last = trace[0], trace[-1]
    assert len(windows) == 24  # two hours of 5-minute windows, gap included
    assert sum(wh(w.energy_import_kwh) for w in windows) == wh(last.import_kwh) - wh(
        first.import_kwh
    )
    assert sum(wh(w.energy_export_kwh) for w in windows) == wh(last.export_kwh) - wh(
        first.export_kwh
    )
    assert len(windows_30) == 240
    assert sum(wh(w.energy_import_kwh) for w in windows_30) == wh(last.import_kwh) - wh(
        first.import_kwh
    )
    # the outage 00:30-01:10 UTC is 8 synthetic windows, and only those
    synthetic = [w for w in windows if w.synthetic]
    assert [w.start for w in synthetic] == [START + 1800 + 300 * k for k in range(8)]
    assert all(w.reading_count > 250 for w in windows if not w.synthetic)
    # the energy spread over them is the counter difference across the silence
    before = max((r for r in trace if r.t < START + 1800), key=lambda r: r.t)
    after = min((r for r in trace if r.t >= START + 4200), key=lambda r: r.t)
    across = wh(after.import_kwh) - wh(before.import_kwh)
    gap_s = after.t - before.t
    spread = sum(wh(w.energy_import_kwh) for w in synthetic)
    assert abs(spread - across * 2400 / gap_s) <= 8  # proportional, rounding <= 1 Wh each
    # hours: the outage's energy lands in hours 0 and 1, not as a spike
    stats = hourly_statistics(windows)
    assert [h.start for h in stats] == [START, START + 3600]
    assert round((stats[-1].import_sum) * 1000) == wh(last.import_kwh) - wh(first.import_kwh)


def test_trace_average_is_time_weighted(trace: list[Reading]) -> None:
    agg = WindowAggregator("p1", (300,))
    out = [w for r in trace for w in agg.add(r)]
    window = by_res(out, 300)[0]
    inside = [r for r in trace if window.start <= r.t < window.end]
    following = min(r.t for r in trace if r.t >= window.end)
    times = [r.t for r in inside] + [following]
    weights = [min(b - a, 30.0) for a, b in itertools.pairwise(times)]
    expected = sum((r.w or 0) * k for r, k in zip(inside, weights, strict=True)) / sum(weights)
    assert window.w_avg == pytest.approx(expected, rel=1e-12)
