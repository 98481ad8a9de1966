"""Merging fetches, the store round trip and the coordinator's degraded paths."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
import json
from pathlib import Path

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.diagnostics import async_get_config_entry_diagnostics
from custom_components.meterit.esios import (
    DayPrices,
    EsiosAuthError,
    PriceData,
    PriceKind,
    PricePeriod,
    Region,
    merge_day,
)
from custom_components.meterit.metering import PricePoint
from custom_components.meterit.prices.coordinator import PriceCoordinator
from custom_components.meterit.prices.data import from_points, to_points
from simulator.esios import FakeEsios, Fault

from .conftest import prices_entry, setup_loaded, travel

DAY = date(2024, 3, 9)
MIDNIGHT = datetime(2024, 3, 8, 23, 0, tzinfo=UTC)  # 2024-03-09 00:00 in Madrid
CURRENT = "sensor.pvpc_peninsula_current_price"


pytestmark = pytest.mark.usefixtures("madrid")  # every test here: Home Assistant in Spain


def _day(hours: range, price: float = 0.1, minutes: int = 60) -> DayPrices:
    step = timedelta(minutes=minutes)
    periods = tuple(
        PricePeriod(MIDNIGHT + i * step, MIDNIGHT + (i + 1) * step, price + i / 1000) for i in hours
    )
    return DayPrices(day=DAY, region=Region.PENINSULA, kind=PriceKind.CONSUMER, periods=periods)


def test_merge_keeps_every_good_price() -> None:
    first = _day(range(12), 0.1)
    later = _day(range(6, 18), 0.2)  # overlaps hours 6-11 with new values
    merged = merge_day(first, later)
    assert len(merged.periods) == 18
    assert merged.periods[0].price == pytest.approx(0.1)
    assert merged.periods[6].price == pytest.approx(0.206)  # the newer value wins
    assert not merged.complete
    complete = _day(range(24), 0.3)
    assert merge_day(merged, complete) is complete
    assert merge_day(None, later) is later


def test_merge_of_different_period_lengths_keeps_the_larger_coverage() -> None:
    hourly = _day(range(10))  # 10 h from midnight
    quarters = _day(range(2, 10), minutes=15)  # 00:30-02:30, across the hourly periods
    assert merge_day(hourly, quarters) is hourly
    longer = _day(range(2, 42), minutes=15)  # 00:30-10:30
    assert merge_day(_day(range(1)), longer) is longer
    # Quarter hours that line up with the hours simply replace them.
    merged = merge_day(hourly, _day(range(8), minutes=15))
    assert len(merged.periods) == 8 + 8
    assert merged.periods[-1].end == MIDNIGHT + timedelta(hours=10)


def test_store_rows_round_trip_and_overlaps_are_skipped() -> None:
    day = _day(range(24))
    points = to_points(day)
    assert points[0] == PricePoint(
        "peninsula", "consumer", MIDNIGHT.timestamp(), MIDNIGHT.timestamp() + 3600, 0.1
    )
    overlapping = PricePoint(
        "peninsula", "consumer", MIDNIGHT.timestamp() + 1800, MIDNIGHT.timestamp() + 2700, 9.9
    )
    days = from_points([*reversed(points), overlapping], Region.PENINSULA, PriceKind.CONSUMER)
    assert days == {DAY: day}


def test_price_data_lookups() -> None:
    data = PriceData(
        region=Region.PENINSULA, today=DAY, days={(PriceKind.CONSUMER, DAY): _day(range(24))}
    )
    assert data.period_at(MIDNIGHT - timedelta(seconds=1)) is None
    assert data.next_period(MIDNIGHT + timedelta(hours=23, minutes=30)) is None
    assert data.period_at(MIDNIGHT, PriceKind.SURPLUS) is None


async def test_unusable_store_keeps_prices_in_memory(
    hass: HomeAssistant,
    hass_tmp_config_dir: str,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (Path(hass_tmp_config_dir) / "meterit.db").write_bytes(b"this is not an SQLite file" * 100)
    freezer.move_to(datetime(2024, 3, 9, 9, 30, tzinfo=UTC))
    entry = prices_entry()
    await setup_loaded(hass, entry, PriceCoordinator)
    assert entry.state is ConfigEntryState.LOADED
    state = hass.states.get(CURRENT)
    assert state is not None
    assert float(state.state) == pytest.approx(0.04421)
    assert "kept in memory only" in caplog.text
    # The damaged file was not overwritten.
    assert (Path(hass_tmp_config_dir) / "meterit.db").read_bytes().startswith(b"this is not")


async def test_update_entity_and_refresh_after_token_rejected(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(datetime(2024, 3, 9, 9, 30, tzinfo=UTC))
    entry = prices_entry()
    coordinator = await setup_loaded(hass, entry, PriceCoordinator)
    assert await async_setup_component(hass, "homeassistant", {})
    before = len(esios.requests)
    await hass.services.async_call(
        "homeassistant", "update_entity", {"entity_id": CURRENT}, blocking=True
    )
    assert len(esios.requests) == before  # today is complete, tomorrow not yet published

    esios.valid_token = "another"
    with pytest.raises(HomeAssistantError, match="could not be refreshed"):
        await hass.services.async_call(DOMAIN, "refresh_prices", {}, blocking=True)
    asked = len(esios.requests) - before
    assert asked == len(coordinator.kinds) == 2  # today's kinds, asked at once
    with pytest.raises(EsiosAuthError):
        await coordinator.async_refresh_prices()  # no request: the token is known to be bad
    assert len(esios.requests) == before + asked


async def test_diagnostics_without_secrets(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(datetime(2024, 3, 9, 19, 30, tzinfo=UTC))  # after the 20:15 publication
    esios.add_indicator(1001, date(2024, 3, 10), {"indicator": {"id": 1001, "values": []}})
    entry = prices_entry()
    await setup_loaded(hass, entry, PriceCoordinator)
    result = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(result)
    assert esios.valid_token not in text
    assert result["region"] == "peninsula"
    assert result["has_token"] is True
    assert result["days"]["consumer 2024-03-09"] == {
        "periods": 24,
        "complete": True,
        "first_start": "2024-03-08T23:00:00+00:00",
        "last_end": "2024-03-09T23:00:00+00:00",
    }
    assert "consumer 2024-03-10" not in result["days"]  # not published yet: retried
    assert result["next_fetch"] is not None


async def test_update_entity_after_failed_start_arms_the_period_timer(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    """Prices fetched by ``update_entity`` must move on at the next period boundary."""
    freezer.move_to(datetime(2024, 3, 9, 11, 30, tzinfo=UTC))  # 12:30 in Madrid
    # only 00-12 h published at setup (the entry loads: part of today is there); no price now
    esios.inject(Fault.PARTIAL, count=2)
    entry = prices_entry()
    await setup_loaded(hass, entry, PriceCoordinator)
    assert hass.states.get(CURRENT).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    esios.inject(None)
    assert await async_setup_component(hass, "homeassistant", {})
    await hass.services.async_call(
        "homeassistant", "update_entity", {"entity_id": CURRENT}, blocking=True
    )
    await hass.async_block_till_done()
    # PRICES_ESIOS_1001_2024_03_09.json, Península: 12-13 h 42.68, 13-14 h 42.14 €/MWh.
    assert float(hass.states.get(CURRENT).state) == pytest.approx(0.04268)  # type: ignore[union-attr]
    await travel(hass, freezer, datetime(2024, 3, 9, 12, 0, tzinfo=UTC))  # 13:00 in Madrid
    assert float(hass.states.get(CURRENT).state) == pytest.approx(0.04214)  # type: ignore[union-attr]


def _next_fetch(coordinator: PriceCoordinator) -> datetime | None:
    """The coordinator's next fetch (a call, so that type narrowing does not stick)."""
    return coordinator.next_fetch


