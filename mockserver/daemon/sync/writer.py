"""Writing applied pack documents to disk: in version order, off the critical path.

A member applies a version first (its clients and event streams see it at once) and writes
it to disk after that; only then does it confirm it. The writer:

- starts after the current loop iteration, so that the event streams the apply woke send
  their events before the member spends a millisecond in ``fsync``;
- writes small documents on the loop's thread (handing them to a thread and back cost
  more CPU than the write) and large ones on a writer thread, so that the loop keeps
  answering pings during a long write;
- keeps one write at a time, in order, and coalesces: a version queued behind a write in
  progress replaces an older queued one (the newer covers it: confirmations count
  "this version or newer").
"""
from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Callable

INLINE_WRITE_LIMIT = 64 * 1024   # bytes of wire form written on the loop's thread


class DocumentWriter:
    def __init__(self, save: Callable, inline_limit: int = INLINE_WRITE_LIMIT):
        """``save(document, wire)`` writes one document (raises OSError)."""
        self._save = save
        self._inline_limit = inline_limit
        self._queued: tuple | None = None    # (document, wire, written, failed)
        self._busy = False                   # a write is scheduled or running
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pack-document-writer")

    def write(self, document, wire: bytes, written: Callable[[], None], failed: Callable[[Exception], None]) -> None:
        """Write ``document`` (``wire``: its encoded form) soon, then call ``written()`` on
        the loop, or ``failed(error)``. Neither is called if a newer write replaced it."""
        self._queued = (document, wire, written, failed)
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().call_soon(self._next)

    def _next(self) -> None:
        item, self._queued = self._queued, None
        if item is None:
            self._busy = False
            return
        document, wire, _, _ = item
        if len(wire) <= self._inline_limit:
            self._finish(item, self._attempt(document, wire))
            return
        future = asyncio.get_running_loop().run_in_executor(self._thread, self._attempt, document, wire)
        future.add_done_callback(lambda done: None if done.cancelled() else self._finish(item, done.result()))

    def _attempt(self, document, wire: bytes) -> Exception | None:
        try:
            self._save(document, wire)
        except OSError as exc:
            return exc
        return None

    def _finish(self, item: tuple, error: Exception | None) -> None:
        _, _, written, failed = item
        try:
            if error is None:
                written()
            else:
                failed(error)
        finally:
            self._next()

    def close(self) -> None:
        """Finish the write in progress and write what is queued (a member that stops
        keeps what it applied)."""
        self._thread.shutdown(wait=True)
        item, self._queued = self._queued, None
        if item is not None:
            self._attempt(item[0], item[1])
