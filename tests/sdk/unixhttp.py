"""A tiny HTTP server on a real unix socket, answering fixed JSON replies (for socket discovery)."""

from __future__ import annotations

import http.server
import json
import os
import socketserver
import threading
from pathlib import Path
from typing import Any


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class UnixJSONServer:
    """Serves ``replies`` ({path: JSON body}) with HTTP 200 on the unix socket ``path``;
    anything else gets LXD's 404 envelope. ``seen`` lists the paths asked for."""

    def __init__(self, path: Path, replies: dict[str, Any]) -> None:
        self.path = str(path)
        self.seen: list[str] = []
        seen, bodies = self.seen, {key: json.dumps(value).encode() for key, value in replies.items()}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                seen.append(self.path)
                body = bodies.get(self.path.split("?", 1)[0])
                status = 200 if body is not None else 404
                if body is None:
                    body = b'{"type":"error","error_code":404,"error":"not found","metadata":null}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def address_string(self):
                return "unix"

            def log_message(self, *args):
                pass

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.server = _Server(self.path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> UnixJSONServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()
        os.unlink(self.path)
