"""Where background work (operation completion) runs.

The state never sleeps or owns a loop. A server schedules work on its asyncio loop; the
in-process mode runs it right after the reply is rendered, so that a 202 still shows the
operation Running, as a real server's does.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Callable, Protocol


class Scheduler(Protocol):
    def call_later(self, delay: float, func: Callable[[], None]) -> None: ...


class LoopScheduler:
    """Runs callbacks on an asyncio loop; safe to call from any thread.

    A server that builds its state before its loop runs gives no loop, and ``attach``es it
    when the loop starts."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        self.loop = loop

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def call_later(self, delay, func):
        if self.loop is None:
            raise RuntimeError("LoopScheduler has no loop yet: attach() it when the server's loop starts")
        self.loop.call_soon_threadsafe(self.loop.call_later, max(0.0, delay), func)


class DeferredScheduler:
    """Queues callbacks until ``drain()``; delayed ones run on a timer thread."""

    def __init__(self):
        self._pending: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def call_later(self, delay, func):
        if delay > 0:
            timer = threading.Timer(delay, func)
            timer.daemon = True
            timer.start()
            return
        with self._lock:
            self._pending.append(func)

    def drain(self):
        while True:
            with self._lock:
                if not self._pending:
                    return
                func = self._pending.pop(0)
            func()
