"""A power station's sensors do not fill the logbook (Activity), with the real logbook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
import json
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.meterit.webhook import (
    coordinator as coordinator_module,
    writer as writer_module,
)
from custom_components.meterit.webhook.coordinator import WebhookCoordinator

from .conftest import WEBHOOK_ID, setup_loaded, webhook_entry

type Client = TestClient[Any, Any]
LAST_SEEN = "sensor.station_1_last_seen"


@pytest.fixture(autouse=True)
def instant_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entities update on every reading."""
    monkeypatch.setattr(coordinator_module, "PUBLISH_INTERVAL", 0.0)
    monkeypatch.setattr(writer_module, "ROUND_INTERVAL", 0.0)


async def _post_readings(hass: HomeAssistant, client: Client, count: int) -> None:
    now = dt_util.utcnow().timestamp()
    for k in range(count):  # one a second, as a sensor posts (the last one now)
        body = {"watts": 100 + k, "station_id": 1, "time": now - count + 1 + k}
        response = await client.post(
            f"/api/webhook/{WEBHOOK_ID}",
            data=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        assert response.status == 200
        await hass.async_block_till_done()


async def _logbook_entity_ids(
    hass: HomeAssistant, hass_client: Callable[[], Awaitable[Client]], since: str
) -> list[str]:
    await async_wait_recording_done(hass)
    client = await hass_client()
    response = await client.get(f"/api/logbook/{since}")
    assert response.status == 200
    return [e.get("entity_id", "") for e in await response.json()]


async def _logged_after_readings(
    hass: HomeAssistant,
    hass_client: Callable[[], Awaitable[Client]],
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    count: int,
) -> list[str]:
    """The logbook and a webhook entry set up, ``count`` readings posted: the entity IDs of
    the logbook entries since."""
    assert await async_setup_component(hass, "logbook", {})
    since = (dt_util.utcnow() - timedelta(seconds=1)).isoformat()
    await setup_loaded(hass, webhook_entry(), WebhookCoordinator)
    await _post_readings(hass, await hass_client_no_auth(), count)
    return await _logbook_entity_ids(hass, hass_client, since)


async def test_readings_write_no_logbook_entries(
    hass: HomeAssistant,
    hass_client: Callable[[], Awaitable[Client]],
    hass_client_no_auth: Callable[[], Awaitable[Client]],
) -> None:
    """Five readings: no Activity entry for the station ("Last seen" is off by default)."""
    logged = await _logged_after_readings(hass, hass_client, hass_client_no_auth, 5)
    assert [e for e in logged if e.startswith("sensor.station_")] == []
    assert hass.states.get("sensor.station_1_power") is not None
    entry = er.async_get(hass).async_get(LAST_SEEN)
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(LAST_SEEN) is None


async def test_last_seen_enabled_by_the_user_is_logged_per_reading(
    hass: HomeAssistant,
    hass_client: Callable[[], Awaitable[Client]],
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    entity_registry_enabled_by_default: None,
) -> None:
    """Why it is off by default: enabled, every reading is an Activity entry."""
    logged = await _logged_after_readings(hass, hass_client, hass_client_no_auth, 3)
    assert logged.count(LAST_SEEN) >= 2
    assert "sensor.station_1_power" not in logged  # numeric sensors are never logged
