"""Plain HTTP and websockets over a daemon's unix socket (no SDK in the way)."""
from __future__ import annotations

import http.client
import json
import socket


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 5.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def raw_request(socket_path: str, method: str, path: str, body=None, timeout: float = 5.0):
    """``(status, parsed JSON or text)`` of one request to the API on ``socket_path``
    (``body``: JSON data, or bytes sent as they are)."""
    conn = _UnixHTTPConnection(socket_path, timeout)
    try:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read().decode()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw
    finally:
        conn.close()


def config_of(node) -> dict:
    """GET /1.0/cluster/config on ``node`` (metadata)."""
    status, reply = raw_request(node.socket_path, "GET", "/1.0/cluster/config")
    assert status == 200, reply
    return reply["metadata"]


def modules(view: dict, key: str = "effective") -> dict:
    """A config view's module list (``effective`` or ``modules``) as {name: options}."""
    return {name: options for item in view[key] for name, options in item.items()}


def write(node, method: str, path: str, body=None, expect: int = 200) -> dict:
    """One request to ``node``'s API; asserts the status and returns the reply."""
    status, reply = raw_request(node.socket_path, method, path, body, timeout=15)
    assert status == expect, (method, path, status, reply)
    return reply


def _unix_websocket(socket_path: str, path: str, timeout: float = 10.0):
    """A websocket (websocket-client) to ``path`` of the API on the unix socket ``socket_path``;
    blocking reads once connected."""
    import websocket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        ws = websocket.WebSocket()
        ws.connect(f"ws://localhost{path}", socket=sock, timeout=timeout)
    except BaseException:
        sock.close()
        raise
    ws.settimeout(None)
    return ws
