"""Group-commit write rounds: requests stored together, round timing, bugs, the stop, cached answers."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.metering import (
    MeterlogRow,
    PreparedReadings,
    StoreUnavailableError,
    Window,
    prepare_readings,
)
from custom_components.meterit.webhook import handler as handler_module, writer as writer_module
from custom_components.meterit.webhook.coordinator import WebhookCoordinator

from .conftest import WEBHOOK_ID
from .webhook_common import (
    Client,
    HeldPrices,
    hour_ago,
    ours,
    post_json,
    refuse_readings,
    stored,
    value,
)

pytestmark = pytest.mark.usefixtures("instant_publish")


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
