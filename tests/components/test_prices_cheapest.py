"""The action meterit.get_cheapest_window, against the fake ESIOS and the fixture days."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.prices.coordinator import PriceCoordinator
from simulator.esios import FakeEsios

from .cheapest_common import (
    EVENING,
    HOUR,
    MIDNIGHT,
    PENINSULA,
    Prices,
    brute as _brute,
    load as _load,
    peninsula as _peninsula,
    tomorrow_payload,
)
from .conftest import prices_entry, setup_loaded

pytestmark = pytest.mark.usefixtures("madrid")  # every test here: Home Assistant in Spain


@pytest.fixture
def tomorrow(esios: FakeEsios, fixtures_dir: Path) -> Any:
    """2024-03-10's consumer prices (cheap at 00:00, dear at 01:00), served by the fake."""
    payload = tomorrow_payload(fixtures_dir)
    esios.add_indicator(1001, date(2024, 3, 10), payload)
    return payload


@pytest.fixture
async def entry(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory, tomorrow: Any
) -> MockConfigEntry:
    """A Península entry with a token, set up on 2024-03-09 at 21:00 in Madrid."""
    freezer.move_to(EVENING)
    config_entry = prices_entry()
    await setup_loaded(hass, config_entry, PriceCoordinator)
    return config_entry


@pytest.fixture
def known(fixtures_dir: Path, tomorrow: Any) -> Prices:
    """Today's and tomorrow's Península prices, read from the payloads themselves."""
    today = _peninsula(_load(fixtures_dir, "PRICES_ESIOS_1001_2024_03_09.json"))
    return today | _peninsula(tomorrow)


