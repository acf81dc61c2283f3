"""The cluster certificate: a real self-signed certificate, as every LXD server has one."""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib

from mockserver.errors import bad_request

GO_NIL_ERROR = "%!w(<nil>)"   # what Go's fmt writes for a nil error wrapped with %w


@functools.cache
def generate(common_name: str = "pylxd-cluster-mock") -> tuple[str, str]:
    """Return (certificate PEM, key PEM) for a new ECDSA P-384 self-signed certificate.

    Cached per name: a certificate costs milliseconds, and tests build many states.
    """
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pylxd-cluster"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA384())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return cert_pem, key_pem


def fingerprint(cert_pem: str) -> str:
    """SHA-256 of the DER certificate, lowercase hex, as LXD prints fingerprints.

    Raises:
        ApiError: 400 if ``cert_pem`` is not a PEM certificate.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except (ValueError, TypeError):
        # LXD formats a nil error with %w there: Go prints it as "%!w(<nil>)".
        raise bad_request(f"Certificate must be base64 encoded PEM certificate: {GO_NIL_ERROR}") from None
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def check_key(key_pem: str) -> None:
    """Raises: ApiError 400 if ``key_pem`` is not a PEM private key."""
    from cryptography.hazmat.primitives import serialization

    try:
        serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise bad_request(f"Private key must be base64 encoded PEM key: {GO_NIL_ERROR}") from None
