"""Reconfigure for every kind of entry, a pasted P1 token, and aborts the user can read.

Every abort and error a flow ends in here must have an English text in Home Assistant's own
translation cache (the raw key is what the user would see otherwise).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from homeassistant.config_entries import (
    SOURCE_ZEROCONF,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, CONF_HOST, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.translation import async_get_translations
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.const import CONF_IDENTIFIER, CONF_SOURCE, DOMAIN
from custom_components.meterit.webhook.coordinator import WebhookCoordinator
from simulator.certs import make_test_ca
from simulator.p1_meter import FakeP1Meter

from .common import start_user_flow, submit_p1_host, zeroconf_info
from .conftest import METER_UNIQUE_ID, p1_entry, prices_entry, webhook_entry


async def translated(hass: HomeAssistant, result: Any) -> str:
    """The English text of an abort reason or of every error of a form; fails when missing."""
    strings = await async_get_translations(hass, "en", "config", [DOMAIN])
    prefix = f"component.{DOMAIN}.config"
    if result["type"] is FlowResultType.ABORT:
        key = f"{prefix}.abort.{result['reason']}"
        assert key in strings, f"abort reason {result['reason']!r} has no text"
        return strings[key]
    texts = []
    for error in (result.get("errors") or {}).values():
        key = f"{prefix}.error.{error}"
        assert key in strings, f"error {error!r} has no text"
        texts.append(strings[key])
    return " ".join(texts)


# ------------------------------------------------------------------------- reconfigure per kind


async def test_reconfigure_prices_entry_explains_instead_of_crashing(hass: HomeAssistant) -> None:
    """A PVPC entry has no host: reconfigure says why the region is fixed, and where the token is."""
    entry = prices_entry()
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "prices_reconfigure"
    text = await translated(hass, result)
    assert "{title}" in text
    assert "Configure" in text
    assert entry.data == prices_entry().data


async def test_reconfigure_webhook_changes_name_and_options_keeps_url(
    hass: HomeAssistant,
) -> None:
    """A webhook's name, local-only and price source change; the webhook ID (its URL) stays."""
    hass.states.async_set("sensor.tariff", "0.2", {ATTR_UNIT_OF_MEASUREMENT: "€/kWh"})
    entry = webhook_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    first = entry.runtime_data
    data_before = dict(entry.data)

    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "webhook_reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"name": " Barn ", "local_only": False, "price_source": "sensor.tariff"},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "webhook_reconfigured"
    assert await translated(hass, result)
    await hass.async_block_till_done()
    assert entry.title == "Barn"
    assert entry.options == {"local_only": False, "price_source": "sensor.tariff"}
    assert dict(entry.data) == data_before
    second = entry.runtime_data
    assert isinstance(second, WebhookCoordinator)
    assert second is not first  # reloaded with the new options
    assert not second.local_only


async def test_reconfigure_webhook_empty_name_keeps_title(hass: HomeAssistant) -> None:
    entry = webhook_entry()
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "  ", "local_only": True, "price_source": "none"}
    )
    assert result["reason"] == "webhook_reconfigured"
    assert entry.title == "Power sensors"


async def test_reconfigure_unknown_kind_aborts_with_a_text(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(domain=DOMAIN, title="odd", data={CONF_SOURCE: "future-kind"})
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_not_supported"
    assert await translated(hass, result)


async def test_reconfigure_p1_entry_still_asks_for_the_host(
    hass: HomeAssistant, meter: FakeP1Meter
) -> None:
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"


# ------------------------------------------------------------------------- a token already known


async def _paste_token(hass: HomeAssistant, host: str, token: str) -> ConfigFlowResult:
    """The p1_token form, from the menu, submitted with ``host`` and ``token``."""
    flow_id = (await start_user_flow(hass, "p1_token"))["flow_id"]
    return await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: host, CONF_TOKEN: token}
    )


async def test_pasted_token_creates_the_entry_without_a_button_press(
    hass: HomeAssistant, meter: FakeP1Meter
) -> None:
    """A token the meter issued earlier (as hwLogger's --token): checked, then the entry."""
    token = meter.issue_token("hwlogger")
    result = await _paste_token(hass, f" 127.0.0.1:{meter.port} ", f" {token} ")
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "P1 Meter"
    assert result["result"].unique_id == METER_UNIQUE_ID
    assert result["data"] == {
        CONF_SOURCE: "p1",
        CONF_HOST: f"127.0.0.1:{meter.port}",
        CONF_TOKEN: token,
        CONF_IDENTIFIER: meter.identifier,
    }
    assert set(meter.users) == {"local/hwlogger"}  # nothing registered, nothing revoked
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    await hass.config_entries.async_unload(result["result"].entry_id)


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("0123456789ABCDEF0123456789ABCDEF", {CONF_TOKEN: "invalid_p1_token"}),  # not issued
        ("abc", {CONF_TOKEN: "invalid_p1_token_format"}),
        ("Z" * 32, {CONF_TOKEN: "invalid_p1_token_format"}),
    ],
)
async def test_pasted_token_the_meter_rejects_shows_why(
    hass: HomeAssistant, meter: FakeP1Meter, token: str, error: dict[str, str]
) -> None:
    result = await _paste_token(hass, f"127.0.0.1:{meter.port}", token)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == error
    assert await translated(hass, result)
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_pasted_token_revoked_since_is_refused(
    hass: HomeAssistant, meter: FakeP1Meter
) -> None:
    token = meter.issue_token("hwlogger")
    meter.revoke(token)
    result = await _paste_token(hass, f"127.0.0.1:{meter.port}", token)
    assert result["errors"] == {CONF_TOKEN: "invalid_p1_token"}


