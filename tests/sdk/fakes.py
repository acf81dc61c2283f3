"""Wire-level fake for SDK unit tests: `responses` replaying LXD 5.0.2 golden captures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import responses

# Replies of a real LXD 5.0.2, kept with the tests (see tests/golden/README.md).
GOLDEN = Path(__file__).resolve().parents[1] / "golden"

ENDPOINT = "http://127.0.0.1:9"  # refused for real connections (e.g. the event websocket)

# Headers worth replaying; Date/Content-Length are the fake's business.
_KEPT_HEADERS = ("etag", "location", "content-type", "x-content-type-options")


def golden(name: str) -> tuple[int, dict[str, str], bytes]:
    """(HTTP status, headers, raw body) of a golden capture."""
    head = (GOLDEN / f"{name}.headers").read_text().splitlines()
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            if key.strip().lower() in _KEPT_HEADERS:
                headers[key.strip()] = value.strip()
    return status, headers, (GOLDEN / f"{name}.json").read_bytes()


def golden_metadata(name: str) -> Any:
    return json.loads(golden(name)[2])["metadata"]


def host_info(*, server: str = "lxd", version: str = "5.0.2", add: tuple[str, ...] = (),
              remove: tuple[str, ...] = ()) -> dict[str, Any]:
    """The golden GET /1.0 envelope as another server would send it: ``environment.server``
    and ``server_version`` replaced, API extensions added and removed."""
    body = json.loads(golden("GET_1.0")[2])
    metadata = body["metadata"]
    metadata["environment"].update(server=server, server_version=version)
    kept = [name for name in metadata["api_extensions"] if name not in remove]
    metadata["api_extensions"] = kept + [name for name in add if name not in kept]
    return body


def golden_cli_block(command: str) -> str:
    """The output of one `$ lxc ...` command in golden/cli/lxc_api_requests.txt."""
    text = (GOLDEN / "cli/lxc_api_requests.txt").read_text()
    start = text.index(f"$ {command}\n") + len(f"$ {command}\n")
    end = text.index("[rc=", start)
    return text[start:end].rstrip("\n")


class FakeLXD:
    """Registers golden replies on a RequestsMock; paths are relative to ENDPOINT."""

    def __init__(self, mock: responses.RequestsMock, base: str = ENDPOINT) -> None:
        self.mock = mock
        self.base = base

    def reply(self, method: str, path: str, name: str, **kwargs: Any) -> None:
        status, headers, body = golden(name)
        content_type = headers.pop("Content-Type", "application/json")
        self.mock.add(method, self.base + path, body=body, status=status, headers=headers,
                      content_type=content_type, **kwargs)

    def reply_json(self, method: str, path: str, payload: Any, status: int = 200,
                   headers: dict[str, str] | None = None) -> None:
        self.mock.add(method, self.base + path, json=payload, status=status, headers=headers)

    @property
    def calls(self):
        return self.mock.calls

    def requests(self, method: str | None = None):
        return [c.request for c in self.mock.calls if method is None or c.request.method == method]


def sync(metadata: Any) -> dict[str, Any]:
    return {"type": "sync", "status": "Success", "status_code": 200, "operation": "",
            "error_code": 0, "error": "", "metadata": metadata}


def error(code: int, text: str) -> dict[str, Any]:
    return {"type": "error", "status": "", "status_code": 0, "operation": "",
            "error_code": code, "error": text, "metadata": None}
