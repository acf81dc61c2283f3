"""Authenticated encryption of pack datagrams with the pre-shared secret.

Every datagram is ``MAGIC | VERSION | nonce(12) | ChaCha20-Poly1305(plaintext)`` with the
header as associated data. The key is derived with HKDF-SHA256 from the secret, salted
with the pack name, so two packs that share a secret still cannot read each other.
A datagram from another pack, with a wrong key, or altered in flight fails to open and is
dropped. (The seeds' peers use AES-CBC with no MAC; here nothing unauthenticated is read.)
"""
from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"PK"
VERSION = 1
HEADER = MAGIC + bytes([VERSION])
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = len(HEADER) + NONCE_SIZE + TAG_SIZE


class OpenError(Exception):
    """A datagram that cannot be opened; ``reason`` is the drop counter to raise."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def derive_key(secret: str, pack_name: str, purpose: str = "datagram") -> bytes:
    """One key per purpose ("datagram"; "document" for what members send each other over
    HTTP), so that nothing sealed for one use opens as the other."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"pylxd-cluster pack:" + pack_name.encode(),
                info=f"pylxd-cluster pack {purpose} key v1".encode()).derive(secret.encode())


class Sealer:
    """Seals and opens datagrams with one pack key."""

    def __init__(self, key: bytes):
        self._aead = ChaCha20Poly1305(key)

    @classmethod
    def for_pack(cls, secret: str, pack_name: str, purpose: str = "datagram") -> Sealer:
        return cls(derive_key(secret, pack_name, purpose))

    def seal(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return HEADER + nonce + self._aead.encrypt(nonce, plaintext, HEADER)

    def open(self, datagram: bytes) -> bytes:
        """Raises: OpenError("truncated" | "not_pack" | "version" | "auth")."""
        if len(datagram) < OVERHEAD:
            raise OpenError("truncated")
        if datagram[:2] != MAGIC:
            raise OpenError("not_pack")
        if datagram[2] != VERSION:
            raise OpenError("version")
        nonce = datagram[3:3 + NONCE_SIZE]
        try:
            return self._aead.decrypt(nonce, datagram[3 + NONCE_SIZE:], HEADER)
        except InvalidTag:
            raise OpenError("auth") from None
