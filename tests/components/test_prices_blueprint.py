"""The blueprint blueprints/automation/meterit/price_threshold.yaml, run by a real automation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from .conftest import state_of
from .prices_common import install_blueprint

BLUEPRINT = (
    Path(__file__).resolve().parents[2] / "blueprints/automation/meterit/price_threshold.yaml"
)
PRICE = "sensor.pvpc_peninsula_current_price"
TARGET = "input_boolean.boiler"
START = datetime(2024, 3, 8, 23, 0, tzinfo=UTC)


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A config dir of our own, holding the blueprint as a user would install it."""
    return install_blueprint(hass_tmp_config_dir, BLUEPRINT)


def _today(prices: list[float], minutes: int = 60) -> list[dict[str, Any]]:
    step = timedelta(minutes=minutes)
    return [
        {
            "start": (START + i * step).isoformat(),
            "end": (START + (i + 1) * step).isoformat(),
            "price": price,
        }
        for i, price in enumerate(prices)
    ]


async def _automation(hass: HomeAssistant, threshold: float, hours: float) -> None:
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": {"boiler": {}}})
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": "meterit/price_threshold.yaml",
                    "input": {
                        "price_sensor": PRICE,
                        "target_entity": [TARGET],
                        "threshold": threshold,
                        "cheapest_hours": hours,
                    },
                }
            }
        },
    )
    await hass.async_block_till_done()


async def _price(hass: HomeAssistant, price: float | str, today: list[dict[str, Any]]) -> str:
    hass.states.async_set(PRICE, str(price), {"today": today})
    await hass.async_block_till_done()
    return state_of(hass, TARGET).state


async def test_threshold(hass: HomeAssistant) -> None:
    await _automation(hass, threshold=0.05, hours=0)
    today = _today([0.04, 0.06, 0.05])
    assert await _price(hass, 0.06, today) == "off"
    assert await _price(hass, 0.04, today) == "on"
    assert await _price(hass, 0.05, today) == "off"  # not below: equal
    assert await _price(hass, -0.01, today) == "on"  # negative prices count as cheap
    assert await _price(hass, "unavailable", today) == "on"  # unknown price: left alone


async def test_cheapest_hours(hass: HomeAssistant) -> None:
    await _automation(hass, threshold=-1, hours=2)
    today = _today([0.10, 0.02, 0.05, 0.01, 0.07])
    assert await _price(hass, 0.10, today) == "off"  # 4 cheaper hours
    assert await _price(hass, 0.02, today) == "on"  # 1 cheaper hour (0.01)
    assert await _price(hass, 0.01, today) == "on"  # the cheapest
    assert await _price(hass, 0.05, today) == "off"  # 2 cheaper hours: not among the 2


async def test_cheapest_hours_with_quarter_hours(hass: HomeAssistant) -> None:
    await _automation(hass, threshold=-1, hours=1)
    # Quarter hours: four at 0.01 make one hour; a fifth period at 0.02 is not among them.
    today = _today([0.01, 0.01, 0.01, 0.01, 0.02, 0.03], minutes=15)
    assert await _price(hass, 0.01, today) == "on"
    assert await _price(hass, 0.02, today) == "off"
