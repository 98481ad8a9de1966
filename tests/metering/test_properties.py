"""Property tests: the energy invariant, averages within extremes, robustness, snapshots."""

from __future__ import annotations

from dataclasses import replace
import itertools
import json

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.meterit.metering import (
    MeterStore,
    Reading,
    Window,
    WindowAggregator,
    hourly_statistics,
)
from custom_components.meterit.metering.aggregator import (
    DEFAULT_COUNTER_SLACK_KWH,
    DEFAULT_MAX_POWER_W,
)

from .helpers import Meter, by_res, run, wh

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def steps(draw: st.DrawFn, max_len: int = 80) -> list[tuple[float, float]]:
    """(dt, power) pairs: mostly ~1 s jitter, some pauses, a few long gaps (up to ~6 h)."""
    n = draw(st.integers(1, max_len))
    out = []
    for _ in range(n):
        kind = draw(st.integers(0, 19))
        if kind == 0:
            dt = draw(st.floats(300.0, 20_000.0))
        elif kind <= 2:
            dt = draw(st.floats(3.0, 300.0))
        else:
            dt = draw(st.floats(0.05, 3.0))
        out.append((dt, draw(st.floats(-4000.0, 6000.0))))
    return out


@st.composite
def p1_streams(draw: st.DrawFn, resets: bool = False) -> list[Reading]:
    meter = Meter(t=draw(st.floats(1.7e9, 1.8e9)))
    readings = [meter.reading(draw(st.floats(-4000.0, 6000.0)))]
    previous = readings[0].w or 0.0
    for dt, power in draw(steps()):
        meter.advance(dt, previous)
        if resets and draw(st.integers(0, 15)) == 0:
            meter.imp_wh = draw(st.floats(0.0, 5000.0))
            meter.exp_wh = draw(st.floats(0.0, 5000.0))
        readings.append(meter.reading(power))
        previous = power
    return readings


def plausible(a: int, b: int, dt: float) -> bool:
    """A counter step from ``a`` to ``b`` Wh in ``dt`` s that the aggregator counts as energy."""
    return 0 <= b - a <= dt * (DEFAULT_MAX_POWER_W / 3600.0) + DEFAULT_COUNTER_SLACK_KWH * 1000.0


def positive_deltas(values: list[int], times: list[float]) -> int:
    """Energy of a counter with resets: the sum over segments of last - first.

    A segment ends where the counter goes backwards or jumps forward faster than the power
    bound allows (a meter reset to a higher value).
    """
    return sum(
        b - a
        for (a, ta), (b, tb) in itertools.pairwise(zip(values, times, strict=True))
        if plausible(a, b, tb - ta)
    )


def segment_breaks(values: list[int], times: list[float]) -> int:
    """Steps that start a new segment (each is one counter reset event)."""
    return sum(
        not plausible(a, b, tb - ta)
        for (a, ta), (b, tb) in itertools.pairwise(zip(values, times, strict=True))
    )


@SETTINGS
@given(p1_streams())
def test_energy_invariant(readings: list[Reading]) -> None:
    _, out = run(readings)
    first, last = readings[0], readings[-1]
    for res in (30, 300):  # gaps here are < 24 h, so 30-s windows keep every Wh too
        windows = by_res(out, res)
        assert sum(wh(w.energy_import_kwh) for w in windows) == wh(last.import_kwh) - wh(
            first.import_kwh
        )
        assert sum(wh(w.energy_export_kwh) for w in windows) == wh(last.export_kwh) - wh(
            first.export_kwh
        )
        starts = [w.start for w in windows]
        # contiguous: real + synthetic windows tile the whole time span
        assert starts == [starts[0] + i * res for i in range(len(starts))]
        assert all(w.energy_import_kwh is not None and w.energy_import_kwh >= 0 for w in windows)


@SETTINGS
@given(p1_streams(resets=True))
def test_energy_invariant_with_counter_resets(readings: list[Reading]) -> None:
    agg, out = run(readings, resolutions=(300,))
    imports = [wh(r.import_kwh) for r in readings]
    exports = [wh(r.export_kwh) for r in readings]
    times = [r.t for r in readings]
    assert sum(wh(w.energy_import_kwh) for w in out if w.energy_import_kwh is not None) == (
        positive_deltas(imports, times)
    )
    assert sum(wh(w.energy_export_kwh) for w in out if w.energy_export_kwh is not None) == (
        positive_deltas(exports, times)
    )
    resets = segment_breaks(imports, times) + segment_breaks(exports, times)
    assert len(agg.pop_events()) == resets


