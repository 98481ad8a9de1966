"""Long-term statistics of power webhook stations: their ids, failures logged once, retries.

Readings go through Home Assistant's real HTTP server (the webhook); the statistics come back
through the recorder (see ``webhook_history_common`` for the reference rule).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import dataclasses
import json
import time
from typing import NoReturn

from homeassistant.components.recorder.statistics import valid_statistic_id
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.long_term_statistics import StatisticIds, station_object_id
from custom_components.meterit.metering import MeterStore, StoreUnavailableError
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from custom_components.meterit.webhook.station import station_series

from .conftest import WEBHOOK_ID, setup_loaded, webhook_entry
from .webhook_history_common import (
    HOUR,
    STATION,
    URL,
    Client,
    hours_of,
    post,
    read_statistics,
    reference,
    settle,
)

pytestmark = pytest.mark.usefixtures("instant_publish")


def test_station_statistic_ids() -> None:
    """Stable, valid, secret-free and distinct for every station ID of an entry."""
    entry_id = "01JD7Q2W3E4R5T6Y7U8I9O0P1A"
    stations = ["1", "garage", "Garage", "gar-age", "gar.age", "gar_age", "a__b", "-", "X" * 32]
    object_ids = [station_object_id(entry_id, s) for s in stations]
    assert len(set(object_ids)) == len(stations)
    assert object_ids[0] == f"station_{entry_id.lower()}_1"
    assert object_ids[1] == f"station_{entry_id.lower()}_garage"
    assert station_object_id(entry_id, "Garage") == object_ids[2]  # stable
    assert station_object_id("01JD7Q2W3E4R5T6Y7U8I9O0P1B", "garage") != object_ids[1]
    for object_id in object_ids:
        ids = StatisticIds.of(object_id, export=False)
        assert ids.energy_import == f"meterit:{object_id}_energy"
        assert ids.power == f"meterit:{object_id}_power"
        for statistic_id in dataclasses.astuple(ids):
            assert valid_statistic_id(statistic_id), statistic_id
            assert WEBHOOK_ID not in statistic_id


async def _loaded(
    hass: HomeAssistant, hass_client_no_auth: Callable[[], Awaitable[Client]]
) -> tuple[MockConfigEntry, Client, MeterStore]:
    """A loaded webhook entry, an HTTP client of the webhook, and the entry's store."""
    entry = webhook_entry()
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    return entry, await hass_client_no_auth(), coordinator.store


async def test_one_failing_station_is_logged_once_and_its_recovery_once(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A station whose import fails beside one that works: no warning/recovery flapping."""
    entry, client, store = await _loaded(hass, hass_client_no_auth)
    energy_before = store.energy_before
    failing = station_series(entry.entry_id, "shed")

    def broken_for_shed(series: str, resolution: int, before: float) -> tuple[float, float]:
        if series == failing:
            raise StoreUnavailableError("locked")
        return energy_before(series, resolution, before)

    monkeypatch.setattr(store, "energy_before", broken_for_shed)
    base = time.time() // HOUR * HOUR - 3 * HOUR

    async def post_both(seconds: range) -> None:
        body = {
            "readings": [
                {"watts": 500.0, "station_id": station, "time": base + s}
                for s in seconds
                for station in (STATION, "shed")
            ]
        }
        response = await client.post(
            URL, data=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        assert response.status == 200, await response.text()

    await post_both(range(0, HOUR + 600, 30))
    await settle(hass)
    await post_both(range(HOUR + 660, 2 * HOUR + 300, 30))
    await settle(hass)
    assert caplog.text.count("statistics not imported, retried later") == 1
    assert "statistics imported again" not in caplog.text  # the shed still fails
    garage = StatisticIds.of(station_object_id(entry.entry_id, STATION), export=False)
    shed = StatisticIds.of(station_object_id(entry.entry_id, "shed"), export=False)
    assert len((await read_statistics(hass, garage, base, base + 3 * HOUR))[garage.power]) == 2
    assert await read_statistics(hass, shed, base, base + 3 * HOUR) == {}

    monkeypatch.setattr(store, "energy_before", energy_before)
    await post_both(range(2 * HOUR + 360, 2 * HOUR + 900, 30))
    await settle(hass)
    assert caplog.text.count("statistics imported again") == 1
    assert caplog.text.count("statistics not imported, retried later") == 1
    assert len((await read_statistics(hass, shed, base, base + 3 * HOUR))[shed.power]) == 2


async def test_store_failures_are_retried(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An import or a purge that cannot read the store is logged once and done later."""
    entry, client, store = await _loaded(hass, hass_client_no_auth)
    energy_before = store.energy_before
    purge = store.purge

    def broken(*_args: object) -> NoReturn:
        raise StoreUnavailableError("locked")

    monkeypatch.setattr(store, "energy_before", broken)
    monkeypatch.setattr(store, "purge", broken)
    base = time.time() // HOUR * HOUR - 3 * HOUR
    first = [(base + s, 500.0) for s in range(0, HOUR + 600, 30)]
    await post(client, first)
    await settle(hass)
    assert "statistics not imported, retried later" in caplog.text
    assert "old 30-s windows not purged" in caplog.text
    ids = StatisticIds.of(station_object_id(entry.entry_id, STATION), export=False)
    assert await read_statistics(hass, ids, base - HOUR, base + 3 * HOUR) == {}

    monkeypatch.setattr(store, "energy_before", energy_before)
    monkeypatch.setattr(store, "purge", purge)
    # (after the watchdog closed the first batch's last windows: the next reading comes
    # more than STATION_MAX_HOLD later, as the stream would have had it)
    second = [(base + s, 500.0) for s in range(HOUR + 660, 2 * HOUR + 300, 30)]
    await post(client, second)
    await settle(hass)
    assert "statistics imported again" in caplog.text
    hours = hours_of(reference(first + second, 300))
    stats = await read_statistics(hass, ids, base - HOUR, base + 3 * HOUR)
    assert [row["start"] for row in stats[ids.energy_import]] == [base, base + HOUR]
    assert [row["sum"] for row in stats[ids.energy_import]] == pytest.approx(
        [hours[base].imp, hours[base].imp + hours[base + HOUR].imp]
    )
