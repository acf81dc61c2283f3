"""TLS for the server: its certificate, and which client certificates it trusts."""
from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
from dataclasses import dataclass, field


@dataclass
class TlsSettings:
    """``trusted_certs`` are PEM client certificates. With none, every client is trusted
    (a test server's convenience); with some, LXD's rule applies: a listed certificate is
    trusted, no certificate is "untrusted" (GET /1.0 only), and an unknown certificate is
    refused during the handshake (Python's ssl cannot accept it and decide later).
    """

    cert_pem: str
    key_pem: str
    trusted_certs: list = field(default_factory=list)

    @property
    def trust_all(self) -> bool:
        return not self.trusted_certs

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory(prefix="pylxd-cluster-tls-") as tmp:
            cert_path, key_path = os.path.join(tmp, "server.crt"), os.path.join(tmp, "server.key")
            with open(cert_path, "w") as handle:
                handle.write(self.cert_pem)
            with open(os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
                handle.write(self.key_pem)
            ctx.load_cert_chain(cert_path, key_path)
        if self.trusted_certs:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(cadata="\n".join(self.trusted_certs))
        return ctx


def peer_fingerprint(ssl_object) -> str | None:
    """SHA-256 fingerprint of the client's certificate, if it sent one."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None
