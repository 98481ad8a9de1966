"""The P1 meter's config flow, against the simulator over real TLS."""

from __future__ import annotations

from ipaddress import ip_address

from homeassistant.config_entries import SOURCE_ZEROCONF
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.meterit.const import CONF_IDENTIFIER, CONF_SOURCE, DOMAIN
from custom_components.meterit.p1.client import split_host_port
from simulator.certs import TestCA, make_test_ca
from simulator.p1_meter import FakeP1Meter

from .common import start_user_flow, submit_p1_host, zeroconf_info
from .conftest import METER_UNIQUE_ID, p1_entry


async def _start_p1_flow(hass: HomeAssistant) -> str:
    return str((await start_user_flow(hass, "p1"))["flow_id"])


async def test_user_flow_button_press(hass: HomeAssistant, meter: FakeP1Meter) -> None:
    """Host, then 'press the button': a 403 first, then the token; the entry has the identity."""
    result = await submit_p1_host(hass, f"127.0.0.1:{meter.port}")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "authorize"
    assert meter.tokens == frozenset()  # the first request only opened the meter's wait

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "button_not_pressed"}

    meter.press_button()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "P1 Meter"
    assert result["result"].unique_id == METER_UNIQUE_ID
    data = result["data"]
    assert data[CONF_SOURCE] == "p1"
    assert data[CONF_HOST] == f"127.0.0.1:{meter.port}"
    assert data[CONF_IDENTIFIER] == "appliance/p1dongle/5c2fafaabbcc"
    assert data[CONF_TOKEN] in meter.tokens
    # the registration name is unique to this installation, never a shared default
    (name,) = meter.users
    assert name.startswith("local/meterit#")
    assert len(name) == len("local/meterit#") + 8


async def test_user_flow_meter_tells_identity(hass: HomeAssistant, meter: FakeP1Meter) -> None:
    """A meter that answers GET /api without a token: a known meter aborts before the press."""
    meter.api_requires_token = False
    p1_entry(meter).add_to_hass(hass)
    result = await submit_p1_host(hass, f"127.0.0.1:{meter.port}")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_second_add_of_same_meter_aborts(hass: HomeAssistant, meter: FakeP1Meter) -> None:
    """The identity comes after the press: the same meter again aborts there."""
    p1_entry(meter).add_to_hass(hass)
    flow_id = await _start_p1_flow(hass)
    meter.press_button()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: f"127.0.0.1:{meter.port}"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize(
    ("host", "error"),
    [
        ("", {CONF_HOST: "invalid_host"}),
        ("meter .local", {CONF_HOST: "invalid_host"}),
        ("127.0.0.1:99999", {CONF_HOST: "invalid_host"}),
        ("[::1", {CONF_HOST: "invalid_host"}),
        ("127.0.0.1:1", {"base": "cannot_connect"}),
    ],
)
async def test_user_flow_bad_host(
    hass: HomeAssistant, socket_enabled: None, host: str, error: dict[str, str]
) -> None:
    """A malformed host or one where nothing listens: a field error, the form again."""
    result = await submit_p1_host(hass, host)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == error


async def test_user_flow_untrusted_certificate(
    hass: HomeAssistant, socket_enabled: None, tolerate_tls_rejects: None
) -> None:
    """A device whose certificate is not from HomeWizard's CA is refused."""
    async with FakeP1Meter(ca=make_test_ca("Impostor CA")) as impostor:
        result = await submit_p1_host(hass, f"127.0.0.1:{impostor.port}")
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_certificate"}


async def test_user_flow_certificate_for_another_identity(
    hass: HomeAssistant,
    socket_enabled: None,
    test_ca: TestCA,
    trust_test_ca: None,
    tolerate_tls_rejects: None,
) -> None:
    """A trusted certificate whose CN is not the identity the device claims is refused."""
    async with FakeP1Meter(ca=test_ca, certificate_cn="appliance/p1dongle/000000000000") as fake:
        fake.press_button()
        result = await submit_p1_host(hass, f"127.0.0.1:{fake.port}")
        assert result["step_id"] == "authorize"
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_certificate"}
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_user_flow_not_a_p1_meter_after_press(
    hass: HomeAssistant, socket_enabled: None, test_ca: TestCA, trust_test_ca: None
) -> None:
    """A device that tells its type only with a token is still checked after the press."""
    async with FakeP1Meter(ca=test_ca, product_type="HWE-SKT") as skt:
        result = await submit_p1_host(hass, f"127.0.0.1:{skt.port}")
        skt.press_button()
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_a_p1_meter"


