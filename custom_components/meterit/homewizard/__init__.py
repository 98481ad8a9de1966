"""HomeWizard local API v2: REST client, live WebSocket stream, models. No Home Assistant here."""

from __future__ import annotations

from .client import HomeWizardClient
from .counters import CounterGuard
from .errors import (
    CertificateError,
    ConnectionFailedError,
    DeviceApiError,
    HomeWizardError,
    IdentityMismatchError,
    InvalidResponseError,
    RegistrationNotEnabledError,
    UnauthorizedError,
    UnsupportedDeviceError,
)
from .models import (
    DeviceInfo,
    ExternalMeter,
    Measurement,
    ParsedMeasurement,
    SystemInfo,
    WsMessage,
    parse_measurement,
    parse_ws_message,
)
from .stream import MeasurementStream
from .tls import create_ssl_context, homewizard_ca

__all__ = [
    "CertificateError",
    "ConnectionFailedError",
    "CounterGuard",
    "DeviceApiError",
    "DeviceInfo",
    "ExternalMeter",
    "HomeWizardClient",
    "HomeWizardError",
    "IdentityMismatchError",
    "InvalidResponseError",
    "Measurement",
    "MeasurementStream",
    "ParsedMeasurement",
    "RegistrationNotEnabledError",
    "SystemInfo",
    "UnauthorizedError",
    "UnsupportedDeviceError",
    "WsMessage",
    "create_ssl_context",
    "homewizard_ca",
    "parse_measurement",
    "parse_ws_message",
]
