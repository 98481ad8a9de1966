"""Helpers shared by the Home Assistant tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

from ipaddress import ip_address

from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

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