async def _cheapest(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "get_cheapest_window", data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


def _at(response: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(response[key])


async def test_defaults_from_now_to_the_end_of_tomorrow(
    hass: HomeAssistant, entry: MockConfigEntry, known: Prices
) -> None:
    response = await _cheapest(hass, duration="03:00")
    start, average = _brute(known, 3 * HOUR, EVENING, MIDNIGHT + 24 * HOUR, HOUR)
    assert _at(response, "start") == start
    assert _at(response, "end") == start + 3 * HOUR
    assert response["average_price"] == pytest.approx(average, abs=1e-6)
    assert response["unit"] == "€/kWh"
    assert response["region"] == "peninsula"
    assert response["kind"] == "consumer"
    assert [_at(p, "start") for p in response["prices"]] == [start + i * HOUR for i in range(3)]
    assert [p["price"] for p in response["prices"]] == [
        pytest.approx(known[start + i * HOUR]) for i in range(3)
    ]
    assert response["start"].endswith("+01:00")  # Home Assistant's time zone


async def test_now_is_a_start_to_the_second(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory, known: Prices
) -> None:
    # Now is 21:00:30.5: the block starts at 21:00:30, the only start that ends by 23:00:31.
    freezer.move_to(EVENING + timedelta(seconds=30.5))
    response = await _cheapest(hass, duration="02:00", latest_end="2024-03-09 23:00:31")
    assert response["start"] == "2024-03-09T21:00:30+01:00"
    expected = (
        known[EVENING] * 3570 + known[EVENING + HOUR] * 3600 + known[EVENING + 2 * HOUR] * 30
    ) / 7200
    assert response["average_price"] == pytest.approx(expected, abs=1e-6)


async def test_a_block_across_midnight(
    hass: HomeAssistant, entry: MockConfigEntry, known: Prices
) -> None:
    response = await _cheapest(
        hass,
        duration={"hours": 2},
        earliest_start="2024-03-09 22:00",
        latest_end="2024-03-10 02:00",
    )
    # 22-24 and 00-02 (with the 500 €/MWh hour) lose to 23:00-01:00.
    assert response["start"] == "2024-03-09T23:00:00+01:00"
    assert response["end"] == "2024-03-10T01:00:00+01:00"
    expected = (known[MIDNIGHT - HOUR] + 0.001) / 2
    assert response["average_price"] == pytest.approx(expected, abs=1e-6)
    assert [p["start"] for p in response["prices"]] == [
        "2024-03-09T23:00:00+01:00",
        "2024-03-10T00:00:00+01:00",
    ]


async def test_quarter_hour_starts_weigh_the_minutes_used(
    hass: HomeAssistant, entry: MockConfigEntry, known: Prices
) -> None:
    earliest, latest = MIDNIGHT - 2 * HOUR, MIDNIGHT + 2 * HOUR
    length = timedelta(minutes=75)
    hourly = await _cheapest(
        hass, duration="01:15", earliest_start=earliest.isoformat(), latest_end=latest.isoformat()
    )
    quarter = await _cheapest(
        hass,
        duration="01:15",
        earliest_start=earliest.isoformat(),
        latest_end=latest.isoformat(),
        resolution="quarter_hour",
    )
    for response, step in ((hourly, HOUR), (quarter, timedelta(minutes=15))):
        start, average = _brute(known, length, earliest, latest, step)
        assert _at(response, "start") == start
        assert _at(response, "end") == start + length
        assert response["average_price"] == pytest.approx(average, abs=1e-6)
    assert quarter["average_price"] < hourly["average_price"]
    # 23:45-01:00 local: 15 minutes of 23:00 and the 1 €/MWh hour
    assert quarter["start"] == "2024-03-09T23:45:00+01:00"


async def test_on_the_25_hour_day(
    hass: HomeAssistant, entry: MockConfigEntry, fixtures_dir: Path
) -> None:
    prices = _peninsula(_load(fixtures_dir, "PRICES_ESIOS_1001_2021_10_31.json"))
    response = await _cheapest(
        hass, duration="04:00", earliest_start="2021-10-31", latest_end="2021-11-01"
    )
    first = datetime(2021, 10, 30, 22, 0, tzinfo=UTC)
    start, average = _brute(prices, 4 * HOUR, first, first + 25 * HOUR, HOUR)
    assert _at(response, "start") == start
    assert _at(response, "end") - _at(response, "start") == 4 * HOUR  # real hours
    assert response["average_price"] == pytest.approx(average, abs=1e-6)
    # The repeated 02:00 hour is two periods of their own.
    day = await _cheapest(
        hass, duration="25:00", earliest_start="2021-10-31", latest_end="2021-11-01"
    )
    assert len(day["prices"]) == 25


async def test_quarter_hour_prices(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory, fixtures_dir: Path
) -> None:
    """Since 2025-10-01 ESIOS publishes 15-minute prices: blocks can start within an hour."""
    day = date(2025, 10, 2)
    first = datetime(2025, 10, 1, 22, 0, tzinfo=UTC)  # 00:00 CEST
    prices = {first + i * timedelta(minutes=15): 0.1 + (i % 7) * 0.01 for i in range(96)}
    prices[first + 41 * timedelta(minutes=15)] = 0.001
    prices[first + 42 * timedelta(minutes=15)] = 0.002
    values = [
        {
            "value": price * 1000,
            "datetime": start.astimezone().isoformat(),
            "datetime_utc": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tz_time": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "geo_id": PENINSULA,
            "geo_name": "Península",
        }
        for start, price in prices.items()
    ]
    template = _load(fixtures_dir, "PRICES_ESIOS_1001_2024_03_09.json")
    payload = copy.deepcopy(template)
    payload["indicator"]["values"] = values
    esios.add_indicator(1001, day, payload)
    freezer.move_to(first + 2 * HOUR)
    config_entry = prices_entry()
    await setup_loaded(hass, config_entry, PriceCoordinator)
    response = await _cheapest(hass, duration="00:30", resolution="quarter_hour")
    assert _at(response, "start") == first + 41 * timedelta(minutes=15)
    assert response["average_price"] == pytest.approx(0.0015)
    assert [p["price"] for p in response["prices"]] == [pytest.approx(0.001), pytest.approx(0.002)]
    hourly = await _cheapest(hass, duration="00:30")
    start, average = _brute(
        prices, timedelta(minutes=30), first + 2 * HOUR, first + 24 * HOUR, HOUR
    )
    assert _at(hourly, "start") == start
    assert hourly["average_price"] == pytest.approx(average, abs=1e-6)


# ------------------------------------------------------------------------------ bad arguments


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"duration": "soon"}, "invalid_duration"),
        ({"duration": "-01:00"}, "invalid_duration"),
        ({"duration": 0}, "invalid_duration"),
        ({"duration": float("inf")}, "invalid_duration"),
        ({"duration": {"hours": 50}}, "duration_too_long"),
        ({"duration": "01:00", "resolution": "minute"}, "invalid_resolution"),
        (
            {"duration": "01:00", "earliest_start": "2024-03-10 05:00", "latest_end": "2024-03-10"},
            "latest_end_not_after_earliest_start",
        ),
        (
            {
                "duration": "03:00",
                "earliest_start": "2024-03-10 05:00",
                "latest_end": "2024-03-10 07:00",
            },
            "window_longer_than_range",
        ),
        (
            {"duration": "01:00", "earliest_start": "2024-01-01", "latest_end": "2024-03-01"},
            "window_range_too_long",
        ),
        (
            {"duration": "01:00", "earliest_start": "2024-03-01", "latest_end": "2024-03-02"},
            "no_prices_in_range",
        ),
        ({"duration": "01:00", "earliest_start": "2024-03-12"}, "no_prices_in_range"),
        (
            {
                "duration": "05:00",
                "earliest_start": "2024-03-10 21:00",
                "latest_end": "2024-03-11 06:00",
            },
            "no_window_in_prices",
        ),
        ({"duration": "01:00", "region": "atlantis"}, "invalid_region"),
        ({"duration": "01:00", "kind": "wholesale"}, "invalid_kind"),
        ({"duration": "01:00", "earliest_start": "later"}, "invalid_datetime"),
    ],
)
async def test_bad_arguments(
    hass: HomeAssistant, entry: MockConfigEntry, data: dict[str, Any], key: str
) -> None:
    with pytest.raises(ServiceValidationError) as caught:
        await _cheapest(hass, **data)
    assert caught.value.translation_domain == DOMAIN
    assert caught.value.translation_key == key
    assert str(caught.value)  # the message is translated (no missing placeholder)


async def test_duration_is_required(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    with pytest.raises(Exception, match="duration"):
        await _cheapest(hass)


async def test_surplus_prices_and_entry_by_id(
    hass: HomeAssistant, entry: MockConfigEntry, fixtures_dir: Path
) -> None:
    surplus = {
        datetime.fromisoformat(v["datetime_utc"].replace("Z", "+00:00")): v["value"] / 1000
        for v in _load(fixtures_dir, "PRICES_ESIOS_1739_2024_03_09.json")["indicator"]["values"]
    }
    response = await _cheapest(
        hass,
        config_entry=entry.entry_id,
        kind="surplus",
        duration="02:00",
        earliest_start="2024-03-09",
        latest_end="2024-03-10",
    )
    start, average = _brute(surplus, 2 * HOUR, MIDNIGHT - 24 * HOUR, MIDNIGHT, HOUR)
    assert response["kind"] == "surplus"
    assert _at(response, "start") == start
    assert response["average_price"] == pytest.approx(average, abs=1e-6)
