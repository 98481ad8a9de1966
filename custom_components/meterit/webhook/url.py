"""The URL a power sensor posts to, as shown when a power webhook is created."""

from __future__ import annotations

from contextlib import suppress
from ipaddress import ip_address

from homeassistant.components import webhook
from homeassistant.core import HomeAssistant
from homeassistant.helpers.network import NoURLAvailableError, get_url
import yarl


def webhook_url(hass: HomeAssistant, webhook_id: str, local_only: bool) -> str:
    """The webhook's URL on Home Assistant's internal URL, else on where it listens.

    Order: the internal URL set in Settings > System > Network; else the address the HTTP
    server is bound to (its detected IP when bound to every interface; Home Assistant's own
    fallback uses that IP even when it listens on loopback only); else, unless local only,
    the external (or cloud) URL. Raises ``NoURLAvailableError`` when none is known.
    """
    return f"{_base_url(hass, local_only)}{webhook.async_generate_path(webhook_id)}"


def _base_url(hass: HomeAssistant, local_only: bool) -> str:
    if hass.config.internal_url:
        with suppress(NoURLAvailableError):
            return get_url(hass, allow_external=False, allow_cloud=False)
    if (api := hass.config.api) is not None:
        host = api.host
        with suppress(ValueError):  # a host name is used as it is
            if ip_address(host).is_unspecified:
                host = api.local_ip
        scheme = "https" if api.use_ssl else "http"
        return str(yarl.URL.build(scheme=scheme, host=host, port=api.port))
    if not local_only:
        return get_url(hass, allow_internal=False)
    raise NoURLAvailableError
