"""PVPC setup and a slow or failing ESIOS: setup waits briefly, keeps what answered, retries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.prices import coordinator as prices_module
from custom_components.meterit.prices.coordinator import PriceCoordinator
from custom_components.meterit.shared_store import async_get_store
from simulator.esios import FakeEsios, Fault

from . import prices_schedule_common
from .conftest import prices_entry, setup_loaded, setup_retrying, state_of, travel
from .prices_schedule_common import CURRENT, SURPLUS, _attr, _load, _next_fetch, _price, _setup

_in_spain = prices_schedule_common._in_spain  # autouse: Home Assistant in Europe/Madrid


def _state(entry: ConfigEntry[Any]) -> ConfigEntryState:
    """The entry's state (a call, so that type narrowing does not stick)."""
    return entry.state


async def _spin(condition: Callable[[], bool]) -> bool:
    """Let the event loop run (sockets too) until ``condition()``; False if it never came.

    (The clock is frozen in these tests, so no timer fires by itself: not even a sleep's.)
    """
    for _ in range(20_000):
        if condition():
            return True
        await asyncio.sleep(0)
    return condition()


def _fetches_running() -> int:
    """How many requests for a day of prices are still waiting for ESIOS."""
    return sum(
        getattr(task.get_coro(), "__qualname__", "") == "EsiosClient.fetch_day"
        for task in asyncio.all_tasks()
    )


async def _retry_setup(hass: HomeAssistant, freezer: FrozenDateTimeFactory, when: datetime) -> None:
    """Move the clock to ``when``; Home Assistant's setup retry (a background task) runs."""
    await travel(hass, freezer, when)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _setup_in_background(hass: HomeAssistant, entry: MockConfigEntry) -> asyncio.Task[bool]:
    entry.add_to_hass(hass)
    return hass.async_create_task(hass.config_entries.async_setup(entry.entry_id))


