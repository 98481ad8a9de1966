"""The cheapest block: explicit cases, and properties against a brute force written here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from hypothesis import given, strategies as st
import pytest

from custom_components.meterit.esios import PricePeriod, Region, parse_indicator, parse_public_file
from custom_components.meterit.esios.cheapest import TIE, Block, cheapest_block

from .conftest import Loader

HOUR = timedelta(hours=1)
QUARTER = timedelta(minutes=15)
T0 = datetime(2024, 3, 9, 23, 0, tzinfo=UTC)  # 2024-03-10 00:00 in Madrid


def _hourly(
    prices: list[float], start: datetime = T0, length: timedelta = HOUR
) -> list[PricePeriod]:
    return [
        PricePeriod(start=start + i * length, end=start + (i + 1) * length, price=price)
        for i, price in enumerate(prices)
    ]


# ------------------------------------------------------------------------------ explicit


def test_the_cheapest_two_hours() -> None:
    periods = _hourly([0.30, 0.10, 0.12, 0.05, 0.20, 0.01])
    block = cheapest_block(periods, 2 * HOUR, T0, T0 + 6 * HOUR, HOUR)
    assert block is not None
    # pairs: .40 .22 .17 .25 .21 -> hours 2-4
    assert (block.start, block.end) == (T0 + 2 * HOUR, T0 + 4 * HOUR)
    assert block.average == pytest.approx((0.12 + 0.05) / 2)
    assert block.periods == tuple(periods[2:4])


def test_a_quarter_hour_start_pays_for_the_minutes_it_uses() -> None:
    periods = _hourly([0.40, 0.00, 0.40, 0.40])
    hourly = cheapest_block(periods, 75 * timedelta(minutes=1), T0, T0 + 4 * HOUR, HOUR)
    quarter = cheapest_block(periods, 75 * timedelta(minutes=1), T0, T0 + 4 * HOUR, QUARTER)
    assert hourly is not None
    assert quarter is not None
    # Hourly starts: 01:00 pays 60 min of 0 and 15 of 0.40 (the same as 00:45, which is
    # not an hourly start); quarter-hour starts find it too, earliest first.
    assert hourly.start == T0 + HOUR
    assert hourly.average == pytest.approx(0.40 * 15 / 75)
    assert quarter.start == T0 + 45 * timedelta(minutes=1)
    assert quarter.average == pytest.approx(0.40 * 15 / 75)
    assert quarter.periods == tuple(periods[:2])


def test_quarter_hour_prices() -> None:
    prices = [0.2] * 8 + [0.05, 0.01, 0.02, 0.03] + [0.2] * 8
    periods = _hourly(prices, length=QUARTER)
    block = cheapest_block(periods, 30 * timedelta(minutes=1), T0, T0 + 5 * HOUR, QUARTER)
    assert block is not None
    assert block.start == T0 + 9 * QUARTER  # 0.01 + 0.02
    assert block.average == pytest.approx(0.015)
    # Hourly starts only: 02:00 (0.05 0.01 0.02 0.03 -> first half .03) is the best.
    block = cheapest_block(periods, 30 * timedelta(minutes=1), T0, T0 + 5 * HOUR, HOUR)
    assert block is not None
    assert block.start == T0 + 2 * HOUR
    assert block.average == pytest.approx(0.03)


def test_earliest_itself_is_a_start_and_latest_is_the_end() -> None:
    periods = _hourly([0.01, 0.02, 0.50, 0.50])
    now = T0 + 20 * timedelta(minutes=1)
    block = cheapest_block(periods, HOUR, now, T0 + 3 * HOUR, HOUR)
    assert block is not None
    assert block.start == now  # 40 min of 0.01 and 20 of 0.02 beat 01:00-02:00 (0.02)
    assert block.end == now + HOUR
    block = cheapest_block(periods, HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR, HOUR)
    assert block is not None
    assert block.start == T0 + 2 * HOUR


def test_across_midnight() -> None:
    today = _hourly([0.2] * 22 + [0.03, 0.02])
    tomorrow = _hourly([0.01, 0.04] + [0.2] * 22, start=T0 + 24 * HOUR)
    block = cheapest_block(today + tomorrow, 3 * HOUR, T0, T0 + 48 * HOUR, HOUR)
    assert block is not None
    assert block.start == T0 + 22 * HOUR
    assert block.end == T0 + 25 * HOUR
    assert block.average == pytest.approx(0.02)


def test_a_block_never_spans_a_hole_in_the_prices() -> None:
    periods = _hourly([0.01, 0.01]) + _hourly([0.01, 0.5, 0.5], start=T0 + 3 * HOUR)
    block = cheapest_block(periods, 3 * HOUR, T0, T0 + 6 * HOUR, HOUR)
    assert block is not None
    assert block.start == T0 + 3 * HOUR  # the only three hours without a hole
    assert cheapest_block(periods, 4 * HOUR, T0, T0 + 6 * HOUR, HOUR) is None


def test_nothing_fits() -> None:
    periods = _hourly([0.1, 0.2])
    assert cheapest_block(periods, 3 * HOUR, T0, T0 + 2 * HOUR, HOUR) is None
    assert cheapest_block(periods, HOUR, T0 + 5 * HOUR, T0 + 9 * HOUR, HOUR) is None
    assert cheapest_block([], HOUR, T0, T0 + 9 * HOUR, HOUR) is None
    with pytest.raises(ValueError, match="positive"):
        cheapest_block(periods, timedelta(0), T0, T0 + 2 * HOUR, HOUR)
    with pytest.raises(ValueError, match="overlapping"):
        cheapest_block(periods + periods, HOUR, T0, T0 + 2 * HOUR, HOUR)


def test_equal_blocks_the_earliest_wins() -> None:
    periods = _hourly([0.1, 0.1, 0.1, 0.1])
    block = cheapest_block(periods, HOUR, T0, T0 + 4 * HOUR, QUARTER)
    assert block is not None
    assert block.start == T0


def test_on_the_25_hour_day(load: Loader) -> None:
    """2021-10-31: 02:00-03:00 happens twice; blocks are measured in real time."""
    day = parse_indicator(
        load("PRICES_ESIOS_1001_2021_10_31.json"), region=Region.PENINSULA, day=date(2021, 10, 31)
    )
    assert len(day.periods) == 25
    block = cheapest_block(day.periods, 3 * HOUR, day.start, day.end, HOUR)
    assert block is not None
    assert block.end - block.start == 3 * HOUR
    best = min(range(23), key=lambda i: (sum(p.price for p in day.periods[i : i + 3]), i))
    assert block.start == day.periods[best].start
    assert block.average == pytest.approx(sum(p.price for p in day.periods[best : best + 3]) / 3)


def test_on_the_23_hour_day_across_the_missing_hour(load: Loader) -> None:
    """2022-03-27: 02:00-03:00 does not exist; 01:00-04:00 local is two real hours."""
    day = parse_public_file(
        load("PVPC_CURV_DD_2022_03_27.json"), region=Region.PENINSULA, day=date(2022, 3, 27)
    )
    assert len(day.periods) == 23
    for length in (2, 5):
        block = cheapest_block(day.periods, length * HOUR, day.start, day.end, HOUR)
        assert block is not None
        assert block.end - block.start == length * HOUR
        best = min(
            range(24 - length), key=lambda i: (sum(p.price for p in day.periods[i : i + length]), i)
        )
        assert block.start == day.periods[best].start
        assert len(block.periods) == length


# ------------------------------------------------------------------------------ brute force


def _brute(
    periods: list[PricePeriod],
    duration: timedelta,
    earliest: datetime,
    latest: datetime,
    step: timedelta,
) -> list[tuple[Fraction, datetime]]:
    """Every allowed block as (exact cost, start), by summing each period's overlap."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    candidates = {earliest}
    k = (earliest - epoch) // step
    while epoch + k * step <= latest:
        if epoch + k * step > earliest:
            candidates.add(epoch + k * step)
        k += 1
    result = []
    for start in sorted(candidates):
        end = start + duration
        if end > latest:
            continue
        covered = timedelta(0)
        cost = Fraction(0)
        for period in periods:
            overlap = min(period.end, end) - max(period.start, start)
            if overlap > timedelta(0):
                covered += overlap
                cost += Fraction(period.price) * Fraction(overlap.total_seconds())
        if covered == duration:
            result.append((cost, start))
    return result


