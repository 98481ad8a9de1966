"""PVPC prices in Home Assistant: setup, entities, values hand-computed from the fixture files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorStateClass
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.meterit.prices.coordinator import PriceCoordinator
from simulator.esios import FakeEsios, Fault

from .conftest import prices_entry, setup_loaded, setup_retrying, state_of, travel

CURRENT = "sensor.pvpc_peninsula_current_price"
NEXT = "sensor.pvpc_peninsula_next_period_price"
CHEAPEST = "sensor.pvpc_peninsula_cheapest_period_today"
DEAREST = "sensor.pvpc_peninsula_most_expensive_period_today"
SURPLUS = "sensor.pvpc_peninsula_surplus_price"

# 2024-03-09 10:30 in Madrid (UTC+1) is 09:30 UTC.
NOW = datetime(2024, 3, 9, 9, 30, tzinfo=UTC)


def _state(entry: ConfigEntry[Any]) -> ConfigEntryState:
    """The entry's state (a call, so that type narrowing does not stick)."""
    return entry.state


pytestmark = pytest.mark.usefixtures("madrid")  # every test here: Home Assistant in Spain


@pytest.fixture
def fixture_1001(fixtures_dir: Path) -> list[dict[str, object]]:
    """Península values of PRICES_ESIOS_1001_2024_03_09.json."""
    payload = json.loads((fixtures_dir / "esios" / "PRICES_ESIOS_1001_2024_03_09.json").read_text())
    return [v for v in payload["indicator"]["values"] if v["geo_id"] == 8741]


async def test_entities_with_token(
    hass: HomeAssistant,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    fixture_1001: list[dict[str, object]],
) -> None:
    freezer.move_to(NOW)
    entry = prices_entry()
    await setup_loaded(hass, entry, PriceCoordinator)
    assert entry.state is ConfigEntryState.LOADED
    assert isinstance(entry.runtime_data, PriceCoordinator)

    # The fixture's value at 09:00 UTC for Península is 44.21 €/MWh.
    state = hass.states.get(CURRENT)
    assert state is not None
    assert float(state.state) == pytest.approx(0.04421)
    assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "€/kWh"
    assert state.attributes[ATTR_STATE_CLASS] == SensorStateClass.MEASUREMENT
    attrs = state.attributes
    # min 41.94 (22:00 UTC), max 46.81 (19:00 UTC); ten of the 24 values are below 44.21.
    assert attrs["min_price"] == pytest.approx(0.04194)
    assert attrs["max_price"] == pytest.approx(0.04681)
    assert attrs["rank"] == 11
    assert attrs["position_percent"] == pytest.approx(46.6)  # (44.21-41.94)/(46.81-41.94)
    values = [float(str(v["value"])) for v in fixture_1001]
    assert attrs["average_price"] == pytest.approx(sum(values) / 24 / 1000, abs=1e-6)
    assert len(attrs["today"]) == 24
    assert attrs["today"][0] == {
        "start": "2024-03-09T00:00:00+01:00",
        "end": "2024-03-09T01:00:00+01:00",
        "price": pytest.approx(0.04498),
    }
    assert attrs["tomorrow"] == []
    assert attrs["tomorrow_valid"] is False

    assert float(state_of(hass, NEXT).state) == pytest.approx(0.04283)  # 10:00 UTC: 42.83
    assert state_of(hass, CHEAPEST).state == "2024-03-09T22:00:00+00:00"
    assert state_of(hass, DEAREST).state == "2024-03-09T19:00:00+00:00"
    # Indicator 1739 at 09:00 UTC: -1.00 €/MWh (negative prices are kept).
    assert float(state_of(hass, SURPLUS).state) == pytest.approx(-0.001)

    # Only today was asked for: tomorrow is not published before 20:15.
    days = {r.query.get("start_date", "")[:10] for r in esios.requests_to("/indicators/")}
    assert days == {"2024-03-09"}
    assert all(r.api_key == "fake-esios-token" for r in esios.requests_to("/indicators/"))

    registry = er.async_get(hass)
    entity = registry.async_get(CURRENT)
    assert entity is not None
    assert entity.unique_id == "pvpc_peninsula_current_price"

    # The recorder never sees the period lists.
    recorded = hass.states.get(CURRENT)
    assert recorded is not None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_state_changes_exactly_at_period_boundary(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(NOW)
    entry = prices_entry()
    await setup_loaded(hass, entry, PriceCoordinator)
    changes: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: (
            changes.append(event.data["new_state"].state)
            if event.data["entity_id"] == CURRENT
            else None
        ),
    )
    await travel(hass, freezer, datetime(2024, 3, 9, 9, 59, 59, tzinfo=UTC))
    assert changes == []
    assert float(state_of(hass, CURRENT).state) == pytest.approx(0.04421)
    await travel(hass, freezer, datetime(2024, 3, 9, 10, 0, tzinfo=UTC))
    assert float(state_of(hass, CURRENT).state) == pytest.approx(0.04283)
    assert state_of(hass, CURRENT).attributes["rank"] == 6  # 41.94 42.14 42.25 42.38 42.68 < 42.83
    assert float(state_of(hass, NEXT).state) == pytest.approx(0.04268)  # 11:00 UTC: 42.68
    assert len(changes) == 1


async def test_without_token_uses_public_file(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    # PVPC_CURV_DD_2021_06_01.json, PCB "Hora" 04-05 = 114,84 €/MWh; 04:30 local is 02:30 UTC.
    freezer.move_to(datetime(2021, 6, 1, 2, 30, tzinfo=UTC))
    entry = prices_entry(token=None)
    await setup_loaded(hass, entry, PriceCoordinator)
    assert float(state_of(hass, CURRENT).state) == pytest.approx(0.11484)
    assert hass.states.get(SURPLUS) is None  # the surplus price needs a token
    assert esios.requests_to("/indicators/") == []
    assert [r.query["date"] for r in esios.requests_to("/archives/")] == ["2021-06-01"]


async def test_setup_retried_without_prices_then_loads(
    hass: HomeAssistant,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing stored and ESIOS failing: no entities that could only be unavailable; Home
    Assistant retries the setup (its own log line), and the prices come with the retry."""
    freezer.move_to(NOW)
    esios.inject(Fault.SERVER_ERROR)
    entry = prices_entry()
    await setup_retrying(hass, entry)
    assert hass.states.get(CURRENT) is None
    esios.inject(None)
    await travel(hass, freezer, NOW + timedelta(seconds=6))  # Home Assistant's first retry
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert float(state_of(hass, CURRENT).state) == pytest.approx(0.04421)
    assert "could not be fetched" in caplog.text  # the reason Home Assistant logs
    assert "keeping what we have" not in caplog.text  # no warning of ours for a setup retry
    assert "fake-esios-token" not in caplog.text
