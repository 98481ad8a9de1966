"""The blueprint blueprints/automation/meterit/cheapest_start.yaml, run by a real automation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from custom_components.meterit.prices.coordinator import PriceCoordinator
from simulator.esios import FakeEsios

from .cheapest_common import HOUR, MIDNIGHT, Prices, brute, load, peninsula, tomorrow_payload
from .conftest import prices_entry, setup_loaded, state_of, travel
from .prices_common import install_blueprint

BLUEPRINT = (
    Path(__file__).resolve().parents[2] / "blueprints/automation/meterit/cheapest_start.yaml"
)
PRICE = "sensor.pvpc_peninsula_current_price"
TARGET = "input_boolean.dishwasher"
HELPER = "input_datetime.dishwasher_start"
SETUP = datetime(2024, 3, 9, 19, 0, tzinfo=UTC)  # 20:00 in Madrid, before tomorrow's prices
PLAN = datetime(2024, 3, 9, 20, 0, tzinfo=UTC)  # 21:00 in Madrid, the planning time
DEADLINE = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)  # 07:00 in Madrid


pytestmark = pytest.mark.usefixtures("madrid")  # every test here: Home Assistant in Spain


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A config dir of our own, holding the blueprint as a user would install it."""
    return install_blueprint(hass_tmp_config_dir, BLUEPRINT)


@pytest.fixture
async def known(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory, fixtures_dir: Path
) -> Prices:
    """A Península entry set up at 20:00; tomorrow's prices are served from 20:15 on."""
    payload = tomorrow_payload(fixtures_dir)
    esios.add_indicator(1001, date(2024, 3, 10), payload)
    freezer.move_to(SETUP)
    entry = prices_entry()
    await setup_loaded(hass, entry, PriceCoordinator)
    today = peninsula(load(fixtures_dir, "PRICES_ESIOS_1001_2024_03_09.json"))
    return today | peninsula(payload)


async def _automation(hass: HomeAssistant, **inputs: Any) -> None:
    """The helpers and an automation from the blueprint (in configuration.yaml for reloads)."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": {"dishwasher": {}}})
    assert await async_setup_component(
        hass,
        "input_datetime",
        {"input_datetime": {"dishwasher_start": {"has_date": True, "has_time": True}}},
    )
    config = {
        "automation": [
            {
                "id": "dishwasher",
                "use_blueprint": {
                    "path": "meterit/cheapest_start.yaml",
                    "input": {
                        "price_sensor": PRICE,
                        "start_helper": HELPER,
                        "target_entity": [TARGET],
                        "plan_time": "21:00:00",
                        **inputs,
                    },
                },
            }
        ]
    }
    path = Path(hass.config.path("configuration.yaml"))
    await hass.async_add_executor_job(path.write_text, json.dumps(config))
    assert await async_setup_component(hass, "automation", config)
    await hass.async_block_till_done()


async def _switched_on_at(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start: datetime
) -> None:
    """The target is still off a second before ``start`` and on at ``start``."""
    await travel(hass, freezer, start - timedelta(seconds=1))
    assert state_of(hass, TARGET).state == "off"
    await travel(hass, freezer, start)
    assert state_of(hass, TARGET).state == "on"


async def test_starts_at_the_cheapest_block_before_the_deadline(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, known: Prices
) -> None:
    await _automation(hass, duration={"hours": 2, "minutes": 0, "seconds": 0}, deadline="07:00:00")
    start, _average = brute(known, 2 * HOUR, PLAN, DEADLINE, HOUR)
    assert start > PLAN  # the cheapest two hours are later at night
    await travel(hass, freezer, PLAN)
    planned = state_of(hass, HELPER).attributes["timestamp"]
    assert planned == start.timestamp()
    await _switched_on_at(hass, freezer, start)


async def test_the_plan_survives_reloading_the_automations(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, known: Prices
) -> None:
    """A reload ends the automation's runs (as a restart does): the helper's trigger remains."""
    await _automation(hass, duration={"hours": 3}, deadline="07:00:00")
    start, _average = brute(known, 3 * HOUR, PLAN, DEADLINE, HOUR)
    await travel(hass, freezer, PLAN)
    await hass.services.async_call("automation", "reload", blocking=True)
    await hass.async_block_till_done()
    await _switched_on_at(hass, freezer, start)


async def test_a_block_that_starts_now_starts_at_once(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, known: Prices
) -> None:
    # 21:00 to 23:00 is the only two-hour block that ends by 23:00.
    await _automation(hass, duration={"hours": 2}, deadline="23:00:00")
    await _switched_on_at(hass, freezer, PLAN)


async def test_quarter_hour_starts(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, known: Prices
) -> None:
    await _automation(
        hass, duration={"minutes": 75}, deadline="02:00:00", resolution="quarter_hour"
    )
    start, _average = brute(known, timedelta(minutes=75), PLAN, MIDNIGHT + 2 * HOUR, HOUR / 4)
    assert start.minute != 0  # the block starts within an hour
    await travel(hass, freezer, PLAN)
    await _switched_on_at(hass, freezer, start)
