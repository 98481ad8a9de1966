"""The tariff period sensor of a PVPC entry: P1/P2/P3, changing exactly at the boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import ATTR_OPTIONS, SensorDeviceClass
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_FRIENDLY_NAME
from homeassistant.core import HomeAssistant
import pytest

from custom_components.meterit.prices.coordinator import PriceCoordinator
from simulator.esios import FakeEsios

from .conftest import prices_entry, setup_loaded, state_of, travel

TARIFF = "sensor.pvpc_peninsula_tariff_period"
CANARY_TARIFF = "sensor.pvpc_canarias_tariff_period"
SATURDAY = datetime(2024, 3, 9, 9, 30, tzinfo=UTC)  # 10:30 in Madrid, prices in the fixtures
MONDAY_0800 = datetime(2024, 3, 11, 7, 0, tzinfo=UTC)  # 08:00 in Madrid (UTC+1)


pytestmark = pytest.mark.usefixtures("madrid")  # every test here: Home Assistant in Spain


async def _setup_on_saturday(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, region: str
) -> None:
    """An entry for ``region`` set up on SATURDAY."""
    freezer.move_to(SATURDAY)
    await setup_loaded(hass, prices_entry(region=region), PriceCoordinator)


async def test_saturday_is_valley_until_monday_eight(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    await _setup_on_saturday(hass, freezer, "peninsula")
    state = state_of(hass, TARIFF)
    assert state.state == "p3"
    assert state.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.ENUM
    assert state.attributes[ATTR_OPTIONS] == ["p1", "p2", "p3"]
    assert state.attributes[ATTR_FRIENDLY_NAME] == "PVPC peninsula Tariff period"
    assert state.attributes["next_change"] == "2024-03-11T08:00:00+01:00"
    assert state.attributes["next_period"] == "p2"
    # Sunday and Monday have no prices: the period does not need them.
    await travel(hass, freezer, MONDAY_0800 - timedelta(seconds=1))
    assert state_of(hass, TARIFF).state == "p3"
    await travel(hass, freezer, MONDAY_0800)
    state = state_of(hass, TARIFF)
    assert state.state == "p2"
    assert state.attributes["next_change"] == "2024-03-11T10:00:00+01:00"
    assert state.attributes["next_period"] == "p1"


async def test_the_state_changes_by_its_own_timer_at_each_boundary(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    await _setup_on_saturday(hass, freezer, "peninsula")
    await travel(hass, freezer, MONDAY_0800)
    seen: list[tuple[str, str]] = []
    # Fire only the sensor's own timer: the clock jumps to each announced change.
    for _ in range(6):
        state = state_of(hass, TARIFF)
        when = datetime.fromisoformat(state.attributes["next_change"])
        await travel(hass, freezer, when)
        changed = state_of(hass, TARIFF)
        assert changed.last_changed == when
        seen.append((when.strftime("%a %H:%M"), changed.state))
    assert seen == [
        ("Mon 10:00", "p1"),
        ("Mon 14:00", "p2"),
        ("Mon 18:00", "p1"),
        ("Mon 22:00", "p2"),
        ("Tue 00:00", "p3"),
        ("Tue 08:00", "p2"),
    ]


async def test_canarias_changes_an_hour_after_the_peninsula(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    await _setup_on_saturday(hass, freezer, "canarias")
    # 08:00 in Madrid is 07:00 in Canarias: still valley there.
    await travel(hass, freezer, MONDAY_0800)
    assert state_of(hass, CANARY_TARIFF).state == "p3"
    assert state_of(hass, CANARY_TARIFF).attributes["next_change"] == (
        "2024-03-11T09:00:00+01:00"  # shown in Home Assistant's zone (Madrid)
    )
    await travel(hass, freezer, MONDAY_0800 + timedelta(hours=1))
    assert state_of(hass, CANARY_TARIFF).state == "p2"


async def test_unloading_stops_the_timer(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    await _setup_on_saturday(hass, freezer, "peninsula")
    (entry,) = hass.config_entries.async_entries("meterit")
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await travel(hass, freezer, MONDAY_0800)  # no timer left to fire into a removed entity
    assert state_of(hass, TARIFF).state == "unavailable"
