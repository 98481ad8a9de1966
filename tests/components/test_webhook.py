"""The power webhook through Home Assistant's real HTTP server: storage, entities, prices, faults.

Every request goes through aiohttp on 127.0.0.1 into Home Assistant's webhook view; nothing calls
the handler directly. Expected energies and costs are computed here by hand from the readings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
import json
import logging
from pathlib import Path
import sqlite3
import threading
import time
from types import SimpleNamespace
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorStateClass
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    EVENT_HOMEASSISTANT_STOP,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.meterit.const import DOMAIN, MAX_STATIONS
from custom_components.meterit.diagnostics import async_get_config_entry_diagnostics
from custom_components.meterit.metering import (
    JsonValue,
    MeterlogRow,
    MeterStore,
    PreparedReadings,
    PricePoint,
    StoreUnavailableError,
    Window,
    prepare_readings,
    store as store_module,
)
from custom_components.meterit.powerhook import BodyError, StationMeter
from custom_components.meterit.prices import PriceCoordinator
from custom_components.meterit.storage import STORE_FILENAME, async_get_store
from custom_components.meterit.webhook import (
    const as webhook_const,
    coordinator as coordinator_module,
    handler as handler_module,
    http as http_module,
    price_source as price_source_module,
    setup as webhook_setup,
    writer as writer_module,
)
from custom_components.meterit.webhook.const import STATION_MAX_HOLD
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from custom_components.meterit.webhook.price_source import PriceSource
from custom_components.meterit.webhook.station import station_series
from custom_components.meterit.webhook.view import READINGS_VIEW_URL
from simulator.esios import FakeEsios

from .conftest import METER_SERIAL, WEBHOOK_ID, prices_entry, setup_loaded, travel, webhook_entry

URL = f"/api/webhook/{WEBHOOK_ID}"
T0 = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
JSON_CT = {"Content-Type": "application/json"}

type Client = TestClient[Any, Any]


@pytest.fixture(autouse=True)
def instant_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entities update on every reading (the 1-s throttle has its own test)."""
    monkeypatch.setattr(coordinator_module, "PUBLISH_INTERVAL", 0.0)
    monkeypatch.setattr(writer_module, "ROUND_INTERVAL", 0.0)


@pytest.fixture
async def hook(hass: HomeAssistant) -> MockConfigEntry:
    """A loaded webhook entry without a price source."""
    entry = webhook_entry()
    await setup_loaded(hass, entry, WebhookCoordinator)
    return entry


@pytest.fixture
async def client(
    hass: HomeAssistant, hook: MockConfigEntry, hass_client_no_auth: Callable[[], Awaitable[Client]]
) -> Client:
    """An HTTP client on Home Assistant's real server (no auth: webhooks need none)."""
    return await hass_client_no_auth()


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
    prices.add_to_hass(hass)
    assert await hass.config_entries.async_setup(prices.entry_id)
    await hass.async_block_till_done()
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


REJECTED: list[tuple[str, bytes, dict[str, str], str]] = [
    (
        "octet-stream",
        b'{"watts": 1, "station_id": 1}',
        {"Content-Type": "application/octet-stream"},
        "content-type",
    ),
    (
        "form body",
        b"watts=1&station_id=1",
        {"Content-Type": "application/x-www-form-urlencoded"},
        "content-type",
    ),
    (
        "latin-1",
        b'{"watts": 1, "station_id": 1}',
        {"Content-Type": "application/json; charset=latin-1"},
        "content-type",
    ),
    ("empty", b"", JSON_CT, "body"),
    ("not json", b"watts: 1", JSON_CT, "body"),
    ("not utf-8", b'{"watts": 1, "station_id": "\xff"}', JSON_CT, "body"),
    ("NaN", b'{"watts": NaN, "station_id": 1}', JSON_CT, "body"),
    ("a list", b"[1, 2]", JSON_CT, "body"),
    ("deep", b"[" * 100_000, JSON_CT, "body"),
    ("too big", b'{"watts": 1, "station_id": 1, "x": "' + b"a" * 70_000 + b'"}', JSON_CT, "body"),
    ("unknown field", b'{"watts": 1, "station_id": 1, "volts": 230}', JSON_CT, "volts"),
    ("duplicate key", b'{"watts": 1, "watts": 2, "station_id": 1}', JSON_CT, "watts"),
    ("no watts", b'{"station_id": 1}', JSON_CT, "watts"),
    ("no station", b'{"watts": 1}', JSON_CT, "station_id"),
    ("watts text", b'{"watts": "12", "station_id": 1}', JSON_CT, "watts"),
    ("watts bool", b'{"watts": true, "station_id": 1}', JSON_CT, "watts"),
    ("watts huge", b'{"watts": 1e400, "station_id": 1}', JSON_CT, "watts"),
    ("watts absurd", b'{"watts": 250000, "station_id": 1}', JSON_CT, "watts"),
    ("station negative", b'{"watts": 1, "station_id": -1}', JSON_CT, "station_id"),
    ("station float", b'{"watts": 1, "station_id": 1.5}', JSON_CT, "station_id"),
    ("station long", b'{"watts": 1, "station_id": "' + b"a" * 33 + b'"}', JSON_CT, "station_id"),
    ("station chars", b'{"watts": 1, "station_id": "a b"}', JSON_CT, "station_id"),
    ("time text", b'{"watts": 1, "station_id": 1, "time": "yesterday"}', JSON_CT, "time"),
    (
        "time naive",
        b'{"watts": 1, "station_id": 1, "time": "2026-01-05T10:00:00"}',
        JSON_CT,
        "time",
    ),
    ("time old", b'{"watts": 1, "station_id": 1, "time": 1000}', JSON_CT, "time"),
    ("time future", b'{"watts": 1, "station_id": 1, "time": 4000000000}', JSON_CT, "time"),
    ("batch empty", b'{"readings": []}', JSON_CT, "readings"),
    ("batch not list", b'{"readings": {"watts": 1}}', JSON_CT, "readings"),
    ("batch extra", b'{"readings": [{"watts": 1, "station_id": 1}], "x": 1}', JSON_CT, "x"),
    (
        "batch one bad",
        b'{"readings": [{"watts": 1, "station_id": 1}, {"watts": "x", "station_id": 2}]}',
        JSON_CT,
        "readings[1].watts",
    ),
    ("batch item", b'{"readings": [{"watts": 1, "station_id": 1}, 5]}', JSON_CT, "readings[1]"),
    (
        "batch duplicate",
        b'{"readings": [{"watts": 1, "station_id": 1}, {"watts": 2, "station_id": "1"}]}',
        JSON_CT,
        "readings[1].time",
    ),
    (
        "batch too long",
        b'{"readings": [' + b",".join([b'{"watts":1,"station_id":1}'] * 1001) + b"]}",
        JSON_CT,
        "readings",
    ),
]