async def test_unload_during_a_fetch_leaves_no_timer(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    """A fetch that ends after the entry was unloaded must not arm new timers."""
    freezer.move_to(datetime(2024, 3, 9, 19, 0, tzinfo=UTC))  # 20:00 in Madrid
    entry = prices_entry()
    coordinator = await setup_loaded(hass, entry, PriceCoordinator)
    publication = datetime(2024, 3, 9, 19, 15, tzinfo=UTC)
    assert coordinator.next_fetch == publication

    started, gate = asyncio.Event(), asyncio.Event()
    client = coordinator.client

    class HeldClient:
        """The real client, whose answers wait for ``gate``."""

        has_token = client.has_token

        async def fetch_day(self, day: date, region: Region, kind: PriceKind) -> DayPrices:
            started.set()
            await gate.wait()
            return await client.fetch_day(day, region, kind)

    coordinator.client = HeldClient()  # type: ignore[assignment]
    freezer.move_to(publication)
    async_fire_time_changed(hass, publication)  # the fetch timer fires; its fetch waits
    for _ in range(100):
        if started.is_set():
            break
        await asyncio.sleep(0)
    assert started.is_set()
    assert await hass.config_entries.async_unload(entry.entry_id)
    gate.set()  # the answer arrives after the unload
    await hass.async_block_till_done()
    assert len(esios.requests_to("/indicators/")) > 2  # tomorrow was fetched
    assert _next_fetch(coordinator) is None
    # No timer of the unloaded entry is left: travelling past the next boundaries asks nothing.
    before = len(esios.requests)
    for hour in range(20, 24):
        await travel(hass, freezer, datetime(2024, 3, 9, hour, 0, tzinfo=UTC))
    assert len(esios.requests) == before