@pytest.mark.parametrize(
    ("host", "error"),
    [("meter .local", {CONF_HOST: "invalid_host"}), ("127.0.0.1:1", {"base": "cannot_connect"})],
)
async def test_pasted_token_bad_host(
    hass: HomeAssistant, socket_enabled: None, host: str, error: dict[str, str]
) -> None:
    result = await _paste_token(hass, host, "0123456789ABCDEF0123456789ABCDEF")
    assert result["errors"] == error
    assert await translated(hass, result)


async def test_pasted_token_to_an_impostor_is_refused(
    hass: HomeAssistant, socket_enabled: None, tolerate_tls_rejects: None
) -> None:
    async with FakeP1Meter(ca=make_test_ca("Impostor CA")) as impostor:
        token = impostor.issue_token("hwlogger")
        result = await _paste_token(hass, f"127.0.0.1:{impostor.port}", token)
    assert result["errors"] == {"base": "invalid_certificate"}


async def test_pasted_token_for_a_known_meter_updates_it(
    hass: HomeAssistant, meter: FakeP1Meter
) -> None:
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    token = meter.issue_token("hwlogger")
    result = await _paste_token(hass, f"127.0.0.1:{meter.port}", token)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_TOKEN] == token


async def _by_host(hass: HomeAssistant, device: FakeP1Meter) -> ConfigFlowResult:
    return await submit_p1_host(hass, f"127.0.0.1:{device.port}")


async def _by_token(hass: HomeAssistant, device: FakeP1Meter) -> ConfigFlowResult:
    return await _paste_token(hass, f"127.0.0.1:{device.port}", device.issue_token("hwlogger"))


SOCKET = {"product_type": "HWE-SKT"}
"""An energy socket: a HomeWizard v2 device, but not a P1 meter."""
V1_ONLY = {"api_version": "1.0.0"}
"""A device that reports an API version other than 2: unsupported."""
NOT_A_P1_METER = {"type": FlowResultType.ABORT, "reason": "not_a_p1_meter"}
UNSUPPORTED = {"type": FlowResultType.FORM, "errors": {"base": "unsupported_device"}}


@pytest.mark.parametrize(
    ("submit", "device", "expected"),
    [
        # the host form: a device that tells its type without a token
        pytest.param(
            _by_host, SOCKET | {"api_requires_token": False}, NOT_A_P1_METER, id="host: socket"
        ),
        pytest.param(
            _by_host, V1_ONLY | {"api_requires_token": False}, UNSUPPORTED, id="host: v1 only"
        ),
        pytest.param(_by_token, SOCKET, NOT_A_P1_METER, id="pasted token: socket"),
        pytest.param(_by_token, V1_ONLY, UNSUPPORTED, id="pasted token: v1 only"),
    ],
)
async def test_a_device_that_is_no_v2_p1_meter_is_refused(
    hass: HomeAssistant,
    socket_enabled: None,
    test_ca: Any,
    trust_test_ca: None,
    submit: Callable[[HomeAssistant, FakeP1Meter], Awaitable[ConfigFlowResult]],
    device: dict[str, Any],
    expected: dict[str, object],
) -> None:
    async with FakeP1Meter(ca=test_ca, **device) as other:
        result = await submit(hass, other)
    shown: dict[str, object] = dict(result)
    assert {key: shown[key] for key in expected} == expected
    assert await translated(hass, result)


async def test_press_form_shown_again_does_not_register_again(
    hass: HomeAssistant, meter: FakeP1Meter
) -> None:
    """The press form asked for again without a submit: the form, no second registration."""
    result = await submit_p1_host(hass, f"127.0.0.1:{meter.port}")
    assert result["step_id"] == "authorize"
    meter.press_button()  # pressed, but nothing was submitted: no token may be taken
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "authorize"
    assert result["errors"] == {}
    assert meter.tokens == frozenset()


# ------------------------------------------------------------------------- aborts have texts


async def test_second_discovery_of_a_meter_being_set_up_is_explained(
    hass: HomeAssistant, meter: FakeP1Meter
) -> None:
    """A meter announced again while its first flow is open: 'already_in_progress', in words."""
    first = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=zeroconf_info(meter)
    )
    assert first["type"] is FlowResultType.FORM
    second = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=zeroconf_info(meter)
    )
    assert second["type"] is FlowResultType.ABORT
    assert second["reason"] == "already_in_progress"
    assert "setup" in await translated(hass, second)