async def test_a_slow_esios_holds_setup_only_briefly_then_setup_is_retried(
    hass: HomeAssistant,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing stored: setup waits at most SETUP_FETCH_TIMEOUT (both kinds asked at once), then
    fails as not ready (nothing to show) and Home Assistant retries it; no warning of ours."""
    monkeypatch.setattr(prices_module, "SETUP_FETCH_TIMEOUT", 5.0)
    now = datetime(2024, 3, 9, 9, 30, tzinfo=UTC)
    freezer.move_to(now)
    esios.slow_seconds = 3600.0  # never answers while these tests run
    esios.inject(Fault.SLOW)
    entry = prices_entry()
    setup = await _setup_in_background(hass, entry)
    # both kinds are asked before either answers (one after the other, the second request
    # would wait for the first one's 30-s client timeout)
    assert await _spin(lambda: len(esios.requests) == 2)
    assert sorted(r.path for r in esios.requests) == ["/indicators/1001", "/indicators/1739"]
    assert not setup.done()
    async_fire_time_changed(hass, now + timedelta(seconds=4))  # not yet
    assert not await _spin(setup.done)
    async_fire_time_changed(hass, now + timedelta(seconds=6))  # past SETUP_FETCH_TIMEOUT
    assert await _spin(setup.done)
    assert setup.result() is False
    assert _state(entry) is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "2024-03-09" in entry.reason
    assert "did not answer within 5 s" in entry.reason
    assert hass.states.get(CURRENT) is None
    assert "keeping what we have" not in caplog.text  # Home Assistant reports the retry

    esios.inject(None)
    await _retry_setup(hass, freezer, now + timedelta(seconds=6 + 11))
    assert entry.state is ConfigEntryState.LOADED
    assert _price(hass) == pytest.approx(0.04421)  # 10:30 in Madrid: 44.21 €/MWh
    assert _price(hass, SURPLUS) == pytest.approx(-0.001)


async def test_a_failing_esios_without_stored_prices_retries_setup(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    """ESIOS answers at once but with errors: not ready, retried by Home Assistant, and the
    retries stop once the prices arrive."""
    now = datetime(2024, 3, 9, 9, 30, tzinfo=UTC)
    freezer.move_to(now)
    esios.inject(Fault.SERVER_ERROR)
    entry = prices_entry()
    await setup_retrying(hass, entry)
    assert "HTTP 500" in (entry.reason or "")
    asked = len(esios.requests)
    await _retry_setup(hass, freezer, now + timedelta(seconds=6))  # first retry: 5 s
    assert _state(entry) is ConfigEntryState.SETUP_RETRY
    assert len(esios.requests) == asked + 2
    esios.inject(None)
    await _retry_setup(hass, freezer, now + timedelta(seconds=6 + 11))  # second: 10 s
    assert entry.state is ConfigEntryState.LOADED
    assert _price(hass) == pytest.approx(0.04421)


def _hang(monkeypatch: pytest.MonkeyPatch, indicator: int) -> Callable[[], None]:
    """The fake ESIOS answers ``indicator`` only when it stops (the other one at once), until
    the returned function is called (requests that hang by then go on hanging)."""
    answer = FakeEsios._answer
    hanging = [indicator]

    async def answer_or_hang(
        esios: FakeEsios, payload: object, fault: Fault | None, name: str
    ) -> Any:
        if isinstance(payload, dict) and payload.get("indicator", {}).get("id") in hanging:
            await esios._stopping.wait()
        return await answer(esios, payload, fault, name)

    monkeypatch.setattr(FakeEsios, "_answer", answer_or_hang)
    return hanging.clear


async def _stored(hass: HomeAssistant, kind: str, around: datetime) -> int:
    """How many periods of ``kind`` the store has within a day of ``around``."""
    store = await async_get_store(hass)
    points = await hass.async_add_executor_job(
        store.query_prices,
        "peninsula",
        kind,
        around.timestamp() - 86400,
        around.timestamp() + 86400,
    )
    return len(points)


async def _setup_with_one_hanging(
    hass: HomeAssistant,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    now: datetime,
    indicator: int,
) -> tuple[MockConfigEntry, asyncio.Task[bool], Callable[[], None]]:
    """Nothing stored, a 5 s SETUP_FETCH_TIMEOUT, ``indicator`` hanging (see :func:`_hang`): the
    entry, its setup running in the background once the other price has arrived, and the
    function that makes ESIOS answer."""
    monkeypatch.setattr(prices_module, "SETUP_FETCH_TIMEOUT", 5.0)
    freezer.move_to(now)
    answer = _hang(monkeypatch, indicator)
    entry = prices_entry()
    setup = await _setup_in_background(hass, entry)
    assert await _spin(lambda: len(esios.requests) == 2)
    assert await _spin(lambda: _fetches_running() == 1)  # the other price has arrived
    return entry, setup, answer


async def test_setup_timeout_keeps_the_consumer_price_that_answered(
    hass: HomeAssistant,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing stored; the consumer price answers, the surplus price hangs past
    SETUP_FETCH_TIMEOUT: the entry loads with the consumer price (kept and stored, not thrown
    away with the timeout) and its own timer fetches the surplus price later."""
    now = datetime(2024, 3, 9, 9, 30, tzinfo=UTC)
    entry, setup, answer = await _setup_with_one_hanging(
        hass, esios, freezer, monkeypatch, now, 1739
    )
    assert not setup.done()
    async_fire_time_changed(hass, now + timedelta(seconds=6))
    assert await _spin(setup.done)
    assert setup.result() is True
    await hass.async_block_till_done()
    assert _fetches_running() == 0  # the hanging request was cancelled
    assert await _stored(hass, "consumer", now) == 24
    assert await _stored(hass, "surplus", now) == 0
    assert _price(hass) == pytest.approx(0.04421)
    assert state_of(hass, SURPLUS).state == STATE_UNAVAILABLE
    coordinator = entry.runtime_data
    assert isinstance(coordinator, PriceCoordinator)
    assert "did not answer within 5 s" in str(coordinator.diagnostics()["last_error"])
    retry = _next_fetch(coordinator)
    assert retry is not None
    answer()  # ESIOS answers both again
    await travel(hass, freezer, retry)
    assert _price(hass, SURPLUS) == pytest.approx(-0.001)


async def test_setup_timeout_without_the_consumer_price_is_retried_keeping_the_surplus_price(
    hass: HomeAssistant,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing stored; the surplus price answers, the consumer price hangs past
    SETUP_FETCH_TIMEOUT: nothing to show, so Home Assistant retries the setup, but the surplus
    price that arrived is stored; the retry asks only for what is still missing."""
    now = datetime(2024, 3, 9, 9, 30, tzinfo=UTC)
    entry, setup, answer = await _setup_with_one_hanging(
        hass, esios, freezer, monkeypatch, now, 1001
    )
    async_fire_time_changed(hass, now + timedelta(seconds=6))
    assert await _spin(setup.done)
    assert setup.result() is False
    assert _state(entry) is ConfigEntryState.SETUP_RETRY
    assert "did not answer within 5 s" in (entry.reason or "")
    assert _fetches_running() == 0
    assert await _stored(hass, "surplus", now) == 24
    assert await _stored(hass, "consumer", now) == 0

    answer()
    asked = len(esios.requests)
    await _retry_setup(hass, freezer, now + timedelta(seconds=6 + 11))
    assert _state(entry) is ConfigEntryState.LOADED
    assert [r.path for r in esios.requests[asked:]] == ["/indicators/1001"]
    assert _price(hass) == pytest.approx(0.04421)
    assert _price(hass, SURPLUS) == pytest.approx(-0.001)


async def test_setup_goes_on_with_the_consumer_price_alone(
    hass: HomeAssistant, esios: FakeEsios, fixtures_dir: Path, freezer: FrozenDateTimeFactory
) -> None:
    """Nothing stored; the consumer price arrives, the surplus price is not there: the entry
    sets up with what it has and fetches the surplus price again with its own timer."""
    freezer.move_to(datetime(2024, 3, 9, 9, 30, tzinfo=UTC))
    surplus = _load(fixtures_dir, "PRICES_ESIOS_1739_2024_03_09.json")
    esios.add_indicator(1739, date(2024, 3, 9), {"indicator": {"id": 1739, "values": []}})
    coordinator = await _setup(hass)
    assert _price(hass) == pytest.approx(0.04421)
    assert state_of(hass, SURPLUS).state == STATE_UNAVAILABLE
    retry = _next_fetch(coordinator)
    assert retry is not None
    esios.add_indicator(1739, date(2024, 3, 9), surplus)
    await travel(hass, freezer, retry)
    assert _price(hass, SURPLUS) == pytest.approx(-0.001)


async def test_with_part_of_today_stored_setup_does_not_wait_for_esios(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    """Half of today stored (published partly): setup shows it at once and asks ESIOS in the
    background, slow or failing; a failure is retried by the entry's own timer."""
    now = datetime(2024, 3, 9, 9, 30, tzinfo=UTC)  # 10:30 in Madrid: within the stored half
    freezer.move_to(now)
    esios.inject(Fault.PARTIAL, count=2)
    entry = prices_entry()
    await setup_loaded(hass, entry, PriceCoordinator)
    assert len(_attr(hass, "today")) == 12
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    esios.slow_seconds = 3600.0
    esios.inject(Fault.SLOW)  # (it used to hold the setup for SETUP_FETCH_TIMEOUT)
    asked = len(esios.requests)
    setup = hass.async_create_task(hass.config_entries.async_setup(entry.entry_id))
    assert await _spin(setup.done)
    assert setup.result() is True
    assert len(_attr(hass, "today")) == 12
    assert _price(hass) == pytest.approx(0.04421)
    assert await _spin(lambda: len(esios.requests) == asked + 2)  # today again, in the background
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert _fetches_running() == 0

    esios.inject(Fault.SERVER_ERROR)
    coordinator = await setup_loaded(hass, entry, PriceCoordinator)
    assert len(_attr(hass, "today")) == 12
    await hass.async_block_till_done(wait_background_tasks=True)
    retry = _next_fetch(coordinator)
    assert retry is not None
    esios.inject(None)
    await travel(hass, freezer, retry)
    assert len(_attr(hass, "today")) == 24


async def test_with_todays_consumer_price_stored_a_new_token_does_not_hold_setup(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    """Today's consumer price stored, the surplus price not (not published then, or a token
    just added): setup does not wait for ESIOS, the surplus price comes in the background."""
    now = datetime(2024, 3, 9, 9, 30, tzinfo=UTC)
    freezer.move_to(now)
    surplus = {"indicator": {"id": 1739, "values": []}}
    esios.add_indicator(1739, date(2024, 3, 9), surplus)
    entry = prices_entry()
    await setup_loaded(hass, entry, PriceCoordinator)
    assert state_of(hass, SURPLUS).state == STATE_UNAVAILABLE
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    esios.slow_seconds = 3600.0
    esios.inject(Fault.SLOW)
    setup = hass.async_create_task(hass.config_entries.async_setup(entry.entry_id))
    assert await _spin(setup.done)
    assert setup.result() is True
    assert _price(hass) == pytest.approx(0.04421)
    assert state_of(hass, SURPLUS).state == STATE_UNAVAILABLE


async def test_with_today_stored_a_rejected_token_starts_reauth_in_the_background(
    hass: HomeAssistant,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Today stored, the token revoked meanwhile: setup loads at once with the stored prices
    (no ConfigEntryNotReady, no ConfigEntryAuthFailed); the background fetch meets the 401,
    starts reauth, arms no retry and logs no token."""
    freezer.move_to(datetime(2024, 3, 9, 19, 30, tzinfo=UTC))  # tomorrow due
    entry = prices_entry()
    await setup_loaded(hass, entry, PriceCoordinator)
    shown = state_of(hass, CURRENT).state
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    esios.valid_token = "a-new-token-the-entry-does-not-have"
    coordinator = await setup_loaded(hass, entry, PriceCoordinator)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, CURRENT).state == shown
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == ["reauth"]
    assert coordinator.next_fetch is None
    assert coordinator.auth_failed
    assert entry.data["token"] not in caplog.text


async def test_unload_cancels_the_first_fetch_in_the_background(
    hass: HomeAssistant,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Today stored; of the background fetch of tomorrow one request has been answered, the
    other still waits for ESIOS when the entry is unloaded: the unload cancels it at once, no
    timer is left, and a reload works."""
    freezer.move_to(datetime(2024, 3, 9, 19, 30, tzinfo=UTC))  # 2024-03-10: not in the fake
    entry = prices_entry()
    await setup_loaded(hass, entry, PriceCoordinator)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    answer = _hang(monkeypatch, 1739)
    asked = len(esios.requests)
    coordinator = await setup_loaded(hass, entry, PriceCoordinator)
    assert await _spin(lambda: len(esios.requests) == asked + 2)
    assert await _spin(lambda: _fetches_running() == 1)  # 1001 answered: not published
    unload = hass.async_create_task(hass.config_entries.async_unload(entry.entry_id))
    assert await _spin(unload.done)
    assert unload.result()
    assert _fetches_running() == 0
    assert "did not complete in time" not in caplog.text
    assert coordinator.next_fetch is None
    assert coordinator._unsub_tick is None
    answer()
    await setup_loaded(hass, entry, PriceCoordinator)
    assert state_of(hass, CURRENT).state != STATE_UNAVAILABLE


async def test_with_today_stored_setup_does_not_wait_for_esios(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    """A restart with today's prices stored shows them at once; ESIOS is asked in the
    background (a slow ESIOS does not hold up setup even within SETUP_FETCH_TIMEOUT)."""
    freezer.move_to(datetime(2024, 3, 9, 19, 30, tzinfo=UTC))  # tomorrow due: 20:30 in Madrid
    entry = prices_entry()
    await setup_loaded(hass, entry, PriceCoordinator)
    shown = _price(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    esios.inject(Fault.SLOW)  # (no answer while the clock stands still)
    asked = len(esios.requests)
    setup = hass.async_create_task(hass.config_entries.async_setup(entry.entry_id))
    assert await _spin(setup.done)
    assert setup.result()
    assert _price(hass) == shown
    assert await _spin(lambda: len(esios.requests) == asked + 2)  # tomorrow, in the background
    assert {r.query["start_date"][:10] for r in esios.requests[asked:]} == {"2024-03-10"}
