"""One loop timer for a sans-IO core's next deadline.

A core says when it next needs the time (``next_deadline()``); its driver arms a single
loop timer for that moment. The timer is re-armed only when the deadline moves earlier:
most inputs do not move it, and re-arming for each one cost more CPU than handling it.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

log = logging.getLogger(__name__)


class DeadlineTimer:
    """``deadline()`` gives the next deadline on the loop's clock (``inf``: none);
    ``fire(now)`` runs when it is due. A bug in ``fire`` is logged, and the timer tries
    again ``retry`` seconds later, so that it never stops nor spins."""

    def __init__(self, deadline: Callable[[], float], fire: Callable[[float], None], *, what: str, retry: float):
        self._deadline, self._fire, self._what, self._retry = deadline, fire, what, retry
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.arm()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._loop = None

    def arm(self) -> None:
        """For the core's next deadline: call after every input."""
        if self._loop is None:
            return
        deadline = self._deadline()
        if deadline == float("inf"):
            return
        if self._handle is not None:
            if self._handle.when() <= deadline:
                return
            self._handle.cancel()
        self._handle = self._loop.call_at(deadline, self._on_time)

    def _on_time(self) -> None:
        self._handle = None
        if self._loop is None:
            return
        now = self._loop.time()
        try:
            self._fire(now)
        except Exception:  # a bug must not stop the core's timers: say so and go on
            log.exception("error in the %s timers; continuing", self._what)
            self._handle = self._loop.call_later(self._retry, self._on_time)
            return
        self.arm()
