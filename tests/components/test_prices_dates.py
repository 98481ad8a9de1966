"""meterit.get_prices: which days and instants its start and end mean (plain, compact, ordinal dates, ranges)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.prices.coordinator import PriceCoordinator
from custom_components.meterit.prices.services import _ordinal_date
from simulator.esios import FakeEsios

from .conftest import prices_entry, setup_loaded
from .prices_common import get_prices as _get, peninsula_entry  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("madrid")  # every test here: Home Assistant in Spain


async def test_get_prices_accepts_dates(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    response = await _get(hass, start=date(2024, 3, 9), end=date(2024, 3, 10))
    assert response["start"] == "2024-03-09T00:00:00+01:00"
    assert len(response["prices"]) == 24


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"start": "1999-01-01", "end": "1999-01-02"}, "start"),
        ({"start": "0001-01-01"}, "start"),
        ({"start": date(1, 1, 1), "end": date(1, 1, 2)}, "start"),
        ({"start": "0001-01-01T00:00:00+05:00"}, "start"),
        ({"start": "9999-12-31"}, "start"),
        ({"start": date(9999, 12, 31)}, "start"),
        ({"start": "9999-12-31T23:00:00+00:00"}, "start"),
        ({"start": "2200-12-31", "end": "9999-12-31"}, "end"),
        ({"start": "2021-05-31", "end": "2021-06-02"}, "start"),
        ({"end": "9999-12-31 23:59:59"}, "end"),
    ],
)
async def test_get_prices_dates_out_of_range(
    hass: HomeAssistant, entry: MockConfigEntry, esios: FakeEsios, data: dict[str, Any], field: str
) -> None:
    before = len(esios.requests)
    with pytest.raises(ServiceValidationError) as caught:
        await _get(hass, **data)
    assert caught.value.translation_key == "prices_date_out_of_range"
    placeholders = caught.value.translation_placeholders or {}
    assert placeholders["field"] == field
    assert str(caught.value).startswith(f"Argument {field} (")
    assert placeholders["first"] == "2021-06-01"
    assert len(esios.requests) == before


async def test_get_prices_first_and_last_supported_days(
    hass: HomeAssistant, entry: MockConfigEntry, esios: FakeEsios
) -> None:
    first = await _get(hass, start="2021-06-01", end="2021-06-02")
    assert first["prices"] == []  # accepted; ESIOS has no indicator values in the fixtures
    last = await _get(hass, start="2200-12-31")
    assert last["start"] == "2200-12-31T00:00:00+01:00"
    assert last["end"] == "2201-01-01T00:00:00+01:00"
    assert last["prices"] == []  # not published: not asked for


async def test_get_prices_31_days_across_a_dst_change(
    hass: HomeAssistant, entry: MockConfigEntry, esios: FakeEsios
) -> None:
    # 2024-10-01 to 2024-11-01 in Madrid is 31 days and one hour (summer time ends on the 27th).
    response = await _get(hass, start="2024-10-01", end="2024-11-01")
    start, end = (datetime.fromisoformat(response[k]) for k in ("start", "end"))
    assert end - start == timedelta(days=31, hours=1)
    with pytest.raises(ServiceValidationError) as caught:
        await _get(hass, start="2024-10-01", end="2024-11-01T00:00:01+01:00")
    assert caught.value.translation_key == "range_too_long"


async def test_plain_dates_are_the_regions_days(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    await hass.config.async_set_time_zone("America/New_York")
    madrid_day = datetime(2024, 3, 8, 23, 0, tzinfo=UTC)  # 2024-03-09 00:00 in Madrid
    for start, end in (("2024-03-09", "2024-03-10"), (date(2024, 3, 9), date(2024, 3, 10))):
        response = await _get(hass, start=start, end=end)
        assert datetime.fromisoformat(response["start"]) == madrid_day
        assert datetime.fromisoformat(response["end"]) == madrid_day + timedelta(days=1)
        assert len(response["prices"]) == 24
        assert datetime.fromisoformat(response["prices"][0]["start"]) == madrid_day
    # A plain start alone: that whole day.
    response = await _get(hass, start="2024-03-09")
    assert datetime.fromisoformat(response["end"]) >= madrid_day + timedelta(days=1)
    assert len(response["prices"]) == 24
    # An instant with an offset stays that instant; a naive one is Home Assistant's time.
    response = await _get(hass, start="2024-03-09T10:00:00+01:00", end="2024-03-09T12:00:00+01:00")
    assert [datetime.fromisoformat(p["start"]) for p in response["prices"]] == [
        datetime(2024, 3, 9, 9, 0, tzinfo=UTC),
        datetime(2024, 3, 9, 10, 0, tzinfo=UTC),
    ]
    response = await _get(hass, start="2024-03-09 04:00:00", end="2024-03-09 05:00:00")
    assert [datetime.fromisoformat(p["start"]) for p in response["prices"]] == [
        datetime(2024, 3, 9, 9, 0, tzinfo=UTC)  # 04:00 in New York = 10:00 in Madrid
    ]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-03-09", "2024-03-10"),
        ("20240309", "20240310"),
    ],
)
async def test_plain_dates_in_canarias_are_canary_days(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory, start: str, end: str
) -> None:
    """Dashed or compact, a date is Canarias' own day, not Madrid's (Home Assistant's zone)."""
    freezer.move_to(datetime(2024, 3, 9, 9, 30, tzinfo=UTC))
    canarias = prices_entry(region="canarias")
    await setup_loaded(hass, canarias, PriceCoordinator)
    canary_day = datetime(2024, 3, 9, 0, 0, tzinfo=UTC)  # Atlantic/Canary is UTC in winter
    for data in ({"start": start, "end": end}, {"start": start}):
        response = await _get(hass, **data)
        assert datetime.fromisoformat(response["start"]) == canary_day
        assert [datetime.fromisoformat(p["start"]) for p in response["prices"]] == [
            canary_day + timedelta(hours=hour) for hour in range(24)
        ]
    # a past day alone is that day, Canarias' own too
    response = await _get(hass, start=start.replace("09", "08"))
    assert datetime.fromisoformat(response["start"]) == canary_day - timedelta(days=1)
    assert datetime.fromisoformat(response["end"]) == canary_day


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-03-09", "2024-03-10"),
        ("20240309", "20240310"),
        ("2024-069", "2024-070"),  # ISO ordinal dates: 2024-03-09 is the 69th day
        ("2024069", "2024070"),
    ],
)
async def test_compact_iso_dates_are_the_regions_days(
    hass: HomeAssistant, entry: MockConfigEntry, start: str, end: str
) -> None:
    """Dashed or compact, a date is Madrid's day on the Península, whatever Home Assistant's
    time zone (a compact date used to be read as a time at Home Assistant's midnight)."""
    await hass.config.async_set_time_zone("America/New_York")
    madrid_day = datetime(2024, 3, 8, 23, 0, tzinfo=UTC)  # 2024-03-09 00:00 in Madrid
    for data in ({"start": start, "end": end}, {"start": start}):
        response = await _get(hass, **data)
        assert datetime.fromisoformat(response["start"]) == madrid_day
        assert datetime.fromisoformat(response["prices"][0]["start"]) == madrid_day
        assert len(response["prices"]) == 24
    response = await _get(hass, start=start, end=end)
    assert datetime.fromisoformat(response["end"]) == madrid_day + timedelta(days=1)


