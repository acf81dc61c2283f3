"""HTTP/1.1 by hand, over TCP or a unix socket: requests sent as the bytes given (bad
headers, bodies that lie about their encoding, paths with escapes), replies read as they
are. Clients such as requests refuse to send what a hostile client sends."""
from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass
class RawReply:
    status: int
    headers: dict = field(default_factory=dict)   # lower-cased names
    body: bytes = b""

    @property
    def is_envelope(self) -> bool:
        """Whether the reply is one of LXD's JSON envelopes."""
        import json

        if not self.headers.get("content-type", "").startswith("application/json"):
            return False
        try:
            envelope = json.loads(self.body)
        except ValueError:
            return False
        return isinstance(envelope, dict) and envelope.get("type") in ("sync", "async", "error")


def connect(address: str, timeout: float = 10.0) -> socket.socket:
    """``address``: a unix socket path, or ``host:port``."""
    if address.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address)
        return sock
    host, _, port = address.rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)


def request_bytes(method: str, path: str, body: bytes = b"", headers=()) -> bytes:
    """The request as sent: ``headers`` is a list of (name, value) of str or bytes."""
    lines = [f"{method} {path} HTTP/1.1".encode("latin-1"), b"Host: lxd"]
    names = set()
    for name, value in headers:
        name = name.encode("latin-1") if isinstance(name, str) else name
        value = value.encode("latin-1") if isinstance(value, str) else value
        names.add(name.lower())
        lines.append(name + b": " + value)
    if b"content-length" not in names and b"transfer-encoding" not in names:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def exchange(address: str, method: str, path: str, body: bytes = b"", headers=(), timeout: float = 10.0) -> RawReply:
    """Send one request and read the whole reply (the server closes after it).

    Raises:
        ConnectionError: the server closed without a complete reply.
    """
    with connect(address, timeout) as sock:
        sock.sendall(request_bytes(method, path, body, headers))
        return read_reply(sock)


def read_reply(sock: socket.socket) -> RawReply:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ConnectionError(f"no complete reply, got {data[:200]!r}")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return RawReply(int(status_line.split()[1]), headers, body)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out
