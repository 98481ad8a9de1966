"""History and long-term statistics of power webhook stations.

Readings go through Home Assistant's real HTTP server (the webhook) and come back through the
``meterit.get_history`` action, the ``/api/meterit/history`` view and the recorder's statistics.
Expected values are computed here from the posted readings with the windows' rule: each reading
weighs the time until the next one, capped at ``STATION_MAX_HOLD``, in its own window; a
window's energy is its weighted power times that covered time; positive energy is import,
negative export.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json
import time
from typing import Any, NoReturn

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import (
    get_metadata,
    list_statistic_ids,
    statistics_during_period,
    valid_statistic_id,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.recorder import get_instance
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.history import HISTORY_VIEW_URL
from custom_components.meterit.metering import StoreUnavailableError
from custom_components.meterit.statistics import StatisticIds, station_object_id
from custom_components.meterit.storage import async_get_store
from custom_components.meterit.webhook import (
    coordinator as coordinator_module,
    writer as writer_module,
)
from custom_components.meterit.webhook.const import STATION_MAX_HOLD
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from custom_components.meterit.webhook.station import station_series
from custom_components.meterit.webhook.view import READINGS_VIEW_URL

from .conftest import WEBHOOK_ID, setup_loaded, travel, webhook_entry

URL = f"/api/webhook/{WEBHOOK_ID}"
STATION = "garage"
HOUR = 3600

type Client = TestClient[Any, Any]


@pytest.fixture(autouse=True)
def instant_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entities update on every reading."""
    monkeypatch.setattr(coordinator_module, "PUBLISH_INTERVAL", 0.0)
    monkeypatch.setattr(writer_module, "ROUND_INTERVAL", 0.0)


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


async def test_station_history_and_statistics(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    hass_client: ClientSessionGenerator,
) -> None:
    """30 s, 5 min and hourly rows of a station; statistics of its complete hours only."""
    entry = webhook_entry()
    await setup_loaded(hass, entry, WebhookCoordinator)
    client = await hass_client_no_auth()
    base = time.time() // HOUR * HOUR - 3 * HOUR  # hours 0 and 1 lie 1-3 hours back
    first, second = two_hours(base)
    await post(client, first)
    await post(client, second)
    await settle(hass)
    readings = first + second
    device_id = station_device(hass, entry)

    # 30-s and 5-min windows: every window with readings as computed, silences synthetic
    for resolution, name in ((30, "30s"), (300, "5min")):
        expected = reference(readings, resolution)
        answer = await get_history(
            hass, device=device_id, start=iso(base), end=iso(base + 2 * HOUR), resolution=name
        )
        assert answer["series"] == station_series(entry.entry_id, STATION)
        rows = {ts(row["start"]): row for row in answer["rows"]}
        real = {start: row for start, row in rows.items() if row["reading_count"]}
        assert sorted(real) == sorted(expected), name
        for start, row in real.items():
            ref = expected[start]
            assert ts(row["end"]) == start + resolution
            assert row["reading_count"] == ref.count
            assert row["w_avg"] == pytest.approx(ref.w_avg)
            assert (row["w_min"], row["w_max"]) == (ref.low, ref.high)
            # no counters: the energy is the integrated power, import or export by its sign
            assert row["energy_import_kwh"] == pytest.approx(max(ref.kwh, 0.0))
            assert row["energy_export_kwh"] == pytest.approx(max(-ref.kwh, 0.0))
            assert (row["import_kwh"], row["export_kwh"], row["tariff"]) == (None, None, None)
        synthetic = [row for start, row in rows.items() if start not in real]
        assert synthetic  # the 10-minute silence of hour 0
        for row in synthetic:
            assert row["w_avg"] is None
            assert (row["energy_import_kwh"], row["energy_export_kwh"]) == (0.0, 0.0)
        # the cap: the last reading before the silence holds for STATION_MAX_HOLD only
        # (readings every 20 s, then 10 minutes of silence)
        start = base + 1200 - resolution
        inside = [w for t, w in readings if start <= t < base + 1200]
        ws = sum(inside[:-1]) * 20 + inside[-1] * STATION_MAX_HOLD
        assert real[start]["energy_import_kwh"] == pytest.approx(ws / 3.6e6)

    # hours: energy and power from the 5-minute windows; export only where power was negative
    hours = hours_of(reference(readings, 300))
    answer = await get_history(
        hass, device=device_id, start=iso(base), end=iso(base + 2 * HOUR), resolution="hour"
    )
    rows = {ts(row["start"]): row for row in answer["rows"]}
    assert sorted(rows) == [base, base + HOUR]
    for start, row in rows.items():
        hour = hours[start]
        assert row["energy_import_kwh"] == pytest.approx(hour.imp)
        assert row["energy_export_kwh"] == pytest.approx(hour.exp)
        assert row["power_mean"] == pytest.approx(hour.mean)
        assert (row["power_min"], row["power_max"]) == (hour.low, hour.high)
    assert rows[base]["energy_export_kwh"] == 0.0
    assert rows[base + HOUR]["energy_export_kwh"] > 0

    # the view answers the same query for the station
    view = await hass_client()
    response = await view.get(
        HISTORY_VIEW_URL,
        params={
            "device": device_id,
            "start": iso(base),
            "end": iso(base + 2 * HOUR),
            "resolution": "hour",
        },
    )
    assert response.status == 200
    body = await response.json()
    assert [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]] == answer["rows"]

    # statistics: hour 0 is complete (a window of hour 1 is stored), hour 1 is not
    ids = StatisticIds.of(station_object_id(entry.entry_id, STATION), export=False)
    stats = await read_statistics(hass, ids, base - HOUR, base + 3 * HOUR)
    (energy,) = stats[ids.energy_import]
    assert energy["start"] == base
    assert energy["state"] == pytest.approx(hours[base].imp)
    assert energy["sum"] == pytest.approx(hours[base].imp)
    (power,) = stats[ids.power]
    assert power["mean"] == pytest.approx(hours[base].mean)
    assert (power["min"], power["max"]) == (hours[base].low, hours[base].high)
    meta = await get_instance(hass).async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={ids.energy_import, ids.power})
    )
    energy_meta = meta[ids.energy_import][1]
    assert energy_meta["has_sum"] is True
    assert energy_meta["unit_of_measurement"] == "kWh"
    assert energy_meta["name"] == f"{entry.title} station {STATION} energy"
    assert meta[ids.power][1]["mean_type"] is StatisticMeanType.ARITHMETIC
    listed = await get_instance(hass).async_add_executor_job(list_statistic_ids, hass)
    ours = sorted(s["statistic_id"] for s in listed if s["source"] == DOMAIN)
    assert ours == sorted([ids.energy_import, ids.power])  # no export statistic for a station
    assert all(WEBHOOK_ID not in s and valid_statistic_id(s) for s in ours)

    # a restart imports again from the last imported hour: nothing changes, nothing doubles;
    # readings that complete hour 1 continue the sum
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    third = [(base + 2 * HOUR + s, 300.0) for s in range(0, 600, 30)]
    await post(client, third)
    await settle(hass)
    hours = hours_of(reference(readings + third, 300))
    stats = await read_statistics(hass, ids, base - HOUR, base + 3 * HOUR)
    assert [row["start"] for row in stats[ids.energy_import]] == [base, base + HOUR]
    assert stats[ids.energy_import][0] == energy
    assert stats[ids.energy_import][1]["state"] == pytest.approx(hours[base + HOUR].imp)
    assert stats[ids.energy_import][1]["sum"] == pytest.approx(
        hours[base].imp + hours[base + HOUR].imp
    )
    assert stats[ids.power][1]["mean"] == pytest.approx(hours[base + HOUR].mean)


