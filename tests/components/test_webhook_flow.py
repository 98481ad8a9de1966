"""Config flow and options of the power webhook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import json
import shlex
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from custom_components.meterit.webhook.flow import webhook_placeholders
from custom_components.meterit.webhook.price_source import SensorPriceSource

from .common import start_user_flow
from .conftest import WEBHOOK_ID, prices_entry, webhook_entry

type Client = TestClient[Any, Any]


def select_options(result: Any, key: str) -> list[str]:
    """The values a select field of a form offers."""
    for marker, selector in result["data_schema"].schema.items():
        if str(marker) == key:
            return [option["value"] for option in selector.config["options"]]
    raise AssertionError(key)


async def test_create_webhook_shows_url_body_and_curl(
    hass: HomeAssistant, hass_client_no_auth: Callable[[], Awaitable[Client]]
) -> None:
    hass.config.internal_url = "http://192.168.1.20:8123"
    hass.states.async_set("sensor.tariff", "0.2", {ATTR_UNIT_OF_MEASUREMENT: "€/kWh"})
    hass.states.async_set("sensor.watts", "3", {ATTR_UNIT_OF_MEASUREMENT: "W"})
    prices = prices_entry()
    prices.add_to_hass(hass)

    result = await start_user_flow(hass, "webhook")
    assert select_options(result, "price_source") == [
        "none",
        f"entry:{prices.entry_id}",
        "sensor.tariff",
    ]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": " Barn ", "local_only": True, "price_source": "sensor.tariff"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.title == "Barn"
    webhook_id = entry.data["webhook_id"]
    assert len(webhook_id) == 64
    assert webhook_id not in entry.title
    assert entry.options == {"local_only": True, "price_source": "sensor.tariff"}
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["url"] == f"http://192.168.1.20:8123/api/webhook/{webhook_id}"
    assert json.loads(placeholders["body"]) == {"watts": 123.4, "station_id": 1}
    # the curl line, split as a POSIX shell splits it, sends exactly that body to that URL
    assert shlex.split(placeholders["curl"]) == [
        "curl",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        placeholders["body"],
        placeholders["url"],
    ]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    # the URL shown works
    client = await hass_client_no_auth()
    response = await client.post(
        f"/api/webhook/{webhook_id}",
        data=placeholders["body"],
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200
    assert (await response.json())["price"] == 0.2


async def test_placeholders_without_a_known_url(hass: HomeAssistant) -> None:
    placeholders = webhook_placeholders(hass, WEBHOOK_ID, True)
    assert placeholders["url"].endswith(f"/api/webhook/{WEBHOOK_ID}")
    assert placeholders["url"].startswith("http://")


async def test_options_change_and_reload(hass: HomeAssistant) -> None:
    hass.states.async_set("sensor.tariff", "0.2", {ATTR_UNIT_OF_MEASUREMENT: "EUR/kWh"})
    entry = webhook_entry(price_source="sensor.gone")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    first = entry.runtime_data
    assert isinstance(first, WebhookCoordinator)
    assert first.local_only

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "webhook"
    # a source that is gone is still offered (so the form keeps it) beside the existing ones
    assert select_options(result, "price_source") == ["none", "sensor.tariff", "sensor.gone"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"local_only": False, "price_source": "sensor.tariff"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {"local_only": False, "price_source": "sensor.tariff"}
    second = entry.runtime_data
    assert isinstance(second, WebhookCoordinator)
    assert second is not first  # reloaded
    assert not second.local_only
    assert isinstance(second.price_source, SensorPriceSource)
    assert second.price_source.price_at(1e12) == 0.2


async def test_price_entries_keep_their_own_options(hass: HomeAssistant) -> None:
    """The options flow of a price entry is still the price one."""
    entry = prices_entry()
    entry.add_to_hass(hass)
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    assert flow["step_id"] == "init"
