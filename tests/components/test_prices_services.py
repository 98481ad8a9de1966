"""The actions meterit.get_prices / meterit.refresh_prices and the "Refresh prices" button."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.button.const import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.prices.coordinator import PriceCoordinator
from simulator.esios import DEFAULT_TOKEN as ESIOS_TOKEN, FakeEsios, Fault

from .conftest import prices_entry, setup_loaded, state_of, travel
from .prices_common import get_prices as _get, peninsula_entry  # noqa: F401 (a fixture)

BUTTON = "button.pvpc_peninsula_refresh_prices"
CURRENT = "sensor.pvpc_peninsula_current_price"


pytestmark = pytest.mark.usefixtures("madrid")  # every test here: Home Assistant in Spain


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


async def test_surplus_needs_token(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(datetime(2021, 6, 1, 8, 30, tzinfo=UTC))  # a public file: the entry loads
    config_entry = prices_entry(region="ceuta", token=None)
    await setup_loaded(hass, config_entry, PriceCoordinator)
    with pytest.raises(ServiceValidationError) as caught:
        await _get(hass, kind="surplus")
    assert caught.value.translation_key == "surplus_needs_token"


async def test_several_entries_need_a_choice(
    hass: HomeAssistant, entry: MockConfigEntry, esios: FakeEsios, fixtures_dir: Path
) -> None:
    # a public file for the day (the 2021-06-01 rows), so that the entry without token loads
    rows = json.loads((fixtures_dir / "esios" / "PVPC_CURV_DD_2021_06_01.json").read_text())
    esios.add_public_file(
        date(2024, 3, 9), {"PVPC": [{**row, "Dia": "09/03/2024"} for row in rows["PVPC"]]}
    )
    other = prices_entry(region="melilla", token=None)
    await setup_loaded(hass, other, PriceCoordinator)
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


# ------------------------------------------------------------ ESIOS failures (get_prices)


def _load_fixture(fixtures_dir: Path, name: str) -> Any:
    return json.loads((fixtures_dir / "esios" / name).read_text())


@pytest.mark.parametrize(("fault", "status"), [(Fault.SERVER_ERROR, 500), (Fault.FORBIDDEN, 403)])
async def test_get_prices_fails_when_a_missing_day_cannot_be_fetched(
    hass: HomeAssistant, entry: MockConfigEntry, esios: FakeEsios, fault: Fault, status: int
) -> None:
    # 2021-10-31 is published, neither in memory nor in the store: it must come from ESIOS.
    esios.inject(fault)
    before = len(esios.requests)
    with pytest.raises(HomeAssistantError) as caught:
        await _get(hass, start="2021-10-31", end="2021-11-03")
    error = caught.value
    assert not isinstance(error, ServiceValidationError)  # ESIOS failed, not the caller
    assert error.translation_domain == DOMAIN
    assert error.translation_key == "prices_fetch_failed"
    placeholders = error.translation_placeholders or {}
    assert placeholders["day"] == "2021-10-31"
    assert f"HTTP {status}" in placeholders["error"]
    assert str(error).startswith("The prices of PVPC peninsula for 2021-10-31 are not stored")
    assert ESIOS_TOKEN not in str(error)
    assert all(ESIOS_TOKEN not in value for value in placeholders.values())
    # The first failed day ends the action: no request for the two days after it.
    assert len(esios.requests) == before + 1


async def test_get_prices_token_rejected_starts_reauth(
    hass: HomeAssistant, entry: MockConfigEntry, esios: FakeEsios
) -> None:
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    esios.inject(Fault.FORBIDDEN, count=1)
    with pytest.raises(HomeAssistantError) as caught:
        await _get(hass, start="2021-10-31", end="2021-11-01")
    assert caught.value.translation_key == "prices_fetch_failed"
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    assert flow["context"]["entry_id"] == entry.entry_id
    # Until the token is re-entered the entry does not use it again: no request, same error.
    before = len(esios.requests)
    with pytest.raises(HomeAssistantError) as again:
        await _get(hass, start="2021-10-31", end="2021-11-01")
    assert again.value.translation_key == "prices_fetch_failed"
    assert len(esios.requests) == before
    # Today's prices, already held, are still answered.
    response = await _get(hass, start="2024-03-09", end="2024-03-10")
    assert len(response["prices"]) == 24


async def test_get_prices_keeps_partial_stored_prices_when_esios_fails(
    hass: HomeAssistant, entry: MockConfigEntry, esios: FakeEsios
) -> None:
    esios.inject(Fault.PARTIAL, count=1)
    partial = await _get(hass, start="2021-10-31", end="2021-11-01")
    assert 0 < len(partial["prices"]) < 25  # stored, not complete: fetched again next time
    esios.inject(Fault.SERVER_ERROR)
    before = len(esios.requests)
    again = await _get(hass, start="2021-10-31", end="2021-11-01")
    assert len(esios.requests) == before + 1  # it was tried ...
    assert again["prices"] == partial["prices"]  # ... and what is stored is answered


async def test_get_prices_day_without_prices_in_esios_is_empty(
    hass: HomeAssistant, entry: MockConfigEntry, esios: FakeEsios
) -> None:
    # ESIOS answers, but has no values for that day (no fixture): not a failure.
    response = await _get(hass, start="2024-03-01", end="2024-03-02")
    assert response["prices"] == []
    assert esios.requests[-1].query["start_date"].startswith("2024-03-01")


# ------------------------------------------------------------ supported dates (get_prices)


# ------------------------------------------------------------ plain dates are the region's days


# ------------------------------------------------------------ a null value in an ESIOS answer


async def test_a_null_price_leaves_only_its_hour_out(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory, fixtures_dir: Path
) -> None:
    original = _load_fixture(fixtures_dir, "PRICES_ESIOS_1001_2024_03_09.json")
    nulled = copy.deepcopy(original)
    hole = "2024-03-09T09:00:00Z"  # 10:00-11:00 in Madrid
    (value,) = [
        v
        for v in nulled["indicator"]["values"]
        if v["geo_id"] == 8741 and v["datetime_utc"].startswith(hole[:19])
    ]
    value["value"] = None
    esios.add_indicator(1001, date(2024, 3, 9), nulled)
    freezer.move_to(datetime(2024, 3, 9, 9, 30, tzinfo=UTC))  # 10:30 in Madrid
    config_entry = prices_entry()
    await setup_loaded(hass, config_entry, PriceCoordinator)

    coordinator = config_entry.runtime_data
    today = coordinator.data.day(date(2024, 3, 9))
    assert today is not None
    assert len(today.periods) == 23
    assert not today.complete
    assert state_of(hass, CURRENT).state == STATE_UNAVAILABLE  # only this hour has no price
    response = await _get(hass, start="2024-03-09", end="2024-03-10")
    starts = [datetime.fromisoformat(p["start"]) for p in response["prices"]]
    assert datetime(2024, 3, 9, 9, 0, tzinfo=UTC) not in starts
    assert len(starts) == 23
    # The next hour has its price again.
    await travel(hass, freezer, datetime(2024, 3, 9, 10, 0, tzinfo=UTC))
    expected = next(
        v["value"] / 1000
        for v in original["indicator"]["values"]
        if v["geo_id"] == 8741 and v["datetime_utc"].startswith("2024-03-09T10:00:00")
    )
    assert float(state_of(hass, CURRENT).state) == pytest.approx(expected)
    # The day is not complete, so it is fetched again; ESIOS now has the hour.
    esios.add_indicator(1001, date(2024, 3, 9), original)
    when = coordinator.next_fetch
    assert when is not None
    assert when < datetime(2024, 3, 9, 23, 0, tzinfo=UTC)
    await travel(hass, freezer, when)
    today = coordinator.data.day(date(2024, 3, 9))
    assert today is not None
    assert today.complete
