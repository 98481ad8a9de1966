"""Hand-computed cases for WindowAggregator (weights, windows, counters, gaps, snapshots)."""

from __future__ import annotations

import json

import pytest

from custom_components.meterit.metering import (
    CounterReset,
    InvalidSnapshotError,
    Reading,
    Window,
    WindowAggregator,
)

from .helpers import by_res, run, wh


def test_three_readings_weighted_average() -> None:
    # window [0, 60): w=100 for 10 s, 200 for 30 s, 400 for 30 s (until the next reading at 70)
    readings = [Reading(0.0, 100.0), Reading(10.0, 200.0), Reading(40.0, 400.0)]
    agg = WindowAggregator("station", (60,), max_weight=30.0)
    for r in readings:
        assert agg.add(r) == []
    [window] = agg.add(Reading(70.0, 0.0))
    expected_avg = (100 * 10 + 200 * 30 + 400 * 30) / 70
    assert window.w_avg == pytest.approx(expected_avg)
    assert (window.w_min, window.w_max, window.w, window.reading_count) == (100.0, 400.0, 400.0, 3)
    assert (window.start, window.end) == (0.0, 60.0)
    assert window.energy_kwh == pytest.approx((100 * 10 + 200 * 30 + 400 * 30) / 3_600_000)
    assert window.energy_import_kwh is None
    assert window.l1_w_avg is None


def test_silence_is_capped() -> None:
    # 100 W then nothing for 100 s: it weighs 30 s, not 100 s, against the 500 W after it
    agg = WindowAggregator("station", (300,), max_weight=30.0)
    agg.add(Reading(0.0, 100.0))
    agg.add(Reading(100.0, 500.0))
    [window] = agg.flush(400.0)
    assert window.w_avg == pytest.approx((100 * 30 + 500 * 30) / 60)


def test_windows_align_to_wall_clock_and_close_in_order() -> None:
    agg = WindowAggregator("p1")
    assert agg.resolutions == (30, 300)
    agg.add(Reading(1_782_000_299.5, 10.0))
    closed = agg.add(Reading(1_782_000_300.5, 20.0))
    assert [(w.resolution, w.start, w.end) for w in closed] == [
        (30, 1_782_000_270.0, 1_782_000_300.0),
        (300, 1_782_000_000.0, 1_782_000_300.0),
    ]


def test_flush_only_closes_ended_windows_and_matches_stream() -> None:
    readings = [Reading(0.0, 100.0), Reading(20.0, 300.0)]
    agg = WindowAggregator("s", (60,), max_weight=30.0)
    for r in readings:
        agg.add(r)
    assert agg.flush(59.9) == []
    [flushed] = agg.flush(60.0 + 30.0)  # end + max_weight: same as the stream
    stream = WindowAggregator("s", (60,), max_weight=30.0)
    for r in readings:
        stream.add(r)
    [streamed] = stream.add(Reading(70.0, 0.0))
    assert flushed == streamed
    assert flushed.w_avg == pytest.approx((100 * 20 + 300 * 30) / 50)


def test_early_flush_weighs_until_now() -> None:
    agg = WindowAggregator("s", (60,), max_weight=30.0)
    agg.add(Reading(0.0, 100.0))
    agg.add(Reading(50.0, 400.0))
    [window] = agg.flush(60.0)  # last reading held 10 s so far
    assert window.w_avg == pytest.approx((100 * 30 + 400 * 10) / 40)
    with pytest.raises(ValueError, match="finite"):
        agg.flush(float("nan"))


def test_duplicates_out_of_order_and_late_are_ignored() -> None:
    agg = WindowAggregator("s", (60,))
    agg.add(Reading(10.0, 100.0))
    assert agg.add(Reading(10.0, 999.0)) == []
    assert agg.add(Reading(5.0, 999.0)) == []
    agg.add(Reading(50.0, 100.0))
    agg.flush(65.0)
    # after the flush closed [0, 60) a reading at 55 (later than 50) is late
    assert agg.add(Reading(55.0, 999.0)) == []
    assert (agg.duplicates, agg.out_of_order) == (1, 2)
    assert agg.last_time == 50.0
    agg.add(Reading(70.0, 100.0))
    [window] = agg.flush(200.0)
    assert window.w_max == 100.0


