"""Which pushes become states: power live, phase values throttled, counters exact at boundaries."""

from __future__ import annotations

from collections.abc import Sequence
import math

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.meterit.metering.state_rate import (
    STATISTICS_PERIOD_S,
    StateRate,
    StateRatePolicy,
    ValueKind,
)

T0 = 1_782_000_000.0  # a multiple of 300: a 5-minute boundary


def _written(
    rate: StateRate, kind: ValueKind, pushes: Sequence[tuple[float, object]]
) -> list[float]:
    """The times of the pushes that were due."""
    return [t for t, value in pushes if rate.due("x", kind, value, t)]


def test_total_power_is_written_on_every_change() -> None:
    rate = StateRate()
    pushes = [(T0 + i, 500 + i % 3) for i in range(100)]
    changed = [t for k, (t, v) in enumerate(pushes) if k == 0 or v != pushes[k - 1][1]]
    assert _written(rate, ValueKind.LIVE, pushes) == changed
    assert len(changed) == 100


def test_an_unchanged_value_is_never_written_again() -> None:
    rate = StateRate()
    assert rate.due("x", ValueKind.LIVE, 7, T0)
    assert not rate.due("x", ValueKind.LIVE, 7, T0 + 1)
    assert not rate.due("x", ValueKind.VOLTAGE, 7, T0 + 3600)


def test_voltage_waits_for_the_interval_unless_it_moves_past_the_deadband() -> None:
    rate = StateRate(StateRatePolicy(interval=30, voltage_deadband=5))
    assert rate.due("v", ValueKind.VOLTAGE, 230.0, T0)
    # noise within the deadband: nothing for 29 s
    assert not any(
        rate.due("v", ValueKind.VOLTAGE, 230.0 + (-1) ** i * 2.0, T0 + i) for i in range(1, 30)
    )
    assert rate.due("v", ValueKind.VOLTAGE, 231.5, T0 + 30)  # the interval is up
    assert not rate.due("v", ValueKind.VOLTAGE, 236.4, T0 + 31)  # 4.9 V from what was written
    assert rate.due("v", ValueKind.VOLTAGE, 220.0, T0 + 32)  # a sag: at once


def test_a_slow_drift_is_measured_from_the_value_written() -> None:
    rate = StateRate(StateRatePolicy(interval=3600, current_deadband=0.5))
    times = _written(
        rate, ValueKind.CURRENT, [(T0 + i, round(1.0 + i * 0.1, 2)) for i in range(12)]
    )
    assert times == [T0, T0 + 5, T0 + 10]  # 1.0 -> 1.5 -> 2.0


def test_phase_power_uses_its_own_deadband() -> None:
    rate = StateRate(StateRatePolicy(interval=30, power_deadband=100))
    assert rate.due("p", ValueKind.POWER, 100, T0)
    assert not rate.due("p", ValueKind.POWER, 199, T0 + 1)
    assert rate.due("p", ValueKind.POWER, 2300, T0 + 2)  # a kettle


def test_frequency_moves_past_a_tenth_of_a_hertz_at_once() -> None:
    rate = StateRate(StateRatePolicy(interval=60))
    assert rate.due("f", ValueKind.FREQUENCY, 50.0, T0)
    assert not rate.due("f", ValueKind.FREQUENCY, 50.05, T0 + 1)
    assert rate.due("f", ValueKind.FREQUENCY, 49.88, T0 + 2)


def test_other_measurements_wait_for_the_interval_whatever_the_change() -> None:
    rate = StateRate(StateRatePolicy(interval=60))
    assert rate.due("o", ValueKind.OTHER, 1.0, T0)
    assert not rate.due("o", ValueKind.OTHER, 1000.0, T0 + 59)
    assert rate.due("o", ValueKind.OTHER, 1000.0, T0 + 60)


def test_defaults_are_the_documented_ones() -> None:
    """README's "State rate (P1 meter)" table: 60 s, 500 W, 5 V, 2 A, counters at boundaries."""
    assert StateRatePolicy() == StateRatePolicy(
        interval=60,
        power_deadband=500,
        voltage_deadband=5,
        current_deadband=2,
        counter_interval=300,
        counter_guard=5,
    )


def test_counter_with_the_default_interval_is_written_only_in_the_guards() -> None:
    """300 s: between boundaries nothing after the first state; each guard gets its changes."""
    rate = StateRate()
    pushes = [(T0 + 10 + i, 100 + i / 1000) for i in range(900)]  # a step every second
    written = _written(rate, ValueKind.COUNTER, pushes)
    assert written[0] == T0 + 10
    assert all(t % STATISTICS_PERIOD_S >= STATISTICS_PERIOD_S - 5 for t in written[1:])
    assert len(written) == 1 + 3 * 5  # the guards before T0+300, T0+600 and T0+900


def test_interval_zero_writes_every_change() -> None:
    rate = StateRate(StateRatePolicy(interval=0, counter_interval=0))
    for kind in (ValueKind.VOLTAGE, ValueKind.COUNTER, ValueKind.OTHER):
        pushes = [(T0 + i, 230.0 + i / 10) for i in range(20)]
        assert _written(rate, kind, pushes) == [t for t, _ in pushes]
        rate = StateRate(StateRatePolicy(interval=0, counter_interval=0))


