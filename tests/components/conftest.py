"""Fixtures for the Home Assistant layer: real devices on loopback, real config entries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import PropertyMock, patch

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import HomeAssistant, State
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.meterit.const import CONF_IDENTIFIER, CONF_SOURCE, DOMAIN, ENV_EXTRA_CA_FILE
from custom_components.meterit.p1 import coordinator as p1_module
from custom_components.meterit.prices import coordinator as prices_module
from custom_components.meterit.webhook import (
    coordinator as webhook_coordinator_module,
    writer as webhook_writer_module,
)
from simulator.certs import TestCA, make_test_ca
from simulator.esios import DEFAULT_TOKEN as ESIOS_TOKEN, FakeEsios
from simulator.p1_meter import FakeP1Meter

METER_SERIAL = "5c2fafaabbcc"
METER_UNIQUE_ID = f"HWE-P1_{METER_SERIAL}"


@pytest.fixture(autouse=True)
def auto_setup(recorder_mock: object, enable_custom_integrations: object) -> None:
    """Meterit depends on the recorder: every test here runs with a real (in-memory) one.

    (The recorder must come before ``hass``; then Home Assistant may load custom_components.)
    """


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """Every test gets its own config folder: Meterit's store (meterit.db) lives there."""
    return hass_tmp_config_dir


@pytest.fixture(scope="session")
def test_ca() -> TestCA:
    """One throw-away CA for the session (key generation is the slow part)."""
    return make_test_ca()


