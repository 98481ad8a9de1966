"""Constants shared by the Home Assistant layer of Meterit."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
import logging
from typing import Final

DOMAIN: Final = "meterit"
LOGGER = logging.getLogger(__package__)

CONF_SOURCE: Final = "source"
CONF_IDENTIFIER: Final = "identifier"
CONF_PRODUCT_TYPE: Final = "product_type"
CONF_PRODUCT_NAME: Final = "product_name"
CONF_SERIAL: Final = "serial"
CONF_REMOVE_TOKEN: Final = "remove_token"  # noqa: S105 (a form field name)
CONF_PRICE_SOURCE: Final = "price_source"
CONF_REGION: Final = "region"
"""A PVPC entry's region (``esios.Region``): its identity."""
PRICE_NONE: Final = "none"
PRICE_ENTRY_PREFIX: Final = "entry:"
SIGNAL_PRICES_STORED: Final = f"{DOMAIN}_prices_stored"
"""Dispatcher signal with a region's value: a day of its prices was stored."""

DEFAULT_P1_PORT: Final = 443

# A P1 meter pushes about once a second (every 10 s on DSMR 4 meters). No push for this long
# makes its entities unavailable, so that a stale value never reaches the energy dashboard.
P1_STALE_AFTER: Final = timedelta(seconds=30)
P1_WATCHDOG_INTERVAL: Final = timedelta(seconds=5)

# Stations one power webhook entry keeps (each is a device with four entities): a reading of a
# new station beyond this is refused (400), so a sensor with a bad ID cannot flood Home Assistant.
MAX_STATIONS: Final = 64

# Development only: a PEM file with an extra CA that P1 connections trust besides HomeWizard's
# (scripts/develop points it at the simulator's CA). Never set in a real installation.
ENV_EXTRA_CA_FILE: Final = "METERIT_P1_EXTRA_CA_FILE"
# Development only: the base URL of a simulated ESIOS (scripts/develop points it at
# simulator.esios on loopback) instead of REE's. Never set in a real installation.
ENV_ESIOS_BASE_URL: Final = "METERIT_ESIOS_BASE_URL"


class Source(StrEnum):
    """The kinds of config entry this integration has."""

    P1 = "p1"
    PRICES = "prices"
    WEBHOOK = "webhook"