def test_text_values_are_written_on_every_change() -> None:
    rate = StateRate(StateRatePolicy(interval=3600))
    assert rate.due("t", ValueKind.OTHER, "1", T0)
    assert rate.due("t", ValueKind.OTHER, "2", T0 + 1)
    assert rate.due("t", ValueKind.OTHER, None, T0 + 2)
    assert rate.due("t", ValueKind.OTHER, 3.0, T0 + 3)  # None -> a number: a change of kind


def test_forget_makes_the_next_value_due() -> None:
    rate = StateRate()
    assert rate.due("v", ValueKind.VOLTAGE, 230.0, T0)
    assert not rate.due("v", ValueKind.VOLTAGE, 231.0, T0 + 1)
    rate.forget("v")
    assert rate.due("v", ValueKind.VOLTAGE, 231.0, T0 + 2)
    rate.forget("never-seen")  # harmless


def test_counter_between_boundaries_at_most_once_per_interval() -> None:
    rate = StateRate(StateRatePolicy(counter_interval=60, counter_guard=5))
    # 1 Hz, the counter steps every second, from 10 s after a boundary to 5 s before the next
    pushes = [(T0 + 10 + i, 100 + i / 1000) for i in range(285)]
    assert _written(rate, ValueKind.COUNTER, pushes) == [T0 + 10 + 60 * k for k in range(5)]


def _last_before_each_boundary(pushes: list[tuple[float, float]]) -> dict[float, float]:
    """For each boundary after the first push: the value of the last push before it."""
    out: dict[float, float] = {}
    for t, value in pushes:
        out[(math.floor(t / STATISTICS_PERIOD_S) + 1) * STATISTICS_PERIOD_S] = value
    return out


def _state_before_each_boundary(
    written: list[tuple[float, float]], boundaries: list[float]
) -> dict[float, float]:
    """What the recorder compiles: the last written state before each boundary."""
    return {b: [v for t, v in written if t < b][-1] for b in boundaries}


def _replay_with_flushes(
    rate: StateRate, pushes: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Offer each push, and the latest value again at each ``next_flush``, as the entity does."""
    written: list[tuple[float, float]] = []
    flush = rate.next_flush(pushes[0][0])
    latest: float | None = None
    for t, value in pushes:
        while flush <= t:
            if latest is not None and rate.due("e", ValueKind.COUNTER, latest, flush):
                written.append((flush, latest))
            flush = rate.next_flush(flush)
        latest = value
        if rate.due("e", ValueKind.COUNTER, value, t):
            written.append((t, value))
    return written


@settings(max_examples=80, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.2, max_value=30.0),  # push interval: 1 s, DSMR 4 (10 s), losses
            st.integers(min_value=0, max_value=3),  # counter steps (Wh) since the last push
        ),
        min_size=50,
        max_size=600,
    ),
    offset=st.floats(min_value=0.0, max_value=299.0),
    guard=st.sampled_from([1.0, 5.0, 20.0]),
)
def test_counter_states_equal_the_counter_at_every_boundary(
    steps: list[tuple[float, int]], offset: float, guard: float
) -> None:
    """The recorder's statistics use the last state before each 5-minute boundary: exact."""
    rate = StateRate(StateRatePolicy(counter_guard=guard))
    t, wh = T0 + offset, 1_000_000
    pushes: list[tuple[float, float]] = []
    for dt, step in steps:
        t += dt
        wh += step
        pushes.append((t, wh / 1000))
    written = _replay_with_flushes(rate, pushes)
    expected = _last_before_each_boundary(pushes)
    # every boundary that has a push after it (the last one is still open)
    closed = [b for b in expected if b <= pushes[-1][0]]
    assert _state_before_each_boundary(written, closed) == {b: expected[b] for b in closed}
    assert [w[0] for w in written] == sorted(w[0] for w in written)


def test_next_flush_is_the_start_of_the_guard_before_the_next_boundary() -> None:
    rate = StateRate(StateRatePolicy(counter_guard=5))
    assert rate.next_flush(T0) == T0 + 295
    assert rate.next_flush(T0 + 294.9) == T0 + 295
    assert rate.next_flush(T0 + 295) == T0 + 595
    assert rate.next_flush(T0 - 1) == T0 + 295


def test_counter_writes_fewer_states_than_a_5_second_poll() -> None:
    rate = StateRate()
    pushes = [(T0 + i, 100 + i / 1000) for i in range(3600)]  # 3.6 kW: a step every second
    assert len(_written(rate, ValueKind.COUNTER, pushes)) < 3600 / 5 / 3


@pytest.mark.parametrize(
    "field", ["interval", "voltage_deadband", "power_deadband", "counter_interval"]
)
@pytest.mark.parametrize("bad", [-1.0, math.nan, "10", True])
def test_policy_rejects_unusable_settings(field: str, bad: object) -> None:
    with pytest.raises(ValueError, match=field):
        StateRatePolicy(**{field: bad})  # type: ignore[arg-type]


def test_policy_in_force_is_kept() -> None:
    policy = StateRatePolicy(interval=10)
    assert StateRate(policy).policy is policy
    assert StateRate().policy == StateRatePolicy()