async def test_silent_station_settles_and_old_30s_windows_are_purged(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    freezer: FrozenDateTimeFactory,
) -> None:
    """A station that stops mid-hour gets that hour once no reading can reach it any more;
    with no P1 meter, the webhook purges 30-s windows older than 24 h."""
    now = datetime.now(UTC).replace(microsecond=0)
    freezer.move_to(now)
    entry = webhook_entry()
    await setup_loaded(hass, entry, WebhookCoordinator)
    client = await hass_client_no_auth()
    base = now.timestamp() // HOUR * HOUR - 2 * HOUR
    readings = [(base + s, 1000.0 + s) for s in range(0, 1200, 15)]
    await post(client, readings)
    await settle(hass)
    store = await async_get_store(hass)
    series = station_series(entry.entry_id, STATION)
    ids = StatisticIds.of(station_object_id(entry.entry_id, STATION), export=False)
    assert await read_statistics(hass, ids, base - HOUR, base + 2 * HOUR) == {}  # incomplete
    short = await hass.async_add_executor_job(store.query_windows, series, 30, base, base + HOUR)
    assert len(short) == 40

    await travel(hass, freezer, now + timedelta(hours=26, seconds=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    expected = hours_of(reference(readings, 300))[base]
    stats = await read_statistics(hass, ids, base - HOUR, base + 2 * HOUR)
    (energy,) = stats[ids.energy_import]
    assert energy["start"] == base
    assert energy["sum"] == pytest.approx(expected.imp)
    assert stats[ids.power][0]["mean"] == pytest.approx(expected.mean)
    short = await hass.async_add_executor_job(store.query_windows, series, 30, base, base + HOUR)
    assert short == []
    kept = await hass.async_add_executor_job(store.query_windows, series, 300, base, base + HOUR)
    assert [w.start - base for w in kept] == [0, 300, 600, 900]


async def test_history_argument_errors(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    hass_client: ClientSessionGenerator,
) -> None:
    entry = webhook_entry()
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    client = await hass_client_no_auth()
    await post(client, [(time.time() - 120, 5.0)])
    device_id = station_device(hass, entry)
    # only its own stations' devices: not another domain's, not another entry's
    assert coordinator.station_history({("other", "x"), (DOMAIN, "01OTHER_station_1")}) is None

    async def error(**data: Any) -> ServiceValidationError:
        with pytest.raises(ServiceValidationError) as err:
            await get_history(hass, **data)
        return err.value

    unknown = await error(device="nope", start="2026-06-21")
    assert unknown.translation_key == "history_unknown_device"
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    lamp = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "x")}, name="Lamp"
    )
    not_meter = await error(device=lamp.id, start="2026-06-21")
    assert not_meter.translation_key == "history_not_a_meter"
    assert not_meter.translation_placeholders is not None
    assert not_meter.translation_placeholders["device"] == "Lamp"
    # a station gets the same argument checks as a P1 meter
    too_long = await error(device=device_id, start="2026-06-01", end="2026-06-21", resolution="30s")
    assert too_long.translation_key == "history_range_too_long"
    bad = await error(device=device_id, start="2026-06-21", resolution="week")
    assert bad.translation_key == "history_invalid_resolution"
    # hwLogger history belongs to a P1 meter only
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "import_hwlogger",
            {"device": device_id, "path": "meter_data.db"},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "hwlogger_not_a_p1_meter"
    view = await hass_client()
    response = await view.get(
        HISTORY_VIEW_URL, params={"device": device_id, "start": "2026-06-21", "resolution": "1m"}
    )
    assert response.status == 400
    assert (await response.json())["argument"] == "resolution"
    # the station of an unloaded entry is no loaded meter
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    gone = await error(device=device_id, start="2026-06-21")
    assert gone.translation_key == "history_not_a_meter"


