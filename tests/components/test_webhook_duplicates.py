"""A batch sent again: its readings with their own times are known and not stored again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import UTC, datetime
import json
import sqlite3
import time
from types import SimpleNamespace

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.metering import schema
from custom_components.meterit.shared_store import STORE_FILENAME, async_get_store
from custom_components.meterit.webhook import handler as handler_module
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from custom_components.meterit.webhook.view import READINGS_VIEW_URL

from .conftest import setup_loaded, webhook_entry
from .webhook_common import JSON_CT, URL, Client, hour_ago, post_json, stored

pytestmark = pytest.mark.usefixtures("instant_publish")


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
        for migrate in schema.MIGRATIONS[:4]:
            migrate(db)
        db.executemany(
            "INSERT INTO meterlog (time, station_id, watts, price, entry) VALUES (?, ?, ?, ?, ?)",
            [(t, "1", w, None, entry.entry_id) for t, w in before],
        )
        db.execute("PRAGMA user_version = 4")
    coordinator = await setup_loaded(hass, entry, WebhookCoordinator)
    assert (await async_get_store(hass)).schema_version == schema.SCHEMA_VERSION == 6
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
