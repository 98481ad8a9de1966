"""The PVPC prices config flow, options flow and reauth, against the fake ESIOS on loopback."""

from __future__ import annotations

from datetime import UTC, date, datetime
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.config_flow import MeteritConfigFlow
from custom_components.meterit.const import CONF_REMOVE_TOKEN, CONF_SOURCE, DOMAIN
from custom_components.meterit.prices.coordinator import PriceCoordinator
from simulator.esios import DEFAULT_TOKEN, FakeEsios, Fault

from .common import start_user_flow
from .conftest import prices_entry, setup_loaded, state_of, travel

SURPLUS = "sensor.pvpc_peninsula_surplus_price"
CURRENT = "sensor.pvpc_peninsula_current_price"


pytestmark = pytest.mark.usefixtures("madrid")  # every test here: Home Assistant in Spain


@pytest.fixture(autouse=True)
def _now(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(datetime(2024, 3, 9, 9, 30, tzinfo=UTC))


@pytest.fixture
def public_file(esios: FakeEsios, fixtures_dir: Path) -> None:
    """REE's public file for 2024-03-09 (the 2021-06-01 rows): entries without a token load."""
    rows = json.loads((fixtures_dir / "esios" / "PVPC_CURV_DD_2021_06_01.json").read_text())
    esios.add_public_file(
        date(2024, 3, 9), {"PVPC": [{**row, "Dia": "09/03/2024"} for row in rows["PVPC"]]}
    )


async def _start(hass: HomeAssistant) -> str:
    return str((await start_user_flow(hass, "prices"))["flow_id"])


@pytest.mark.usefixtures("public_file")
async def test_flow_without_token(hass: HomeAssistant, esios: FakeEsios) -> None:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, {"region": "baleares"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "PVPC Baleares"
    assert result["data"] == {CONF_SOURCE: "prices", "region": "baleares"}
    entry = result["result"]
    assert entry.unique_id == "pvpc_baleares"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert esios.requests_to("/indicators/") == []  # no token: nothing was validated
    assert hass.states.get("sensor.pvpc_baleares_current_price") is not None

    # One entry per region.
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, {"region": "baleares"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "region_already_configured"


async def test_flow_with_token(hass: HomeAssistant, esios: FakeEsios) -> None:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"region": "peninsula", CONF_TOKEN: "wrong-token"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_TOKEN: "invalid_esios_token"}
    assert esios.requests_to("/indicators/")[-1].api_key == "wrong-token"

    esios.inject(Fault.SERVER_ERROR, count=1)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"region": "peninsula", CONF_TOKEN: DEFAULT_TOKEN}
    )
    assert result["errors"] == {"base": "esios_unreachable"}

    result = await hass.config_entries.flow.async_configure(
        flow_id, {"region": "peninsula", CONF_TOKEN: f"  {DEFAULT_TOKEN}  "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_SOURCE: "prices",
        "region": "peninsula",
        CONF_TOKEN: DEFAULT_TOKEN,
    }
    await hass.async_block_till_done()
    assert hass.states.get(SURPLUS) is not None


async def _options(hass: HomeAssistant, entry_id: str, data: dict[str, Any]) -> Any:
    result = await hass.config_entries.options.async_init(entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    return await hass.config_entries.options.async_configure(result["flow_id"], data)


@pytest.mark.usefixtures("public_file")
async def test_options_add_change_remove_token(hass: HomeAssistant, esios: FakeEsios) -> None:
    entry = prices_entry(token=None)
    await setup_loaded(hass, entry, PriceCoordinator)
    assert hass.states.get(SURPLUS) is None

    result = await _options(hass, entry.entry_id, {CONF_TOKEN: "bad"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_TOKEN: "invalid_esios_token"}
    assert CONF_TOKEN not in entry.data

    result = await _options(hass, entry.entry_id, {CONF_TOKEN: DEFAULT_TOKEN})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.data[CONF_TOKEN] == DEFAULT_TOKEN
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(SURPLUS) is not None  # reloaded with the indicators API

    # The form never carries the current token back to the browser; an empty field keeps it.
    opened = await hass.config_entries.options.async_init(entry.entry_id)
    assert opened["data_schema"] is not None
    schema = opened["data_schema"].schema
    assert DEFAULT_TOKEN not in repr(opened)
    assert sorted(str(k) for k in schema) == [CONF_REMOVE_TOKEN, CONF_TOKEN]
    loaded = entry.runtime_data
    result = await hass.config_entries.options.async_configure(opened["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.data[CONF_TOKEN] == DEFAULT_TOKEN
    assert hass.states.get(SURPLUS) is not None
    assert entry.runtime_data is loaded  # nothing typed: not reloaded

    # the same token typed again is checked with ESIOS and reloads the entry
    checks = len(esios.requests_to("/indicators/"))
    result = await _options(hass, entry.entry_id, {CONF_TOKEN: f" {DEFAULT_TOKEN} "})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert len(esios.requests_to("/indicators/")) > checks
    assert entry.data[CONF_TOKEN] == DEFAULT_TOKEN
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not loaded

    # a new token and removing it at once is refused, nothing changes
    result = await _options(hass, entry.entry_id, {CONF_TOKEN: "x", CONF_REMOVE_TOKEN: True})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "remove_or_new_token"}
    assert entry.data[CONF_TOKEN] == DEFAULT_TOKEN

    # removed: the surplus sensor goes away, from the entity registry too
    registry = er.async_get(hass)
    assert registry.async_get(SURPLUS) is not None
    result = await _options(hass, entry.entry_id, {CONF_REMOVE_TOKEN: True})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert CONF_TOKEN not in entry.data
    assert entry.data["region"] == "peninsula"
    assert hass.states.get(SURPLUS) is None
    assert registry.async_get(SURPLUS) is None
    assert registry.async_get(CURRENT) is not None

    # without a token there is nothing to remove: one field
    opened = await hass.config_entries.options.async_init(entry.entry_id)
    assert opened["data_schema"] is not None
    assert [str(k) for k in opened["data_schema"].schema] == [CONF_TOKEN]

    # and a token again brings it back
    result = await _options(hass, entry.entry_id, {CONF_TOKEN: DEFAULT_TOKEN})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert hass.states.get(SURPLUS) is not None


async def test_options_for_every_kind_of_entry() -> None:
    assert MeteritConfigFlow.async_supports_options_flow(prices_entry()) is True
    for source in ("p1", "webhook"):
        entry = MockConfigEntry(domain=DOMAIN, data={CONF_SOURCE: source})
        assert MeteritConfigFlow.async_supports_options_flow(entry) is True
    unknown = MockConfigEntry(domain=DOMAIN, data={CONF_SOURCE: "gas"})
    assert MeteritConfigFlow.async_supports_options_flow(unknown) is False


async def test_reauth_when_token_rejected(hass: HomeAssistant, esios: FakeEsios) -> None:
    entry = prices_entry(token="revoked-token")
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    flow = flows[0]
    assert flow["context"]["source"] == "reauth"
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["step_id"] == "prices_reauth"
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_TOKEN: "still-wrong"}
    )
    assert result["errors"] == {CONF_TOKEN: "invalid_esios_token"}
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_TOKEN: DEFAULT_TOKEN}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_TOKEN] == DEFAULT_TOKEN
    assert hass.config_entries.async_get_entry(entry.entry_id).state is ConfigEntryState.LOADED  # type: ignore[union-attr]


