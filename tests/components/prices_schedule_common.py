"""Shared by the PVPC schedule tests: Home Assistant in Spain, a price entry set up, its prices."""

from __future__ import annotations

from datetime import datetime
import json
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.meterit.prices.coordinator import PriceCoordinator

from .conftest import prices_entry, setup_loaded

CURRENT = "sensor.pvpc_peninsula_current_price"
SURPLUS = "sensor.pvpc_peninsula_surplus_price"


@pytest.fixture(autouse=True)
def _in_spain(madrid: None) -> None:
    """Every test here runs with Home Assistant in Europe/Madrid."""


def _load(fixtures_dir: Path, name: str) -> Any:
    return json.loads((fixtures_dir / "esios" / name).read_text())


async def _setup(hass: HomeAssistant, **kwargs: Any) -> PriceCoordinator:
    return await setup_loaded(hass, prices_entry(**kwargs), PriceCoordinator)


def _next_fetch(coordinator: PriceCoordinator) -> datetime | None:
    return coordinator.next_fetch


def _price(hass: HomeAssistant, entity_id: str = CURRENT) -> float:
    state = hass.states.get(entity_id)
    assert state is not None
    return float(state.state)


def _attr(hass: HomeAssistant, name: str, entity_id: str = CURRENT) -> Any:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.attributes[name]
