"""Exceptions raised by the HomeWizard v2 client.

Messages never contain a token.
"""

from __future__ import annotations


class HomeWizardError(Exception):
    """Base class of every error raised by this package."""


class ConnectionFailedError(HomeWizardError):
    """The device could not be reached: network error, timeout, refused, closed mid-handshake."""


class CertificateError(ConnectionFailedError):
    """TLS verification of the device failed (untrusted CA or unexpected identity)."""


class IdentityMismatchError(CertificateError):
    """The certificate is not for the expected device identifier (another device answers)."""


class UnauthorizedError(HomeWizardError):
    """The device rejected the token (HTTP 401 or a WebSocket authorization failure)."""


class RegistrationNotEnabledError(HomeWizardError):
    """`POST /api/user` answered 403 `user:creation-not-enabled`: the button was not pressed."""


class DeviceApiError(HomeWizardError):
    """The device answered with an `{"error": "<area>:<code>"}` body not covered elsewhere."""

    def __init__(self, code: str, message: str | None = None) -> None:
        """Store the device's error `code` (e.g. `user:name-invalid`)."""
        super().__init__(message or f"device returned error {code!r}")
        self.code = code


class InvalidResponseError(HomeWizardError):
    """The device sent malformed JSON or an object of the wrong shape."""


class UnsupportedDeviceError(HomeWizardError):
    """The device does not speak the local API v2."""