async def test_bad_requests_get_400_and_store_nothing(
    hass: HomeAssistant,
    client: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name, body, headers, field in REJECTED:
        response = await client.post(URL, data=body, headers=headers)
        assert response.status == 400, name
        answer = await response.json()
        assert answer["error"] == "invalid_request", name
        assert answer["field"] == field, (name, answer)
        assert answer["problem"], name
    assert await stored(hass) == []
    assert hass.states.async_entity_ids("sensor") == []
    assert WEBHOOK_ID not in ours(caplog)


async def test_oversized_body_without_length_is_refused(
    hass: HomeAssistant, client: Client
) -> None:
    """A chunked body (no Content-Length) is cut off at the limit."""

    async def chunks() -> Any:
        yield b'{"watts": 1, "station_id": 1, "pad": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    response = await client.post(URL, data=chunks(), headers=JSON_CT)
    assert response.status == 400
    assert (await response.json())["field"] == "body"
    bad_length = await client.post(
        URL, data=b"{}", headers={**JSON_CT, "Content-Length": "99999999"}
    )
    assert bad_length.status == 400
    assert await stored(hass) == []


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


async def test_readings_view_pages_newest_first(
    hass: HomeAssistant,
    client: Client,
    hass_client: Callable[[], Awaitable[Client]],
) -> None:
    base = hour_ago()
    for i in range(5):
        body = {"watts": 100 + i, "station_id": 1 + i % 2, "time": base + i}
        status, _ = await post_json(client, body)
        assert status == 200
    unauthenticated = await client.get(READINGS_VIEW_URL)
    assert unauthenticated.status == 401
    authed = await hass_client()
    response = await authed.get(READINGS_VIEW_URL, params={"limit": "2", "offset": "1"})
    assert response.status == 200
    page = await response.json()
    assert [r["watts"] for r in page["readings"]] == [103.0, 102.0]
    assert page["readings"][0]["time"] == datetime.fromtimestamp(base + 3, UTC).isoformat()
    station = await (await authed.get(READINGS_VIEW_URL, params={"station_id": "2"})).json()
    assert [r["watts"] for r in station["readings"]] == [103.0, 101.0]
    everything = await (await authed.get(READINGS_VIEW_URL)).json()
    assert len(everything["readings"]) == 5
    # each reading sent with its own time: ``sent`` is that time (none was moved back)
    readings = everything["readings"]
    assert [r["sent"] for r in readings] == [r["time"] for r in readings]

    # ``sent`` as the sensor sent it: null when taken on arrival, ahead when moved back
    ahead = float(int(time.time())) + 5
    bodies: list[dict[str, float]] = [
        {"watts": 7, "station_id": 3},
        {"watts": 8, "station_id": 4, "time": ahead},
    ]
    for body in bodies:
        status, _ = await post_json(client, body)
        assert status == 200
    for station_id, sent in (("3", None), ("4", datetime.fromtimestamp(ahead, UTC).isoformat())):
        page = await (await authed.get(READINGS_VIEW_URL, params={"station_id": station_id})).json()
        [reading] = page["readings"]
        assert reading["sent"] == sent
        assert reading["time"] != sent
    for params, field in (
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"station_id": "a b"}, "station_id"),
    ):
        bad = await authed.get(READINGS_VIEW_URL, params=params)
        assert bad.status == 400
        assert (await bad.json())["field"] == field


