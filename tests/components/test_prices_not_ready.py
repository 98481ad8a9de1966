"""The price actions name an entry that exists but is not set up yet, and say why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest

from custom_components.meterit.const import DOMAIN
from simulator.esios import FakeEsios, Fault

from .conftest import prices_entry, setup_retrying, travel, webhook_entry


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
    await setup_retrying(hass, entry)
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


async def test_setup_retrying_for_over_a_day_raises_the_no_prices_issue(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    """Nothing of today stored and ESIOS down: setup is retried with a new coordinator each
    time; the streak outlives them, so after a day the "no prices" issue says so."""
    esios.inject(Fault.SERVER_ERROR)
    entry = prices_entry()
    await setup_retrying(hass, entry)
    issue_id = f"no_prices_{entry.entry_id}"
    moment = datetime(2024, 3, 9, 9, 30, tzinfo=UTC)
    for step in [timedelta(minutes=11)] * 3 + [timedelta(hours=25)] + [timedelta(minutes=11)] * 3:
        moment += step
        await travel(hass, freezer, moment)
        await hass.async_block_till_done(wait_background_tasks=True)  # the retried setup
        if moment < datetime(2024, 3, 10, 9, 30, tzinfo=UTC):
            assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert entry.state is ConfigEntryState.SETUP_RETRY
    requests = len(esios.requests)
    assert requests > 5  # retried all along
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
