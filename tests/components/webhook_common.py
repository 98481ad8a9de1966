"""Helpers of the power webhook tests (test_webhook_*.py): posting, reading the store, clocks.

Every request goes through aiohttp on 127.0.0.1 into Home Assistant's webhook view; nothing calls
the handler directly. Expected energies and costs are computed by hand from the readings.

The fixtures (``instant_publish``, ``hook``, ``client``) are in ``conftest.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
import json
import sqlite3
import time
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.metering import MeterlogRow
from custom_components.meterit.shared_store import STORE_FILENAME, async_get_store
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from custom_components.meterit.webhook.price_source import PriceSource

from .conftest import WEBHOOK_ID

URL = f"/api/webhook/{WEBHOOK_ID}"
T0 = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
JSON_CT = {"Content-Type": "application/json"}

type Client = TestClient[Any, Any]


async def stored(hass: HomeAssistant) -> list[MeterlogRow]:
    """Every meterlog row, newest first."""
    store = await async_get_store(hass)
    return await hass.async_add_executor_job(store.query_readings, None, 1_000_000, 0)


async def post_json(client: Client, body: object) -> tuple[int, dict[str, Any]]:
    """POST a JSON body; the status and the decoded answer."""
    response = await client.post(URL, data=json.dumps(body), headers=JSON_CT)
    return response.status, await response.json()


def value(hass: HomeAssistant, entity_id: str) -> str:
    """The state of an entity (which must exist)."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def at(seconds: float) -> datetime:
    """T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def hour_ago() -> float:
    """About an hour ago (real clock), aligned to 5 minutes: a base for readings' times.

    Tests with real HTTP keep the real clock (a frozen clock stalls aiohttp's connections) and
    give readings explicit past times instead.
    """
    return (time.time() - 3600) // 300 * 300


async def tick(hass: HomeAssistant, seconds: float = 11) -> None:
    """Fire the timers due ``seconds`` from now (the watchdog runs every 10 s)."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    # interval timers run their jobs as background tasks (the minute's save among them)
    await hass.async_block_till_done(wait_background_tasks=True)
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        if isinstance(entry.runtime_data, WebhookCoordinator):
            await entry.runtime_data.writer.async_wait_drained()  # rounds run on the writer thread


def ours(caplog: pytest.LogCaptureFixture) -> str:
    """What Meterit logged (core's webhook component logs IDs at debug level itself)."""
    return "\n".join(
        r.getMessage() + (r.exc_text or "")
        for r in caplog.records
        if r.name.startswith("custom_components.meterit")
    )


def client_entry_id(hass: HomeAssistant) -> str:
    """The entry ID of the only webhook entry."""
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    return entry.entry_id


def refuse_readings(hass: HomeAssistant, when: str = "1") -> Callable[[], None]:
    """Make SQLite itself refuse meterlog inserts (for rows matching ``when``); returns undo."""
    path = hass.config.path(STORE_FILENAME)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON meterlog WHEN {when} "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )

    def undo() -> None:
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("DROP TRIGGER refuse")

    return undo


class HeldPrices(PriceSource):
    """A price source that holds every request until ``release`` is set."""

    def __init__(self) -> None:
        """Start released; ``asking`` is set while a request waits for its prices."""
        self.release = asyncio.Event()
        self.release.set()
        self.asking = asyncio.Event()

    async def async_prices(self, times: Sequence[float]) -> list[float | None]:
        """No price, once released."""
        self.asking.set()
        await self.release.wait()
        return [None] * len(times)