async def test_entries_with_the_same_station_id_keep_their_own_history(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    hass_client: ClientSessionGenerator,
) -> None:
    """Two webhook entries may both have a station 1: each keeps its own windows, history and
    readings; an entry removed and added again starts without the removed one's windows."""
    other_hook = "0" * 64
    first, second = webhook_entry(), webhook_entry(webhook_id=other_hook)
    for entry in (first, second):
        await setup_loaded(hass, entry, WebhookCoordinator)
    client = await hass_client_no_auth()
    base = time.time() // 300 * 300 - 2 * HOUR
    times = [base + s for s in range(0, 600, 30)]
    sent = ((first, WEBHOOK_ID, 100.0), (second, other_hook, 5000.0))
    for _entry, hook_id, watts in sent:
        body = {"readings": [{"watts": watts, "station_id": 1, "time": t} for t in times]}
        response = await client.post(f"/api/webhook/{hook_id}", json=body)
        assert response.status == 200, await response.text()
    await settle(hass)

    async def real_rows(entry: MockConfigEntry) -> list[dict[str, Any]]:
        answer = await get_history(
            hass,
            device=station_device(hass, entry, "1"),
            start=iso(base),
            end=iso(base + 600),
            resolution="5min",
        )
        assert answer["series"] == station_series(entry.entry_id, "1")
        return [row for row in answer["rows"] if row["reading_count"]]

    for entry, _hook_id, watts in sent:
        assert [(row["reading_count"], row["w_avg"]) for row in await real_rows(entry)] == [
            (10, watts),
            (10, watts),
        ]

    # each reading names its entry; the readings of one entry
    view = await hass_client()

    async def readings(**params: str) -> list[tuple[str | None, float]]:
        response = await view.get(READINGS_VIEW_URL, params={"limit": "1000", **params})
        assert response.status == 200, await response.text()
        return sorted((r["entry_id"], r["watts"]) for r in (await response.json())["readings"])

    by_entry = {entry.entry_id: [(entry.entry_id, w)] * len(times) for entry, _, w in sent}
    assert await readings(station_id="1") == sorted(r for rows in by_entry.values() for r in rows)
    for entry_id, rows in by_entry.items():
        assert await readings(station_id="1", entry_id=entry_id) == rows
        assert await readings(entry_id=entry_id) == rows
    assert await readings(entry_id="01NOSUCHENTRY") == []
    for bad in ("", "a b", "x" * 65, "ü"):
        response = await view.get(READINGS_VIEW_URL, params={"entry_id": bad})
        assert response.status == 400
        assert (await response.json())["field"] == "entry_id"

    # removed and added again: a new entry, its station 1 without the old windows
    assert await hass.config_entries.async_remove(first.entry_id)
    again = webhook_entry()
    await setup_loaded(hass, again, WebhookCoordinator)
    response = await client.post(URL, json={"watts": 7.0, "station_id": 1})
    assert response.status == 200
    assert await real_rows(again) == []
    assert len(await real_rows(second)) == 2


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


async def test_one_failing_station_is_logged_once_and_its_recovery_once(
    hass: HomeAssistant,
    hass_client_no_auth: Callable[[], Awaitable[Client]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A station whose import fails beside one that works: no warning/recovery flapping."""
    entry = webhook_entry()
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    client = await hass_client_no_auth()
    store = coordinator.store
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
    entry = webhook_entry()
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    client = await hass_client_no_auth()
    store = coordinator.store
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