async def test_readings_view_store_unavailable(
    hass: HomeAssistant,
    hook: MockConfigEntry,
    hass_client: Callable[[], Awaitable[Client]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = await async_get_store(hass)

    def broken(*_args: object) -> list[MeterlogRow]:
        raise StoreUnavailableError("disk gone")

    monkeypatch.setattr(store, "query_readings", broken)
    response = await (await hass_client()).get(READINGS_VIEW_URL)
    assert response.status == 503
    assert (await response.json())["error"] == "store_unavailable"


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


async def test_store_failure_gives_503_and_changes_nothing(
    hass: HomeAssistant, client: Client
) -> None:
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    undo = refuse_readings(hass)
    status, answer = await post_json(client, {"watts": 5, "station_id": 1})
    assert status == 503
    assert answer["error"] == "store_unavailable"
    assert coordinator.stations == {}
    undo()
    status, _ = await post_json(client, {"watts": 5, "station_id": 1})
    assert status == 200
    assert len(await stored(hass)) == 1


async def test_windows_failure_keeps_readings_and_retries(
    hass: HomeAssistant,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = hour_ago()
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    store = coordinator.store
    original = store.write_windows
    calls: list[int] = []

    def broken(windows: object) -> None:
        calls.append(1)
        raise StoreUnavailableError("locked")

    monkeypatch.setattr(store, "write_windows", broken)
    for seconds in (0, 40, 80):
        body = {"watts": 100, "station_id": 1, "time": base + seconds}
        status, _ = await post_json(client, body)
        assert status == 200
    assert len(await stored(hass)) == 3
    assert calls
    assert "windows not stored" in caplog.text
    await tick(hass)  # the watchdog closes the last windows; they fail too
    monkeypatch.setattr(store, "write_windows", original)
    await tick(hass, 22)
    windows = await hass.async_add_executor_job(
        store.query_windows, station_series(client_entry_id(hass), "1"), 30, base, base + 400
    )
    assert [w.start - base for w in windows if w.reading_count] == [0, 30, 60]
    assert "windows stored again" in caplog.text


async def test_local_only(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request from outside the local network is ignored unless local-only is off."""
    monkeypatch.setattr("homeassistant.components.webhook.network_util.is_local", lambda _ip: False)
    await setup_loaded(hass, webhook_entry(), WebhookCoordinator)
    client = await hass_client_no_auth()
    response = await client.post(URL, json={"watts": 1, "station_id": 1})
    assert response.status == 200  # the webhook component never tells
    assert await stored(hass) == []

    other = "ab" * 32
    await setup_loaded(hass, webhook_entry(local_only=False, webhook_id=other), WebhookCoordinator)
    response = await client.post(f"/api/webhook/{other}", json={"watts": 1, "station_id": 1})
    assert response.status == 200
    assert (await response.json())["stored"] == 1
    assert len(await stored(hass)) == 1


async def test_local_check_parses_each_address_once(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local-network check of a remote address is made once and kept (a bounded cache):
    a sensor posting every few seconds from one address does not pay for it again."""
    coordinator = await setup_loaded(hass, webhook_entry(), WebhookCoordinator)
    asked: list[str] = []

    def is_local(address: Any) -> bool:
        asked.append(str(address))
        return str(address).startswith("192.168.")

    monkeypatch.setattr("homeassistant.util.network.is_local", is_local)
    remotes = ["192.168.1.20", "192.168.1.20", "8.8.8.8", "8.8.8.8", "not an address", None]
    results = [coordinator.handler._is_local(SimpleNamespace(remote=r)) for r in remotes]  # type: ignore[arg-type]
    assert results == [True, True, False, False, False, False]
    assert asked == ["192.168.1.20", "8.8.8.8"]
    # full: emptied, so any number of addresses takes bounded memory
    for index in range(handler_module.MAX_CACHED_REMOTES + 1):
        coordinator.handler._is_local(SimpleNamespace(remote=f"10.0.{index // 256}.{index % 256}"))  # type: ignore[arg-type]
    assert len(coordinator.handler._local_remotes) <= handler_module.MAX_CACHED_REMOTES
    asked.clear()
    assert coordinator.handler._is_local(SimpleNamespace(remote="192.168.1.20"))  # type: ignore[arg-type]
    assert asked == ["192.168.1.20"]  # forgotten with the rest


async def test_state_survives_a_restart(
    hass: HomeAssistant, hook: MockConfigEntry, client: Client
) -> None:
    now = time.time()
    for seconds, watts in ((-30, 3600), (-20, 3600), (-10, 0)):
        body = {"watts": watts, "station_id": "a", "time": now + seconds}
        assert (await post_json(client, body))[0] == 200
    old = {"watts": 1, "station_id": "old", "time": now - 3600}
    assert (await post_json(client, old))[0] == 200
    assert float(value(hass, "sensor.station_a_energy")) == pytest.approx(0.02)  # 3600 W x 20 s
    assert await hass.config_entries.async_unload(hook.entry_id)
    await hass.async_block_till_done()
    # gone with the entry: the webhook no longer stores anything
    response = await client.post(URL, json={"watts": 1, "station_id": "a"})
    assert response.status == 200
    assert len(await stored(hass)) == 4

    assert await hass.config_entries.async_setup(hook.entry_id)
    await hass.async_block_till_done()
    # the stations are back before their next reading, with their totals
    assert float(value(hass, "sensor.station_a_energy")) == pytest.approx(0.02)
    assert value(hass, "sensor.station_a_power") == "0.0"
    assert value(hass, "sensor.station_old_power") == STATE_UNAVAILABLE  # silent for an hour
    assert (await post_json(client, {"watts": 100, "station_id": "a"}))[0] == 200
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    assert coordinator.stations["a"].meter.readings == 4
    last = coordinator.stations["a"].aggregator.last_time
    assert last is not None
    assert last > now


async def test_bad_saved_state_is_skipped(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    entry = webhook_entry()
    store = await async_get_store(hass)
    good: dict[str, JsonValue] = {
        "station_id": "2",
        "energy_kwh": 1.5,
        "cost": 0.3,
        "last_time": None,
        "last_watts": None,
        "last_price": None,
        "readings": 9,
    }
    saved: dict[str, JsonValue] = {
        "version": 1,
        "stations": {
            "1": {"meter": {**good, "station_id": "1", "energy_kwh": "lots"}},
            "bad id!": {"meter": good},
            "3": {"meter": {**good, "station_id": "4"}},
            "5": "nonsense",
            "6": {"meter": None},
            "7": {"meter": {**good, "station_id": "7"}, "aggregator": {"version": 99}},
            "2": {"meter": good},
        },
    }
    await hass.async_add_executor_job(store.save_state, f"webhook_{entry.entry_id}", saved)
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    assert list(coordinator.stations) == ["2"]
    assert coordinator.stations["2"].meter.energy_kwh == 1.5
    assert value(hass, "sensor.station_2_energy") == STATE_UNAVAILABLE  # never seen: stale
    assert caplog.text.count("saved station skipped") == 6

    await hass.config_entries.async_unload(entry.entry_id)
    unknown: dict[str, JsonValue] = {"version": 0, "stations": []}
    await hass.async_add_executor_job(store.save_state, f"webhook_{entry.entry_id}", unknown)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert "unknown format" in caplog.text
    coordinator = entry.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    assert coordinator.stations == {}


async def test_unreadable_saved_state_retries_setup_and_keeps_the_totals(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starting afresh would save empty totals over the good ones a minute later."""
    store = await async_get_store(hass)
    entry = webhook_entry()
    meter = StationMeter("7", STATION_MAX_HOLD)
    meter.add(time.time() - 20, 500.0, None)
    meter.add(time.time() - 10, 500.0, None)
    saved_meter: dict[str, JsonValue] = dict(meter.to_json())
    saved: dict[str, JsonValue] = {"version": 1, "stations": {"7": {"meter": saved_meter}}}
    await hass.async_add_executor_job(store.save_state, f"webhook_{entry.entry_id}", saved)

    def broken(*_args: object) -> None:
        raise StoreUnavailableError("io error")

    with monkeypatch.context() as patch:
        patch.setattr(store, "load_state", broken)
        entry.add_to_hass(hass)
        assert not await hass.config_entries.async_setup(entry.entry_id)
        retrying = entry.state
    assert retrying is ConfigEntryState.SETUP_RETRY
    still = await hass.async_add_executor_job(store.load_state, f"webhook_{entry.entry_id}")
    assert still == saved

    # the store reads again: the retry starts from the saved totals
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    coordinator = entry.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    assert coordinator.stations["7"].meter.energy_kwh == pytest.approx(meter.energy_kwh)
    assert meter.energy_kwh > 0


async def test_failed_save_is_logged(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = await async_get_store(hass)

    def broken(*_args: object) -> None:
        raise StoreUnavailableError("io error")

    monkeypatch.setattr(store, "save_state", broken)
    entry = webhook_entry()
    await setup_loaded(hass, entry, WebhookCoordinator)
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert "state not saved" in caplog.text


async def test_store_unusable_means_not_ready(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_hass: HomeAssistant) -> MeterStore:
        raise StoreUnavailableError("read-only file system")

    monkeypatch.setattr(webhook_setup, "async_get_store", broken)
    entry = webhook_entry()
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_unexpected_error_is_a_500_without_the_secret(
    hass: HomeAssistant,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(handler_module, "parse_body", boom)
    with caplog.at_level(logging.DEBUG):
        response = await client.post(URL, json={"watts": 1, "station_id": 1})
    assert response.status == 500
    assert (await response.json())["error"] == "internal_error"
    assert "unexpected error" in caplog.text
    assert WEBHOOK_ID not in ours(caplog)


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


async def test_diagnostics_hold_no_secret(
    hass: HomeAssistant, hook: MockConfigEntry, client: Client
) -> None:
    assert (await post_json(client, {"watts": 5, "station_id": 1}))[0] == 200
    result = await async_get_config_entry_diagnostics(hass, hook)
    text = json.dumps(result, default=str)
    assert WEBHOOK_ID not in text
    assert result["accepted_readings"] == 1
    assert result["stations"]["1"]["last_watts"] == 5


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


async def test_answers_to_readings_now_are_encoded_once_per_price(hook: MockConfigEntry) -> None:
    """The usual answer is kept per price, and only for a bounded number of prices."""
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    first = coordinator.handler._now_answer(0.125)
    assert json.loads(first) == {"stored": 1, "price": 0.125, "unit": "€/kWh"}
    assert coordinator.handler._now_answer(0.125) is first
    limit = handler_module.MAX_CACHED_ANSWERS
    for cents in range(3 * limit):
        price = cents / 100
        assert json.loads(coordinator.handler._now_answer(price))["price"] == price
        assert len(coordinator.handler._now_answers) <= limit
    assert json.loads(coordinator.handler._now_answer(None))["price"] is None


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


async def test_requests_waiting_together_are_stored_or_refused_together(
    hass: HomeAssistant, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests that queue up while a round is written go in the next round, in one statement:
    when SQLite refuses it, each of them gets a 503 and none is stored in part."""
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    store = coordinator.store
    original = store.add_prepared
    rounds: list[int] = []
    gate = threading.Event()

    def held(*batches: PreparedReadings) -> int:
        rounds.append(sum(b.count for b in batches))
        if len(rounds) == 1:
            gate.wait(5)  # hold the first round until the others are queued
        return original(*batches)

    monkeypatch.setattr(store, "add_prepared", held)
    undo = refuse_readings(hass, "NEW.watts = 13")
    first = asyncio.ensure_future(post_json(client, {"watts": 11, "station_id": 1}))
    async with asyncio.timeout(5):
        while not rounds:
            await asyncio.sleep(0.01)
    others = asyncio.gather(
        *(post_json(client, {"watts": w, "station_id": 1}) for w in (12, 13, 14))
    )
    async with asyncio.timeout(5):
        while len(coordinator.writer._pending) < 3:
            await asyncio.sleep(0.01)
    gate.set()
    assert (await first)[0] == 200
    assert [status for status, _ in await others] == [503, 503, 503]
    assert rounds == [1, 3]  # the three that queued went together, in one statement
    assert [r.watts for r in await stored(hass)] == [11.0]  # nothing of the refused round
    undo()
    assert (await post_json(client, {"watts": 12, "station_id": 1}))[0] == 200
    assert sorted(r.watts for r in await stored(hass)) == [11.0, 12.0]


async def test_state_is_saved_every_minute(hass: HomeAssistant, client: Client) -> None:
    assert (await post_json(client, {"watts": 7, "station_id": "m"}))[0] == 200
    await tick(hass, 61)
    store = await async_get_store(hass)
    saved = await hass.async_add_executor_job(store.load_state, f"webhook_{client_entry_id(hass)}")
    assert saved is not None
    stations = saved["stations"]
    assert isinstance(stations, dict)
    assert list(stations) == ["m"]


async def test_declared_length_must_be_a_number() -> None:
    assert http_module.declared_length(None) is None
    assert http_module.declared_length(" 12 ") == 12
    # ASCII digits only: str.isdigit() alone takes superscripts and other scripts' digits
    for text in ("12abc", "²", "١٢", "1²"):
        with pytest.raises(BodyError, match="content-length"):
            http_module.declared_length(text)
    # more digits than int() reads (4,300) is simply over the limit
    with pytest.raises(BodyError) as caught:
        http_module.declared_length("9" * 5_000)
    assert caught.value.field == "body"


async def test_body_cut_short_by_the_client(
    hass: HomeAssistant, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that declares more bytes than it sends, then hangs up: nothing stored, no error,
    no handler left waiting."""
    body = b'{"watts": 5, "station_id": 1}'
    _reader, writer = await _start_post(client, body, declared=len(body) + 20)
    writer.close()
    await writer.wait_closed()
    async with asyncio.timeout(5):  # the handler of that request ends, it does not hang
        while any("_handle_request" in repr(t.get_coro()) for t in asyncio.all_tasks()):
            await asyncio.sleep(0.01)
    assert (await post_json(client, {"watts": 6, "station_id": 1}))[0] == 200
    assert [r.watts for r in await stored(hass)] == [6.0]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert WEBHOOK_ID not in ours(caplog)


async def test_body_arriving_after_the_headers(hass: HomeAssistant, client: Client) -> None:
    """A body still on its way when the handler starts is waited for, then stored whole."""
    body = b'{"watts": 7.5, "station_id": "slow"}'
    reader, writer = await _start_post(client, body[:10], declared=len(body))
    writer.write(body[10:])
    await writer.drain()
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    await writer.wait_closed()
    assert head.startswith(b"HTTP/1.1 200")
    assert [(r.station_id, r.watts) for r in await stored(hass)] == [("slow", 7.5)]


async def _start_post(
    client: Client, sent: bytes, declared: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send the headers of a POST declaring ``declared`` body bytes and only ``sent`` of them;
    return once the server handles it (waiting for the rest of the body)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        f"POST {URL} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n".encode()
        + sent
    )
    await writer.drain()
    async with asyncio.timeout(5):
        while not any("_handle_request" in repr(t.get_coro()) for t in asyncio.all_tasks()):
            await asyncio.sleep(0.01)
    return reader, writer


async def test_rounds_start_at_most_every_round_interval(
    hass: HomeAssistant, client: Client, hook: MockConfigEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that finds the writer idle is written at once; the next round waits for the
    interval and carries everything queued meanwhile; an unload does not wait for it."""
    interval = 60.0  # long enough that nothing here depends on the machine's speed
    monkeypatch.setattr(writer_module, "ROUND_INTERVAL", interval)
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    store = coordinator.store
    original = store.add_prepared
    rounds: list[int] = []

    def recorded(*batches: PreparedReadings) -> int:
        rounds.append(sum(b.count for b in batches))
        return original(*batches)

    monkeypatch.setattr(store, "add_prepared", recorded)
    assert (await post_json(client, {"watts": 1, "station_id": 1}))[0] == 200  # at once
    posts = asyncio.gather(*(post_json(client, {"watts": w, "station_id": 2}) for w in (2, 3)))
    async with asyncio.timeout(5):
        while len(coordinator.writer._pending) < 2 or coordinator.writer._round_timer is None:
            await asyncio.sleep(0.01)
    timer = coordinator.writer._round_timer
    assert timer is not None  # held back until the interval has passed
    assert timer.when() - coordinator.writer._last_round == pytest.approx(interval)
    assert rounds == [1]
    # the interval is over: the timer fires (by hand, with the clock moved past it)
    monkeypatch.setattr(writer_module, "ROUND_INTERVAL", 0.0)
    timer.cancel()
    coordinator.writer._round_timer_fired()
    monkeypatch.setattr(writer_module, "ROUND_INTERVAL", interval)
    assert [status for status, _ in await posts] == [200, 200]
    assert rounds == [1, 2]  # the two queued requests went together
    # a request held back by the interval is written when the entry unloads, not dropped
    late = asyncio.ensure_future(post_json(client, {"watts": 4, "station_id": 3}))
    # (the round is tried at the end of the loop iteration that queued the request: wait for the
    # timer it sets, not just for the queue)
    async with asyncio.timeout(5):
        while not coordinator.writer._pending or coordinator.writer._round_timer is None:
            await asyncio.sleep(0.01)
    assert rounds == [1, 2]  # held back, not written
    assert await hass.config_entries.async_unload(hook.entry_id)
    assert (await late)[0] == 200
    assert rounds == [1, 2, 1]
    assert sorted(r.watts for r in await stored(hass)) == [1.0, 2.0, 3.0, 4.0]
    # a request still on its way in after the unload is refused (a 503), never left waiting
    on_its_way = writer_module.QueuedRequest(
        prepare_readings([MeterlogRow(5.0, "3", 1.0)]),
        [],
        [],
        asyncio.get_running_loop().create_future(),
    )
    with pytest.raises(StoreUnavailableError, match="stopped"):
        await coordinator.writer.async_write(on_its_way)


async def test_a_bug_in_a_write_answers_503_once_logged_and_the_webhook_goes_on(
    hass: HomeAssistant,
    client: Client,
    hook: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected error in the writer thread still answers every request of the round (503:
    nothing was stored, send again), is logged once with its traceback and without the webhook
    ID, and the next requests are written normally."""
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    store = coordinator.store
    original = store.add_prepared

    def buggy(*batches: PreparedReadings) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(store, "add_prepared", buggy)
    answers = await asyncio.gather(
        *(post_json(client, {"watts": w, "station_id": 1}) for w in (5, 6, 7))
    )
    assert [(status, answer["error"]) for status, answer in answers] == [
        (503, "store_unavailable")
    ] * 3
    assert ours(caplog).count("RuntimeError: a bug") == len(
        [r for r in caplog.records if "unexpected error" in r.getMessage()]
    )  # once per round, not once per request
    assert "a bug" in ours(caplog)
    assert WEBHOOK_ID not in ours(caplog)
    monkeypatch.setattr(store, "add_prepared", original)
    assert (await post_json(client, {"watts": 8, "station_id": 1}))[0] == 200
    assert [r.watts for r in await stored(hass)] == [8.0]
    assert coordinator.accepted == 1


async def test_a_bug_after_the_commit_is_logged_and_the_webhook_goes_on(
    hass: HomeAssistant,
    client: Client,
    hook: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure while applying a stored round, or a bug writing its windows, never fails
    requests that are stored, and never stalls the next rounds."""
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    original_apply = coordinator.apply
    calls = 0

    def apply_once_broken(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("apply bug")
        original_apply(*args)

    monkeypatch.setattr(coordinator, "apply", apply_once_broken)
    assert (await post_json(client, {"watts": 5, "station_id": 1}))[0] == 200
    assert "apply bug" in ours(caplog)
    assert (await post_json(client, {"watts": 6, "station_id": 1}))[0] == 200  # not stalled
    assert value(hass, "sensor.station_1_power") == "6.0"
    # windows that cannot be written because of a bug (not the store) are dropped, logged
    store = coordinator.store

    def buggy_windows(windows: object, **kwargs: object) -> int:
        raise TypeError("window bug")

    monkeypatch.setattr(store, "write_windows", buggy_windows)
    coordinator.writer.windows.append(Window("station:1", 30, 0.0, 30.0, reading_count=1))
    assert (await post_json(client, {"watts": 7, "station_id": 1}))[0] == 200
    assert "1 window(s) dropped: window bug" in ours(caplog)
    assert coordinator.writer.windows == []
    assert sorted(r.watts for r in await stored(hass)) == [5.0, 6.0, 7.0]
    assert WEBHOOK_ID not in ours(caplog)


async def test_home_assistant_stop_saves_the_live_state(
    hass: HomeAssistant, client: Client, hook: MockConfigEntry
) -> None:
    """Home Assistant does not unload entries when it stops: the state is saved then anyway."""
    assert (await post_json(client, {"watts": 7, "station_id": "s"}))[0] == 200
    store = await async_get_store(hass)
    key = f"webhook_{hook.entry_id}"
    assert await hass.async_add_executor_job(store.load_state, key) is None  # not yet
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    saved = await hass.async_add_executor_job(store.load_state, key)
    assert saved is not None
    stations = saved["stations"]
    assert isinstance(stations, dict)
    assert list(stations) == ["s"]


# ---------------------------------------------------------------------- clocks, stops, limits


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


async def test_a_request_reaching_the_queue_during_an_unload_gets_a_503(
    hass: HomeAssistant, client: Client, hook: MockConfigEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request still being priced when the unload starts must not wait for a round that
    never comes: it is refused (send again), and nothing of it is stored."""
    monkeypatch.setattr(writer_module, "ROUND_INTERVAL", 3600.0)  # the next round: a timer
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    prices = HeldPrices()
    coordinator.price_source = prices
    assert (await post_json(client, {"watts": 1, "station_id": 1}))[0] == 200  # a round now
    prices.release.clear()
    prices.asking.clear()
    late = asyncio.ensure_future(post_json(client, {"watts": 2, "station_id": 1}))
    async with asyncio.timeout(5):
        await prices.asking.wait()
    save = coordinator.saved.async_save

    async def save_while_the_request_goes_on() -> None:
        prices.release.set()  # the request reaches the queue while the unload saves
        async with asyncio.timeout(5):
            while not (late.done() or coordinator.writer._pending):
                await asyncio.sleep(0.01)
        await save()

    monkeypatch.setattr(coordinator.saved, "async_save", save_while_the_request_goes_on)
    assert await hass.config_entries.async_unload(hook.entry_id)
    async with asyncio.timeout(5):
        status, answer = await late
    assert (status, answer["error"]) == (503, "store_unavailable")
    assert coordinator.writer._pending == []
    assert [r.watts for r in await stored(hass)] == [1.0]


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


async def test_readings_view_takes_ascii_digits_only(
    hass: HomeAssistant, hook: MockConfigEntry, hass_client: Callable[[], Awaitable[Client]]
) -> None:
    """``str.isdigit`` also takes '²' or Arabic-Indic digits (``int`` refuses the first and
    reads the second), and any number of them: each is a 400 naming the argument."""
    authed = await hass_client()
    for name, text in (
        ("limit", "²"),
        ("offset", "¹"),
        ("limit", "١٢"),
        ("offset", "9" * 5_000),
        ("offset", "1" * 13),
        ("limit", "+5"),
        ("limit", " 5"),
        ("limit", ""),
    ):
        response = await authed.get(READINGS_VIEW_URL, params={name: text})
        assert response.status == 400, (name, text)
        answer = await response.json()
        assert (answer["error"], answer["field"]) == ("invalid_request", name), answer
    response = await authed.get(READINGS_VIEW_URL, params={"limit": "0005", "offset": "0"})
    assert response.status == 200
    assert (await response.json())["limit"] == 5


async def test_the_webhook_id_is_in_no_warning_whatever_the_request(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every record of every logger is captured, DEBUG included. The ID may appear below
    WARNING only in Home Assistant's own records (the webhook component's "Handling webhook"
    at DEBUG, aiohttp's access log at INFO, which Home Assistant keeps at WARNING): in no record
    at WARNING or above, and in none of Meterit's at any level. The method and local-network
    checks are Meterit's own: GET gets a 405, HEAD a 200, a remote request the empty 200 the
    webhook component answers (once logged at WARNING, later at DEBUG)."""
    caplog.set_level(logging.DEBUG)
    coordinator = await setup_loaded(hass, webhook_entry(), WebhookCoordinator)
    client = await hass_client_no_auth()
    get = await client.get(URL)
    head = await client.head(URL)
    put = await client.put(URL, json={"watts": 1, "station_id": 1})
    monkeypatch.setattr("homeassistant.util.network.is_local", lambda _ip: False)
    coordinator.handler._local_remotes.clear()  # kept per address: here the address "moves" network
    remote = [await client.post(URL, json={"watts": 2, "station_id": 1}) for _ in range(2)]
    leaks = [
        (r.name, r.levelname)
        for r in caplog.records
        if r.levelno >= logging.WARNING and WEBHOOK_ID in r.getMessage() + (r.exc_text or "")
    ]
    assert leaks == []
    assert WEBHOOK_ID not in ours(caplog)

    assert get.status == 405
    assert get.headers["Allow"] == "POST, PUT"
    assert (await get.json())["error"] == "method_not_allowed"
    assert head.status == 200
    assert put.status == 200
    assert (await put.json())["stored"] == 1
    for response in remote:
        assert response.status == 200
        assert await response.read() == b""
    assert [r.watts for r in await stored(hass)] == [1.0]
    refused = [r.levelno for r in caplog.records if "not from the local network" in r.getMessage()]
    assert refused == [logging.WARNING, logging.DEBUG]


@pytest.fixture
async def device_commands(hass: HomeAssistant) -> None:
    """The device registry's commands (the frontend's *Delete device*), and Meterit: set up
    before any HTTP client freezes Home Assistant's routes, so request it first."""
    for component in ("websocket_api", "config", DOMAIN):
        assert await async_setup_component(hass, component, {})


async def test_a_station_device_can_be_deleted_and_comes_back_when_it_posts(
    hass: HomeAssistant,
    device_commands: None,
    hook: MockConfigEntry,
    client: Client,
    hass_ws_client: Callable[..., Awaitable[Any]],
    entity_registry_enabled_by_default: None,  # "Last seen" is off by default
) -> None:
    """Deleting a station's device drops the station from the live and the saved state and
    its entities with the device; its stored readings stay; its next reading makes it anew."""
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    for station in (1, 2):
        assert (await post_json(client, {"watts": 10 * station, "station_id": station}))[0] == 200
    devices = dr.async_get(hass)
    entities = er.async_get(hass)
    identifier = (DOMAIN, f"{hook.entry_id}_station_1")
    device = devices.async_get_device_by_identifier(identifier, hook.entry_id)
    assert device is not None
    owned = [e.entity_id for e in er.async_entries_for_device(entities, device.id)]
    assert len(owned) == 4
    ws = await hass_ws_client(hass)
    answer = await ws.remove_device(device.id)
    assert answer["success"], answer
    await hass.async_block_till_done(wait_background_tasks=True)
    assert list(coordinator.stations) == ["2"]
    assert devices.async_get(device.id) is None
    for entity_id in owned:
        assert entities.async_get(entity_id) is None
        assert hass.states.get(entity_id) is None
    saved = await hass.async_add_executor_job(coordinator.store.load_state, coordinator.state_key)
    assert saved is not None
    stations = saved["stations"]
    assert isinstance(stations, dict)
    assert list(stations) == ["2"]
    assert value(hass, "sensor.station_2_power") == "20.0"
    assert sorted(r.station_id for r in await stored(hass)) == ["1", "2"]

    assert (await post_json(client, {"watts": 30, "station_id": 1}))[0] == 200
    await hass.async_block_till_done()
    assert devices.async_get_device_by_identifier(identifier, hook.entry_id) is not None
    assert value(hass, "sensor.station_1_power") == "30.0"
    assert coordinator.stations["1"].meter.readings == 1  # a new station: totals afresh


async def removal_refused(ws: Any, device_id: str) -> str:
    """Ask to delete a device that must stay; the error message."""
    answer = await ws.remove_device(device_id)
    assert not answer["success"], answer
    return str(answer["error"]["message"])


async def test_p1_meter_device_cannot_be_deleted(
    hass: HomeAssistant,
    device_commands: None,
    p1_setup: MockConfigEntry,
    hass_ws_client: Callable[..., Awaitable[Any]],
) -> None:
    """Meterit is asked, and refuses: the meter's entry provides its device while set up."""
    devices = dr.async_get(hass)
    device = devices.async_get_device_by_identifier((DOMAIN, METER_SERIAL), p1_setup.entry_id)
    assert device is not None
    message = await removal_refused(await hass_ws_client(hass), device.id)
    assert "rejected by integration" in message
    assert devices.async_get(device.id) is not None


async def test_pvpc_device_cannot_be_deleted(
    hass: HomeAssistant,
    device_commands: None,
    madrid: None,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    hass_ws_client: Callable[..., Awaitable[Any]],
) -> None:
    """Meterit is asked, and refuses: the PVPC entry provides its device while set up."""
    ws = await hass_ws_client(hass)  # (authenticated before the clock moves to the fixtures' day)
    freezer.move_to(datetime(2024, 3, 9, 9, 30, tzinfo=UTC))
    prices = prices_entry()
    await setup_loaded(hass, prices, PriceCoordinator)
    devices = dr.async_get(hass)
    (device,) = dr.async_entries_for_config_entry(devices, prices.entry_id)
    message = await removal_refused(ws, device.id)
    assert "rejected by integration" in message
    assert devices.async_get(device.id) is not None


async def test_stations_per_webhook_are_capped(
    hass: HomeAssistant,
    device_commands: None,
    hook: MockConfigEntry,
    client: Client,
    hass_ws_client: Callable[..., Awaitable[Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reading of a new station beyond MAX_STATIONS is a 400 naming station_id and the
    limit, and nothing of its request is stored; existing stations go on; deleting a station's
    device makes room; requests under way count, so two at once cannot both pass."""
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    full = {"readings": [{"watts": 1, "station_id": f"s{i}"} for i in range(MAX_STATIONS)]}
    status, answer = await post_json(client, full)
    assert (status, answer.get("stored")) == (200, MAX_STATIONS)
    rows = len(await stored(hass))
    for body, field in (
        (
            {"readings": [{"watts": 2, "station_id": "s0"}, {"watts": 2, "station_id": "new"}]},
            "readings[1].station_id",
        ),
        ({"watts": 2, "station_id": "new"}, "station_id"),
    ):
        status, answer = await post_json(client, body)
        assert (status, answer["error"], answer["field"]) == (400, "invalid_request", field)
        assert "'new'" in answer["problem"]
        assert f"limit of {MAX_STATIONS} stations" in answer["problem"]
    assert len(await stored(hass)) == rows  # nothing of the refused requests
    assert "new" not in coordinator.stations
    assert (await post_json(client, {"watts": 3, "station_id": "s5"}))[0] == 200  # existing
    limit_logs = [r.levelno for r in caplog.records if "limit of" in r.getMessage()]
    assert limit_logs == [logging.WARNING, logging.DEBUG]  # logged once, then at debug level

    # one station's device deleted: room for exactly one new station, even when two new ones
    # are under way at the same time (the first is not applied yet when the second comes)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{hook.entry_id}_station_s0"), hook.entry_id
    )
    assert device is not None
    assert (await (await hass_ws_client(hass)).remove_device(device.id))["success"]
    prices = HeldPrices()
    prices.release.clear()
    coordinator.price_source = prices
    first = asyncio.ensure_future(post_json(client, {"watts": 4, "station_id": "x"}))
    async with asyncio.timeout(5):
        await prices.asking.wait()
        status, answer = await post_json(client, {"watts": 4, "station_id": "y"})
    assert (status, answer["field"]) == (400, "station_id")
    prices.release.set()
    assert (await first)[0] == 200
    assert len(coordinator.stations) == MAX_STATIONS
    assert "x" in coordinator.stations
    assert "y" not in coordinator.stations
    assert coordinator.handler._incoming == {}


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


async def test_a_batch_sent_again_is_not_stored_again(
    hass: HomeAssistant,
    hook: MockConfigEntry,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sensor that missed the answer sends its batch again: a reading with its own time that
    is stored already (same entry, station and time) is neither stored nor counted again, and
    the answer says how many readings were stored and how many were duplicates."""
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    base = hour_ago()
    sent = [(base + s, 100.0 + s) for s in range(0, 100, 10)]
    body = {"readings": [{"watts": w, "station_id": 1, "time": t} for t, w in sent]}
    status, answer = await post_json(client, body)
    assert (status, answer["stored"], answer["duplicates"]) == (200, len(sent), 0)
    station = coordinator.stations["1"]
    before = (dict(station.meter.to_json()), station.meter.ignored, station.aggregator.snapshot())

    status, again = await post_json(client, body)
    assert (status, again["stored"], again["duplicates"]) == (200, 0, len(sent))
    assert again["readings"] == answer["readings"]  # each reading back, as the first time
    assert len(await stored(hass)) == len(sent)
    after = (dict(station.meter.to_json()), station.meter.ignored, station.aggregator.snapshot())
    assert after == before  # not applied again either
    assert coordinator.accepted == len(sent)

    # partly sent before: the last readings again with new ones (in any order); another
    # station's readings at the same times are no duplicates
    new = [(base + s, 500.0) for s in range(100, 150, 10)]
    resent = sent[-4:]
    other = [(t, 7.0) for t, _ in sent[:3]]
    body = {
        "readings": [{"watts": w, "station_id": 1, "time": t} for t, w in new + resent]
        + [{"watts": w, "station_id": 2, "time": t} for t, w in other]
    }
    status, answer = await post_json(client, body)
    assert (status, answer["stored"], answer["duplicates"]) == (
        200,
        len(new) + len(other),
        len(resent),
    )
    rows = await stored(hass)
    assert sorted((r.station_id, r.time, r.watts) for r in rows) == sorted(
        [("1", t, w) for t, w in sent + new] + [("2", t, w) for t, w in other]
    )
    assert station.meter.readings == len(sent + new)
    assert coordinator.accepted == len(rows)

    # one reading with its own time, sent twice
    single = {"watts": 3, "station_id": 3, "time": base + 5}
    assert [(await post_json(client, single))[1]["stored"] for _ in range(2)] == [1, 0]

    # readings taken on arrival are never duplicates, even at the very same time
    arrival = time.time()
    clock = SimpleNamespace(time=lambda: arrival, monotonic=time.monotonic)
    monkeypatch.setattr(handler_module, "time", clock)
    for _ in range(2):
        status, answer = await post_json(client, {"watts": 4, "station_id": 4})
        assert (status, answer["stored"]) == (200, 1)
    assert [r.time for r in await stored(hass) if r.station_id == "4"] == [arrival, arrival]


async def test_a_fast_clocks_batch_sent_again_is_not_stored_again(
    hass: HomeAssistant, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clock 5 s fast: its batch is moved back on arrival, and by another amount when it is
    sent again 2 s and 10 s later; the readings are known again by the times they were sent
    with."""
    arrival = float(int(time.time()))

    def at(moment: float) -> None:
        clock = SimpleNamespace(time=lambda: moment, monotonic=time.monotonic)
        monkeypatch.setattr(handler_module, "time", clock)

    body = {
        "readings": [{"watts": 100.0 + s, "station_id": 1, "time": arrival + s} for s in (1, 5)]
    }
    at(arrival)
    status, first = await post_json(client, body)
    assert (status, first["stored"], first["duplicates"]) == (200, 2, 0)
    at(arrival + 2)  # 3 s ahead now: moved back by 3 s, not 5
    status, again = await post_json(client, body)
    assert (status, again["stored"], again["duplicates"]) == (200, 0, 2)
    at(arrival + 10)  # no reading ahead any more: this time none is moved back
    status, again = await post_json(client, body)
    assert (status, again["stored"], again["duplicates"]) == (200, 0, 2)
    rows = [r for r in await stored(hass) if r.station_id == "1"]
    assert sorted((r.sent, r.time) for r in rows) == [
        (arrival + 1, arrival - 4),  # stored moved back by 5 s, with the time it was sent with
        (arrival + 5, arrival),
    ]

    # the single form: a reading 5 s ahead is taken on arrival, and known again later
    single = {"watts": 42.0, "station_id": 7, "time": arrival + 25}
    at(arrival + 20)
    assert (await post_json(client, single))[1]["stored"] == 1
    at(arrival + 30)
    status, again = await post_json(client, single)
    assert (status, again["stored"], again["duplicates"]) == (200, 0, 1)
    assert [(r.sent, r.time) for r in await stored(hass) if r.station_id == "7"] == [
        (arrival + 25, arrival + 20)
    ]


async def test_a_batch_stored_before_the_upgrade_is_known_after_it(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    hass_client: Callable[[], Awaitable[Client]],
) -> None:
    """Readings stored before schema v5 have no sent time: a batch stored then and sent again
    after the upgrade is recognised by the time stored (the time sent, as no fast clock moved
    it); the rows keep their ids, and the readings view shows no sent time for them."""
    entry = webhook_entry()
    base = hour_ago()
    before = [(base + s, 100.0 + s) for s in range(0, 50, 10)]
    with closing(sqlite3.connect(hass.config.path(STORE_FILENAME), isolation_level=None)) as db:
        for migrate in store_module.MIGRATIONS[:4]:
            migrate(db)
        db.executemany(
            "INSERT INTO meterlog (time, station_id, watts, price, entry) VALUES (?, ?, ?, ?, ?)",
            [(t, "1", w, None, entry.entry_id) for t, w in before],
        )
        db.execute("PRAGMA user_version = 4")
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    assert (await async_get_store(hass)).schema_version == store_module.SCHEMA_VERSION == 6
    station = coordinator.stations["1"]
    assert station.meter.readings == len(before)  # replayed: no state saved after them

    new = (base + 60, 7.0)
    body = {"readings": [{"watts": w, "station_id": 1, "time": t} for t, w in [*before, new]]}
    status, answer = await post_json(await hass_client_no_auth(), body)
    assert (status, answer["stored"], answer["duplicates"]) == (200, 1, len(before))
    assert station.meter.readings == len(before) + 1  # the old ones not applied again

    response = await (await hass_client()).get(READINGS_VIEW_URL)
    assert response.status == 200
    rows = [
        (r["id"], r["time"], r["watts"], r["sent"]) for r in (await response.json())["readings"]
    ]
    iso = [datetime.fromtimestamp(t, UTC).isoformat() for t, _ in [*before, new]]
    assert rows == [(len(before) + 1, iso[-1], new[1], iso[-1])] + [
        (index + 1, iso[index], watts, None)
        for index, (_, watts) in reversed(list(enumerate(before)))
    ]


async def test_another_entry_stores_the_same_batch(
    hass: HomeAssistant, hook: MockConfigEntry, client: Client
) -> None:
    """A duplicate is one of the same entry: another webhook's station 1 is another station."""
    other_id = "ab" * 32
    other = await setup_loaded(hass, webhook_entry(webhook_id=other_id), WebhookCoordinator)
    base = hour_ago()
    body = {"readings": [{"watts": 5, "station_id": 1, "time": base + s} for s in (0, 10)]}
    for url in (URL, f"/api/webhook/{other_id}"):
        response = await client.post(url, data=json.dumps(body), headers=JSON_CT)
        answer = await response.json()
        assert (response.status, answer["stored"], answer["duplicates"]) == (200, 2, 0)
    entries = sorted(r.entry or "" for r in await stored(hass))
    assert entries == sorted([hook.entry_id] * 2 + [other.config_entry.entry_id] * 2)


async def test_copies_of_a_batch_written_in_one_round_are_stored_once(
    hass: HomeAssistant, hook: MockConfigEntry, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies of a batch that queue up together go in one round: one copy is stored, the others
    are answered as duplicates, and the answers' counts add up to the rows stored."""
    coordinator = hook.runtime_data
    assert isinstance(coordinator, WebhookCoordinator)
    store = coordinator.store
    original = store.add_prepared
    held: list[int] = []
    gate = threading.Event()

    def hold_first(*batches: PreparedReadings) -> int:
        if not held:
            held.append(sum(b.count for b in batches))
            gate.wait(5)  # hold the first round until the copies are queued
        return original(*batches)

    monkeypatch.setattr(store, "add_prepared", hold_first)
    first = asyncio.ensure_future(post_json(client, {"watts": 1, "station_id": 9}))
    async with asyncio.timeout(5):
        while not held:
            await asyncio.sleep(0.01)
    base = hour_ago()
    body = {"readings": [{"watts": 50, "station_id": 9, "time": base + s} for s in range(0, 50, 5)]}
    copies = asyncio.gather(*(post_json(client, body) for _ in range(3)))
    async with asyncio.timeout(5):
        while len(coordinator.writer._pending) < 3:
            await asyncio.sleep(0.01)
    gate.set()
    assert (await first)[1]["stored"] == 1
    answers = await copies
    count = len(body["readings"])
    assert sorted((status, a["stored"], a["duplicates"]) for status, a in answers) == [
        (200, 0, count),
        (200, 0, count),
        (200, count, 0),
    ]
    rows = await stored(hass)
    assert len(rows) == 1 + count == coordinator.accepted
    assert len({(r.station_id, r.time) for r in rows}) == len(rows)