@pytest.mark.usefixtures("public_file")
async def test_reauth_without_token_falls_back_to_public_file(
    hass: HomeAssistant, esios: FakeEsios
) -> None:
    entry = prices_entry(token="revoked-token")
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert CONF_TOKEN not in entry.data
    assert entry.state is ConfigEntryState.LOADED


async def test_token_revoked_while_running(
    hass: HomeAssistant,
    esios: FakeEsios,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    freezer.move_to(datetime(2024, 3, 9, 19, 0, tzinfo=UTC))
    entry = prices_entry()
    coordinator = await setup_loaded(hass, entry, PriceCoordinator)
    esios.valid_token = "another-token"  # REE revoked ours
    await travel(hass, freezer, datetime(2024, 3, 9, 19, 15, tzinfo=UTC))
    assert coordinator.next_fetch is None  # no more requests with a rejected token
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == ["reauth"]
    assert "rejected the API token" in caplog.text
    assert DEFAULT_TOKEN not in caplog.text
    # Today's prices are still shown.
    assert state_of(hass, "sensor.pvpc_peninsula_current_price").state != "unavailable"


def _auth_failed(coordinator: PriceCoordinator) -> bool:
    """Whether the coordinator stopped on a rejected token (a call: narrowing does not stick)."""
    return coordinator.auth_failed


def _reauth_flows(hass: HomeAssistant) -> list[str]:
    return [
        str(flow["flow_id"])
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == "reauth"
    ]


def _state(entry: ConfigEntry[Any]) -> ConfigEntryState:
    """The entry's state (a call, so that type narrowing does not stick)."""
    return entry.state


async def test_options_reload_an_entry_whose_setup_token_was_rejected(
    hass: HomeAssistant, esios: FakeEsios
) -> None:
    """Setup failed on a rejected token (reauth pending). Saving the options, even with the
    field empty, sets the entry up again with its token: still rejected, it asks again (one
    reauth, not two); taken again by REE, it loads and the stale reauth is gone."""
    entry = prices_entry(token="revoked-token")
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert _state(entry) is ConfigEntryState.SETUP_ERROR
    (first,) = _reauth_flows(hass)

    asked = len(esios.requests)
    result = await _options(hass, entry.entry_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert len(esios.requests) > asked  # set up again
    assert _state(entry) is ConfigEntryState.SETUP_ERROR
    (second,) = _reauth_flows(hass)
    assert second != first

    esios.valid_token = "revoked-token"  # REE takes the token again
    result = await _options(hass, entry.entry_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert _state(entry) is ConfigEntryState.LOADED
    assert entry.data[CONF_TOKEN] == "revoked-token"
    assert _reauth_flows(hass) == []
    assert hass.states.get(SURPLUS) is not None


async def test_options_reload_an_entry_that_stopped_on_a_rejected_token(
    hass: HomeAssistant, esios: FakeEsios, freezer: FrozenDateTimeFactory
) -> None:
    """Loaded, the token rejected at 20:15: fetching stopped and reauth is pending. Saving the
    options with the field empty (REE took the token again) restarts the entry, which fetches
    tomorrow; a new token typed in the options also answers the pending reauth."""
    freezer.move_to(datetime(2024, 3, 9, 19, 0, tzinfo=UTC))
    entry = prices_entry()
    coordinator = await setup_loaded(hass, entry, PriceCoordinator)
    esios.valid_token = "another-token"
    await travel(hass, freezer, datetime(2024, 3, 9, 19, 15, tzinfo=UTC))
    assert _auth_failed(coordinator)
    assert coordinator.next_fetch is None
    assert len(_reauth_flows(hass)) == 1

    esios.valid_token = DEFAULT_TOKEN
    asked = len(esios.requests_to("/indicators/"))
    result = await _options(hass, entry.entry_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(entry) is ConfigEntryState.LOADED
    restarted = entry.runtime_data
    assert isinstance(restarted, PriceCoordinator)
    assert restarted is not coordinator
    assert not _auth_failed(restarted)
    assert len(esios.requests_to("/indicators/")) > asked  # fetching again (tomorrow)
    assert _reauth_flows(hass) == []

    # revoked again; this time a new token is typed: checked, stored, reauth answered
    esios.valid_token = "new-token"
    await travel(hass, freezer, datetime(2024, 3, 9, 19, 20, tzinfo=UTC))
    assert _auth_failed(restarted)
    assert len(_reauth_flows(hass)) == 1
    result = await _options(hass, entry.entry_id, {CONF_TOKEN: "new-token"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.data[CONF_TOKEN] == "new-token"
    assert _state(entry) is ConfigEntryState.LOADED
    assert _reauth_flows(hass) == []
