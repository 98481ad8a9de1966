"""Power webhook: windows wait, in bounded memory, while the store cannot take them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
import json
from typing import Any

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.meterit.metering import StoreUnavailableError
from custom_components.meterit.webhook import writer as writer_module
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from custom_components.meterit.webhook.station import station_series

from .conftest import WEBHOOK_ID, setup_loaded, webhook_entry

T0 = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
DAYS = 100


async def settle(hass: HomeAssistant, when: datetime) -> None:
    async_fire_time_changed(hass, when)
    await hass.async_block_till_done(wait_background_tasks=True)
    for entry in hass.config_entries.async_loaded_entries("meterit"):
        if isinstance(entry.runtime_data, WebhookCoordinator):
            await entry.runtime_data.writer.async_wait_drained()


async def test_a_hundred_day_silence_with_a_failing_store_loses_no_window(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[TestClient[Any, Any]]],
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer_module, "ROUND_INTERVAL", 0.0)
    freezer.move_to(T0)
    entry = webhook_entry()
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    client = await hass_client_no_auth()
    url = f"/api/webhook/{WEBHOOK_ID}"
    headers = {"Content-Type": "application/json"}
    body = json.dumps({"watts": 600, "station_id": 1})
    assert (await client.post(url, data=body, headers=headers)).status == 200
    store = coordinator.store
    original = store.write_windows

    def broken(*args: object, **kwargs: object) -> None:
        raise StoreUnavailableError("disk full")

    monkeypatch.setattr(store, "write_windows", broken)
    later = T0 + timedelta(days=DAYS)
    freezer.move_to(later)
    body = json.dumps({"watts": 200, "station_id": 1})
    assert (await client.post(url, data=body, headers=headers)).status == 200
    await settle(hass, later + timedelta(seconds=11))
    assert len(coordinator.writer.windows) > DAYS * 288
    monkeypatch.setattr(store, "write_windows", original)
    await settle(hass, later + timedelta(seconds=200))

    series = station_series(entry.entry_id, "1")
    windows = await hass.async_add_executor_job(
        store.query_windows, series, 300, T0.timestamp() - 300, later.timestamp() + 300
    )
    assert len(windows) == DAYS * 288  # the first, the silence; the last one is still open
    first = windows[0]
    assert first.reading_count == 1
    assert first.energy_kwh == pytest.approx(600 * 60 / 3_600_000)  # held for STATION_MAX_HOLD
