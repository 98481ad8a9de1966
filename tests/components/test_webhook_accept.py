"""Readings accepted: stored, applied to the stations' entities, energy, cost and windows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import time
from typing import Any

from aiohttp import ClientResponse
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorStateClass
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.metering import PricePoint
from custom_components.meterit.prices.coordinator import PriceCoordinator
from custom_components.meterit.shared_store import async_get_store
from custom_components.meterit.webhook import (
    const as webhook_const,
    coordinator as coordinator_module,
)
from custom_components.meterit.webhook.const import STATION_MAX_HOLD
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from custom_components.meterit.webhook.station import station_series
from simulator.esios import FakeEsios

from .conftest import WEBHOOK_ID, prices_entry, setup_loaded, travel, webhook_entry
from .webhook_common import (
    JSON_CT,
    T0,
    URL,
    Client,
    client_entry_id,
    hour_ago,
    ours,
    post_json,
    stored,
    tick,
    value,
)

pytestmark = pytest.mark.usefixtures("instant_publish")


async def test_single_reading_stored_and_shown(
    hass: HomeAssistant,
    client: Client,
    caplog: pytest.LogCaptureFixture,
    entity_registry_enabled_by_default: None,  # "Last seen" is off by default
) -> None:
    before = time.time()
    status, answer = await post_json(client, {"watts": 123.4, "station_id": 1})
    after = time.time()
    assert status == 200
    # a reading taken now gets a small answer: what was stored and the price of the moment
    assert answer == {"stored": 1, "price": None, "unit": "€/kWh"}
    rows = await stored(hass)
    assert [(r.station_id, r.watts, r.price) for r in rows] == [("1", 123.4, None)]
    assert before <= rows[0].time <= after  # the arrival time
    # a new device with its sensors, without a restart
    entry_id = client_entry_id(hass)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{entry_id}_station_1"), entry_id
    )
    assert device is not None
    assert device.name == "Station 1"
    power = hass.states.get("sensor.station_1_power")
    assert power is not None
    assert float(power.state) == 123.4
    assert power.attributes[ATTR_UNIT_OF_MEASUREMENT] == "W"
    energy = hass.states.get("sensor.station_1_energy")
    assert energy is not None
    assert float(energy.state) == 0.0
    assert energy.attributes[ATTR_STATE_CLASS] == SensorStateClass.TOTAL_INCREASING
    assert energy.attributes[ATTR_UNIT_OF_MEASUREMENT] == "kWh"
    last_seen = datetime.fromisoformat(value(hass, "sensor.station_1_last_seen"))
    assert abs(last_seen.timestamp() - rows[0].time) < 1  # shown to the second
    assert WEBHOOK_ID not in ours(caplog)


async def test_energy_cost_windows_and_availability(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    entity_registry_enabled_by_default: None,  # "Last seen" is off by default
) -> None:
    """Left Riemann sum with the price of each interval; no energy across a long silence."""
    base = hour_ago()
    unit = {ATTR_UNIT_OF_MEASUREMENT: "€/kWh"}
    hass.states.async_set("sensor.tariff", "0.2", unit, timestamp=base - 5)
    coordinator = await setup_loaded(
        hass, webhook_entry(price_source="sensor.tariff"), WebhookCoordinator
    )
    client = await hass_client_no_auth()

    async def send(seconds: float, watts: float) -> dict[str, Any]:
        body = {"watts": watts, "station_id": "garage", "time": base + seconds}
        status, answer = await post_json(client, body)
        assert status == 200, answer
        return answer

    assert (await send(0, 1000))["price"] == 0.2
    await send(30, 2000)
    hass.states.async_set("sensor.tariff", "0.3", unit, timestamp=base + 45)
    await send(60, 500)
    assert (await send(90, 1000))["price"] == 0.3
    energy_ws = 1000 * 30 + 2000 * 30 + 500 * 30
    cost = (1000 * 30 + 2000 * 30) / 3.6e6 * 0.2 + 500 * 30 / 3.6e6 * 0.3
    meter = coordinator.stations["garage"].meter
    assert meter.energy_kwh == pytest.approx(energy_ws / 3.6e6)
    assert meter.cost == pytest.approx(cost)
    rows = await stored(hass)
    assert [r.price for r in reversed(rows)] == [0.2, 0.2, 0.3, 0.3]

    # the readings are an hour old: the station is unavailable (a stale power never shows as
    # current), but "last seen" says when it was seen
    await tick(hass)
    assert value(hass, "sensor.station_garage_power") == STATE_UNAVAILABLE
    assert value(hass, "sensor.station_garage_energy") == STATE_UNAVAILABLE
    last_seen = datetime.fromtimestamp(base + 90, UTC).isoformat()
    assert value(hass, "sensor.station_garage_last_seen") == last_seen

    # back now, an hour later: only STATION_MAX_HOLD seconds of the last 1000 W count
    status, _ = await post_json(client, {"watts": 0, "station_id": "garage"})
    assert status == 200
    assert coordinator.stations["garage"].available
    assert value(hass, "sensor.station_garage_power") == "0.0"
    held = 1000 * STATION_MAX_HOLD
    assert float(value(hass, "sensor.station_garage_energy")) == pytest.approx(
        (energy_ws + held) / 3.6e6
    )
    assert float(value(hass, "sensor.station_garage_cost")) == pytest.approx(
        cost + held / 3.6e6 * 0.3
    )

    # the windows written to the store hold the same energy
    await tick(hass)
    store = await async_get_store(hass)
    for resolution in (30, 300):
        windows = await hass.async_add_executor_job(
            store.query_windows,
            station_series(coordinator.config_entry.entry_id, "garage"),
            resolution,
            base,
            base + 1200,
        )
        assert windows[0].start == base
        total = sum(w.energy_kwh or 0.0 for w in windows)
        assert total == pytest.approx((energy_ws + held) / 3.6e6), resolution
    first = windows[0]
    assert first.reading_count == 4  # 0, 30, 60, 90 s in the first 5 minutes
    assert first.w_max == 2000


async def test_batch_with_past_times_and_pvpc_prices(
    hass: HomeAssistant,
    madrid: None,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    fixtures_dir: Path,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
) -> None:
    """Each reading gets the PVPC price of its own hour (memory, then the store)."""
    now = datetime(2024, 3, 9, 9, 30, tzinfo=UTC)
    freezer.move_to(now)
    prices = prices_entry()
    await setup_loaded(hass, prices, PriceCoordinator)
    coordinator = await setup_loaded(
        hass, webhook_entry(price_source=f"entry:{prices.entry_id}"), WebhookCoordinator
    )
    client = await hass_client_no_auth()

    payload = json.loads((fixtures_dir / "esios" / "PRICES_ESIOS_1001_2024_03_09.json").read_text())
    by_hour = {
        datetime.fromisoformat(v["datetime_utc"].replace("Z", "+00:00")): v["value"] / 1000
        for v in payload["indicator"]["values"]
        if v["geo_id"] == 8741
    }
    # yesterday (local) is not in the entry's memory: it comes from the store
    yesterday = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
    store = await async_get_store(hass)
    await hass.async_add_executor_job(
        store.write_prices,
        [
            PricePoint(
                "peninsula",
                "consumer",
                yesterday.timestamp(),
                (yesterday + timedelta(hours=1)).timestamp(),
                0.123,
            )
        ],
    )
    batch = [
        {"watts": 10, "station_id": 7, "time": (now - timedelta(minutes=80)).timestamp()},
        {"watts": 20, "station_id": "b", "time": "2024-03-09T09:20:00Z"},
        {"watts": 30, "station_id": 7, "time": "2024-03-09T10:15:00+01:00"},
        {"watts": 40, "station_id": 7},
        {"watts": 50, "station_id": 7, "time": "2024-03-08T12:30:00+00:00"},
        {"watts": 60, "station_id": 7, "time": "2024-03-08T09:30:00+00:00"},
    ]
    status, answer = await post_json(client, {"readings": batch})
    assert status == 200, answer
    expected = [
        by_hour[datetime(2024, 3, 9, 8, tzinfo=UTC)],
        by_hour[datetime(2024, 3, 9, 9, tzinfo=UTC)],
        by_hour[datetime(2024, 3, 9, 9, tzinfo=UTC)],
        by_hour[datetime(2024, 3, 9, 9, tzinfo=UTC)],
        0.123,
        None,  # no price known for that hour anywhere
    ]
    assert [r["price"] for r in answer["readings"]] == pytest.approx(expected)
    assert answer["price"] == pytest.approx(by_hour[now.replace(minute=0)])
    assert answer["stored"] == 6
    rows = await stored(hass)
    times = [
        now.timestamp() - 80 * 60,
        datetime(2024, 3, 9, 9, 20, tzinfo=UTC).timestamp(),
        datetime(2024, 3, 9, 9, 15, tzinfo=UTC).timestamp(),
        now.timestamp(),
        datetime(2024, 3, 8, 12, 30, tzinfo=UTC).timestamp(),
        datetime(2024, 3, 8, 9, 30, tzinfo=UTC).timestamp(),
    ]
    sent = [
        (t, str(b["station_id"]), float(10 * (k + 1)))  # type: ignore[index]
        for k, (t, b) in enumerate(zip(times, batch, strict=True))
    ]
    assert sorted((r.time, r.station_id, r.watts) for r in rows) == sorted(sent)
    # the live power is the latest reading by time, whatever the order in the batch; a station
    # whose latest reading is 10 minutes old is not shown as current
    assert value(hass, "sensor.station_7_power") == "40.0"
    assert value(hass, "sensor.station_b_power") == STATE_UNAVAILABLE
    assert coordinator.stations["b"].meter.last_watts == 20.0


async def test_concurrent_posts_all_stored_once(hass: HomeAssistant, client: Client) -> None:
    """1,000 posts at once from five stations: 1,000 rows, each exactly once."""

    async def send(i: int) -> ClientResponse:
        return await client.post(
            URL, data=json.dumps({"watts": i, "station_id": f"s{i % 5}"}), headers=JSON_CT
        )

    responses = await asyncio.gather(*(send(i) for i in range(1000)))
    assert [r.status for r in responses] == [200] * 1000
    rows = await stored(hass)
    assert len(rows) == 1000
    assert sorted((r.watts, r.station_id) for r in rows) == [
        (float(i), f"s{i % 5}") for i in range(1000)
    ]
    assert len({r.id for r in rows}) == 1000
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    assert sorted(coordinator.stations) == [f"s{i}" for i in range(5)]
    assert sum(s.meter.readings + s.meter.ignored for s in coordinator.stations.values()) == 1000


async def test_entities_update_at_most_once_a_second(
    hass: HomeAssistant,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(coordinator_module, "PUBLISH_INTERVAL", 1.0)
    assert (await post_json(client, {"watts": 1, "station_id": 1}))[0] == 200
    assert value(hass, "sensor.station_1_power") == "1.0"  # a new station shows at once
    for watts in (2, 3, 4):
        assert (await post_json(client, {"watts": watts, "station_id": 1}))[0] == 200
    assert value(hass, "sensor.station_1_power") == "1.0"  # held back ...
    await tick(hass, 2)
    assert value(hass, "sensor.station_1_power") == "4.0"  # ... then the latest, once


async def test_a_slightly_fast_clock_is_accepted_and_answered_with_its_readings(
    hass: HomeAssistant, client: Client
) -> None:
    """Times up to MAX_FUTURE_SKEW ahead: a batch is moved back whole (its spacing kept, no
    two readings at one time); a single reading is taken on arrival and, having its own time,
    gets its reading back like a batch."""
    before = time.time()
    body = {
        "readings": [
            {"watts": 10, "station_id": 1, "time": before + 5},
            {"watts": 11, "station_id": 1, "time": before + 10},
        ]
    }
    status, answer = await post_json(client, body)
    after = time.time()
    assert status == 200, answer
    times = [datetime.fromisoformat(r["time"]).timestamp() for r in answer["readings"]]
    assert times[1] - times[0] == pytest.approx(5)
    assert before <= times[1] <= after  # the latest one at the arrival, none in the future
    rows = sorted(await stored(hass), key=lambda r: r.time)
    assert [r.watts for r in rows] == [10.0, 11.0]
    assert rows[1].time - rows[0].time == pytest.approx(5)

    before = time.time()
    status, answer = await post_json(client, {"watts": 12, "station_id": 2, "time": before + 10})
    after = time.time()
    assert status == 200, answer
    assert answer["stored"] == 1
    (reading,) = answer["readings"]
    assert (reading["station_id"], reading["watts"]) == ("2", 12.0)
    assert before <= datetime.fromisoformat(reading["time"]).timestamp() <= after


async def test_old_readings_never_make_a_station_available(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    caplog: pytest.LogCaptureFixture,
    entity_registry_enabled_by_default: None,  # "Last seen" is off by default
) -> None:
    """Available only while the latest reading is recent: old readings (a new station's, or a
    buffered batch's) update totals and last seen, but never show a stale power as current,
    and log nothing; a recent one does, and the watchdog takes it back once, logged once."""
    freezer.move_to(T0)
    coordinator = await setup_loaded(hass, webhook_entry(), WebhookCoordinator)
    client = await hass_client_no_auth()
    stale = webhook_const.STATION_STALE_AFTER.total_seconds()
    now = time.time()
    assert (await post_json(client, {"watts": 100, "station_id": 1, "time": now - 3000}))[0] == 200
    assert not coordinator.stations["1"].available
    assert value(hass, "sensor.station_1_power") == STATE_UNAVAILABLE
    await travel(hass, freezer, T0 + timedelta(seconds=11))  # the watchdog: nothing to say
    now = time.time()
    for seconds, watts in ((2000, 555), (stale, 556)):  # the last one just as old as allowed
        body = {"readings": [{"watts": watts, "station_id": 1, "time": now - seconds}]}
        assert (await post_json(client, body))[0] == 200
        assert value(hass, "sensor.station_1_power") == STATE_UNAVAILABLE
    assert coordinator.stations["1"].meter.last_watts == 556  # the totals follow
    last_seen = datetime.fromtimestamp(now - stale, UTC).isoformat()
    assert value(hass, "sensor.station_1_last_seen") == last_seen
    assert "sending again" not in caplog.text
    assert "silent" not in caplog.text
    # a recent reading: available, the power shown
    recent = {"watts": 557, "station_id": 1, "time": now - stale + 1}
    assert (await post_json(client, recent))[0] == 200
    assert value(hass, "sensor.station_1_power") == "557.0"
    await travel(hass, freezer, T0 + timedelta(seconds=21))
    assert value(hass, "sensor.station_1_power") == STATE_UNAVAILABLE
    assert caplog.text.count("sending again") == 1
    assert caplog.text.count("silent for") == 1


async def test_a_reading_through_the_websocket_api_or_a_cloudhook_is_stored(
    hass: HomeAssistant, hass_ws_client: Callable[..., Awaitable[Any]]
) -> None:
    """Home Assistant Cloud's cloudhooks and the ``webhook/handle`` command hand the webhook a
    stand-in request whose body stream only has ``read``: a body with a Content-Length (as
    every ESP sends) is read from it as from a real connection."""
    entry = webhook_entry(local_only=False)
    await setup_loaded(hass, entry, WebhookCoordinator)
    ws = await hass_ws_client(hass)
    body = json.dumps({"watts": 42.5, "station_id": 7})
    for number, headers in enumerate(
        (
            {"Content-Type": "application/json", "Content-Length": str(len(body))},
            {"Content-Type": "application/json"},
        ),
        start=1,
    ):
        await ws.send_json(
            {
                "id": number,
                "type": "webhook/handle",
                "webhook_id": WEBHOOK_ID,
                "method": "POST",
                "body": body,
                "headers": headers,
            }
        )
        answer = await ws.receive_json()
        assert answer["success"], answer
        assert answer["result"]["status"] == 200, answer
        assert json.loads(answer["result"]["body"])["stored"] == 1
    await hass.async_block_till_done()
    assert [(r.station_id, r.watts) for r in await stored(hass)] == [("7", 42.5), ("7", 42.5)]


# ---------------------------------------------------------------------- batches sent again
