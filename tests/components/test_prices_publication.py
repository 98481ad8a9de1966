"""PVPC prices over time: 20:15 publication, retries, midnight, DST days, Canarias, quarter hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.meterit.const import DOMAIN
from simulator.esios import FakeEsios, Fault

from . import prices_schedule_common
from .conftest import shifted_indicator, state_of, travel
from .prices_schedule_common import CURRENT, SURPLUS, _attr, _load, _next_fetch, _price, _setup

_in_spain = prices_schedule_common._in_spain  # autouse: Home Assistant in Europe/Madrid


@pytest.fixture
def next_day(esios: FakeEsios, fixtures_dir: Path) -> None:
    """2024-03-10 = the 2024-03-09 fixtures one day later, consumer prices +10 €/MWh."""
    esios.add_indicator(
        1001,
        date(2024, 3, 10),
        shifted_indicator(_load(fixtures_dir, "PRICES_ESIOS_1001_2024_03_09.json"), 1, 10),
    )
    esios.add_indicator(
        1739,
        date(2024, 3, 10),
        shifted_indicator(_load(fixtures_dir, "PRICES_ESIOS_1739_2024_03_09.json"), 1, 0),
    )


async def test_publication_partial_retry_and_midnight(
    hass: HomeAssistant,
    esios: FakeEsios,
    next_day: None,
    freezer: FrozenDateTimeFactory,
) -> None:
    freezer.move_to(datetime(2024, 3, 9, 19, 0, tzinfo=UTC))  # 20:00 in Madrid
    coordinator = await _setup(hass)
    asked = {r.query["start_date"][:10] for r in esios.requests_to("/indicators/")}
    assert asked == {"2024-03-09"}
    publication = datetime(2024, 3, 9, 19, 15, tzinfo=UTC)  # 20:15 in Madrid
    assert coordinator.next_fetch == publication

    esios.inject(Fault.PARTIAL, count=1)  # the consumer price arrives half published
    await travel(hass, freezer, publication)
    assert len(_attr(hass, "tomorrow")) == 12
    assert _attr(hass, "tomorrow_valid") is False
    retry = coordinator.next_fetch
    assert retry is not None
    assert 48 <= (retry - publication).total_seconds() <= 72

    await travel(hass, freezer, retry)
    tomorrow = _attr(hass, "tomorrow")
    assert len(tomorrow) == 24
    assert _attr(hass, "tomorrow_valid") is True
    # First hour of 2024-03-10: 44.98 + 10 €/MWh.
    assert tomorrow[0] == {
        "start": "2024-03-10T00:00:00+01:00",
        "end": "2024-03-10T01:00:00+01:00",
        "price": pytest.approx(0.05498),
    }
    assert _next_fetch(coordinator) is None  # both days complete: nothing to do until midnight

    before = len(esios.requests)
    await travel(hass, freezer, datetime(2024, 3, 9, 22, 59, 59, tzinfo=UTC))
    assert _price(hass) == pytest.approx(0.04194)  # 23:00 local on the 9th: 41.94
    await travel(hass, freezer, datetime(2024, 3, 9, 23, 0, tzinfo=UTC))  # midnight in Madrid
    assert _price(hass) == pytest.approx(0.05498)
    assert _attr(hass, "today")[0]["start"] == "2024-03-10T00:00:00+01:00"
    assert _attr(hass, "tomorrow") == []
    assert _attr(hass, "tomorrow_valid") is False
    assert _price(hass, SURPLUS) == pytest.approx(-0.00145)
    assert len(esios.requests) == before  # the roll-over needs no request
    assert _next_fetch(coordinator) == datetime(2024, 3, 10, 19, 15, tzinfo=UTC)


@pytest.mark.usefixtures("esios", "next_day")
async def test_get_prices_hands_a_fetched_tomorrow_to_the_entities(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(datetime(2024, 3, 9, 19, 0, tzinfo=UTC))  # 20:00 in Madrid
    await _setup(hass)
    assert _attr(hass, "tomorrow") == []
    # After the 20:15 publication, before the coordinator's own fetch has run: the action
    # fetches tomorrow, and the sensors show it at once, not at the next scheduled fetch.
    freezer.move_to(datetime(2024, 3, 9, 19, 20, tzinfo=UTC))
    response = await hass.services.async_call(
        DOMAIN, "get_prices", {}, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    prices = response["prices"]
    assert isinstance(prices, list)
    assert len(prices) == 48
    assert _attr(hass, "tomorrow") == prices[24:]
    assert _attr(hass, "tomorrow_valid") is True


@pytest.mark.usefixtures("esios")
async def test_retries_for_tomorrow_stop_at_midnight(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    freezer.move_to(datetime(2024, 3, 9, 19, 0, tzinfo=UTC))
    coordinator = await _setup(hass)
    midnight = datetime(2024, 3, 9, 23, 0, tzinfo=UTC)
    fetches: list[datetime] = []
    while (when := coordinator.next_fetch) is not None:
        assert when < midnight
        fetches.append(when)
        await travel(hass, freezer, when)
    assert len(fetches) >= 6
    gaps = [(b - a).total_seconds() for a, b in pairwise(fetches)]
    assert gaps[0] < gaps[-1]  # the backoff grows ...
    assert all(gap <= 1800 for gap in gaps)  # ... up to its 30 min cap
    # Tomorrow being late is not a failure: no warning, today's prices are still shown.
    assert "could not be fetched" not in caplog.text
    assert _price(hass) == pytest.approx(0.04194)
    await travel(hass, freezer, midnight)
    # Nothing for the new day: unavailable, and today's fetch is retried.
    assert state_of(hass, CURRENT).state == STATE_UNAVAILABLE
    assert coordinator.next_fetch is not None


async def test_repair_issue_after_a_day_without_prices(
    hass: HomeAssistant,
    esios: FakeEsios,
    next_day: None,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    start = datetime(2024, 3, 9, 9, 30, tzinfo=UTC)  # the last success: setup
    freezer.move_to(start)
    coordinator = await _setup(hass)
    esios.inject(Fault.SERVER_ERROR)  # tomorrow fails from 20:15, and the new day too
    midnight = datetime(2024, 3, 9, 23, 0, tzinfo=UTC)
    issues = ir.async_get(hass)
    while (when := coordinator.next_fetch or midnight) - start < timedelta(days=1):
        await travel(hass, freezer, when)
        assert issues.async_get_issue(DOMAIN, coordinator.issue_id) is None
    assert state_of(hass, CURRENT).state == STATE_UNAVAILABLE  # nothing for the 10th
    await travel(hass, freezer, when)
    issue = issues.async_get_issue(DOMAIN, coordinator.issue_id)
    assert issue is not None
    assert issue.translation_key == "no_prices"
    assert "HTTP 500" in (issue.translation_placeholders or {})["error"]
    assert caplog.text.count("could not be fetched") == 1  # one line per failure streak

    esios.inject(None)
    await hass.services.async_call(DOMAIN, "refresh_prices", {}, blocking=True)
    assert issues.async_get_issue(DOMAIN, coordinator.issue_id) is None
    assert "prices fetched again" in caplog.text
    assert state_of(hass, CURRENT).state != STATE_UNAVAILABLE


async def test_restart_without_network_uses_the_store(
    hass: HomeAssistant,
    esios: FakeEsios,
    next_day: None,
    freezer: FrozenDateTimeFactory,
) -> None:
    freezer.move_to(datetime(2024, 3, 9, 19, 30, tzinfo=UTC))  # after publication
    coordinator = await _setup(hass)
    entry = coordinator.config_entry
    assert _attr(hass, "tomorrow_valid") is True
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    esios.inject(Fault.SERVER_ERROR)
    before = len(esios.requests)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert len(esios.requests) == before  # both days are complete in the store: no request
    assert _price(hass) == pytest.approx(0.04681)  # 19:00 UTC (20:00 local): 46.81
    assert _attr(hass, "tomorrow_valid") is True
    assert _price(hass, SURPLUS) == pytest.approx(0.00209)  # 1739 at 19:00 UTC: 2.09
    await travel(hass, freezer, datetime(2024, 3, 9, 23, 30, tzinfo=UTC))
    assert _price(hass) == pytest.approx(0.05498)


async def test_autumn_dst_with_token(
    hass: HomeAssistant,
    esios: FakeEsios,
    fixtures_dir: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    consumer = _load(fixtures_dir, "PRICES_ESIOS_1001_2021_10_31.json")
    surplus = {
        "indicator": {
            **consumer["indicator"],
            "id": 1739,
            "values": [
                {**v, "geo_id": 3, "geo_name": "España", "value": -v["value"] / 10}
                for v in consumer["indicator"]["values"]
                if v["geo_id"] == 8741
            ],
        }
    }
    esios.add_indicator(1739, date(2021, 10, 31), surplus)
    freezer.move_to(datetime(2021, 10, 30, 22, 30, tzinfo=UTC))
    await _setup(hass)
    assert len(_attr(hass, "today")) == 25
    assert _price(hass) == pytest.approx(0.17148)  # 00:00+02:00
    today = _attr(hass, "today")
    assert today[2]["start"] == "2021-10-31T02:00:00+02:00"
    assert today[3]["start"] == "2021-10-31T02:00:00+01:00"
    await travel(hass, freezer, datetime(2021, 10, 31, 0, 0, tzinfo=UTC))
    assert _price(hass) == pytest.approx(0.10955)  # first 02:00 (+02:00)
    await travel(hass, freezer, datetime(2021, 10, 31, 1, 0, tzinfo=UTC))
    assert _price(hass) == pytest.approx(0.10485)  # second 02:00 (+01:00)
    assert _price(hass, SURPLUS) == pytest.approx(-0.010485)
    await travel(hass, freezer, datetime(2021, 10, 31, 2, 0, tzinfo=UTC))
    assert _price(hass) == pytest.approx(0.09203)  # 03:00 (+01:00)
    await travel(hass, freezer, datetime(2021, 10, 31, 22, 59, tzinfo=UTC))
    assert _price(hass) == pytest.approx(0.14612)  # 23:00 (+01:00), the 25th period


async def test_spring_dst_day_published_at_2015(
    hass: HomeAssistant,
    esios: FakeEsios,
    fixtures_dir: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    rows = _load(fixtures_dir, "PVPC_CURV_DD_2022_03_27.json")["PVPC"]
    previous = [{**row, "Dia": "26/03/2022"} for row in rows]
    previous.insert(2, {**previous[1], "Hora": "02-03", "PCB": "100,00"})
    esios.add_public_file(date(2022, 3, 26), {"PVPC": previous})
    freezer.move_to(datetime(2022, 3, 26, 19, 0, tzinfo=UTC))  # 20:00 (UTC+1)
    coordinator = await _setup(hass, token=None)
    assert _price(hass) == pytest.approx(0.13187)  # "20-21": 131,87
    assert coordinator.next_fetch == datetime(2022, 3, 26, 19, 15, tzinfo=UTC)
    await travel(hass, freezer, datetime(2022, 3, 26, 19, 15, tzinfo=UTC))
    tomorrow = _attr(hass, "tomorrow")
    assert len(tomorrow) == 23
    assert _attr(hass, "tomorrow_valid") is True
    assert tomorrow[1]["end"] == "2022-03-27T03:00:00+02:00"  # 01-02 ends at 03:00 summer time
    await travel(hass, freezer, datetime(2022, 3, 27, 0, 59, tzinfo=UTC))
    assert _price(hass) == pytest.approx(0.1239)  # "01-02": 123,90
    await travel(hass, freezer, datetime(2022, 3, 27, 1, 0, tzinfo=UTC))
    assert _price(hass) == pytest.approx(0.10485)  # "03-04": 104,85 (02-03 does not exist)


async def test_canarias_is_one_hour_behind(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    # 00:30 UTC is 00:30 in the Canaries: the first hour of their 2024-03-09 (geo 8742: 44.98).
    freezer.move_to(datetime(2024, 3, 9, 0, 30, tzinfo=UTC))
    await _setup(hass, region="canarias")
    entity = "sensor.pvpc_canarias_current_price"
    assert _price(hass, entity) == pytest.approx(0.04498)
    assert _attr(hass, "today", entity)[0]["start"] == "2024-03-09T01:00:00+01:00"
    assert _attr(hass, "today", entity)[-1]["end"] == "2024-03-10T01:00:00+01:00"


async def test_quarter_hour_periods(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    day_start = datetime(2025, 10, 1, 22, 0, tzinfo=UTC)  # 2025-10-02 00:00 (UTC+2)

    def payload(indicator: int, geo: int) -> dict[str, Any]:
        values = [
            {
                "value": 10.0 + i,
                "datetime_utc": (day_start + timedelta(minutes=15 * i))
                .isoformat()
                .replace("+00:00", "Z"),
                "datetime": (day_start + timedelta(minutes=15 * i)).isoformat(),
                "tz_time": (day_start + timedelta(minutes=15 * i)).isoformat(),
                "geo_id": geo,
            }
            for i in range(96)
        ]
        return {
            "indicator": {"id": indicator, "tiempo": [{"name": "Quince minutos"}], "values": values}
        }

    esios.add_indicator(1001, date(2025, 10, 2), payload(1001, 8741))
    esios.add_indicator(1739, date(2025, 10, 2), payload(1739, 3))
    freezer.move_to(datetime(2025, 10, 2, 6, 20, tzinfo=UTC))  # period 33 of the day
    await _setup(hass)
    assert len(_attr(hass, "today")) == 96
    assert _price(hass) == pytest.approx(0.043)
    assert _attr(hass, "rank") == 34
    await travel(hass, freezer, datetime(2025, 10, 2, 6, 30, tzinfo=UTC))
    assert _price(hass) == pytest.approx(0.044)
