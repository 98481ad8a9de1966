"""History and long-term statistics of power webhook stations.

Readings go through Home Assistant's real HTTP server (the webhook) and come back through the
``meterit.get_history`` action, the ``/api/meterit/history`` view and the recorder's statistics.
Expected values are computed here from the posted readings with the windows' rule: each reading
weighs the time until the next one, capped at ``STATION_MAX_HOLD``, in its own window; a
window's energy is its weighted power times that covered time; positive energy is import,
negative export.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import (
    get_metadata,
    list_statistic_ids,
    valid_statistic_id,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.recorder import get_instance
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.history.view import HISTORY_VIEW_URL
from custom_components.meterit.long_term_statistics import StatisticIds, station_object_id
from custom_components.meterit.shared_store import async_get_store
from custom_components.meterit.webhook.const import STATION_MAX_HOLD
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from custom_components.meterit.webhook.station import station_series
from custom_components.meterit.webhook.view import READINGS_VIEW_URL

from .common import import_hwlogger
from .conftest import WEBHOOK_ID, setup_loaded, travel, webhook_entry
from .webhook_history_common import (
    HOUR,
    STATION,
    URL,
    Client,
    get_history,
    hours_of,
    iso,
    post,
    read_statistics,
    reference,
    settle,
    station_device,
    ts,
    two_hours,
)

pytestmark = pytest.mark.usefixtures("instant_publish")


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
        await import_hwlogger(hass, device_id)
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
