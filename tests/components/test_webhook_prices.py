"""The price sources of a power webhook: a sensor, a PVPC entry (memory and store), none."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
import pytest

from custom_components.meterit.metering import PricePoint, StoreUnavailableError
from custom_components.meterit.prices.coordinator import PriceCoordinator
from custom_components.meterit.shared_store import async_get_store
from custom_components.meterit.webhook import price_source as price_source_module
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from custom_components.meterit.webhook.price_source import PriceSource

from .conftest import prices_entry, setup_loaded, webhook_entry
from .webhook_common import T0, Client, post_json, stored

pytestmark = pytest.mark.usefixtures("instant_publish")


async def test_price_sensor_without_unit_or_number(
    hass: HomeAssistant, hass_client_no_auth: Callable[[], Awaitable[Client]]
) -> None:
    """A price sensor with the wrong unit, a non-number or that disappears gives no price."""
    hass.states.async_set("sensor.tariff", "0.15", {ATTR_UNIT_OF_MEASUREMENT: "€/MWh"})
    await setup_loaded(hass, webhook_entry(price_source="sensor.tariff"), WebhookCoordinator)
    client = await hass_client_no_auth()
    prices: list[object] = []
    for _second, change in (
        (1, lambda: None),
        (
            2,
            lambda: hass.states.async_set(
                "sensor.tariff", "n/a", {ATTR_UNIT_OF_MEASUREMENT: "EUR/kWh"}
            ),
        ),
        (
            3,
            lambda: hass.states.async_set(
                "sensor.tariff", "0.25", {ATTR_UNIT_OF_MEASUREMENT: "EUR/kWh"}
            ),
        ),
        (
            4,
            lambda: hass.states.async_set(
                "sensor.tariff", "inf", {ATTR_UNIT_OF_MEASUREMENT: "EUR/kWh"}
            ),
        ),
        (5, lambda: hass.states.async_remove("sensor.tariff")),
    ):
        change()
        status, answer = await post_json(client, {"watts": 5, "station_id": 1})
        assert status == 200
        prices.append(answer["price"])
    assert prices == [None, None, 0.25, None, None]
    # and each reading was stored with the price it was answered with
    assert [r.price for r in sorted(await stored(hass), key=lambda r: r.time)] == prices


async def test_price_source_base_and_unloaded_entry(hass: HomeAssistant) -> None:
    """No source, and a PVPC entry that is not loaded, know no price."""
    assert await PriceSource().async_prices([1.0, 2.0]) == [None, None]
    entry = prices_entry()
    entry.add_to_hass(hass)
    store = await async_get_store(hass)
    source = price_source_module.create_price_source(hass, f"entry:{entry.entry_id}", store)
    assert await source.async_prices([T0.timestamp()]) == [None]


async def test_entry_price_source_reads_the_store(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Times the PVPC entry does not hold in memory come from the store; a store error: none."""
    entry = prices_entry()
    entry.add_to_hass(hass)
    entry.runtime_data = PriceCoordinator(hass, entry)  # loaded, but holding no day yet
    store = await async_get_store(hass)
    start = T0.timestamp()
    point = PricePoint("peninsula", "consumer", start, start + 3600, 0.111)
    await hass.async_add_executor_job(store.write_prices, [point])
    source = price_source_module.create_price_source(hass, f"entry:{entry.entry_id}", store)
    assert await source.async_prices([start + 10, start + 4000]) == [0.111, None]

    def broken(*_args: object) -> list[PricePoint]:
        raise StoreUnavailableError("gone")

    monkeypatch.setattr(store, "query_prices", broken)
    assert await source.async_prices([start + 10]) == [None]


async def test_sensor_price_history_is_ordered_and_bounded(hass: HomeAssistant) -> None:
    unit = {ATTR_UNIT_OF_MEASUREMENT: "€/kWh"}
    hass.states.async_set("sensor.tariff", "0.1", unit, timestamp=1000.0)
    source = price_source_module.SensorPriceSource(hass, "sensor.tariff")
    hass.states.async_set("sensor.tariff", "0.2", unit, timestamp=900.0)  # a clock step back
    assert source.price_at(999.0) is None
    assert source.price_at(1000.0) == 0.2  # kept in order: the later value wins
    later = 1000.0 + price_source_module.PRICE_HISTORY_S + 10
    hass.states.async_set("sensor.tariff", "0.3", unit, timestamp=later - 5)
    hass.states.async_set("sensor.tariff", "0.4", unit, timestamp=later)
    # older changes are dropped, except the one still in force at the start of the history
    assert source._times == [1000.0, later - 5, later]
    assert source.price_at(1000.0) == 0.2
    assert source.price_at(later - 1) == 0.3
    source.async_stop()
    source.async_stop()
    hass.states.async_set("sensor.tariff", "0.5", unit, timestamp=later + 1)
    assert source.price_at(later + 2) == 0.4  # no longer following