def test_counter_energy_per_window() -> None:
    readings = [
        Reading(0.0, 100.0, import_kwh=10.000, export_kwh=5.000),
        Reading(25.0, 100.0, import_kwh=10.002, export_kwh=5.000),
        Reading(35.0, -50.0, import_kwh=10.003, export_kwh=5.000),
        Reading(50.0, -50.0, import_kwh=10.003, export_kwh=5.004),
    ]
    _, out = run(readings, resolutions=(30,))
    assert [(w.start, wh(w.energy_import_kwh), wh(w.energy_export_kwh)) for w in out] == [
        (0.0, 2, 0),
        (30.0, 1, 4),
    ]
    assert out[-1].import_kwh == 10.003
    assert out[-1].export_kwh == 5.004


def test_gap_spread_by_duration() -> None:
    # 1 Wh per second across a silence 290 s .. 1210 s: 920 Wh
    readings = [
        Reading(280.0, 3600.0, import_kwh=0.990, export_kwh=2.0, import_t1_kwh=0.5),
        Reading(290.0, 3600.0, import_kwh=1.000, export_kwh=2.0, import_t1_kwh=0.5),
        Reading(1210.0, 3600.0, import_kwh=1.920, export_kwh=2.0, import_t1_kwh=0.5),
    ]
    _, out = run(readings, resolutions=(300,))
    assert [(w.start, w.reading_count, wh(w.energy_import_kwh)) for w in out] == [
        (0.0, 2, 10 + 10),  # own 10 Wh + 10 s of the gap
        (300.0, 0, 300),
        (600.0, 0, 300),
        (900.0, 0, 300),
        (1200.0, 1, 10),
    ]
    synthetic = out[1]
    assert synthetic.w_avg == pytest.approx(3600.0)
    assert synthetic.energy_kwh == pytest.approx(0.3)
    assert synthetic.energy_export_kwh == 0.0
    assert [w.import_kwh for w in out[1:4]] == [1.310, 1.610, 1.910]
    assert synthetic.import_t1_kwh == 0.5
    assert synthetic.import_t2_kwh is None  # never seen: not invented
    assert synthetic.w_max is None
    assert synthetic.l1_w_avg is None
    assert synthetic.tariff is None


def test_gap_after_flush_starts_at_window_end() -> None:
    agg = WindowAggregator("s", (300,))
    agg.add(Reading(290.0, 0.0, import_kwh=1.0))
    [closed] = agg.flush(400.0)
    assert wh(closed.energy_import_kwh) == 0
    out = agg.add(Reading(1200.0, 0.0, import_kwh=1.9))
    # 900 Wh over [300, 1200]: three full windows, nothing before
    assert [(w.start, wh(w.energy_import_kwh)) for w in out] == [
        (300.0, 300),
        (600.0, 300),
        (900.0, 300),
    ]
    [last] = agg.flush(2000.0)
    assert wh(last.energy_import_kwh) == 0


def test_webhook_gap_invents_no_energy() -> None:
    _, out = run([Reading(10.0, 500.0), Reading(1000.0, 500.0)], resolutions=(300,))
    gap = [w for w in out if w.synthetic]
    assert [w.start for w in gap] == [300.0, 600.0]
    assert all(w.energy_kwh == 0.0 and w.w_avg is None and w.energy_import_kwh is None for w in gap)
    real = out[0]
    assert real.energy_kwh == pytest.approx(500 * 30 / 3_600_000)


def test_counter_reset_starts_new_segment() -> None:
    readings = [
        Reading(0.0, 1.0, import_kwh=100.000, export_kwh=50.000),
        Reading(10.0, 1.0, import_kwh=100.004, export_kwh=50.000),
        Reading(20.0, 1.0, import_kwh=0.002, export_kwh=50.001),
        Reading(40.0, 1.0, import_kwh=0.005, export_kwh=0.000),
        Reading(1000.0, 1.0, import_kwh=0.005, export_kwh=0.100),
    ]
    agg, out = run(readings, resolutions=(300,))
    events = agg.pop_events()
    assert events == [
        CounterReset("s", 20.0, 100.004, 0.002, "import"),
        CounterReset("s", 40.0, 50.001, 0.000, "export"),
    ]
    assert agg.pop_events() == []
    # segments: import 4 Wh + 3 Wh, export 1 Wh + 100 Wh; nothing negative anywhere
    assert sum(wh(w.energy_import_kwh) for w in out if w.energy_import_kwh is not None) == 7
    assert sum(wh(w.energy_export_kwh) for w in out if w.energy_export_kwh is not None) == 101
    assert all((w.energy_import_kwh or 0) >= 0 and (w.energy_export_kwh or 0) >= 0 for w in out)


