"""Connecting to a HomeWizard P1 meter: host parsing, the TLS context (HomeWizard's CA), the REST client."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
import ssl

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from ..const import DEFAULT_P1_PORT, DOMAIN, ENV_EXTRA_CA_FILE
from ..homewizard import HomeWizardClient, create_ssl_context, homewizard_ca

_SSL_CACHE = f"{DOMAIN}_ssl_contexts"


def split_host_port(value: str) -> tuple[str, int]:
    """Split ``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address.

    Raises ValueError with a message that says what is wrong.
    """
    text = value.strip()
    if not text:
        raise ValueError("the host is empty")
    if any(ch.isspace() or ch in "/?#@" for ch in text):
        raise ValueError(f"{text!r} is not a host name or address")
    port = DEFAULT_P1_PORT
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"{text!r}: missing ']'")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected ':port' after ']'")
            port = _parse_port(rest[1:])
        ipaddress.IPv6Address(host)
        return host, port
    if text.count(":") > 1:  # a bare IPv6 address
        ipaddress.IPv6Address(text)
        return text, port
    host, sep, port_text = text.partition(":")
    if sep:
        port = _parse_port(port_text)
    if not host:
        raise ValueError(f"{text!r}: the host is empty")
    return host, port


def _parse_port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def _build_ssl_context(verify_identity: bool) -> ssl.SSLContext:
    cadata = homewizard_ca()
    if extra := os.environ.get(ENV_EXTRA_CA_FILE):
        cadata = cadata + "\n" + Path(extra).read_text(encoding="ascii")
    return create_ssl_context(cadata, verify_identity=verify_identity)


async def async_get_ssl_context(hass: HomeAssistant, *, verify_identity: bool) -> ssl.SSLContext:
    """Return the (cached) TLS context for HomeWizard devices; built off the event loop."""
    cache: dict[bool, ssl.SSLContext] = hass.data.setdefault(_SSL_CACHE, {})
    if verify_identity not in cache:
        cache[verify_identity] = await hass.async_add_executor_job(
            _build_ssl_context, verify_identity
        )
    return cache[verify_identity]


async def async_create_client(
    hass: HomeAssistant, host: str, *, identifier: str | None, token: str | None
) -> HomeWizardClient:
    """Create a REST client for ``host`` (``host[:port]``) on Home Assistant's session."""
    name, port = split_host_port(host)
    return HomeWizardClient(
        async_get_clientsession(hass),
        name,
        port=port,
        identifier=identifier,
        token=token,
        ssl_context=await async_get_ssl_context(hass, verify_identity=identifier is not None),
    )