async def test_a_past_start_alone_gets_its_day(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Without an end, a start before today gets the end of its own day in the region (it used
    to get everything up to tomorrow: more than 31 days back that failed as too long)."""
    response = await _get(hass, start="2021-10-31")  # the 25-hour day, fetched from ESIOS
    assert response["start"] == "2021-10-31T00:00:00+02:00"
    assert response["end"] == "2021-11-01T00:00:00+01:00"
    assert len(response["prices"]) == 25
    assert {p["start"][:10] for p in response["prices"]} == {"2021-10-31"}
    # an instant: up to the end of its day (Madrid's), not a whole day after it
    response = await _get(hass, start="2021-10-31T20:00:00+01:00")
    assert response["end"] == "2021-11-01T00:00:00+01:00"
    assert len(response["prices"]) == 4
    # yesterday alone is yesterday
    response = await _get(hass, start="2024-03-08")
    assert response["end"] == "2024-03-09T00:00:00+01:00"


async def test_a_start_today_alone_gets_tomorrow_too(
    hass: HomeAssistant, entry: MockConfigEntry, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    """From now (or any time today) the default end is the end of tomorrow: every published
    price, as with no start at all; a start after tomorrow gets its own day."""
    response = await _get(hass, start="2024-03-09T10:15:00+01:00")
    assert response["end"] == "2024-03-11T00:00:00+01:00"
    assert len(response["prices"]) == 14  # 10:00-24:00; tomorrow is not published yet
    response = await _get(hass, start="2024-03-09")
    assert response["end"] == "2024-03-11T00:00:00+01:00"
    response = await _get(hass, start="2024-03-10")
    assert response["end"] == "2024-03-11T00:00:00+01:00"
    response = await _get(hass, start="2024-03-12 08:00:00")
    assert response["end"] == "2024-03-13T00:00:00+01:00"


def test_ordinal_dates_within_their_year_only() -> None:
    """The last day of a leap year is its 366th; a 366th of another year, or year 0, is none."""
    assert _ordinal_date("2024-366") == date(2024, 12, 31)
    assert _ordinal_date("2023-366") is None
    assert _ordinal_date("0000-001") is None
    assert _ordinal_date("2024-000") is None
    assert _ordinal_date("2024-03-09") is None
