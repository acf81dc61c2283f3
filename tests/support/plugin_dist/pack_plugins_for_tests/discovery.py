"""Two discovery strategies reading a JSON list of addresses from ``path``: one the daemon
polls, one that pushes each new list as the file changes."""
from __future__ import annotations

import asyncio
import json
import os


def _path(options: dict) -> str:
    if not isinstance(options.get("path"), str):
        raise ValueError("option 'path' (a JSON file listing addresses) is required")
    return options["path"]


def _read(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return [tuple(item) if isinstance(item, list) else item for item in json.load(f)]


def json_file(options: dict):
    """The poll form: an async function returning the addresses listed now."""
    path = _path(options)

    async def poll():
        return _read(path)
    return poll


def json_file_watch(options: dict):
    """The iterator form: yields the list at start and at each change of the file."""
    path, check = _path(options), float(options.get("check-every", 0.02))

    async def watch():
        seen = None
        while True:
            stat = os.stat(path)
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != seen:
                seen = stamp
                yield _read(path)
            await asyncio.sleep(check)
    return watch()
