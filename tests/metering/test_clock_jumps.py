"""Home Assistant's clock jumping back or forward: the counters stay the truth, in the store too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from hypothesis import given, strategies as st
import pytest

from custom_components.meterit.metering import (
    MeterStore,
    Reading,
    Window,
    WindowAggregator,
    hourly_statistics,
)
from custom_components.meterit.metering.gapfill import SyntheticRun, WindowBatch
from custom_components.meterit.metering.timeline import Closed, Timeline

from .helpers import Meter, wh
from .test_properties import SETTINGS

SERIES = "p1:test"
T = datetime(2026, 6, 21, 10, 0, 10, tzinfo=UTC).timestamp()
MINUTE = 60.0
HOUR = 3600.0


@pytest.fixture(autouse=True)
def close_stores() -> Iterator[None]:
    yield
    while Pipeline.opened:
        Pipeline.opened.pop().close()


class Pipeline:
    """Readings -> Timeline -> MeterStore, as the live path does it (state with every write)."""

    opened: ClassVar[list[MeterStore]] = []

    def __init__(self, path: Path) -> None:
        self.store = MeterStore(path)
        self.opened.append(self.store)
        self.timeline = Timeline(WindowAggregator(SERIES))
        self.first: Reading | None = None
        self.last: Reading | None = None
        self.jumps: list[float] = []

    def write(self, closed: Closed) -> None:
        state = ("history", self.timeline.snapshot())
        self.store.write_windows(closed.windows, merge=closed.merges, state=state)

    def add(self, reading: Reading) -> None:
        self.first = self.first or reading
        self.last = reading
        closed = self.timeline.add(reading)
        if closed.jumped_back is not None:
            self.jumps.append(closed.jumped_back)
        self.write(closed)

    def feed(self, meter: Meter, wall: float, duration: float, step: float = 5.0) -> None:
        """Add the readings of :func:`stream` (every 5 s unless told)."""
        for reading in stream(meter, wall, duration, step):
            self.add(reading)

    def finish(self, now: float) -> None:
        self.write(self.timeline.flush(now))

    def windows(self, res: int) -> list[Window]:
        return self.store.query_windows(SERIES, res, -1e12, 1e12)

    def counted(self, counter: str) -> int:
        assert self.first is not None
        assert self.last is not None
        return wh(getattr(self.last, f"{counter}_kwh")) - wh(getattr(self.first, f"{counter}_kwh"))


def stream(meter: Meter, wall: float, duration: float, step: float) -> Iterator[Reading]:
    """Readings every ``step`` s for ``duration`` s of real time, the clock showing ``wall`` first.

    The power changes with every reading; the meter's counters integrate it in real time.
    """
    offset = wall - meter.t
    power = 800.0
    for k in range(int(duration // step)):
        reading = meter.reading(power)
        yield _at(reading, meter.t + offset)
        power = 300.0 + (k * 977) % 3700 - (1500.0 if k % 7 == 0 else 0.0)
        meter.advance(step, power)


def _at(r: Reading, t: float) -> Reading:
    return replace(r, t=t)


def assert_energy_kept(p: Pipeline, resolutions: tuple[int, ...] = (300, 30)) -> None:
    """Sum of the stored windows' energy == the counters' difference; the same hour by hour."""
    for counter in ("import", "export"):
        for res in resolutions:
            windows = p.windows(res)
            total = sum(wh(getattr(w, f"energy_{counter}_kwh") or 0.0) for w in windows)
            assert total == p.counted(counter), (counter, res)
        hours = hourly_statistics(p.windows(300))
        assert wh(getattr(hours[-1], f"{counter}_sum")) == p.counted(counter)


@pytest.mark.parametrize(
    "back",
    [61.0, 10 * MINUTE, HOUR, 25 * HOUR],
    ids=["61 s", "10 min", "1 h", "25 h"],
)
def test_clock_set_back_keeps_every_watt_hour(tmp_path: Path, back: float) -> None:
    """Windows already stored where the clock lands get the new energy added, not replaced."""
    p = Pipeline(tmp_path / "store.db")
    meter = Meter(t=T - back - 10 * MINUTE)
    step = 5.0 if back < 2 * HOUR else 60.0
    p.feed(meter, meter.t, back + 20 * MINUTE, step)  # the stretch it goes back into
    before = {w.key: w for w in p.windows(300)}
    assert p.last is not None
    p.feed(meter, p.last.t - back, 30 * MINUTE)  # `back` before the last one
    p.finish(meter.t - back + HOUR)
    assert p.jumps == [pytest.approx(back)]
    assert_energy_kept(p)
    after = {w.key: w for w in p.windows(300)}
    shared = [k for k in before if before[k].reading_count < after[k].reading_count]
    assert shared  # windows from both sides of the jump share keys: they were added up
    for key in shared:
        assert wh(after[key].energy_import_kwh) > wh(before[key].energy_import_kwh)


def test_clock_set_forward_by_an_hour_spreads_the_step_over_it(tmp_path: Path) -> None:
    p = Pipeline(tmp_path / "store.db")
    meter = Meter(t=T)
    p.feed(meter, T, 20 * MINUTE)
    p.feed(meter, meter.t + HOUR, 20 * MINUTE)
    p.finish(meter.t + 2 * HOUR)
    assert p.jumps == []
    assert_energy_kept(p)
    synthetic = [w for w in p.windows(300) if w.synthetic]
    assert len(synthetic) >= 11  # the hour the clock skipped has windows (the step's energy)


def test_clock_ahead_then_corrected_adds_to_the_gap_filled_windows(tmp_path: Path) -> None:
    """A boot with the clock a day ahead, then NTP: the gap windows keep their share."""
    p = Pipeline(tmp_path / "store.db")
    meter = Meter(t=T)
    p.feed(meter, T, 10 * MINUTE)
    meter.advance(2 * MINUTE, 2000.0)  # Home Assistant restarts, with its clock a day ahead
    p.feed(meter, meter.t + 24 * HOUR, 10 * MINUTE)
    p.feed(meter, meter.t, 30 * MINUTE)  # NTP: the right time again
    p.finish(meter.t + HOUR)
    assert p.jumps == [pytest.approx(24 * HOUR, abs=5.0)]
    assert_energy_kept(p, (300,))


def test_a_second_jump_back_adds_to_the_first_ones_windows(tmp_path: Path) -> None:
    p = Pipeline(tmp_path / "store.db")
    meter = Meter(t=T)
    p.feed(meter, T, 30 * MINUTE)
    p.feed(meter, meter.t - 20 * MINUTE, 7 * MINUTE)
    assert p.last is not None
    p.feed(meter, p.last.t - 10 * MINUTE, 40 * MINUTE)
    p.finish(meter.t + HOUR)
    assert len(p.jumps) == 2
    assert_energy_kept(p)


def test_merging_ends_once_the_clock_is_past_the_stored_windows(tmp_path: Path) -> None:
    p = Pipeline(tmp_path / "store.db")
    meter = Meter(t=T)
    p.feed(meter, T, 10 * MINUTE)
    p.feed(meter, meter.t - 5 * MINUTE, 5 * MINUTE)
    below = p.timeline.merge_below
    assert below is not None
    assert p.timeline.snapshot()["merge_below"] == below
    p.feed(meter, meter.t - 5 * MINUTE, 11 * MINUTE)
    assert p.timeline.merge_below is None
    p.finish(meter.t + HOUR)
    assert_energy_kept(p)


def test_a_restart_in_the_merging_stretch_goes_on_adding(tmp_path: Path) -> None:
    p = Pipeline(tmp_path / "store.db")
    meter = Meter(t=T)
    p.feed(meter, T, 20 * MINUTE)
    p.feed(meter, meter.t - 15 * MINUTE, 3 * MINUTE)
    snapshot = p.store.load_state("history")
    assert snapshot is not None
    p.timeline = Timeline(WindowAggregator(SERIES))
    p.timeline.restore(snapshot)
    assert p.timeline.merge_below is not None
    p.feed(meter, meter.t - 15 * MINUTE, 20 * MINUTE)
    p.finish(meter.t + HOUR)
    assert_energy_kept(p)


def test_small_steps_back_are_late_readings_and_cost_nothing(tmp_path: Path) -> None:
    p = Pipeline(tmp_path / "store.db")
    meter = Meter(t=T)
    p.feed(meter, T, 10 * MINUTE)
    p.feed(meter, meter.t - 59.0, 10 * MINUTE)
    p.finish(meter.t + HOUR)
    assert p.jumps == []
    assert p.timeline.aggregator.out_of_order > 0
    assert_energy_kept(p)


@st.composite
def segments(draw: st.DrawFn) -> list[tuple[float, float, float]]:
    """(clock jump, real duration, reading step) per stretch: jumps either way, up to 30 h."""
    out = []
    for _ in range(draw(st.integers(1, 5))):
        jump = draw(
            st.one_of(
                st.floats(-120.0, 120.0),
                st.floats(-3 * HOUR, 3 * HOUR),
                st.floats(-30 * HOUR, 30 * HOUR),
            )
        )
        out.append((jump, draw(st.floats(30.0, 40 * MINUTE)), draw(st.floats(1.0, 40.0))))
    return out


@SETTINGS
@given(segments())
def test_no_clock_jump_loses_or_adds_energy(
    tmp_path_factory: pytest.TempPathFactory, plan: list[tuple[float, float, float]]
) -> None:
    p = Pipeline(tmp_path_factory.mktemp("jumps") / "store.db")
    meter = Meter(t=T)
    wall = latest = T
    for jump, duration, step in plan:
        wall += jump
        start = meter.t
        for r in stream(meter, wall, duration, step):
            p.add(r)
            latest = max(latest, r.t)
        wall += meter.t - start
    # readings ignored as late at the end are counted by the next one taken
    p.add(_at(meter.reading(100.0), latest + 1.0))
    p.finish(latest + 40 * HOUR)
    assert_energy_kept(p, (300,))


def test_windows_of_a_batch_read_as_a_list() -> None:
    run = SyntheticRun(SERIES, 300, 300.0, 2, (None, None, None, None))
    batch = WindowBatch([Window(SERIES, 300, 0.0, 300.0), run, Window(SERIES, 300, 900.0, 1200.0)])
    assert [w.start for w in batch] == [0.0, 300.0, 600.0, 900.0]
    assert [batch[k].start for k in range(4)] == [0.0, 300.0, 600.0, 900.0]
    assert batch[-2] == run[1] == run[-1]
    assert [w.start for w in batch[1:3]] == [300.0, 600.0]
    assert "SyntheticRun" in repr(batch)
    with pytest.raises(IndexError):
        run[2]
    batch = WindowBatch([Window(SERIES, 300, 0.0, 300.0)])
    assert batch == [Window(SERIES, 300, 0.0, 300.0)]
    assert batch != []
    assert batch != 5
    assert batch[-1] == batch[0] == batch[:1][0]
    with pytest.raises(IndexError):
        batch[1]
