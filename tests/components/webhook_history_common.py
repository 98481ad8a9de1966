"""Helpers of the power webhook stations' history and statistics tests: the reference rule.

Expected values are computed here from the posted readings with the windows' rule: each reading
weighs the time until the next one, capped at ``STATION_MAX_HOLD``, in its own window; a
window's energy is its weighted power times that covered time; positive energy is import,
negative export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.recorder import get_instance
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.long_term_statistics import StatisticIds
from custom_components.meterit.webhook.const import STATION_MAX_HOLD
from custom_components.meterit.webhook.coordinator import WebhookCoordinator

from .conftest import WEBHOOK_ID

URL = f"/api/webhook/{WEBHOOK_ID}"
STATION = "garage"
HOUR = 3600

type Client = TestClient[Any, Any]


# ---------------------------------------------------------------------- the reference rule


@dataclass
class Ref:
    """A window computed here from the readings."""

    count: int = 0
    ws: float = 0.0  # W * s
    weight: float = 0.0  # s
    low: float = float("inf")
    high: float = float("-inf")

    @property
    def w_avg(self) -> float:
        return self.ws / self.weight

    @property
    def kwh(self) -> float:
        return self.ws / 3.6e6


def reference(readings: Sequence[tuple[float, float]], resolution: int) -> dict[float, Ref]:
    """Windows (by start) of readings in time order; the last one holds for the full cap."""
    out: dict[float, Ref] = {}
    for index, (t, watts) in enumerate(readings):
        following = readings[index + 1][0] if index + 1 < len(readings) else t + STATION_MAX_HOLD
        weight = min(following - t, STATION_MAX_HOLD)
        ref = out.setdefault(t - t % resolution, Ref())
        ref.count += 1
        ref.ws += watts * weight
        ref.weight += weight
        ref.low = min(ref.low, watts)
        ref.high = max(ref.high, watts)
    return out


@dataclass
class HourRef:
    """An hour computed here from the 5-minute reference windows."""

    imp: float
    exp: float
    mean: float
    low: float
    high: float


def hours_of(windows: dict[float, Ref]) -> dict[float, HourRef]:
    by_hour: dict[float, list[Ref]] = {}
    for start, ref in windows.items():
        by_hour.setdefault(start - start % HOUR, []).append(ref)
    return {
        hour: HourRef(
            imp=sum(r.kwh for r in refs if r.kwh >= 0),
            exp=sum(-r.kwh for r in refs if r.kwh < 0),
            mean=sum(r.w_avg for r in refs) / len(refs),
            low=min(r.low for r in refs),
            high=max(r.high for r in refs),
        )
        for hour, refs in by_hour.items()
    }


# ---------------------------------------------------------------------- helpers


async def post(client: Client, readings: Sequence[tuple[float, float]]) -> None:
    body = {"readings": [{"watts": w, "station_id": STATION, "time": t} for t, w in readings]}
    response = await client.post(
        URL, data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["stored"] == len(readings)


async def settle(hass: HomeAssistant, seconds: float = 11) -> None:
    """Fire the timers (the watchdog closes windows), let writes and imports finish."""
    async_fire_time_changed(hass, datetime.now(UTC) + timedelta(seconds=seconds))
    await hass.async_block_till_done()
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        if isinstance(entry.runtime_data, WebhookCoordinator):
            await entry.runtime_data.writer.async_wait_drained()
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)


def station_device(hass: HomeAssistant, entry: MockConfigEntry, station: str = STATION) -> str:
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{entry.entry_id}_station_{station}"), entry.entry_id
    )
    assert device is not None
    return device.id


async def get_history(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "get_history", data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def read_statistics(
    hass: HomeAssistant, ids: StatisticIds, start: float, end: float
) -> dict[str, list[Any]]:
    await async_wait_recording_done(hass)
    return await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        datetime.fromtimestamp(start, UTC),
        datetime.fromtimestamp(end, UTC),
        {ids.energy_import, ids.power},
        "hour",
        None,
        {"state", "sum", "mean", "min", "max"},
    )


def two_hours(base: float) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Readings of two posts: hour 0, and the first half of hour 1.

    Hour 0: a reading every 20 s, positive, silent for 10 minutes (the cap). Hour 1 starts a
    minute late (more than STATION_MAX_HOLD: the watchdog may close the first post's windows
    before the second arrives without changing them), has one 5-minute window of negative
    power (export) and a 15-minute silence.
    """
    first = [(base + s, 100.0 + (s * 37) % 900) for s in range(0, HOUR, 20) if not 1200 <= s < 1800]
    second = [
        (base + s, -500.0 if 3900 <= s < 4200 else 50.0 + s % 300)
        for s in range(HOUR + 60, HOUR + 900, 20)
    ] + [(base + s, 700.0) for s in range(HOUR + 1800, HOUR + 1900, 25)]
    return first, second


# ---------------------------------------------------------------------- tests
