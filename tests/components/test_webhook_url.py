"""The URL shown for a new power webhook: one a sensor can reach."""

from __future__ import annotations

from homeassistant.components.http import ApiConfig
from homeassistant.core import HomeAssistant
from homeassistant.helpers.network import NoURLAvailableError
import pytest

from custom_components.meterit.webhook.flow import webhook_placeholders
from custom_components.meterit.webhook.url import webhook_url

from .conftest import WEBHOOK_ID

PATH = f"/api/webhook/{WEBHOOK_ID}"
DETECTED_IP = "192.0.2.2"


def listening(hass: HomeAssistant, host: str, port: int = 8123, *, ssl: bool = False) -> None:
    """Home Assistant's HTTP server bound to ``host`` (its first server_host), IP detected."""
    hass.config.api = ApiConfig(local_ip=DETECTED_IP, host=host, port=port, use_ssl=ssl)


async def test_home_assistant_on_loopback_only_shows_the_loopback_address(
    hass: HomeAssistant,
) -> None:
    listening(hass, "127.0.0.1", 18123)
    assert webhook_url(hass, WEBHOOK_ID, True) == f"http://127.0.0.1:18123{PATH}"
    assert webhook_placeholders(hass, WEBHOOK_ID, False)["url"] == f"http://127.0.0.1:18123{PATH}"


@pytest.mark.parametrize("everywhere", ["0.0.0.0", "::"])  # noqa: S104 - what is being tested
async def test_bound_to_every_interface_shows_the_detected_ip(
    hass: HomeAssistant, everywhere: str
) -> None:
    listening(hass, everywhere)
    assert webhook_url(hass, WEBHOOK_ID, True) == f"http://{DETECTED_IP}:8123{PATH}"


async def test_a_bound_ipv6_address_or_host_name_and_tls(hass: HomeAssistant) -> None:
    listening(hass, "fd00::5", ssl=True)
    assert webhook_url(hass, WEBHOOK_ID, True) == f"https://[fd00::5]:8123{PATH}"
    listening(hass, "ha.lan", 443, ssl=True)
    assert webhook_url(hass, WEBHOOK_ID, True) == f"https://ha.lan{PATH}"


async def test_the_internal_url_wins_even_when_not_local_only(hass: HomeAssistant) -> None:
    listening(hass, "127.0.0.1")
    hass.config.internal_url = "http://homeassistant.lan:8123/"
    hass.config.external_url = "https://example.duckdns.org"
    for local_only in (True, False):
        assert webhook_url(hass, WEBHOOK_ID, local_only) == f"http://homeassistant.lan:8123{PATH}"


async def test_without_a_server_only_a_public_webhook_falls_back_to_the_external_url(
    hass: HomeAssistant,
) -> None:
    hass.config.api = None
    hass.config.external_url = "https://example.duckdns.org"
    assert webhook_url(hass, WEBHOOK_ID, False) == f"https://example.duckdns.org{PATH}"
    with pytest.raises(NoURLAvailableError):
        webhook_url(hass, WEBHOOK_ID, True)
    assert webhook_placeholders(hass, WEBHOOK_ID, True)["url"] == (
        f"http://<home-assistant>:8123{PATH}"
    )


async def test_an_internal_url_home_assistant_rejects_falls_back_to_the_bound_address(
    hass: HomeAssistant,
) -> None:
    # with TLS on, Home Assistant accepts no bare-IP internal URL (allow_ip is off)
    listening(hass, "10.0.0.3", ssl=True)
    hass.config.internal_url = "http://192.168.1.20:8123"
    assert webhook_url(hass, WEBHOOK_ID, True) == f"https://10.0.0.3:8123{PATH}"
