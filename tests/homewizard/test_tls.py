"""The HomeWizard CA shipped with the integration: its fingerprint and its source."""

from __future__ import annotations

import hashlib
import json
import ssl

from homewizard_energy.v2.cacert import CACERT as LIBRARY_CA

from custom_components.meterit.homewizard import create_ssl_context, homewizard_ca
from custom_components.meterit.homewizard.tls import HOMEWIZARD_CA_FILE, HOMEWIZARD_CA_SHA256


def _sha256(pem: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.strip())).hexdigest()


def test_shipped_ca_has_the_pinned_fingerprint() -> None:
    """The PEM beside the module is the certificate whose SHA-256 the module names."""
    assert HOMEWIZARD_CA_FILE.is_file()
    assert _sha256(homewizard_ca()) == HOMEWIZARD_CA_SHA256


def test_shipped_ca_is_the_one_python_homewizard_energy_ships() -> None:
    """The source of the file: the CA core's library trusts, byte for byte as a certificate."""
    assert _sha256(LIBRARY_CA) == _sha256(homewizard_ca())


def test_shipped_ca_is_homewizards_appliance_ca() -> None:
    """The default context trusts exactly that one CA (no public CAs)."""
    context = create_ssl_context()
    (ca,) = context.get_ca_certs()
    assert (("organizationName", "HomeWizard"),) in ca["subject"]
    assert (("commonName", "Appliance Access CA"),) in ca["subject"]
    assert ca["notAfter"] == "Dec 16 19:12:12 2031 GMT"


def test_the_integration_needs_no_python_homewizard_energy() -> None:
    """No module imports it and the manifest does not require it (core's pin is core's)."""
    package = HOMEWIZARD_CA_FILE.parents[1]
    for source in package.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert "import homewizard_energy" not in text, source
        assert "from homewizard_energy" not in text, source
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    assert not [r for r in manifest["requirements"] if r.startswith("python-homewizard-energy")]