def test_gap_with_reset_has_unknown_energy() -> None:
    readings = [
        Reading(0.0, 1.0, import_kwh=100.0, export_kwh=1.0),
        Reading(1000.0, 1.0, import_kwh=1.0, export_kwh=0.5),
    ]
    agg, out = run(readings, resolutions=(300,))
    gap = [w for w in out if w.synthetic]
    assert len(gap) == 2
    assert all(w.energy_import_kwh is None and w.w_avg is None for w in gap)
    assert all(w.energy_kwh == 0.0 and w.import_kwh is None for w in gap)
    assert len(agg.pop_events()) == 2


def test_long_gap_30s_windows_only_cover_the_last_day() -> None:
    day = 86_400.0
    start = 1_782_000_000.0
    end = start + 2 * day + 45.0
    readings = [
        Reading(start + 1, 0.0, import_kwh=1.0),
        Reading(end, 0.0, import_kwh=1.0 + 2 * 86.4),  # 3600 W for 2 days
    ]
    _, out = run(readings)
    synthetic_30 = [w for w in by_res(out, 30) if w.synthetic]
    # missing 30-s windows start at start+30 .. end-45 (the window of `end` starts at end-15)
    assert synthetic_30[-1].end == end - 15
    assert synthetic_30[0].start >= end - day
    assert synthetic_30[0].start - 30 < end - day
    assert len(synthetic_30) == round((synthetic_30[-1].end - synthetic_30[0].start) / 30)
    # the 5-min series keeps every Wh
    assert sum(wh(w.energy_import_kwh) for w in by_res(out, 300)) == 2 * 86_400
    first_missing = start + 300  # the first reading's window is [start, start + 300)
    last_start = end - (end - start) % 300
    assert len([w for w in by_res(out, 300) if w.synthetic]) == (last_start - first_missing) / 300


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="series"):
        WindowAggregator("")
    with pytest.raises(ValueError, match="resolutions"):
        WindowAggregator("s", ())
    with pytest.raises(ValueError, match="resolutions"):
        WindowAggregator("s", (30, 0))
    with pytest.raises(ValueError, match="distinct"):
        WindowAggregator("s", (30, 30))
    with pytest.raises(ValueError, match="max_weight"):
        WindowAggregator("s", max_weight=0)


def _fed() -> WindowAggregator:
    agg = WindowAggregator("s")
    agg.add(Reading(0.0, 1.0, import_kwh=2.0, tariff=2))
    agg.add(Reading(10.0, 1.0, import_kwh=1.0))  # reset event pending
    agg.add(Reading(45.0, 1.0, import_kwh=1.001))
    return agg


def test_snapshot_is_json_and_restores_everything() -> None:
    agg = _fed()
    snap = json.loads(json.dumps(agg.snapshot()))
    other = WindowAggregator("s")
    other.restore(snap)
    assert other.snapshot() == agg.snapshot()
    assert other.pop_events() == agg.pop_events()
    nxt = Reading(400.0, 5.0, import_kwh=1.5)
    assert other.add(nxt) == agg.add(nxt)


def test_snapshot_after_flush_keeps_watermark() -> None:
    agg = _fed()
    agg.flush(1000.0)
    other = WindowAggregator("s")
    other.restore(json.loads(json.dumps(agg.snapshot())))
    assert other.add(Reading(200.0, 1.0)) == []  # after the last reading, before the flush
    assert other.out_of_order == 1