async def test_zeroconf_ipv6_host(hass: HomeAssistant, meter: FakeP1Meter) -> None:
    """An IPv6 announcement on the default port keeps a bracketed host without a port."""
    info = zeroconf_info(meter)
    info.ip_address = ip_address("fe80::1")
    info.port = 443
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"] == {"name": "P1 Meter", "host": "[fe80::1]"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.168.1.50", ("192.168.1.50", 443)),
        (" meter.local:8443 ", ("meter.local", 8443)),
        ("[fe80::1]:8443", ("fe80::1", 8443)),
        ("[fe80::1]", ("fe80::1", 443)),
        ("fe80::1", ("fe80::1", 443)),
    ],
)
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    """Hosts the flow accepts: names, IPv4, IPv6 with or without brackets, optional port."""
    assert split_host_port(text) == expected


@pytest.mark.parametrize(
    "text", ["", "a b", "http://x", "[fe80::1]x", "[zz::1]", "fe80::zz", ":443", "x:0", "x:port"]
)
def test_split_host_port_rejects(text: str) -> None:
    """Everything else is a ValueError with a message (shown as the field error)."""
    with pytest.raises(ValueError, match=r".+"):
        split_host_port(text)


async def test_zeroconf_discovery(hass: HomeAssistant, meter: FakeP1Meter) -> None:
    """A discovered meter: confirm, press, entry."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=zeroconf_info(meter)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "authorize"
    meter.press_button()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == METER_UNIQUE_ID
    assert result["data"][CONF_HOST] == f"127.0.0.1:{meter.port}"


async def test_zeroconf_updates_host_of_known_meter(
    hass: HomeAssistant, meter: FakeP1Meter
) -> None:
    """The meter moved to another address: the entry follows it."""
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: "10.9.9.9"})
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=zeroconf_info(meter)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == f"127.0.0.1:{meter.port}"


@pytest.mark.parametrize(
    ("props", "reason"),
    [
        ({"serial": ""}, "invalid_discovery_parameters"),
        ({"product_type": "HWE-SKT"}, "not_a_p1_meter"),
    ],
)
async def test_zeroconf_rejects(
    hass: HomeAssistant, meter: FakeP1Meter, props: dict[str, str], reason: str
) -> None:
    """Incomplete announcements and other devices are not offered."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=zeroconf_info(meter, **props)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


async def test_reauth(hass: HomeAssistant, meter: FakeP1Meter) -> None:
    """A revoked token: setup fails with auth, reauth registers again and reloads."""
    entry = p1_entry(meter)
    meter.revoke(entry.data[CONF_TOKEN])
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    assert flow["step_id"] == "reauth_confirm"

    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["step_id"] == "authorize"
    meter.press_button()
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_TOKEN] in meter.tokens
    await hass.async_block_till_done()
    assert entry.state.value == "loaded"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reauth_other_meter_aborts(
    hass: HomeAssistant, meter: FakeP1Meter, test_ca: TestCA
) -> None:
    """Reauth at an address where now another meter answers: wrong device, no change."""
    async with FakeP1Meter(ca=test_ca, serial="aabbccddeeff") as other:
        entry = p1_entry(meter)
        entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_HOST: f"127.0.0.1:{other.port}"}
        )
        result = await entry.start_reauth_flow(hass)
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
        other.press_button()
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"


async def test_reconfigure(hass: HomeAssistant, meter: FakeP1Meter, test_ca: TestCA) -> None:
    """A new address for the same meter is taken; an impostor or another meter is refused."""
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: "127.0.0.1:1"})
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"

    # a certificate HomeWizard's CA did not sign (even with this meter's name): the form stays
    async with FakeP1Meter(ca=make_test_ca("Impostor CA"), serial=meter.serial) as impostor:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: f"127.0.0.1:{impostor.port}"}
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_certificate"}

    # a genuine HomeWizard meter, but another one: its certificate names another identity
    async with FakeP1Meter(ca=test_ca, serial="aabbccddeeff") as other:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: f"127.0.0.1:{other.port}"}
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"
    assert entry.data[CONF_HOST] == "127.0.0.1:1"

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: f"127.0.0.1:{meter.port}"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_HOST] == f"127.0.0.1:{meter.port}"
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_revoked_token(hass: HomeAssistant, meter: FakeP1Meter) -> None:
    """The meter answers 401 (token revoked): the form says to re-authenticate, nothing changes."""
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: "127.0.0.1:1"})
    meter.revoke(entry.data[CONF_TOKEN])
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: f"127.0.0.1:{meter.port}"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "reconfigure_unauthorized"}
    assert entry.data[CONF_HOST] == "127.0.0.1:1"
