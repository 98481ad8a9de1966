"""Discovery beside core's HomeWizard: offered for P1 meters only, never shown for others."""

from __future__ import annotations

from homeassistant.components.zeroconf.discovery import _match_against_props
from homeassistant.config_entries import EVENT_FLOW_DISCOVERED, SOURCE_ZEROCONF
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.loader import async_get_zeroconf
import pytest

from custom_components.meterit.const import DOMAIN
from simulator.p1_meter import FakeP1Meter

from .common import zeroconf_info

SERVICE = "_homewizard._tcp.local."


@pytest.mark.parametrize(
    ("product_type", "offered"),
    [
        ("HWE-P1", True),
        ("hwe-p1", True),
        ("HWE-SKT", False),  # energy socket
        ("HWE-KWH3", False),  # kWh meter
        ("HWE-BAT", False),  # plug-in battery
        (None, False),
    ],
)
async def test_home_assistant_starts_a_flow_only_for_p1_meters(
    hass: HomeAssistant, product_type: str | None, offered: bool
) -> None:
    """The manifest's matcher, as Home Assistant's zeroconf matches it, names the P1 meter."""
    matchers = [m for m in (await async_get_zeroconf(hass))[SERVICE] if m["domain"] == DOMAIN]
    assert matchers
    props: dict[str, str | None] = {
        "api_version": "2.0.0",
        "serial": "5c2fafabcdef",
        "product_name": "P1 Meter",
    }
    if product_type is not None:
        props["product_type"] = product_type
    matched = [m for m in matchers if _match_against_props(m.get("properties", {}), props)]
    assert bool(matched) is offered


async def test_another_device_aborts_before_any_form_and_is_not_shown(
    hass: HomeAssistant, meter: FakeP1Meter
) -> None:
    """A flow started anyway (an older matcher) ends in its first step: nothing in the UI."""
    discovered: list[Event] = []
    hass.bus.async_listen(EVENT_FLOW_DISCOVERED, discovered.append)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_ZEROCONF},
        data=zeroconf_info(meter, product_type="HWE-SKT"),
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_a_p1_meter"
    assert hass.config_entries.flow.async_progress() == []
    assert discovered == []

    # the same announcement from a P1 meter is shown: a discovered flow with its form
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=zeroconf_info(meter)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.FORM
    assert [flow["step_id"] for flow in hass.config_entries.flow.async_progress()] == [
        "discovery_confirm"
    ]
    assert len(discovered) == 1