def _broken(path: list[object], value: object) -> dict[str, object]:
    snap: dict[str, object] = json.loads(json.dumps(_fed().snapshot()))
    target: object = snap
    for key in path[:-1]:
        target = target[key]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]
    return snap


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["version"], 99, "'version'"),
        (["series"], "other", "'series'"),
        (["resolutions"], [300], "'resolutions'"),
        (["prev"], "x", "prev: must be an object"),
        (["prev", "t"], None, r"prev\.t"),
        (["prev", "w"], "1", r"prev\.w"),
        (["prev", "tariff"], 1.5, r"prev\.tariff"),
        (["prev", "tariff"], 9, r"prev: reading field 'tariff'"),
        (["watermark"], "now", "watermark"),
        (["counters"], [1, 2], "counters"),
        (["counters", 0], 1.5, r"counters\[0\]"),
        (["duplicates"], True, "duplicates"),
        (["open"], [None], "open"),
        (["open", 0, "start"], 31.0, "not aligned"),
        (["open", 0, "count"], 0, "count"),
        (["open", 0, "sums"], [1, 2, 3], "sums"),
        (["open", 0, "maxima", 1], "x", r"maxima\[1\]"),
        (["open", 0, "has", 0], 1, r"has\[0\]"),
        (["open", 0, "wh", 1], 0.5, r"wh\[1\]"),
        (["open", 0, "last", "t"], 100.0, "outside the window"),
        (["open", 1, "last", "w"], 7.0, "is not the last reading"),
        (["events"], {}, "'events'"),
        (["events", 0, "counter"], "gas", "counter"),
        (["events", 0, "at"], None, r"events\[0\]\.at"),
    ],
)
def test_bad_snapshot_is_rejected_without_change(
    path: list[object], value: object, message: str
) -> None:
    agg = WindowAggregator("s")
    agg.add(Reading(7.0, 3.0))
    before = agg.snapshot()
    with pytest.raises(InvalidSnapshotError, match=message):
        agg.restore(_broken(path, value))  # type: ignore[arg-type]
    assert agg.snapshot() == before


def test_snapshot_must_be_a_mapping() -> None:
    with pytest.raises(InvalidSnapshotError, match="snapshot"):
        WindowAggregator("s").restore([])  # type: ignore[arg-type]


def test_restore_fresh_snapshot() -> None:
    empty = WindowAggregator("s").snapshot()
    agg = _fed()
    agg.restore(empty)
    assert agg.last_time is None
    assert agg.snapshot() == empty


def test_columns_may_be_missing() -> None:
    readings = [Reading(0.0, l1_w=10.0, l1_v=230.0), Reading(10.0, l1_w=30.0)]
    _, [window] = run(readings, resolutions=(300,))
    assert (window.w_avg, window.w_max, window.w_min, window.energy_kwh) == (None,) * 4
    assert window.l1_w_avg == pytest.approx((10 * 10 + 30 * 30) / 40)
    assert window.l1_v is None  # last values are the last reading's


# ---------------------------------------------------------------------- implausible counter steps

MAX_POWER_W = 250_000.0
SLACK_KWH = 0.1


def _bounded() -> WindowAggregator:
    return WindowAggregator("s", (300,), max_power_w=MAX_POWER_W, counter_slack_kwh=SLACK_KWH)


def test_absurd_forward_jump_counts_no_energy() -> None:
    """A counter glitch far ahead (then back) starts segments; no energy is invented."""
    agg = WindowAggregator("s", (300,))  # bounded by default
    readings = [
        Reading(0.0, 100.0, import_kwh=1000.000),
        Reading(1.0, 100.0, import_kwh=1000.001),
        Reading(2.0, 100.0, import_kwh=99999.0),  # one push from a broken meter
        Reading(3.0, 100.0, import_kwh=1000.003),
        Reading(4.0, 100.0, import_kwh=1000.004),
    ]
    out: list[Window] = []
    for r in readings:
        out += agg.add(r)
    [window] = agg.flush(1000.0)
    assert agg.pop_events() == [
        CounterReset("s", 2.0, 1000.001, 99999.0, "import"),
        CounterReset("s", 3.0, 99999.0, 1000.003, "import"),
    ]
    # only the real steps: 1 Wh before the glitch and 1 Wh after it
    assert wh(window.energy_import_kwh) == 2
    assert out == []
    assert agg.counter_suspect("import", 1000.005, 5.0) is False
    assert agg.counter_suspect("import", 99999.0, 5.0) is True


def test_the_forward_bound_grows_with_time() -> None:
    """What a step may add is max power times the time since the counter was last seen."""
    agg = _bounded()
    agg.add(Reading(0.0, import_kwh=10.0, export_kwh=5.0))
    bound_kwh = MAX_POWER_W / 1000 * 3600 / 3600  # one hour at the bound
    assert agg.counter_suspect("import", 10.0 + bound_kwh + SLACK_KWH - 0.001, 3600.0) is False
    assert agg.counter_suspect("import", 10.0 + bound_kwh + SLACK_KWH + 0.001, 3600.0) is True
    assert agg.counter_suspect("import", 9.999, 3600.0) is True  # backwards
    assert agg.counter_suspect("export", 5.0 + SLACK_KWH + 0.002, 0.0) is True
    with pytest.raises(ValueError, match="counter"):
        agg.counter_suspect("gas", 1.0, 1.0)
    # an outage of an hour at 40 kW is plausible: its energy is spread over the gap
    out = agg.add(Reading(3600.0, import_kwh=50.0, export_kwh=5.0))
    assert agg.pop_events() == []
    assert sum(wh(w.energy_import_kwh) for w in out) == 40_000


