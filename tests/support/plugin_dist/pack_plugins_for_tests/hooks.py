"""Membership hooks: two that write each event as a JSON line to the file named by
PACK_TEST_HOOK_LOG, one that raises, one that never returns."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os


def _write(kind: str, event) -> None:
    with open(os.environ["PACK_TEST_HOOK_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"hook": kind, **dataclasses.asdict(event)}) + "\n")


def record(event) -> None:
    _write("record", event)


async def record_async(event) -> None:
    _write("record-async", event)


def explode(event) -> None:
    raise RuntimeError(f"exploded on {event.event} {event.member}")


async def hang(event) -> None:
    await asyncio.Event().wait()
