"""The 2.0TD tariff periods: hours, weekends, national holidays, DST days, Canarias, Ceuta."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, strategies as st
import pytest

from custom_components.meterit.esios import Region, day_bounds
from custom_components.meterit.esios.tariff import (
    TariffPeriod,
    is_valley_day,
    next_change,
    tariff_period,
)

P1, P2, P3 = TariffPeriod.P1, TariffPeriod.P2, TariffPeriod.P3
MADRID = ZoneInfo("Europe/Madrid")
CANARY = ZoneInfo("Atlantic/Canary")

moments = st.datetimes(
    min_value=datetime(2021, 1, 1),  # noqa: DTZ001
    max_value=datetime(2199, 12, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
regions = st.sampled_from(list(Region))


def _local(day: date, hour: int, minute: int = 0, tz: ZoneInfo = MADRID) -> datetime:
    return datetime.combine(day, time(hour, minute), tz)


def _hours_of(day: date, region: Region) -> list[TariffPeriod]:
    """The period of every hour the day really has (23, 24 or 25), stepping in UTC."""
    start, end = day_bounds(day, region)
    hours = int((end - start) / timedelta(hours=1))
    return [tariff_period(start + timedelta(hours=h), region) for h in range(hours)]


# ------------------------------------------------------------------------------ explicit


def test_a_working_day_on_the_peninsula() -> None:
    day = date(2024, 3, 12)  # a Tuesday
    expected = [P3] * 8 + [P2] * 2 + [P1] * 4 + [P2] * 4 + [P1] * 4 + [P2] * 2
    assert _hours_of(day, Region.PENINSULA) == expected
    assert _hours_of(day, Region.BALEARES) == expected


def test_a_working_day_in_ceuta_and_melilla_is_an_hour_later() -> None:
    day = date(2024, 3, 12)
    expected = [P3] * 8 + [P2] * 3 + [P1] * 4 + [P2] * 4 + [P1] * 4 + [P2]
    assert _hours_of(day, Region.CEUTA) == expected
    assert _hours_of(day, Region.MELILLA) == expected


def test_boundaries_are_exact_to_the_microsecond() -> None:
    day = date(2024, 3, 12)
    assert tariff_period(_local(day, 10) - timedelta(microseconds=1), Region.PENINSULA) is P2
    assert tariff_period(_local(day, 10), Region.PENINSULA) is P1
    assert tariff_period(_local(day, 7, 59), Region.PENINSULA) is P3


@pytest.mark.parametrize("day", [date(2024, 3, 9), date(2024, 3, 10)])
def test_weekends_are_valley_all_day(day: date) -> None:
    for region in Region:
        assert set(_hours_of(day, region)) == {P3}


@pytest.mark.parametrize(
    "day",
    [
        date(2024, 1, 1),
        date(2025, 1, 6),
        date(2024, 5, 1),
        date(2024, 8, 15),
        date(2023, 10, 12),
        date(2024, 11, 1),
        date(2024, 12, 6),
        date(2025, 12, 8),
        date(2024, 12, 25),
        date(2026, 1, 1),  # the day aiopvpc's holiday table ran out (KeyError: 2026)
        date(2150, 10, 12),
    ],
)
def test_national_holidays_on_weekdays_are_valley_all_day(day: date) -> None:
    assert day.weekday() < 5
    assert is_valley_day(day)
    assert set(_hours_of(day, Region.PENINSULA)) == {P3}
    assert set(_hours_of(day, Region.CANARIAS)) == {P3}


@pytest.mark.parametrize(
    "day",
    [
        date(2024, 3, 29),  # Good Friday: national, but without a fixed date
        date(2025, 4, 18),  # Good Friday
        date(2024, 3, 28),  # Maundy Thursday (regional)
        date(2022, 12, 26),  # Christmas moved from a Sunday: substitute days do not count
        date(2024, 3, 19),  # San José (regional)
        date(2024, 7, 25),  # Santiago (regional)
    ],
)
def test_movable_regional_and_substitute_holidays_are_working_days(day: date) -> None:
    assert not is_valley_day(day)
    assert P1 in _hours_of(day, Region.PENINSULA)


def test_summer_time_days_are_weekend_and_valley() -> None:
    # EU summer time changes on Sundays: the 23 h and 25 h days are P3 throughout.
    for day, hours in ((date(2024, 3, 31), 23), (date(2024, 10, 27), 25)):
        periods = _hours_of(day, Region.PENINSULA)
        assert len(periods) == hours
        assert set(periods) == {P3}


def test_the_monday_after_a_dst_change_starts_at_local_eight() -> None:
    # 2024-04-01 is Easter Monday (regional, not a P3 day): P2 starts at 08:00 CEST = 06:00 UTC.
    when, following = next_change(datetime(2024, 3, 30, 12, tzinfo=UTC), Region.PENINSULA)
    assert when == datetime(2024, 4, 1, 6, tzinfo=UTC)
    assert following is P2
    when, following = next_change(datetime(2024, 10, 26, 12, tzinfo=UTC), Region.PENINSULA)
    assert when == datetime(2024, 10, 28, 7, tzinfo=UTC)  # 08:00 CET
    assert following is P2


def test_canarias_follows_its_own_clock() -> None:
    day = date(2024, 3, 12)
    ten_canary = _local(day, 10, tz=CANARY)  # 11:00 in Madrid
    assert tariff_period(ten_canary, Region.CANARIAS) is P1
    assert tariff_period(ten_canary - timedelta(minutes=1), Region.CANARIAS) is P2
    assert tariff_period(ten_canary - timedelta(minutes=1), Region.PENINSULA) is P1
    # 23:30 in Madrid on a Friday is 22:30 in Canarias: still Friday's P2 there, P2 too here;
    # 00:30 Saturday in Madrid is 23:30 Friday in Canarias: P3 here, P2 there.
    friday_late = _local(date(2024, 3, 16), 0, 30)
    assert tariff_period(friday_late, Region.PENINSULA) is P3
    assert tariff_period(friday_late, Region.CANARIAS) is P2


def test_next_change_through_a_long_weekend() -> None:
    # Friday 2024-11-01 is All Saints: P3 from Thursday 24:00 to Monday 08:00.
    thursday_night = _local(date(2024, 10, 31), 23, 15)
    when, following = next_change(thursday_night, Region.PENINSULA)
    assert when == _local(date(2024, 11, 1), 0).astimezone(UTC)
    assert following is P3
    when, following = next_change(when, Region.PENINSULA)
    assert when == _local(date(2024, 11, 4), 8).astimezone(UTC)
    assert following is P2


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        tariff_period(datetime(2024, 3, 12, 10), Region.PENINSULA)  # noqa: DTZ001


# ------------------------------------------------------------------------------ properties


@given(moments, regions)
def test_the_period_holds_until_the_next_change(moment: datetime, region: Region) -> None:
    current = tariff_period(moment, region)
    when, following = next_change(moment, region)
    assert when > moment
    assert when.minute == when.second == when.microsecond == 0
    assert following is not current
    assert tariff_period(when, region) is following
    assert tariff_period(when - timedelta(microseconds=1), region) is current
    # every full hour in between has the same period
    step = moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while step < when:
        assert tariff_period(step, region) is current
        step += timedelta(hours=1)


@given(moments)
def test_canarias_is_the_peninsula_an_hour_later(moment: datetime) -> None:
    # Same wall clock, same period: Canarias is always one hour behind Madrid.
    assert tariff_period(moment, Region.CANARIAS) is tariff_period(
        moment - timedelta(hours=1), Region.PENINSULA
    )


@given(moments)
def test_ceuta_is_the_peninsula_an_hour_later_from_nine(moment: datetime) -> None:
    # 08-09 is P2 in both (the peninsula's 08-10 P2 is 08-11 there); from 09 it is shifted.
    if moment.astimezone(MADRID).hour >= 9:
        expected = tariff_period(moment - timedelta(hours=1), Region.PENINSULA)
    else:
        expected = tariff_period(moment, Region.PENINSULA)
    assert tariff_period(moment, Region.CEUTA) is expected


@given(st.dates(min_value=date(2021, 1, 1), max_value=date(2199, 12, 31)))
def test_a_working_day_has_eight_hours_of_each(day: date) -> None:
    for region in (Region.PENINSULA, Region.MELILLA):
        periods = _hours_of(day, region)
        if is_valley_day(day):
            assert set(periods) == {P3}
        else:
            assert len(periods) == 24  # DST changes are on Sundays
            assert [periods.count(p) for p in (P1, P2, P3)] == [8, 8, 8]
            assert periods[:8] == [P3] * 8