@SETTINGS
@given(p1_streams())
def test_average_within_the_readings_extremes(readings: list[Reading]) -> None:
    _, out = run(readings)
    for window in out:
        inside = [r for r in readings if window.start <= r.t < window.end]
        assert window.reading_count == len(inside)
        if not inside:
            assert window.synthetic
            continue
        for col in ("w", "l1_w", "l2_w", "l3_w"):
            values = [getattr(r, col) for r in inside]
            avg = getattr(window, f"{col}_avg")
            assert getattr(window, f"{col}_max") == max(values)
            tolerance = 1e-9 * (1 + max(abs(v) for v in values))
            assert min(values) - tolerance <= avg <= max(values) + tolerance
        assert window.w_min == min(r.w for r in inside if r.w is not None)
        assert window.import_kwh == inside[-1].import_kwh


@SETTINGS
@given(st.lists(st.tuples(st.floats(0.1, 200.0), st.floats(-500.0, 3000.0)), min_size=1))
def test_webhook_energy_is_the_capped_integral(points: list[tuple[float, float]]) -> None:
    t = 1_782_000_000.0
    readings = []
    for dt, watts in points:
        t += dt
        readings.append(Reading(t, watts))
    _, out = run(readings, resolutions=(300,), max_weight=30.0)
    weights = [min(b.t - a.t, 30.0) for a, b in itertools.pairwise(readings)]
    weights.append(30.0)  # the final flush is far after the last reading
    expected = sum(r.w * k for r, k in zip(readings, weights, strict=True) if r.w) / 3.6e6
    got = sum(w.energy_kwh for w in out if w.energy_kwh is not None)
    assert abs(got - expected) <= 1e-9 * (1 + sum(abs(r.w or 0) for r in readings))
    assert all(w.energy_kwh == 0.0 for w in out if w.synthetic)


@SETTINGS
@given(p1_streams(), st.data())
def test_duplicates_and_reordering_change_nothing(
    readings: list[Reading], data: st.DataObject
) -> None:
    noisy: list[Reading] = []
    dups = late = 0
    for r in readings:
        noisy.append(r)
        kind = data.draw(st.integers(0, 5))
        if kind == 0:
            noisy.append(replace(r, w=data.draw(st.floats(-1e4, 1e4)), import_kwh=0.0))
            dups += 1
        elif kind == 1:
            back = data.draw(st.floats(0.001, 1000.0))
            noisy.append(replace(r, t=r.t - back, w=1e6, export_kwh=0.0))
            late += 1
    agg_clean, clean = run(readings)
    agg_noisy, got = run(noisy, end=readings[-1].t + 3000 + 30)
    assert got == clean
    assert (agg_noisy.duplicates, agg_noisy.out_of_order) == (dups, late)
    assert (agg_clean.duplicates, agg_clean.out_of_order) == (0, 0)


@SETTINGS
@given(p1_streams(), st.data())
def test_snapshot_restore_split_anywhere(readings: list[Reading], data: st.DataObject) -> None:
    split = data.draw(st.integers(0, len(readings)))
    _, whole = run(readings)
    first = WindowAggregator("s")
    out: list[Window] = []
    for r in readings[:split]:
        out += first.add(r)
    second = WindowAggregator("s")
    second.restore(json.loads(json.dumps(first.snapshot())))
    for r in readings[split:]:
        out += second.add(r)
    out += second.flush(readings[-1].t + 3000 + 30)
    assert out == whole


@SETTINGS
@given(p1_streams())
def test_store_reimport_is_idempotent(readings: list[Reading]) -> None:
    _, out = run(readings, resolutions=(300,))
    store = MeterStore(":memory:")
    try:
        store.write_windows(out)
        span = (out[0].start, out[-1].end)
        stored = store.query_windows("s", 300, *span)
        assert stored == out
        store.write_windows(out)
        # a synthetic window never replaces a real one
        store.write_windows(
            [replace(w, reading_count=0, w_avg=None) for w in out if w.reading_count]
        )
        assert store.query_windows("s", 300, *span) == out
    finally:
        store.close()
    # the other way round: real windows replace synthetic ones already stored
    store = MeterStore(":memory:")
    try:
        store.write_windows([replace(w, reading_count=0, w_max=None) for w in out])
        store.write_windows(out)
        assert store.query_windows("s", 300, *span) == out
    finally:
        store.close()


@SETTINGS
@given(p1_streams())
def test_hourly_statistics_keep_every_wh(readings: list[Reading]) -> None:
    _, out = run(readings, resolutions=(300,))
    stats = hourly_statistics(out, import_base=100.0)
    total = wh(readings[-1].import_kwh) - wh(readings[0].import_kwh)
    assert sum(round((h.import_kwh or 0.0) * 1000) for h in stats) == total
    assert all(h.import_kwh is not None for h in stats)  # every window has counters
    assert round((stats[-1].import_sum - 100.0) * 1000) == total
    for hour in stats:
        assert (
            hour.power_min is None
            or hour.power_min <= (hour.power_mean or 0) + 1e-6
            or (hour.power_mean is None)
        )