@pytest.fixture
def trust_test_ca(test_ca: TestCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust the test CA the way scripts/develop trusts the simulator's."""
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(test_ca.cadata, encoding="ascii")
    monkeypatch.setenv(ENV_EXTRA_CA_FILE, str(ca_file))


@pytest.fixture
def fast_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short backoff so reconnect tests take a fraction of a second."""
    monkeypatch.setattr(p1_module, "STREAM_BACKOFF_INITIAL", 0.05)


@pytest.fixture
async def meter(
    socket_enabled: None,
    test_ca: TestCA,
    trust_test_ca: None,
    fast_reconnect: None,
    tolerate_tls_rejects: None,
) -> AsyncIterator[FakeP1Meter]:
    """A P1 meter simulator over real TLS on 127.0.0.1, trusted by the integration."""
    fake = FakeP1Meter(ca=test_ca, serial=METER_SERIAL)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def tolerate_tls_rejects(hass: HomeAssistant) -> None:
    """Ignore the simulator's own server-side noise when a client refuses its certificate.

    asyncio reports a TLS handshake the client aborted ("Error on transport creation for
    incoming connection") to the loop's exception handler, which fails Home Assistant tests. That
    report comes from the fake meter's server, not from the integration; everything else still
    fails the test.
    """
    loop = asyncio.get_running_loop()
    handler = loop.get_exception_handler()

    def _filtered(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        if str(context.get("message", "")).startswith("Error on transport creation"):
            return
        if handler is not None:
            handler(loop, context)

    loop.set_exception_handler(_filtered)


def p1_entry(meter: FakeP1Meter, token: str | None = None) -> MockConfigEntry:
    """A config entry for the simulated meter, as the flow creates it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="P1 Meter",
        unique_id=METER_UNIQUE_ID,
        data={
            CONF_SOURCE: "p1",
            CONF_HOST: f"127.0.0.1:{meter.port}",
            CONF_TOKEN: token or meter.issue_token("meterit#test"),
            CONF_IDENTIFIER: meter.identifier,
        },
    )


@pytest.fixture
async def p1_setup(hass: HomeAssistant, meter: FakeP1Meter) -> MockConfigEntry:
    """The simulated meter set up in Home Assistant, its stream connected."""
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    return await setup_connected(hass, entry)


async def setup_connected(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Set up the P1 ``entry`` (already added); wait for its stream's first push."""
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    stream = entry.runtime_data.stream
    assert stream is not None
    await wait_for(lambda: stream.connected and entry.runtime_data.pushes > 0)
    return entry


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (real time) until ``condition()`` is true; the stream runs on real sockets."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# ------------------------------------------------------------------------------- PVPC prices


@pytest.fixture
async def esios(
    socket_enabled: None, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncGenerator[FakeEsios]:
    """The fake ESIOS on 127.0.0.1 serving the fixture files; price entries use it."""
    fake = FakeEsios(fixtures_dir / "esios")
    await fake.start()
    monkeypatch.setattr(prices_module, "ESIOS_BASE_URL", fake.base_url)
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def madrid(hass: HomeAssistant) -> None:
    """Home Assistant in Spain (the fixture days are Europe/Madrid days)."""
    await hass.config.async_set_time_zone("Europe/Madrid")


async def setup_loaded[T](hass: HomeAssistant, entry: MockConfigEntry, runtime: type[T]) -> T:
    """Add ``entry`` and set it up; check it loaded and return its runtime data (a ``runtime``)."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    data = entry.runtime_data
    assert isinstance(data, runtime)
    return data


async def setup_retrying(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add ``entry`` and set it up; check that it failed and Home Assistant retries it."""
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY


def prices_entry(region: str = "peninsula", token: str | None = ESIOS_TOKEN) -> MockConfigEntry:
    """A PVPC prices entry as the config flow creates it."""
    data: dict[str, Any] = {CONF_SOURCE: "prices", "region": region}
    if token is not None:
        data[CONF_TOKEN] = token
    return MockConfigEntry(
        domain=DOMAIN, title=f"PVPC {region}", unique_id=f"pvpc_{region}", data=data
    )


def _shift_iso(text: str, delta: timedelta) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    shifted = (moment + delta).isoformat(timespec="milliseconds")
    return shifted.replace("+00:00", "Z") if text.endswith("Z") else shifted


def shifted_indicator(payload: Any, days: int, add_eur_mwh: float) -> dict[str, Any]:
    """An indicator payload moved by ``days`` (same UTC offsets) with every value + ``add``."""
    delta = timedelta(days=days)
    values = [
        {
            **value,
            "value": round(value["value"] + add_eur_mwh, 2),
            **{k: _shift_iso(value[k], delta) for k in ("datetime", "datetime_utc", "tz_time")},
        }
        for value in payload["indicator"]["values"]
    ]
    return {**payload, "indicator": {**payload["indicator"], "values": values}}


async def travel(hass: HomeAssistant, freezer: FrozenDateTimeFactory, when: datetime) -> None:
    """Move the clock to ``when``, fire the timers that are due and let their work finish."""
    freezer.move_to(when)
    async_fire_time_changed(hass, when)
    await hass.async_block_till_done()


# ------------------------------------------------------------------------------- power webhook

WEBHOOK_ID = "5ec7e7" + "0123456789abcdef" * 3 + "0123456789"  # 64 hex digits, like the flow's


def webhook_entry(
    *, local_only: bool = True, price_source: str = "none", webhook_id: str = WEBHOOK_ID
) -> MockConfigEntry:
    """A power webhook entry as the config flow creates it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Power sensors",
        data={CONF_SOURCE: "webhook", "webhook_id": webhook_id},
        options={"local_only": local_only, "price_source": price_source},
    )


def state_of(hass: HomeAssistant, entity_id: str) -> State:
    """The state of an entity that must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Entities that are disabled by default are enabled (as core's fixture of that name)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


# ---------------------------------------------------------------------- power webhook (test_webhook_*)


@pytest.fixture
def instant_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entities update on every reading (the 1-s throttle has its own test).

    Not autouse: the power webhook's test modules ask for it (``pytestmark``).
    """
    monkeypatch.setattr(webhook_coordinator_module, "PUBLISH_INTERVAL", 0.0)
    monkeypatch.setattr(webhook_writer_module, "ROUND_INTERVAL", 0.0)


@pytest.fixture
async def hook(hass: HomeAssistant) -> MockConfigEntry:
    """A loaded webhook entry without a price source."""
    entry = webhook_entry()
    await setup_loaded(hass, entry, webhook_coordinator_module.WebhookCoordinator)
    return entry


@pytest.fixture
async def client(
    hass: HomeAssistant,
    hook: MockConfigEntry,
    hass_client_no_auth: Callable[[], Awaitable[TestClient[Any, Any]]],
) -> TestClient[Any, Any]:
    """An HTTP client on Home Assistant's real server (no auth: webhooks need none)."""
    return await hass_client_no_auth()