def test_without_a_bound_every_forward_step_counts() -> None:
    agg = WindowAggregator("s", (300,), max_power_w=None)
    agg.add(Reading(0.0, import_kwh=1.0))
    agg.add(Reading(1.0, import_kwh=99999.0))
    [window] = agg.flush(1000.0)
    assert wh(window.energy_import_kwh) == 99_998_000
    with pytest.raises(ValueError, match="max_power_w"):
        WindowAggregator("s", max_power_w=0.0)
    with pytest.raises(ValueError, match="counter_slack_kwh"):
        WindowAggregator("s", counter_slack_kwh=-1.0)


def test_restart_counter_starts_a_segment_without_an_event() -> None:
    """A counter read from other fields now: the step to its next value is no energy."""
    agg = _bounded()
    agg.add(Reading(0.0, import_kwh=10.0, export_kwh=1.0))
    agg.restart_counter("import")
    agg.restart_counter("export")
    assert agg.counter_suspect("import", 500.0, 1.0) is False
    agg.add(Reading(1.0, import_kwh=510.0, export_kwh=1.5))
    agg.add(Reading(2.0, import_kwh=510.002, export_kwh=1.5))
    [window] = agg.flush(1000.0)
    assert agg.pop_events() == []
    assert (wh(window.energy_import_kwh), wh(window.energy_export_kwh)) == (2, 0)
    with pytest.raises(ValueError, match="counter"):
        agg.restart_counter("water")


def _time_base(agg: WindowAggregator) -> float | None:
    """(A call, so that type narrowing does not stick.)"""
    return agg.time_base


def test_restart_time_closes_windows_and_keeps_counters() -> None:
    """The clock went back: open windows close, readings at earlier times are taken again."""
    agg = WindowAggregator("s", (30, 300))
    agg.add(Reading(86_410.0, 100.0, import_kwh=1.000))
    agg.add(Reading(86_420.0, 300.0, import_kwh=1.002))
    assert _time_base(agg) == 86_420.0
    closed = agg.restart_time()
    assert [(w.resolution, w.start, w.reading_count) for w in closed] == [
        (30, 86_400.0, 2),
        (300, 86_400.0, 2),
    ]
    # the last reading weighs until the window's end: 10 s in [86400, 86430), capped 30 s in 5 min
    assert closed[0].w_avg == pytest.approx((100 * 10 + 300 * 10) / 20)
    assert closed[1].w_avg == pytest.approx((100 * 10 + 300 * 30) / 40)
    assert _time_base(agg) is None
    assert agg.add(Reading(10.0, 200.0, import_kwh=1.005)) == []
    assert agg.out_of_order == 0
    [window] = agg.flush(1000.0)[1:]
    # the counter went on: the 3 Wh since the last reading before the jump count
    assert (window.start, window.reading_count, wh(window.energy_import_kwh)) == (0.0, 1, 3)
    assert agg.pop_events() == []


def test_snapshot_keeps_counter_times() -> None:
    """After a restore the bound still runs from when the counter was seen, not from now."""
    agg = _bounded()
    agg.add(Reading(0.0, import_kwh=1.0))
    agg.add(Reading(1.0))  # no counter in this one
    step = MAX_POWER_W / 3_600_000 + SLACK_KWH + 0.002  # a little more than 1 s allows
    other = _bounded()
    other.restore(json.loads(json.dumps(agg.snapshot())))
    assert other.counter_suspect("import", 1.0 + step, 1.0) is True
    assert other.counter_suspect("import", 1.0 + step, 2.0) is False  # 2 s since the counter
    # a snapshot from before counter times: the last reading's time stands in
    old = agg.snapshot()
    del old["counter_times"]
    other.restore(json.loads(json.dumps(old)))
    assert other.counter_suspect("import", 1.0 + step, 2.0) is True
