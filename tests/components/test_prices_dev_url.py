"""The development-only ESIOS address (``METERIT_ESIOS_BASE_URL``, set by scripts/develop)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import date
from pathlib import Path

from homeassistant.core import HomeAssistant
import pytest

from custom_components.meterit.const import ENV_ESIOS_BASE_URL
from custom_components.meterit.esios import Region
from custom_components.meterit.esios.client import DEFAULT_BASE_URL
from custom_components.meterit.prices.coordinator import create_client
from simulator.esios import DEFAULT_TOKEN, FakeEsios


@pytest.fixture
async def dev_esios(socket_enabled: None, fixtures_dir: Path) -> AsyncGenerator[FakeEsios]:
    """A fake ESIOS that the integration knows nothing of (no monkeypatched module value)."""
    fake = FakeEsios(fixtures_dir / "esios")
    await fake.start()
    yield fake
    await fake.stop()


async def test_without_the_variable_prices_come_from_ree(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_ESIOS_BASE_URL, raising=False)
    assert create_client(hass, None).base_url == DEFAULT_BASE_URL == "https://api.esios.ree.es"


async def test_the_variable_points_every_new_client_at_the_simulated_esios(
    hass: HomeAssistant, dev_esios: FakeEsios, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_ESIOS_BASE_URL, dev_esios.base_url + "/")
    client = create_client(hass, DEFAULT_TOKEN)
    assert client.base_url == dev_esios.base_url

    day = await client.fetch_day(date(2024, 3, 9), Region.PENINSULA)

    assert len(day.periods) == 24
    assert day.complete
    assert [request.path for request in dev_esios.requests] == ["/indicators/1001"]
    assert dev_esios.requests[0].api_key == DEFAULT_TOKEN