@st.composite
def _scenarios(
    draw: st.DrawFn, exact: bool
) -> tuple[list[PricePeriod], timedelta, datetime, datetime, timedelta]:
    prices = (
        st.integers(-8, 80).map(lambda k: k / 8) if exact else st.floats(-0.1, 0.6, allow_nan=False)
    )
    periods: list[PricePeriod] = []
    t = T0
    for _ in range(draw(st.integers(0, 40))):
        if draw(st.integers(0, 9)) == 0:  # now and then a hole
            t += QUARTER * draw(st.integers(1, 6))
        length = QUARTER * draw(st.sampled_from([1, 4]))  # quarter-hours and hours, mixed
        if length == HOUR:
            t = t + (-(t - T0) % HOUR)  # hours start on the hour
        periods.append(PricePeriod(start=t, end=t + length, price=draw(prices)))
        t += length
    minute = timedelta(minutes=1)
    duration = minute * draw(
        st.integers(1, 12 * 60) if not exact else st.integers(1, 48).map(lambda q: q * 15)
    )
    earliest = T0 - HOUR + minute * draw(st.integers(0, 600))
    latest = earliest + minute * draw(st.integers(0, 30 * 60))
    step = draw(st.sampled_from([HOUR, QUARTER]))
    return periods, duration, earliest, latest, step


def _block_and_brute_force(
    scenario: tuple[list[PricePeriod], timedelta, datetime, datetime, timedelta],
) -> tuple[Block | None, list[tuple[Fraction, datetime]]]:
    """The block cheapest_block finds and the brute-force candidates; no candidates: no block."""
    block = cheapest_block(*scenario)
    candidates = _brute(*scenario)
    if not candidates:
        assert block is None
    return block, candidates


@given(_scenarios(exact=False))
def test_the_block_is_as_cheap_as_the_cheapest_brute_force_block(
    scenario: tuple[list[PricePeriod], timedelta, datetime, datetime, timedelta],
) -> None:
    periods, duration, *_ = scenario
    block, candidates = _block_and_brute_force(scenario)
    if not candidates:
        return
    assert block is not None
    assert block.start in {start for _cost, start in candidates}
    assert block.end == block.start + duration
    best = min(cost for cost, _start in candidates) / Fraction(duration.total_seconds())
    assert block.average == pytest.approx(float(best), abs=TIE * 1.01)
    assert block.periods == tuple(p for p in periods if p.end > block.start and p.start < block.end)


@given(_scenarios(exact=True))
def test_with_exact_prices_the_earliest_cheapest_block_wins(
    scenario: tuple[list[PricePeriod], timedelta, datetime, datetime, timedelta],
) -> None:
    _periods, duration, *_ = scenario
    block, candidates = _block_and_brute_force(scenario)
    if not candidates:
        return
    cost, start = min(candidates)  # cheapest, then earliest
    assert block is not None
    assert block.start == start
    assert block.average == pytest.approx(float(cost / Fraction(duration.total_seconds())))
