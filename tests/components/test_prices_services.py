"""The actions meterit.get_prices / meterit.refresh_prices and the "Refresh prices" button."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.button.const import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import DOMAIN
from simulator.esios import FakeEsios, Fault

from .conftest import prices_entry, state_of

BUTTON = "button.pvpc_peninsula_refresh_prices"


@pytest.fixture(autouse=True)
def _in_spain(madrid: None) -> None:
    """Every test here runs with Home Assistant in Europe/Madrid."""


@pytest.fixture
async def entry(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> MockConfigEntry:
    """A Península entry with a token, set up on 2024-03-09 at 10:30 in Madrid."""
    freezer.move_to(datetime(2024, 3, 9, 9, 30, tzinfo=UTC))
    config_entry = prices_entry()
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


async def _get(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "get_prices", data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


async def test_get_prices_defaults_to_today_and_tomorrow(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    response = await _get(hass)
    assert response["region"] == "peninsula"
    assert response["kind"] == "consumer"
    assert response["unit"] == "€/kWh"
    assert response["start"] == "2024-03-09T00:00:00+01:00"
    assert response["end"] == "2024-03-11T00:00:00+01:00"
    assert len(response["prices"]) == 24  # tomorrow is not published yet
    assert response["prices"][9] == {
        "start": "2024-03-09T09:00:00+01:00",
        "end": "2024-03-09T10:00:00+01:00",
        "price": pytest.approx(0.04492),  # 08:00 UTC: 44.92 €/MWh
    }


async def test_get_prices_range_by_region_and_entry(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    response = await _get(
        hass, region="Peninsula", start="2024-03-09 10:15:00", end="2024-03-09T12:00:00+01:00"
    )
    # 10:15-12:00 local overlaps the periods starting at 10:00 and 11:00 (09 and 10 UTC).
    assert [p["price"] for p in response["prices"]] == [
        pytest.approx(0.04421),
        pytest.approx(0.04283),
    ]
    response = await _get(
        hass, config_entry=entry.entry_id, kind="surplus", start="2024-03-09", end="2024-03-10"
    )
    assert response["kind"] == "surplus"
    assert len(response["prices"]) == 24
    assert response["prices"][0]["price"] == pytest.approx(-0.00145)


async def test_get_prices_fetches_a_past_day_on_demand(
    hass: HomeAssistant, entry: MockConfigEntry, esios: FakeEsios
) -> None:
    naive_start = datetime(2021, 10, 31, 0, 0)  # noqa: DTZ001 - naive means Madrid time
    response = await _get(hass, start=naive_start, end=naive_start + timedelta(days=1))
    assert len(response["prices"]) == 25  # the 25-hour day, fetched from ESIOS
    assert response["prices"][0]["price"] == pytest.approx(0.17148)
    before = len(esios.requests)
    again = await _get(hass, start="2021-10-31", end="2021-11-01")
    assert again["prices"] == response["prices"]
    assert len(esios.requests) == before  # the second time it comes from the store


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"region": "atlantis"}, "invalid_region"),
        ({"kind": "wholesale"}, "invalid_kind"),
        ({"start": "yesterday"}, "invalid_datetime"),
        ({"start": "2024-03-09", "end": "2024-03-09"}, "end_not_after_start"),
        ({"start": "2024-01-01", "end": "2024-03-01"}, "range_too_long"),
        ({"region": "canarias"}, "no_price_entry"),
        ({"config_entry": "ENTRY", "region": "ceuta"}, "entry_region_mismatch"),
    ],
)
async def test_get_prices_bad_arguments(
    hass: HomeAssistant, entry: MockConfigEntry, data: dict[str, Any], key: str
) -> None:
    if data.get("config_entry") == "ENTRY":
        data = {**data, "config_entry": entry.entry_id}
    with pytest.raises(ServiceValidationError) as caught:
        await _get(hass, **data)
    assert caught.value.translation_key == key
    assert caught.value.translation_domain == DOMAIN


async def test_surplus_needs_token(hass: HomeAssistant, esios: FakeEsios) -> None:
    config_entry = prices_entry(region="ceuta", token=None)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as caught:
        await _get(hass, kind="surplus")
    assert caught.value.translation_key == "surplus_needs_token"


async def test_several_entries_need_a_choice(
    hass: HomeAssistant, entry: MockConfigEntry, esios: FakeEsios
) -> None:
    other = prices_entry(region="melilla", token=None)
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as caught:
        await _get(hass)
    assert caught.value.translation_key == "price_entry_required"
    response = await _get(hass, region="melilla")
    assert response["region"] == "melilla"


async def test_not_a_price_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    other = MockConfigEntry(domain=DOMAIN, data={"source": "p1"})
    other.add_to_hass(hass)
    other.mock_state(hass, entry.state)
    with pytest.raises(ServiceValidationError) as caught:
        await _get(hass, config_entry=other.entry_id)
    assert caught.value.translation_key == "not_a_price_entry"
    with pytest.raises(ServiceValidationError):
        await _get(hass, config_entry="no-such-entry")


async def test_refresh_action_and_button(
    hass: HomeAssistant, entry: MockConfigEntry, esios: FakeEsios
) -> None:
    before = len(esios.requests_to("/indicators/"))
    await hass.services.async_call(
        DOMAIN, "refresh_prices", {"config_entry": entry.entry_id}, blocking=True
    )
    # Today again, consumer and surplus; tomorrow is not published before 20:15.
    assert len(esios.requests_to("/indicators/")) == before + 2
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: BUTTON}, blocking=True
    )
    assert len(esios.requests_to("/indicators/")) == before + 4

    esios.inject(Fault.SERVER_ERROR)
    with pytest.raises(HomeAssistantError) as caught:
        await hass.services.async_call(
            BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: BUTTON}, blocking=True
        )
    assert caught.value.translation_key == "refresh_failed"
    # What we had is kept.
    state = hass.states.get("sensor.pvpc_peninsula_current_price")
    assert state is not None
    assert float(state.state) == pytest.approx(0.04421)
    assert state_of(hass, BUTTON).state != "unavailable"


async def test_refresh_without_entries(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(DOMAIN, "refresh_prices", {}, blocking=True)
    assert caught.value.translation_key == "no_price_entry"


async def test_get_prices_accepts_dates(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    response = await _get(hass, start=date(2024, 3, 9), end=date(2024, 3, 10))
    assert response["start"] == "2024-03-09T00:00:00+01:00"
    assert len(response["prices"]) == 24
