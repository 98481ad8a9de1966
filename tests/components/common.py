"""Helpers shared by the Home Assistant tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigFlowResult
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from custom_components.meterit.const import DOMAIN
from simulator.p1_meter import FakeP1Meter


def zeroconf_info(meter: FakeP1Meter, **props: str) -> ZeroconfServiceInfo:
    """What mDNS tells Home Assistant about ``meter`` (``props`` override or, empty, drop)."""
    properties = {
        "api_version": "2.0.0",
        "id": meter.identifier,
        "serial": meter.serial,
        "product_name": "P1 Meter",
        "product_type": meter.product_type,
    } | props
    return ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        hostname="p1meter-aabbcc.local.",
        name="p1meter-aabbcc._homewizard._tcp.local.",
        port=meter.port,
        type="_homewizard._tcp.local.",
        properties={k: v for k, v in properties.items() if v},
    )


async def start_user_flow(hass: HomeAssistant, step: str) -> ConfigFlowResult:
    """A user flow's first form after picking ``step`` in the menu (checked on the way)."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert step in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": step}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == step
    return result


async def import_hwlogger(
    hass: HomeAssistant, device_id: str, path: str = "meter_data.db"
) -> dict[str, Any]:
    """Call the ``import_hwlogger`` service for ``device_id``'s meter; its response."""
    response = await hass.services.async_call(
        DOMAIN,
        "import_hwlogger",
        {"device": device_id, "path": path},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    return dict(response)


async def submit_p1_host(hass: HomeAssistant, host: str) -> ConfigFlowResult:
    """A user flow's p1 form, from the menu, submitted with ``host``."""
    flow_id = (await start_user_flow(hass, "p1"))["flow_id"]
    return await hass.config_entries.flow.async_configure(flow_id, {CONF_HOST: host})
