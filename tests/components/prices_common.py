"""The get_prices action's tests' fixture and helper (import the fixture to use it)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.prices.coordinator import PriceCoordinator
from simulator.esios import FakeEsios

from .conftest import prices_entry, setup_loaded


@pytest.fixture(name="entry")
async def peninsula_entry(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> MockConfigEntry:
    """A Península entry with a token, set up on 2024-03-09 at 10:30 in Madrid."""
    freezer.move_to(datetime(2024, 3, 9, 9, 30, tzinfo=UTC))
    config_entry = prices_entry()
    await setup_loaded(hass, config_entry, PriceCoordinator)
    return config_entry


async def get_prices(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    """The response of ``meterit.get_prices`` with ``data``."""
    response = await hass.services.async_call(
        DOMAIN, "get_prices", data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


def install_blueprint(config_dir: str, blueprint: Path) -> str:
    """``config_dir`` holding ``blueprint`` as a user would install it (our blueprints' folder)."""
    folder = Path(config_dir) / "blueprints" / "automation" / "meterit"
    folder.mkdir(parents=True)
    shutil.copy(blueprint, folder / blueprint.name)
    return config_dir
