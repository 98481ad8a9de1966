"""The price actions name an entry that exists but is not set up yet, and say why."""

from __future__ import annotations

from datetime import UTC, datetime

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
import pytest

from custom_components.meterit.const import DOMAIN
from simulator.esios import FakeEsios, Fault

from .conftest import prices_entry, webhook_entry


@pytest.fixture(autouse=True)
def _in_spain(madrid: None, freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(datetime(2024, 3, 9, 9, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    ("service", "data"),
    [
        ("get_prices", {}),
        ("get_prices", {"region": "peninsula"}),
        ("refresh_prices", {}),
    ],
)
async def test_entry_retrying_setup_is_not_ready_not_missing(
    hass: HomeAssistant, esios: FakeEsios, service: str, data: dict[str, str]
) -> None:
    """ESIOS failed at setup (retrying): the error names the entry, its state and the cause."""
    esios.inject(Fault.SERVER_ERROR)
    entry = prices_entry()
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN, service, data, blocking=True, return_response=service == "get_prices"
        )
    err = caught.value
    assert err.translation_key == "price_entry_not_ready"
    assert err.translation_placeholders is not None
    assert err.translation_placeholders["title"] == entry.title
    assert err.translation_placeholders["state"] == "setup_retry"
    assert "500" in err.translation_placeholders["reason"]  # ESIOS's answer, from the setup
    assert "add one" not in str(err)
    assert entry.title in str(err)


async def test_other_region_retrying_still_means_none_for_this_one(
    hass: HomeAssistant, esios: FakeEsios
) -> None:
    esios.inject(Fault.SERVER_ERROR)
    entry = prices_entry()
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN, "get_prices", {"region": "canarias"}, blocking=True, return_response=True
        )
    assert caught.value.translation_key == "no_price_entry"


async def test_other_kinds_and_disabled_price_entries_are_not_named(hass: HomeAssistant) -> None:
    """A webhook entry, or a price entry the user disabled: still 'add one' (nothing to wait for)."""
    webhook_entry().add_to_hass(hass)
    disabled = prices_entry()
    disabled.add_to_hass(hass)
    await hass.config_entries.async_set_disabled_by(disabled.entry_id, ConfigEntryDisabler.USER)
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN, "get_prices", {}, blocking=True, return_response=True
        )
    assert caught.value.translation_key == "no_price_entry"
