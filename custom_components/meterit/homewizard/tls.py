"""TLS trust for HomeWizard devices: their own CA, and the certificate CN as identity."""

from __future__ import annotations

from pathlib import Path
import ssl
from typing import Final

__all__ = ["HOMEWIZARD_CA_FILE", "HOMEWIZARD_CA_SHA256", "create_ssl_context", "homewizard_ca"]

#: HomeWizard's "Appliance Access CA" (self-signed, valid 2021-12-18 to 2031-12-16), as
#: python-homewizard-energy 10.2.0 ships it (``homewizard_energy/v2/cacert.py``, Apache-2.0).
HOMEWIZARD_CA_FILE: Final = Path(__file__).with_name("homewizard_ca.pem")
#: SHA-256 of the CA certificate (DER); a test checks the file and the library's copy against it.
HOMEWIZARD_CA_SHA256: Final = "4ec277e62033fae8bc373e3f2a976676d3f665683873f1ea8e3bdf78ac680003"


def homewizard_ca() -> str:
    """The PEM of HomeWizard's CA (blocking: reads the file shipped beside this module)."""
    return HOMEWIZARD_CA_FILE.read_text(encoding="ascii")


def create_ssl_context(
    cadata: str | None = None, *, verify_identity: bool = True
) -> ssl.SSLContext:
    """Build the client SSL context for a HomeWizard device (blocking: run it in an executor).

    ``cadata`` is the PEM of the trusted CA, HomeWizard's "Appliance Access CA" by default
    (tests inject their own). The chain is always verified (``CERT_REQUIRED``).

    With ``verify_identity`` (the default) the certificate's CN is checked against the
    ``server_hostname`` the caller passes, which must be the device identifier
    ``appliance/<type>/<serial>`` (the device certificates carry no subjectAltName).
    ``verify_identity=False`` only skips that name check; it is meant for the first probe
    of a host, before its identifier is known.

    Raises ValueError if ``cadata`` is not a valid PEM certificate.
    """
    # Not create_default_context(): that would also trust the system's public CAs.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=homewizard_ca() if cadata is None else cadata)
    except (ssl.SSLError, ValueError) as err:
        raise ValueError(f"cadata: not a valid PEM CA certificate ({err})") from err
    # Like python-homewizard-energy: HomeWizard's CA is an X.509 v1 certificate, so the
    # strict checks Python enables by default would reject it.
    context.verify_flags = ssl.VERIFY_X509_PARTIAL_CHAIN
    if verify_identity:
        context.check_hostname = True
        context.hostname_checks_common_name = True
    else:
        context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    return context
