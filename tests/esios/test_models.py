"""Tests of the price data model."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from custom_components.meterit.esios import DayPrices, PriceKind, PricePeriod, Region, day_bounds
from custom_components.meterit.esios.models import CANARY_SHIFT, CANARY_TZ, MADRID_TZ


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def period(start: datetime, minutes: int, price: float) -> PricePeriod:
    return PricePeriod(start, start + timedelta(minutes=minutes), price)


def test_regions() -> None:
    assert [r.geo_id for r in Region] == [8741, 8742, 8743, 8744, 8745]
    assert Region.PENINSULA.public_file_column == "PCB"
    assert Region.CANARIAS.public_file_column == "PCB"
    assert Region.BALEARES.public_file_column == "PCB"
    assert Region.CEUTA.public_file_column == "CYM"
    assert Region.MELILLA.public_file_column == "CYM"
    assert Region.CANARIAS.timezone is CANARY_TZ
    assert all(r.timezone is MADRID_TZ for r in Region if r is not Region.CANARIAS)
    assert Region("ceuta") is Region.CEUTA
    assert PriceKind("surplus") == "surplus"


@pytest.mark.parametrize(
    ("day", "region", "hours", "start"),
    [
        (date(2024, 3, 9), Region.PENINSULA, 24, utc(2024, 3, 8, 23)),
        (date(2022, 3, 27), Region.PENINSULA, 23, utc(2022, 3, 26, 23)),
        (date(2021, 10, 31), Region.BALEARES, 25, utc(2021, 10, 30, 22)),
        (date(2024, 7, 1), Region.MELILLA, 24, utc(2024, 6, 30, 22)),
        (date(2024, 3, 9), Region.CANARIAS, 24, utc(2024, 3, 9, 0)),
        (date(2022, 3, 27), Region.CANARIAS, 23, utc(2022, 3, 27, 0)),
        (date(2021, 10, 31), Region.CANARIAS, 25, utc(2021, 10, 30, 23)),
    ],
)
def test_day_bounds(day: date, region: Region, hours: int, start: datetime) -> None:
    begin, end = day_bounds(day, region)
    assert begin == start
    assert end - begin == timedelta(hours=hours)


@pytest.mark.parametrize("region", list(Region))
def test_day_bounds_of_the_last_date_is_a_value_error(region: Region) -> None:
    """9999-12-31 has no end: a ValueError naming the day, not an OverflowError."""
    with pytest.raises(ValueError, match="day: 9999-12-31 is out of range"):
        day_bounds(date.max, region)
    begin, end = day_bounds(date.max - timedelta(days=1), region)  # the day before has one
    assert end - begin == timedelta(hours=24)


def test_canary_shift_is_always_one_hour() -> None:
    """The Canarias handling relies on a constant one-hour offset from the peninsula."""
    moment = utc(2020, 1, 1)
    while moment < utc(2031, 1, 1):
        madrid = moment.astimezone(MADRID_TZ).utcoffset()
        canary = moment.astimezone(CANARY_TZ).utcoffset()
        assert madrid is not None
        assert canary is not None
        assert madrid - canary == CANARY_SHIFT
        moment += timedelta(hours=1)


def test_period_validation() -> None:
    start = utc(2024, 1, 1)
    assert period(start, 15, 0.1).duration == timedelta(minutes=15)
    with pytest.raises(ValueError, match="start: naive"):
        PricePeriod(datetime(2024, 1, 1), start, 0.1)  # noqa: DTZ001
    with pytest.raises(ValueError, match=r"end: .* is not in UTC"):
        PricePeriod(start, datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=1))), 0.1)
    with pytest.raises(ValueError, match="is not after start"):
        PricePeriod(start, start, 0.1)
    with pytest.raises(ValueError, match="price: not a finite number"):
        PricePeriod(start, start + timedelta(hours=1), float("nan"))


def test_day_validation() -> None:
    start = utc(2024, 3, 8, 23)
    with pytest.raises(ValueError, match="at least one"):
        DayPrices(date(2024, 3, 9), Region.PENINSULA, PriceKind.CONSUMER, ())
    with pytest.raises(ValueError, match="overlaps"):
        DayPrices(
            date(2024, 3, 9),
            Region.PENINSULA,
            PriceKind.CONSUMER,
            (period(start, 60, 0.1), period(start + timedelta(minutes=30), 60, 0.2)),
        )


def test_statistics_are_time_weighted() -> None:
    start = utc(2024, 3, 8, 23)
    day = DayPrices(
        date(2024, 3, 9),
        Region.PENINSULA,
        PriceKind.CONSUMER,
        (period(start, 60, 0.10), period(start + timedelta(hours=1), 15, 0.30)),
    )
    assert day.min == 0.10
    assert day.max == 0.30
    # (0.10 * 60 + 0.30 * 15) / 75 minutes
    assert day.average == pytest.approx(0.14)
    assert not day.complete  # 75 minutes of a 24-hour day
    assert day.start == start
    assert day.end == utc(2024, 3, 9, 23)


def test_complete_and_price_at() -> None:
    start = utc(2024, 3, 8, 23)
    full = tuple(period(start + timedelta(hours=h), 60, h / 100) for h in range(24))
    day = DayPrices(date(2024, 3, 9), Region.PENINSULA, PriceKind.CONSUMER, full)
    assert day.complete
    assert day.price_at(start) == 0.0
    assert day.price_at(start + timedelta(hours=5, minutes=59)) == 0.05
    assert day.price_at(start + timedelta(hours=6)) == 0.06
    madrid_noon = datetime(2024, 3, 9, 12, tzinfo=MADRID_TZ)
    assert day.price_at(madrid_noon) == 0.12
    assert day.price_at(start - timedelta(seconds=1)) is None
    assert day.price_at(start + timedelta(hours=24)) is None
    with pytest.raises(ValueError, match="naive"):
        day.price_at(datetime(2024, 3, 9, 12))  # noqa: DTZ001

    holed = DayPrices(day.day, day.region, day.kind, full[:10] + full[11:])
    assert not holed.complete
    assert holed.price_at(start + timedelta(hours=10, minutes=30)) is None
    late_start = DayPrices(day.day, day.region, day.kind, full[1:])
    assert not late_start.complete
