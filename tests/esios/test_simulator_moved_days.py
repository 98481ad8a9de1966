"""The fake ESIOS of scripts/develop: any day up to tomorrow gets a real day's prices, moved."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from custom_components.meterit.esios import (
    DayPrices,
    EsiosClient,
    PricesNotPublishedError,
    Region,
    parse_indicator,
    parse_public_file,
)
from simulator.esios import FakeEsios, _parse_args
from simulator.esios_days import public_file_on

from .conftest import TOKEN, Loader

MADRID = ZoneInfo("Europe/Madrid")
TODAY = date(2026, 10, 24)  # tomorrow, 25 October 2026, has 25 hours in Madrid


@pytest.fixture
async def moved(socket_enabled: None, esios_dir: Path) -> AsyncGenerator[FakeEsios]:
    """The fake with moved days, on a fixed 'today'."""
    fake = FakeEsios(esios_dir, moved_days=True, today=lambda: TODAY)
    await fake.start()
    yield fake
    await fake.stop()


def by_clock_hour(day: DayPrices) -> dict[int, list[float]]:
    """Prices by Madrid clock hour (a repeated hour has two)."""
    table: dict[int, list[float]] = {}
    for period in day.periods:
        table.setdefault(period.start.astimezone(MADRID).hour, []).append(period.price)
    return table


async def test_tomorrow_with_25_hours_gets_each_hour_of_the_newest_stored_day(
    moved: FakeEsios, session: aiohttp.ClientSession, load: Loader
) -> None:
    template = parse_indicator(
        load("PRICES_ESIOS_1001_2024_03_09.json"), region=Region.PENINSULA, day=date(2024, 3, 9)
    )
    client = EsiosClient(session, token=TOKEN, base_url=moved.base_url)

    day = await client.fetch_day(date(2026, 10, 25), Region.PENINSULA)

    assert day.complete
    assert len(day.periods) == 25
    expected = {hour: prices[0] for hour, prices in by_clock_hour(template).items()}
    got = by_clock_hour(day)
    assert sorted(got) == list(range(24))
    assert got[2] == [expected[2], expected[2]]  # the repeated 02-03
    assert all(prices == [expected[hour]] for hour, prices in got.items() if hour != 2)


async def test_the_public_file_of_today_is_moved_too(
    moved: FakeEsios, session: aiohttp.ClientSession, load: Loader
) -> None:
    newest = date(2022, 3, 27)  # a 23-hour day: its missing 02-03 takes 01-02's price
    template = by_clock_hour(
        parse_public_file(load("PVPC_CURV_DD_2022_03_27.json"), region=Region.PENINSULA, day=newest)
    )
    client = EsiosClient(session, base_url=moved.base_url)

    day = await client.fetch_day(TODAY, Region.PENINSULA)

    assert day.complete
    assert len(day.periods) == 24
    got = by_clock_hour(day)
    assert got[2] == template[1]
    assert all(got[hour] == template[hour] for hour in got if hour != 2)


async def test_a_stored_day_is_served_as_stored_and_after_tomorrow_nothing(
    moved: FakeEsios, session: aiohttp.ClientSession, load: Loader
) -> None:
    client = EsiosClient(session, token=TOKEN, base_url=moved.base_url)
    stored = await client.fetch_day(date(2021, 10, 31), Region.PENINSULA)
    assert stored == parse_indicator(
        load("PRICES_ESIOS_1001_2021_10_31.json"), region=Region.PENINSULA, day=date(2021, 10, 31)
    )
    with pytest.raises(PricesNotPublishedError):
        await client.fetch_day(date(2026, 10, 26), Region.PENINSULA)


async def test_without_moved_days_an_unknown_day_is_not_published(
    fake_esios: FakeEsios, session: aiohttp.ClientSession
) -> None:
    client = EsiosClient(session, token=TOKEN, base_url=fake_esios.base_url)
    with pytest.raises(PricesNotPublishedError):
        await client.fetch_day(date.today(), Region.PENINSULA)  # noqa: DTZ011


def test_the_command_line_flag() -> None:
    assert _parse_args(["--moved-days"]).moved_days is True
    assert _parse_args([]).moved_days is False


def test_a_template_without_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        public_file_on({"PVPC": []}, TODAY)
