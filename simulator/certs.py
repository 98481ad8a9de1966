"""A throw-away certificate authority shaped like HomeWizard's.

Device certificates carry the identity in the CN only (``appliance/p1dongle/<serial>``)
and no subjectAltName, so clients must verify the CN, exactly as with the real devices.
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime as dt
from pathlib import Path
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["TestCA", "make_test_ca"]

_VALIDITY = dt.timedelta(days=365)
_BACKDATE = dt.timedelta(days=1)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(slots=True, frozen=True)
class TestCA:
    """A CA certificate and key able to issue CN-only server certificates."""

    __test__ = False  # not a pytest test class

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cadata(self) -> str:
        """The CA certificate as PEM text (what a client trusts)."""
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, common_name: str) -> tuple[bytes, bytes]:
        """Issue a server certificate for ``common_name``; return ``(cert_pem, key_pem)``."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    def write_ca(self, directory: Path) -> Path:
        """Write ``ca.pem`` into ``directory`` (created if needed) and return its path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "ca.pem"
        path.write_text(self.cadata)
        return path

    def write_server_files(self, directory: Path, common_name: str) -> tuple[Path, Path]:
        """Issue a certificate for ``common_name`` and write ``server.pem``/``server.key``."""
        cert_pem, key_pem = self.issue(common_name)
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / "server.pem", directory / "server.key"
        cert_path.write_bytes(cert_pem)
        key_path.write_bytes(key_pem)
        key_path.chmod(0o600)
        return cert_path, key_path

    def server_ssl_context(self, common_name: str) -> ssl.SSLContext:
        """Return a server SSL context presenting a fresh certificate for ``common_name``."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory(prefix="meterit-cert-") as tmp:
            cert_path, key_path = self.write_server_files(Path(tmp), common_name)
            context.load_cert_chain(cert_path, key_path)
        return context


def make_test_ca(name: str = "Meterit Test Appliance Access CA") -> TestCA:
    """Create a new self-signed CA (EC P-256, valid one year)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return TestCA(cert, key)
